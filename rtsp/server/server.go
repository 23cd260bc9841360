// Package server runs the server side of RTSP (RFC 2326): publishers
// (ANNOUNCE, SETUP, RECORD) whose RTP is depacketized into host frames
// without copying a payload byte, and players (DESCRIBE, SETUP, PLAY) fed
// from host subscribers with writev, over TCP interleaved or UDP.
//
// # Memory and goroutines
//
// Each TCP connection runs on its own goroutine with its own allocator,
// small until RECORD (as RTMP is until publish). A TCP-interleaved
// publisher's RTP packets are taken from the connection's bufreader as
// owned ranges and pushed to the track's depacketizer on that goroutine;
// its frames come back to it to be freed. A packet that straddles two of
// the reader's blocks is taken as two ranges (rtp.Parts) and depacketized
// as they lie: no payload byte is ever copied, over TCP or UDP.
//
// UDP publishers are different: their datagrams arrive on the one RTP
// socket shared by every session, read by one goroutine (see udp.go) into
// blocks of that goroutine's own allocator. A range Malloc'd there may be
// freed only there, so everything that owns UDP payload runs on the UDP
// goroutine: the depacketizers, the publisher's frame writer, and the
// freeing of its frames when readers hand them back, including during its
// close. The close's waiting (up to the host's close wait) does not
// block that goroutine: it runs in non-blocking steps on its tick (see
// udp.go). The TCP connection of a UDP publisher only queues commands to
// the UDP goroutine (start, stop) and waits for their answer.
//
// RTCP: sender reports of a publisher (or a pulled camera) anchor each
// track's clock, and once every track is anchored the tracks are put on
// one timeline (Ingest.WriteRTCP); receiver reports go back to publishers
// every ReceiverReportInterval, sender reports to players every
// SenderReportInterval.
//
// Players run one goroutine per session that reads frames owned by their
// publishers and never touches any allocator.
package server

import (
	"errors"
	"log/slog"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// Host is what the server needs from the media host.
type Host interface {
	Publish(req host.PublishRequest) (host.Publisher, error)
	Subscribe(path string) (host.Subscriber, error)
}

// Config configures the server. Zero fields take the defaults in limits.go.
type Config struct {
	SessionTimeout time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	SetupTimeout   time.Duration
	AuthTimeout    time.Duration
	// ReadLowWater is the most bytes the kernel queues before it wakes a
	// TCP-interleaved publisher's reader after RECORD, and
	// ReadLowWaterDelay the longest a mark the peer stopped filling holds
	// bytes back (see DefaultReadLowWater); a negative ReadLowWater reads
	// every segment as it arrives.
	ReadLowWater      int
	ReadLowWaterDelay time.Duration
	// AllocatorSize is what a TCP publisher's allocator grows to at RECORD.
	AllocatorSize int
	BlockSize     int
	// Auth decides every publish and play; nil allows all.
	Auth host.Authorizer
	// Realm is the auth realm sent in challenges.
	Realm string
	// ReleaseAllocator, when set, is handed the connection allocator at the
	// end of teardown instead of the server recycling it (m7s frees ring
	// frames after Close returns).
	ReleaseAllocator func(alloc *pool.Allocator)
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.AllocatorSize <= 0 {
		c.AllocatorSize = DefaultAllocatorSize
	}
	if c.ReadLowWater == 0 {
		c.ReadLowWater = DefaultReadLowWater
	}
	if c.ReadLowWaterDelay <= 0 {
		c.ReadLowWaterDelay = DefaultReadLowWaterDelay
	}
	if c.Realm == "" {
		c.Realm = "zerocopy"
	}
	return c
}

// Server holds what RTSP sessions share: config, host, and the UDP
// sockets when enabled.
type Server struct {
	cfg  Config
	host Host
	log  *slog.Logger
	udp  *udpServer
	auth *authState
}

// New returns a server. Call StartUDP to serve UDP transports.
func New(cfg Config, h Host, log *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, host: h, log: log, auth: newAuthState(cfg.Realm)}
}

// Errors callers and tests tell apart.
var (
	ErrUnauthorized = errors.New("rtsp: credentials missing or wrong")
	ErrForbidden    = errors.New("rtsp: publish or play not allowed")
	ErrAuthFailed   = errors.New("rtsp: authorization could not be decided")
	// ErrChannelNotSetup: an interleaved frame on a channel no SETUP gave.
	ErrChannelNotSetup = errors.New("rtsp: interleaved frame on a channel that was never SETUP")
	// ErrDONL: an H.265 SDP with sprop-max-don-diff > 0 (DONL fields in
	// every payload), which is refused at ANNOUNCE.
	ErrDONL = errors.New("rtsp: H.265 with DONL (sprop-max-don-diff > 0) is not supported")
)

// Stats describe a finished connection.
type Stats struct {
	Role        string // "publish", "play" or ""
	Path        string
	Transport   string // "tcp" or "udp"
	BytesRead   int64
	BytesCopied int64 // control bytes copied (requests, SDP, parameter sets)
	BytesSent   int64
	VideoFrames int64
	AudioFrames int64
	Lost        int64 // RTP packets lost (sequence gaps)
	Dropped     int64 // access units dropped for loss or malformation
	Malformed   int64
	PlayDrops   int64 // frames a player skipped because it fell behind
	// ReceiverReportsIn counts the RTCP reports a TCP player sent.
	ReceiverReportsIn int64
	AllocMalloc       int64
	AllocFree         int64
}
