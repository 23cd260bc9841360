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

	// DefaultAllocatorSize is the arena a connection's allocator grows to
	// when it starts publishing (it starts at InitialAllocatorSize): the
	// reader's blocks plus the hub's default ring (12 s) at up to about
	// 5 Mbit/s, in two pinned 4 MiB arenas. With 4 MiB, a 12 s ring of a
	// 4 Mbit/s stream (about 6 MB) overflowed it and gomem made and
	// dropped 4 MiB arenas (measured by the QUIC benchmark). The pinned
	// gomem grows by adding arenas of doubling size, made with `make` (not
	// pooled above 16 KiB), and drops an extra arena whenever it empties,
	// so a connection whose working set crosses its arenas' size keeps
	// allocating megabytes: measured 1.16 allocated bytes per ingested byte
	// with a 1 MiB arena and 2 Mbit/s pushers. 4 MiB is gomem's largest
	// arena; pages are touched only as used. See session.growArena.
	DefaultAllocatorSize = 8 << 20

	// OutChunkSize is the chunk size the server announces and writes with.
	OutChunkSize = 4096

	// WindowAckSize is announced to peers and used for our acknowledgements.
	WindowAckSize = 2500000
)

// Setup, auth and memory.
const (
	// DefaultSetupTimeout is one fixed deadline from accept until a publish
	// or play has started. Without it a peer that completes the handshake
	// and then trickles commands, a byte per read timeout, holds a
	// connection slot, a goroutine and a block forever.
	DefaultSetupTimeout = 10 * time.Second

	// DefaultAuthTimeout bounds one Authorizer call (an HTTP callback may
	// hang); it runs on the connection goroutine, inside the setup deadline.
	DefaultAuthTimeout = 5 * time.Second

	// InitialAllocatorSize is a connection's first arena. A connection that
	// has not published needs only the reader's blocks (16 KiB each) and a
	// few command messages; starting every accepted socket with the
	// publisher's 4 MiB arena made 100 idle sockets cost 400 MiB.
	InitialAllocatorSize = 64 << 10
)
