package wire

// Limits of the cascade wire format. Each says what it blocks; rejections
// are *limit.LimitError naming the constant.
const (
	// DefaultMaxRequestLine caps one request line (PULLFLV, STOPFLV or a
	// relayed HTTP request line) including its CRLF. A stream path with a
	// signed query fits in 4 KiB; without a cap a peer that never sends
	// '\n' would make the reader buffer without bound.
	DefaultMaxRequestLine = 4 << 10

	// MaxRequestLineCap is the largest request-line cap a config may set:
	// the line is buffered whole, per stream.
	MaxRequestLineCap = 64 << 10

	// MinRequestLine is the smallest request-line cap a config may set:
	// "PULLFLV a/b\r\n" must fit with room for real paths.
	MinRequestLine = 64

	// MaxSecretLength caps the registration secret read before its 0 byte,
	// so a child that never sends the terminator cannot make the parent
	// read forever; m7s secrets are short strings kept in a database.
	MaxSecretLength = 1 << 10

	// MaxMethodLength caps the method token: the longest we know is
	// "PULLFLV"/"OPTIONS" (7); a longer token is garbage.
	MaxMethodLength = 16

	// MaxHeaderFields caps the header lines of one relayed HTTP request, so
	// a flood of tiny headers cannot grow the request without bound.
	MaxHeaderFields = 64

	// MaxHeaderBytes caps the header block of one relayed HTTP request
	// (every line, CRLFs included); compare net/textproto's per-entry
	// charging (CVE-2023-24534).
	MaxHeaderBytes = 16 << 10
)
