// Package cascade makes a node a member of a Monibuca v5 cascade tree over
// QUIC (package wire has the bytes): a Parent serves children's PULLFLV
// from the host's streams, writing each frame's ranges straight from frame
// memory; a Child registers with its parent, pulls the paths its local
// players ask for (and a static list) and publishes them locally, reading
// the FLV through the bufreader into pooled blocks and moving tag bodies
// into frames without copying them.
package cascade

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Host is what the cascade needs from the media host.
type Host interface {
	Publish(req host.PublishRequest) (host.Publisher, error)
	Subscribe(path string) (host.Subscriber, error)
}

// Config configures a Parent and a Child. Zero fields take the defaults
// in limits.go.
type Config struct {
	// Secret is what a child presents (Child) or what the parent demands
	// (Parent). An empty secret on the parent admits only loopback peers.
	// Never logged.
	Secret string
	// Auth is the plugin's one hook; nil allows all. The parent asks it
	// (Protocol "quic", ActionPlay) for every registration (Path "") and
	// every PULLFLV (the path and its query); VerifyPassword compares with
	// the secret the child presented.
	Auth host.Authorizer
	// Insecure makes a child accept a parent certificate it cannot verify
	// (the host's self-signed one).
	Insecure bool
	// StopDelay: a pull started on demand ends with STOPFLV this long
	// after its last local player left.
	StopDelay        time.Duration
	MaxRequestLine   int
	MaxStreams       int
	MaxChildren      int
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	ReadTimeout      time.Duration
	AllocatorSize    int
	// API answers HTTP requests the parent relays to a child. nil: every
	// relayed request gets an error body.
	API http.Handler
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	if c.StopDelay < 0 {
		c.StopDelay = DefaultStopDelay
	}
	if c.MaxRequestLine <= 0 {
		c.MaxRequestLine = 4 << 10
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxChildren <= 0 {
		c.MaxChildren = DefaultMaxChildren
	}
	if c.AllocatorSize <= 0 {
		c.AllocatorSize = DefaultAllocatorSize
	}
	if c.Auth == nil {
		c.Auth = host.AllowAll
	}
	return c
}

// isLoopback reports whether addr is a loopback IP address.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.IP.IsLoopback()
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	}
	return false
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
