package cascade

import "time"

// Limits and defaults of the cascade. Each says what it blocks; the
// configurable ones are bounded again by the plugin's config tags.
const (
	// DefaultHandshakeTimeout bounds the QUIC handshake, the registration
	// exchange and the request line of every stream, so a peer that
	// connects or opens a stream and sends nothing holds nothing for long.
	DefaultHandshakeTimeout = 5 * time.Second

	// DefaultIdleTimeout is QUIC's idle timeout on the child's connection
	// (it sends keep-alives at a third of it): a parent that vanished
	// without closing is noticed within it.
	DefaultIdleTimeout = 30 * time.Second

	// DefaultWriteTimeout bounds one write of a pull's FLV to a child: a
	// child that stops reading is cut rather than pinning frames.
	DefaultWriteTimeout = 10 * time.Second

	// DefaultReadTimeout ends a pull whose parent sends nothing for this
	// long (re-armed as data arrives).
	DefaultReadTimeout = 15 * time.Second

	// DefaultStopDelay is how long a pull started on demand outlives its
	// last local player before STOPFLV.
	DefaultStopDelay = 10 * time.Second

	// DefaultMaxStreams caps the streams one connection may have open at
	// once (pulls on the parent, relayed requests on the child): each holds
	// a goroutine and buffers.
	DefaultMaxStreams = 100

	// DefaultMaxChildren caps the children registered with one parent at
	// once: each holds a connection and its pulls.
	DefaultMaxChildren = 64

	// DefaultAllocatorSize is what a pull's arenas are reserved to once it
	// publishes: nothing more by default, since arenas grow with the ring's
	// working set and stay pinned (pool/arena.go), as RTMP's publishers.
	DefaultAllocatorSize = InitialAllocatorSize

	// InitialAllocatorSize is a pull's first arena: until the FLV header
	// arrives it needs only the reader's blocks.
	InitialAllocatorSize = 64 << 10

	// MaxScriptTag caps an onMetaData tag the child keeps (it is copied);
	// real ones are a few hundred bytes.
	MaxScriptTag = 64 << 10

	// MaxRelayResponse caps the body a child writes for one relayed HTTP
	// request, so a handler cannot stream into the parent forever.
	MaxRelayResponse = 4 << 20

	// refuseLinger is how long a refused registration keeps the connection
	// open for the {1,0} answer to reach the child (which then closes it).
	refuseLinger = time.Second

	// minBackoff and maxBackoff bound the child's waits between dials and
	// between attempts of one pull.
	minBackoff = 200 * time.Millisecond
	maxBackoff = 10 * time.Second

	// stopGrace is how long a child waits, after STOPFLV, for the parent to
	// end the stream before it resets it.
	stopGrace = 2 * time.Second

	// configWait bounds how long the parent waits for a fresh stream's
	// codec configuration so the FLV header's flags are right (m7s's child
	// disables a track whose flag is clear); configSecondTrack is the grace
	// for the other track once one arrived.
	configWait        = 2 * time.Second
	configSecondTrack = 300 * time.Millisecond
)

// QUIC application error codes the cascade sends.
const (
	codeOK          = 0
	codeRefused     = 1 // registration refused, or a pull refused by the auth hook
	codeLimit       = 2 // a limit was hit (streams, request line)
	codeBadRequest  = 3
	codeNoStream    = 4
	codeWriteFailed = 5
	codeStopped     = 6 // the child stopped reading (after STOPFLV)
)
