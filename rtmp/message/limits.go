package message

const (
	// MaxCommandLength caps the payload of a command or data message that
	// Parse copies into one contiguous buffer and decodes. Commands are a few
	// hundred bytes and onMetaData with a keyframe index a few tens of KiB;
	// the cap stops a peer from making the control path copy and decode
	// megabytes (each decoded AMF0 value also costs memory, see
	// amf0.MaxValues).
	MaxCommandLength = 256 << 10
)
