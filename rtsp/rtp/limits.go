package rtp

// Limits on peer-controlled sizes and counts. Each names the abuse it
// blocks; rejections are reported as *limit.LimitError naming the constant.
const (
	// MaxPacketSize caps one RTP or RTCP packet. UDP datagrams and RTSP
	// interleaved frames cannot exceed 65535 bytes; anything larger is a
	// framing error, not a packet.
	MaxPacketSize = 65535

	// MaxAccessUnitSize caps the bytes one access unit may gather across
	// packets: it blocks a sender that never sets the marker bit (or never
	// ends an FU) from making us hold every packet it sends.
	MaxAccessUnitSize = 8 << 20

	// MaxAccessUnitRanges caps the packet ranges one access unit may hold:
	// it bounds the range slice a stream of tiny fragments can grow.
	MaxAccessUnitRanges = 8192

	// MaxAccessUnitUnits caps the NAL units (or AUs) in one access unit:
	// it bounds the Span slice a flood of tiny STAP-A entries can grow.
	// It matches codec.MaxNALUsPerFrame.
	MaxAccessUnitUnits = 1024

	// MaxRTCPPackets caps the packets parsed from one compound RTCP
	// datagram, so a datagram of empty packets cannot keep the parser busy.
	MaxRTCPPackets = 32

	// MaxReorderDepth caps the B-frame reorder depth used to derive DTS
	// (H.264 allows at most 16 frames in the DPB): a hostile SPS cannot make
	// us hold a long PTS window.
	MaxReorderDepth = 16

	// MaxSeqJump is the largest forward sequence-number jump treated as loss
	// rather than a sender restart: a sender that skips 1000s of numbers
	// restarted, and counting them all as lost would poison the statistics.
	MaxSeqJump = 3000

	// SeqWindow is how far behind the highest sequence number a packet may
	// arrive and still be recognised as reordered or duplicated (it is the
	// width of the received bitmap).
	SeqWindow = 64
)
