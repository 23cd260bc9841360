// Package host is the seam between the zerocopy plugin and a media framework.
// It is deliberately small and shaped after Monibuca v5 so that every piece
// maps one-to-one onto m7s:
//
//	host.InstallPlugin(meta)        m7s.InstallPlugin[T](m7s.PluginMeta{...})
//	Plugin.Start(Services)/Dispose  the plugin's Start() error / Dispose()
//	Services.ListenTCP              tcp.listenaddr + OnTCPConnect
//	Services.ListenQUIC             quic.listenaddr + OnQUICConnect
//	Services.ListenUDP              net.ListenPacket in Start (m7s's UDP auto-listen is broken)
//	Services.SetAuthorizer          the server's OnAuthPubs/OnAuthSubs hooks
//	Services.Publish                p.Publish(ctx, path)
//	Publisher.Writer(alloc)         m7s.NewPublishVideoWriter[V](pub, allocator)
//	FrameWriter.NextVideo           w.NextVideo()
//
// The built-in implementation is package server; the adapter for real m7s
// builds is the separate module under m7s/.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// PluginMeta describes a plugin at registration, like m7s.PluginMeta.
type PluginMeta struct {
	// Name is the plugin's name; its config section is the lowercase form.
	Name string
	// NewConfig returns a pointer to a fresh config struct carrying
	// `default:"…" desc:"…"` tags. The host fills it from its config
	// file and environment before New is called.
	NewConfig func() any
	// New builds the plugin from its filled config.
	New func(config any) (Plugin, error)
}

// Section is the plugin's config section name (m7s lowercases the name).
func (m PluginMeta) Section() string { return strings.ToLower(m.Name) }

// Plugin is what a host drives.
type Plugin interface {
	// Start runs before the host serves traffic. An error stops start-up:
	// the host shuts down everything already started and reports the
	// error, which should name the config key.
	Start(s Services) error
	// Dispose releases everything Start acquired. The host has stopped the
	// listeners and waited for their connection goroutines first.
	Dispose()
}

// OnDemand starts publishing path if it can (see Services.AddOnDemand).
type OnDemand func(path string) bool

// ListenOptions bound what one TCP listener accepts. Caps limit
// concurrent connections only; they never ban by rate, so a burst of short
// connections is served once it ends. Zero means no cap.
type ListenOptions struct {
	MaxConnections      int // open connections on this listener
	MaxConnectionsPerIP int // open connections from one remote IP
}

// ConnHandler serves one accepted connection on its own goroutine. The host
// closes conn when the handler returns and recovers a panic from it, closing
// only that connection and logging why.
type ConnHandler func(conn net.Conn, log *slog.Logger)

// QUICHandler serves one accepted QUIC connection on its own goroutine
// (m7s: the plugin's OnQUICConnect(conn *quic.Conn) task.ITask; the
// handler's run is that task's lifetime). When the handler returns, the host
// closes conn with CloseWithError (application error code 0, reason
// "done"). A panic in the handler is recovered: the host logs it with its
// stack and closes only that connection (code 1, reason "internal error").
// At shutdown the host closes every open connection (code 0, reason
// "server shutting down"), so a handler blocked on the connection returns.
type QUICHandler func(conn *quic.Conn, log *slog.Logger)

// QUICConfig configures a QUIC listener (m7s: the plugin's `quic:` config
// section, config.Quic {listenaddr, certfile, keyfile}; the address is
// ListenQUIC's addr).
type QUICConfig struct {
	// ALPN lists the application protocols offered in the TLS handshake;
	// QUIC requires at least one (the cascade plugin uses "monibuca").
	ALPN []string
	// CertFile and KeyFile are PEM files. Both empty: the host generates a
	// self-signed ECDSA certificate for "localhost" and 127.0.0.1 in
	// memory when the listener starts, and logs that it did.
	CertFile, KeyFile string
	// HandshakeTimeout, IdleTimeout and MaxIncomingStreams map onto
	// quic.Config's HandshakeIdleTimeout, MaxIdleTimeout and
	// MaxIncomingStreams (0: quic-go's default). A listener never accepts
	// unidirectional streams.
	HandshakeTimeout, IdleTimeout time.Duration
	MaxIncomingStreams            int64
}

// Services is what a host offers a plugin.
type Services interface {
	// Logger returns the plugin's logger.
	Logger() *slog.Logger
	// ListenTCP makes the host accept TCP connections on addr and run
	// handler for each one (m7s: tcp.listenaddr + OnTCPConnect). It returns
	// the bound address (useful with port 0).
	ListenTCP(name, addr string, opts ListenOptions, handler ConnHandler) (net.Addr, error)
	// ListenUDP binds a UDP socket the plugin reads itself (RTSP's RTP/RTCP
	// ports, SRT). The host closes it at shutdown (m7s: the plugin calls
	// net.ListenPacket in Start and closes it in Dispose, since m7s's UDP
	// auto-listen is broken).
	ListenUDP(name, addr string) (net.PacketConn, error)
	// SetAuthorizer installs the one hook that decides every publish and
	// play, including the host's own egress (HTTP-FLV). nil restores
	// AllowAll.
	SetAuthorizer(a Authorizer)
	// AddOnDemand registers a handler the host calls, on a goroutine of
	// its own, when a player asks for a path that nothing publishes (m7s:
	// the pull proxies' on-demand mode). A handler that can publish the
	// path (pull it from a camera or a parent node) starts doing so and
	// returns true; the player keeps waiting for the publish up to
	// global.subscribe.waittimeout. The host calls the handlers in order
	// until one returns true, at most once per path until that path is
	// published or the attempt is over.
	AddOnDemand(h OnDemand)
	// ListenQUIC makes the host accept QUIC connections on UDP addr and
	// run handler for each one (m7s: quic.listenaddr + OnQUICConnect). It
	// returns the bound UDP address (useful with port 0).
	ListenQUIC(name, addr string, conf QUICConfig, handler QUICHandler) (net.Addr, error)
	// Publish claims path for a new publisher (m7s: p.Publish(ctx, path)).
	// When ctx ends, the publish ends too.
	Publish(req PublishRequest) (Publisher, error)
	// Subscribe reads a live stream (used by protocol egress such as RTMP
	// play). A host that serves playback itself may return
	// ErrSubscribeUnsupported.
	Subscribe(path string) (Subscriber, error)
}

// Subscriber reads one stream's frames in order on its own goroutine.
// Release every frame Next returned before calling Next again: a host
// takes a subscriber blocked in Next to hold none of its stream's frames
// (the hub then carries it over to a returning publisher rather than cut it).
type Subscriber interface {
	// Configs returns the codec configuration and whether it changed since
	// the last call (true on the first call when any is set, and after the
	// subscriber was carried over to a returning publisher: send the new
	// sequence headers then).
	Configs() (video VideoConfig, audio AudioConfig, changed bool)
	// Next blocks for the next frame and returns it retained: the caller
	// must Release it. io.EOF means the stream ended, or that the subscriber
	// was cut. A host that waits for a returning publisher (the hub's
	// ReconnectWait) blocks instead, and then delivers the new publish from
	// its first keyframe, with timestamps continuing the old ones.
	Next(ctx context.Context) (*Frame, error)
	// Metadata returns the stream's latest script data (an FLV/RTMP
	// onMetaData body, as the publisher sent it), or nil. The slice is
	// immutable: the host replaces it rather than writing into it. A change
	// also makes the next Configs report changed.
	Metadata() []byte
	// Drops counts frames skipped because the subscriber fell behind,
	// counted when the host discards them (even while the subscriber is
	// blocked writing).
	Drops() int64
	// Cut returns a channel that is closed when the host stops waiting for
	// this subscriber: the stream ended and it had not caught up, the host
	// needs its frames back, or the host is shutting down. An egress
	// blocked writing to a slow peer must then give up at once and release
	// its frame, so the publisher can free its memory. Next returns io.EOF
	// from then on.
	Cut() <-chan struct{}
	Close()
}

// ErrSubscribeUnsupported is returned by hosts whose own egress serves
// playback (m7s).
var ErrSubscribeUnsupported = errors.New("host: subscribing is not offered by this host")

// ErrNoStream is returned by Subscribe when nothing is published at path.
var ErrNoStream = errors.New("no such stream")

// PublishRequest names a publish attempt.
type PublishRequest struct {
	Path     string
	Protocol string // "rtmp", "rtsp", "srt", "flv" … for metrics and logs
	Remote   string
}

// ErrStreamExists is returned by Publish when the path already has a
// publisher and the host is not configured to kick it.
var ErrStreamExists = errors.New("stream already being published")

var (
	registryMu sync.Mutex
	registry   []PluginMeta
)

// InstallPlugin registers a plugin. It is meant to run from the plugin
// package's init (a blank import is enough). A nil constructor, an empty
// name or a duplicate name is an error.
func InstallPlugin(meta PluginMeta) error {
	if meta.Name == "" || meta.New == nil || meta.NewConfig == nil {
		return fmt.Errorf("host: InstallPlugin(%q): name, NewConfig and New are required", meta.Name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	for _, m := range registry {
		if m.Section() == meta.Section() {
			return fmt.Errorf("host: plugin %q installed twice", meta.Name)
		}
	}
	registry = append(registry, meta)
	return nil
}

// Plugins returns the installed plugins in installation order.
func Plugins() []PluginMeta {
	registryMu.Lock()
	defer registryMu.Unlock()
	return append([]PluginMeta(nil), registry...)
}

// uninstallForTest removes a plugin; only tests use it.
func uninstallForTest(name string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	for i, m := range registry {
		if m.Name == name {
			registry = append(registry[:i], registry[i+1:]...)
			return
		}
	}
}
