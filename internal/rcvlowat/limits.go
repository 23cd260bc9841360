package rcvlowat

import "time"

// Read batching of a publishing connection (see Batch).
const (
	// DefaultSize is the most bytes the kernel queues before it wakes a
	// publishing connection's reader (SO_RCVLOWAT). A paced publisher's
	// bytes arrive a segment at a time (about 1.3 KB per read at
	// 2 Mbit/s), and each wake-up (epoll, the scheduler, an EAGAIN read)
	// cost more CPU than parsing and publishing what it brought: a fixed
	// 4 KiB mark took the RTMP ingest benchmark (32 pushers at 2 Mbit/s)
	// from 7.7 to 3.2 CPU-s/GB.
	DefaultSize = 4 << 10

	// Latency is how much stream the mark holds back: it is set to the
	// bytes the publisher sends in this long (from its bitrate over the
	// last Window of media time, capped by the configured size), so a slow
	// stream is not held for its 4 KiB.
	Latency = 20 * time.Millisecond

	// Window is the stretch of stream time the bitrate is measured over.
	Window = time.Second

	// DefaultDelay bounds what a wrong mark costs: when no media has been
	// read for this long, the mark drops to one byte, so a request or
	// command the peer waits on (RTMP FCUnpublish, an RTSP TEARDOWN or
	// keep-alive) or a stream that slowed down is read at most this late.
	// Long enough that a stream at its usual rate never trips it.
	DefaultDelay = 200 * time.Millisecond
)
