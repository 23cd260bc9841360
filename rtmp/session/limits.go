package session

import "time"

// Limits and defaults of an RTMP server session. Each one says what it
// blocks. Rejections are *limit.LimitError naming the constant.
const (
	// MaxCommandSize caps an AMF command or data message, which is copied
	// into a contiguous buffer to be decoded. Real commands are a few hundred
	// bytes; the cap stops a peer from making the control path copy
	// megabytes per message.
	MaxCommandSize = 128 << 10

	// MaxURLLength caps tcUrl, app and stream names. Anything longer is
	// abuse (or an attempt to flood logs); 4 KiB holds any real URL with a
	// signed query.
	MaxURLLength = 4 << 10

	// MaxPendingCommands caps commands answered per connection before a
	// publish or play starts, so a peer cannot keep a connection busy with
	// endless connect/createStream calls.
	MaxPendingCommands = 64

	// MaxStreamsPerConn caps createStream calls on one connection; each
	// stream id is state the session keeps.
	MaxStreamsPerConn = 8

	// DefaultHandshakeTimeout bounds the whole handshake, so a peer that
	// connects and sends nothing does not hold a goroutine and a block.
	DefaultHandshakeTimeout = 5 * time.Second

	// DefaultReadTimeout ends a connection that sends nothing for this long
	// (re-armed as data arrives, see bufreader.Options.ReadTimeout).
	DefaultReadTimeout = 15 * time.Second

	// DefaultWriteTimeout bounds one write to a player; a player that cannot
	// take data is cut rather than holding frames.
	DefaultWriteTimeout = 10 * time.Second

	// DefaultAllocatorSize is the first arena of a connection's allocator:
	// the reader's blocks plus a 256-frame ring at up to ~8 Mbit/s. The
	// pinned gomem grows by adding arenas of doubling size, made with
	// `make` (not pooled above 16 KiB), and drops an extra arena whenever
	// it empties, so a connection whose working set crosses the first
	// arena's size keeps allocating megabytes: measured 1.16 allocated
	// bytes per ingested byte with a 1 MiB arena and 2 Mbit/s pushers.
	// 4 MiB is gomem's largest arena; pages are touched only as used.
	DefaultAllocatorSize = 4 << 20

	// OutChunkSize is the chunk size the server announces and writes with.
	OutChunkSize = 4096

	// WindowAckSize is announced to peers and used for our acknowledgements.
	WindowAckSize = 2500000
)
