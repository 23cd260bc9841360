package session

import (
	"time"

	"github.com/zcingest/zerocopy/internal/rcvlowat"
)

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

	// DefaultAllocatorSize is what a connection's arenas are reserved to
	// when it starts publishing (it starts at InitialAllocatorSize): by
	// default nothing more. Arenas grow with the ring's working set and are
	// pinned, so they are made once and never dropped (pool/arena.go), and
	// pool hands gomem whole granules only, so its search finds any free
	// granule (pool/block.go). The old 8 MiB reservation cost every
	// publisher 8.4 MB of allocations whatever its bitrate (about 4 MB at
	// 2 Mbit/s are enough) and did not stop the misses that made a
	// 4.7 Mbit/s publisher hold about 2x its ring (issue 12). A larger
	// value only makes the arenas up front. See session.growArena.
	DefaultAllocatorSize = InitialAllocatorSize

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

// Read batching of a publishing connection (package internal/rcvlowat).
const (
	// DefaultReadLowWater is the most bytes the kernel queues before it
	// wakes a publishing connection's reader (SO_RCVLOWAT). A paced
	// publisher's bytes arrive a segment at a time (about 1.3 KB per read
	// at 2 Mbit/s), and each wake-up (epoll, the scheduler, an EAGAIN read)
	// cost more CPU than parsing and publishing what it brought: a fixed
	// 4 KiB mark took the ingest benchmark (32 pushers at 2 Mbit/s) from
	// 7.7 to 3.2 CPU-s/GB.
	DefaultReadLowWater = rcvlowat.DefaultSize

	// DefaultReadLowWaterDelay bounds what a wrong mark costs: when no media
	// message has been read for this long, the mark drops to one byte, so
	// a command the peer waits on (FCUnpublish, then a new publish on the
	// same connection) or a stream that slowed down is read at most this
	// late. Long enough that a stream at its usual rate never trips it.
	DefaultReadLowWaterDelay = rcvlowat.DefaultDelay
)
