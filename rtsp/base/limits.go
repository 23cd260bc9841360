package base

// Limits of the RTSP wire format. Each says which abuse it blocks;
// rejections are *limit.LimitError naming the constant.
const (
	// MaxLineLength caps a request, status or header line. A peer that
	// never sends CRLF (a 3000-byte line) cannot grow the read buffer; 2 KiB
	// holds any real RTSP URL with a signed query.
	MaxLineLength = 2048

	// MaxHeaderFields caps the header fields of one message, so a flood of
	// tiny headers (256 of them) cannot grow the header map. Real clients
	// send fewer than 20.
	MaxHeaderFields = 64

	// MaxHeaderBytes caps one message's header block including
	// continuation lines (compare CVE-2023-24534 in net/textproto).
	MaxHeaderBytes = 16 << 10

	// MaxBodySize caps Content-Length. RTSP bodies are SDP documents and
	// GET_PARAMETER lists, a few KiB; the body is copied into a contiguous
	// buffer, so a huge announced length must not make us buffer it.
	MaxBodySize = 64 << 10

	// MaxInterleavedLength caps one '$'-framed packet. The 16-bit length
	// allows 65535; RTP packets over TCP are MTU-sized (ffmpeg: 1472) and
	// the largest cameras send are well below 32 KiB, so a bigger frame
	// only makes the reader buffer more per packet.
	MaxInterleavedLength = 32 << 10

	// MaxTransports caps the comma-separated alternatives of one Transport
	// header, each of which is parsed.
	MaxTransports = 8

	// MaxTransportParams caps the ';' parameters of one transport spec.
	MaxTransportParams = 16
)
