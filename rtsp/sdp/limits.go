package sdp

// Limits on peer-controlled SDP (ANNOUNCE bodies from publishers, DESCRIBE
// answers from cameras). Each says which abuse it blocks. Rejections are
// reported as *limit.LimitError naming the constant.
const (
	// MaxSDPSize caps the whole description. Real ones (ffmpeg, GStreamer,
	// IP cameras) are under 4 KiB; the cap bounds the memory and parse time
	// a peer can make us spend on one Content-Length.
	MaxSDPSize = 64 << 10

	// MaxLineLength caps one line. The longest real lines are fmtp lines
	// carrying H.265 parameter sets (a few hundred bytes); the cap stops one
	// attribute from being kept as a huge string.
	MaxLineLength = 8 << 10

	// MaxMedias caps the m= sections. Cameras send at most video, audio,
	// ONVIF metadata and a backchannel; the cap stops an "SDP with 10,000
	// m= lines" from being turned into 10,000 Media structs and maps.
	MaxMedias = 16

	// MaxAttributes caps the a= and b= lines kept per section (the session
	// or one media). Real sections have under 20; the cap bounds the slices
	// and maps a peer can grow with tiny lines.
	MaxAttributes = 64

	// MaxFormats caps the payload types on one m= line. Cameras list one to
	// three (SIP offers about 20); the cap bounds the Formats slice.
	MaxFormats = 32

	// MaxFMTPParams caps the key=value pairs of one a=fmtp line. Real ones
	// have at most a dozen; the cap bounds the map a peer can grow.
	MaxFMTPParams = 32

	// MaxParamSetSize caps one decoded base64 parameter set (H.264/H.265
	// sprop-*). Real SPS/PPS/VPS are tens to a few hundred bytes; the cap is
	// checked before decoding, so a long value cannot make us allocate.
	MaxParamSetSize = 4 << 10

	// MaxParamSets caps the entries of one sprop-* list. H.265 allows at most
	// 16 VPS/SPS and 64 PPS, encoders send one; the cap bounds the result
	// slices.
	MaxParamSets = 64

	// MaxAudioSpecificConfig caps the decoded mpeg4-generic config= value.
	// An AudioSpecificConfig is 2 to ~10 bytes (more only with a program
	// config element); the cap is checked before decoding the hex.
	MaxAudioSpecificConfig = 256
)
