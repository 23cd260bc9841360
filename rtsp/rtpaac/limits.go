package rtpaac

// Limits on peer-controlled sizes and counts. Each names the abuse it
// blocks. The access-unit limits (size, ranges) live in package rtp.
const (
	// MaxAUsPerPacket caps the AU headers parsed from one packet: a
	// 1500-byte packet of real AAC holds a handful; a header section of
	// zero-size AUs must not turn into thousands of emits per packet.
	MaxAUsPerPacket = 128
)
