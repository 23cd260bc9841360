package flv

// Format constants and limits. Each limit says what it protects against;
// rejections are *limit.LimitError naming the constant.
const (
	// MaxDataSize is the largest tag body the 24-bit DataSize field can
	// describe. It is a property of the format, not a policy.
	MaxDataSize = 1<<24 - 1

	// DefaultMaxTagSize caps the body of one tag the Reader accepts. The
	// Reader buffers a whole tag before handing it over (so an error never
	// leaves it half-read), and the size comes off the wire: without a cap a
	// peer could make every connection hold 16 MiB. A 4K intra frame at a
	// very high bitrate is 2-4 MB, so 8 MiB leaves headroom. Raise it with
	// ReaderOptions.MaxTagSize (up to MaxDataSize, and within the
	// bufreader's MaxBuffered).
	DefaultMaxTagSize = 8 << 20

	// MaxFileHeaderSize caps the DataOffset of the file header. Version 1
	// headers are 9 bytes; the field is 32 bits, so an unbounded value would
	// let a peer make the Reader buffer or skip gigabytes before the first
	// tag.
	MaxFileHeaderSize = 1024

	// MaxModEx caps the Enhanced RTMP ModEx entries one tag body header may
	// chain. The spec defines one modifier (TimestampOffsetNano); each entry
	// costs at least two bytes, so the cap only bounds the parse loop.
	MaxModEx = 8
)
