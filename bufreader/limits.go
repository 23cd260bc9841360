package bufreader

import "github.com/langhuihui/gomem"

// Defaults and hard bounds. Each one says what it protects against.
const (
	// DefaultBlockSize is the size of each pooled block the reader fills from
	// the socket. 16 KiB holds several RTMP chunks or a burst of RTP packets,
	// so a fill rarely needs a second syscall, while hundreds of idle
	// connections still cost little memory.
	DefaultBlockSize = 16 << 10

	// MinBlockSize keeps fills from degenerating into tiny syscalls.
	MinBlockSize = 256

	// MaxBlockSize is gomem's largest pooled block; larger Mallocs fall back
	// to the Go heap and cannot be freed by range.
	MaxBlockSize = gomem.MaxBlockSize

	// DefaultAllocatorSize is the first arena of an allocator the reader
	// creates itself: room for a few blocks plus ranges held by frames.
	DefaultAllocatorSize = 256 << 10

	// DefaultMaxBuffered caps how many bytes one ReadRange, Take or Peek may
	// ask to hold at once. Those calls buffer the whole request before they
	// consume anything (so an error never leaves the stream half-consumed);
	// the cap stops a length field read off the wire from making the reader
	// buffer without bound.
	DefaultMaxBuffered = 16 << 20

	// DefaultMaxLineLength bounds ReadLine and each MIME header line, so a
	// peer that never sends a newline cannot grow the buffer.
	DefaultMaxLineLength = 8 << 10

	// DefaultMaxPeek bounds Peek, whose result must be contiguous and may
	// have to be assembled in an internal buffer of this size.
	DefaultMaxPeek = 8 << 10

	// DefaultMaxHeaderFields bounds the number of MIME header fields, so a
	// flood of tiny headers cannot grow the map without bound.
	DefaultMaxHeaderFields = 128

	// DefaultMaxHeaderBytes bounds the total bytes of one MIME header block,
	// continuation lines included (compare CVE-2023-24534 in net/textproto).
	DefaultMaxHeaderBytes = 64 << 10

	// maxEmptyReads is how many consecutive (0, nil) reads from the source
	// are retried before giving up with io.ErrNoProgress, as bufio does.
	maxEmptyReads = 100
)
