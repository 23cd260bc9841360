package server

import (
	"time"

	"github.com/zcingest/zerocopy/internal/rcvlowat"
)

// Limits and defaults of the RTSP server. Each says what it blocks;
// rejections are *limit.LimitError naming the constant.
const (
	// MaxTracks caps the tracks of one session (announced m= sections and
	// SETUPs alike): "1000 SETUPs on one session" must not grow per-track
	// state. Real streams have video, audio and perhaps metadata.
	MaxTracks = 4

	// MaxSetups caps SETUP requests on one session, repeats included, so a
	// peer cannot spin on re-SETUP of the same track.
	MaxSetups = 16

	// MaxRequestsBeforeMedia caps requests answered on a connection that
	// has not started RECORD or PLAY, so it cannot be kept busy with
	// endless OPTIONS or failed auth attempts.
	MaxRequestsBeforeMedia = 64

	// MaxURLLength caps a request URL kept by a session; the line limit
	// already bounds it, this bounds what a session stores and logs.
	MaxURLLength = 1024

	// MaxAuthFailures closes a connection after this many refused
	// requests: a client guessing passwords reconnects (paying the
	// listener's caps and the failure delay each time).
	MaxAuthFailures = 4

	// AuthFailureDelay is waited before answering a refused request, to slow
	// password guessing on one connection.
	AuthFailureDelay = 200 * time.Millisecond

	// DefaultSessionTimeout ends a session whose client sends neither
	// requests nor media for this long; advertised in Session: id;timeout=.
	DefaultSessionTimeout = 60 * time.Second

	// DefaultReadTimeout ends a TCP-interleaved publisher that sends
	// nothing for this long.
	DefaultReadTimeout = 15 * time.Second

	// DefaultWriteTimeout bounds one write to a player or one response.
	DefaultWriteTimeout = 10 * time.Second

	// DefaultReadLowWater is the most bytes the kernel queues before it
	// wakes a TCP-interleaved publisher's reader (SO_RCVLOWAT, Linux),
	// lowered to 20 ms of the stream's own bitrate: RTP over TCP arrives a
	// segment at a time, and each wake-up (epoll, the scheduler, an EAGAIN
	// read) costs more than depacketizing what it brought (package
	// rcvlowat has the figures).
	DefaultReadLowWater = rcvlowat.DefaultSize

	// DefaultReadLowWaterDelay bounds how late a request that shares the
	// socket with stalled media (TEARDOWN, a GET_PARAMETER keep-alive) is
	// read: after this long without an access unit the mark drops to one
	// byte.
	DefaultReadLowWaterDelay = rcvlowat.DefaultDelay

	// DefaultSetupTimeout is one fixed deadline from accept until RECORD or
	// PLAY: a peer that trickles requests does not hold a connection.
	DefaultSetupTimeout = 10 * time.Second

	// DescribeAudioSpan is how much video a DESCRIBE reads, looking for
	// an audio track whose configuration the publisher has not announced
	// yet, before describing the stream as video only. It bounds the
	// frames a DESCRIBE reads (and, with SetupTimeout/2, its wait).
	DescribeAudioSpan = 500 * time.Millisecond

	// DefaultAuthTimeout bounds one Authorizer call.
	DefaultAuthTimeout = 5 * time.Second

	// InitialAllocatorSize is a connection's first arena: enough for the
	// reader's blocks and requests. A publisher grows it to AllocatorSize
	// at RECORD, as RTMP does at publish.
	InitialAllocatorSize = 64 << 10

	// DefaultAllocatorSize is what a TCP publisher's arenas are reserved
	// to at RECORD: nothing more by default, since arenas grow with the
	// ring's working set and stay pinned (pool/arena.go); a fixed 8 MiB
	// cost every publisher 8.4 MB of allocation whatever its bitrate.
	DefaultAllocatorSize = InitialAllocatorSize

	// UDPAllocatorSize is the shared UDP reader's arena: it holds the
	// frames of every UDP publisher's ring, so it is large; pages are
	// touched only as used.
	UDPAllocatorSize = 16 << 20

	// MaxUDPSessions caps the source addresses the shared UDP socket
	// demultiplexes (two per track of each UDP session).
	MaxUDPSessions = 4096

	// UDPDatagramSize is the block one datagram is read into; larger
	// datagrams are truncated by the kernel and dropped (counted).
	UDPDatagramSize = 2048

	// UDPBlockSize is the block datagrams are read into back to back (about
	// 45 RTP packets of 1400 bytes per Malloc).
	UDPBlockSize = 64 << 10

	// UDPIdleTick is how often the UDP goroutine wakes with no traffic to
	// reclaim frames released by readers and run pending commands.
	UDPIdleTick = 100 * time.Millisecond

	// MaxSenderReportsPerSecond bounds the RTCP sender reports the shared
	// RTCP socket hands to the UDP goroutine (each is a copy and a queued
	// command): a flood of SR-shaped datagrams is dropped instead of
	// crowding out the connections' commands. Real publishers send one
	// per track every few seconds.
	MaxSenderReportsPerSecond = 1000

	// UDPCommandQueue bounds the commands queued to the UDP goroutine.
	UDPCommandQueue = 256

	// ReceiverReportInterval and SenderReportInterval are the RTCP report
	// periods (RFC 3550's 5 s minimum for small sessions).
	ReceiverReportInterval = 5 * time.Second
	SenderReportInterval   = 5 * time.Second

	// MTU bounds the RTP packets written to players.
	MTU = 1400
)
