// Package client pulls a stream from an RTSP server (an IP camera) and
// publishes it on the host: OPTIONS, DESCRIBE (Basic or Digest auth from
// the URL's userinfo), SETUP of every supported track over TCP interleaved
// or UDP, PLAY, keep-alives at half the session timeout, TEARDOWN on stop,
// and reconnection with backoff when the camera drops (Run).
//
// # Memory and goroutines
//
// A session (one connection to the camera) runs on one goroutine that owns
// its allocator, exactly like a RECORD connection of rtsp/server: the
// control connection's bufreader fills blocks of that allocator; over TCP
// each interleaved RTP packet is taken from them as an owned range; over
// UDP each datagram is read straight into a block Malloc'd there. Either
// way the packet goes to a server.Ingest bound to the same allocator,
// whose depacketizers and frame writer free on that goroutine. Frames come
// back from readers to it, and the publisher's Close (which waits for
// them) runs there too. So when the camera disconnects the session closes
// the Ingest, frees what it holds, closes the publisher, recycles its
// reader and checks that the allocator got every byte back before it
// recycles it (Stats.Balanced).
//
// Over UDP the client binds its own RTP/RTCP port pair per session, on the
// local address of the control connection, and gives the same pair in the
// SETUP of every track, so one socket (read by the owning goroutine)
// carries all of them; packets are told apart by payload type, or by the
// camera's server_port when payload types repeat, and packets from any
// other host are dropped. Two helper goroutines read only control data
// into heap buffers: the RTCP socket, and the control connection after
// PLAY (keep-alive answers; its end is the camera's end). Neither touches
// the allocator.
//
// Credentials are taken from the URL and never logged: logs and errors
// carry Redact(url), which drops the userinfo and the query.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Transport selects how RTP travels.
type Transport string

const (
	TCP Transport = "tcp" // interleaved on the control connection
	UDP Transport = "udp" // a client port pair per session
	// Auto tries UDP first and falls back to TCP for good when the camera
	// refuses UDP (461) or no RTP arrives within the read timeout.
	Auto Transport = "auto"
)

// Host is what a pull needs from the media host.
type Host interface {
	Publish(req host.PublishRequest) (host.Publisher, error)
}

// Config configures a pull. Zero durations take the defaults in limits.go.
type Config struct {
	// URL is the camera's rtsp:// URL, credentials in its userinfo.
	URL string
	// Path is the stream path published on the host.
	Path      string
	Transport Transport
	// ReadTimeout ends a session that receives no RTP for this long.
	ReadTimeout time.Duration
	// RequestTimeout bounds the dial and each request of the handshake.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the reconnection backoff of Run.
	RetryMin, RetryMax time.Duration
	// IdleStop, when positive, ends the pull once its stream has had no
	// player for this long (on-demand pulls). It needs a publisher that
	// implements host.SubscriberCounter; with one that does not, the pull
	// never stops for idleness.
	IdleStop time.Duration
	// AllocatorSize is the session allocator's first arena.
	AllocatorSize int
	// BlockSize is the control connection reader's block size (0: default).
	BlockSize int
	// ReadLowWater is the most bytes the kernel queues before it wakes a
	// TCP-interleaved pull's reader after PLAY, and ReadLowWaterDelay the
	// longest a mark the camera stopped filling holds bytes back (see
	// DefaultReadLowWater); a negative ReadLowWater reads every segment
	// as it arrives.
	ReadLowWater      int
	ReadLowWaterDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.Transport == "" {
		c.Transport = TCP
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.AllocatorSize <= 0 {
		c.AllocatorSize = DefaultAllocatorSize
	}
	if c.ReadLowWater == 0 {
		c.ReadLowWater = DefaultReadLowWater
	}
	if c.ReadLowWaterDelay <= 0 {
		c.ReadLowWaterDelay = DefaultReadLowWaterDelay
	}
	return c
}

// Errors callers branch on.
var (
	// ErrUnauthorized: the camera refused the credentials (or asked for
	// some and the URL has none).
	ErrUnauthorized = errors.New("rtsp pull: camera refused the credentials")
	// ErrIdle: an IdleStop pull ended because nobody watched.
	ErrIdle = errors.New("rtsp pull: no player for the idle stop delay")
)

// errUDPRefused makes an Auto pull fall back to TCP.
var errUDPRefused = errors.New("rtsp pull: camera refused UDP")

// Stats describe one finished session.
type Stats struct {
	Transport   Transport
	Played      bool // the session reached PLAY
	BytesRead   int64
	BytesCopied int64 // control bytes copied (requests, SDP, straddling RTCP); never RTP payload
	VideoFrames int64
	AudioFrames int64
	Lost        int64
	Dropped     int64
	Malformed   int64
	Truncated   int64 // UDP datagrams past MaxDatagram
	Foreign     int64 // UDP datagrams from another host or with an unknown payload type
	// ReceiverReports counts the RTCP receiver reports sent to the camera.
	ReceiverReports int64
	AllocMalloc     int64
	AllocFree       int64
	// Balanced reports that the session's allocator got every byte back
	// and was recycled.
	Balanced bool
}

// ParseURL checks a camera URL: rtsp:// with a host. It returns the URL
// without its userinfo, and the credentials.
func ParseURL(raw string) (u *url.URL, user, pass string, err error) {
	u, err = url.Parse(raw)
	if err != nil {
		// url's errors quote the input, credentials included.
		return nil, "", "", fmt.Errorf("rtsp pull: URL %s does not parse", Redact(raw))
	}
	if !strings.EqualFold(u.Scheme, "rtsp") || u.Host == "" {
		return nil, "", "", fmt.Errorf("rtsp pull: URL %s: want rtsp://host[:port]/path", Redact(raw))
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	if u.Port() == "" {
		u.Host += ":554"
	}
	return u, user, pass, nil
}

// Redact returns raw as scheme://host/path: no userinfo, no query (camera
// tokens travel in queries too), safe to log.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Keep only what precedes any '@' or '?': never the secret part.
		s := raw
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
		}
		if i := strings.LastIndex(s, "@"); i >= 0 {
			s = s[i+1:]
		}
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i]
		}
		return "rtsp://" + s
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// Run pulls until ctx ends (it then returns nil), or the pull goes idle
// (ErrIdle). A session that fails or ends is retried after a backoff that
// starts at RetryMin and doubles to RetryMax; a session that reached PLAY
// resets it. Each session's end is logged with its figures.
func Run(ctx context.Context, cfg Config, h Host, log *slog.Logger) error {
	cfg = cfg.withDefaults()
	if _, _, _, err := ParseURL(cfg.URL); err != nil {
		return err
	}
	log = log.With("path", cfg.Path, "camera", Redact(cfg.URL))
	backoff := cfg.RetryMin
	transport := cfg.Transport
	// wanted is when the stream last had a player (IdleStop); a pull that
	// keeps failing stops once nobody could still be waiting for it.
	wanted := time.Now()
	for {
		scfg := cfg
		scfg.Transport = transport
		if transport == Auto {
			scfg.Transport = UDP
		}
		var st Stats
		var err error
		st, wanted, err = runSession(ctx, scfg, h, log, wanted)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrIdle) {
			log.Info("rtsp pull stopped: no player", "after", cfg.IdleStop)
			return err
		}
		if transport == Auto && (errors.Is(err, errUDPRefused) || (st.Played && st.VideoFrames+st.AudioFrames == 0 && isNoMedia(err))) {
			log.Info("rtsp pull falls back to TCP", "reason", err)
			transport = TCP
			continue
		}
		if st.Played {
			backoff = cfg.RetryMin
		}
		if cfg.IdleStop > 0 && time.Since(wanted) > cfg.IdleStop {
			log.Info("rtsp pull stopped: no player while the camera was unreachable", "after", cfg.IdleStop)
			return ErrIdle
		}
		log.Warn("rtsp pull reconnecting", "in", backoff, "reason", errText(err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, cfg.RetryMax)
	}
}

func errText(err error) string {
	if err == nil {
		return "camera ended the stream"
	}
	return err.Error()
}
