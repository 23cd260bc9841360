package client

import (
	"time"

	"github.com/zcingest/zerocopy/internal/rcvlowat"
)

// Limits and defaults of the pull client. Each says what it blocks; the
// camera is a peer like any other and may misbehave.
const (
	// DefaultReadTimeout ends a session whose camera sends no RTP for this
	// long (a frozen camera, or UDP that never arrives behind a NAT); the
	// pull then reconnects.
	DefaultReadTimeout = 10 * time.Second

	// DefaultRequestTimeout bounds one request and its response (dial
	// included), so a camera that accepts and says nothing cannot hold a
	// pull in its handshake.
	DefaultRequestTimeout = 10 * time.Second

	// DefaultReadLowWater is the most bytes the kernel queues before it
	// wakes a TCP-interleaved pull's reader (SO_RCVLOWAT, Linux), lowered
	// to 20 ms of the stream's own bitrate: a camera's RTP arrives a
	// segment at a time and each wake-up costs more than what it brought
	// (package rcvlowat has the figures).
	DefaultReadLowWater = rcvlowat.DefaultSize

	// DefaultReadLowWaterDelay bounds how late the camera's keep-alive
	// answers and RTCP are read when its media stalls: after this long
	// without an access unit the mark drops to one byte.
	DefaultReadLowWaterDelay = rcvlowat.DefaultDelay

	// DefaultRetryMin and DefaultRetryMax are the reconnection backoff: it
	// starts at RetryMin and doubles to RetryMax, so a camera that is down
	// is not hammered and one that returns is picked up within RetryMax.
	DefaultRetryMin = time.Second
	DefaultRetryMax = 30 * time.Second

	// DefaultSessionTimeout is assumed when the camera's Session header
	// has no timeout (RFC 2326's 60 s); keep-alives go at half of it.
	DefaultSessionTimeout = 60 * time.Second

	// MinKeepAlive bounds how often keep-alives go out: a camera
	// advertising timeout=1 cannot make us send a request per packet.
	MinKeepAlive = time.Second

	// MaxStaleResponses caps the responses with another CSeq skipped while
	// waiting for one, so a camera repeating old responses cannot keep a
	// request waiting (the request timeout bounds the time as well).
	MaxStaleResponses = 8

	// MaxInterleavedDuringRequest caps the interleaved frames freed unread
	// while a handshake request waits for its response.
	MaxInterleavedDuringRequest = 1024

	// MaxDatagram is the block one UDP datagram is read into. RTP from
	// cameras fits an Ethernet MTU; a larger datagram is truncated by the
	// kernel and dropped (counted), never grown into.
	MaxDatagram = 2048

	// UDPTick is how often a UDP session's goroutine wakes without
	// traffic to reclaim frames readers handed back, send keep-alives and
	// check the read timeout.
	UDPTick = 100 * time.Millisecond

	// DefaultAllocatorSize is a pull's first arena: the control
	// connection's blocks. The frames its stream's ring holds grow it
	// (arenas are added and pinned as the ring fills, pool/arena.go).
	DefaultAllocatorSize = 64 << 10

	// RTCPBufferSize is the heap buffer the RTCP and control readers of a
	// UDP session read (and discard) into: control data, never media.
	RTCPBufferSize = 2048

	// TeardownTimeout bounds writing TEARDOWN when a pull stops.
	TeardownTimeout = time.Second

	// MaxPortAttempts bounds the tries at binding an even/odd UDP port pair.
	MaxPortAttempts = 16

	// RTCPQueue bounds the camera sender reports waiting for the session
	// goroutine; a flood beyond it is dropped, not queued.
	RTCPQueue = 8
)
