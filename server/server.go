// Package server is the embedded default host: it loads config.yaml, runs
// the installed plugins (see package host), keeps the stream hub, serves
// HTTP-FLV, /api/streams and /metrics on the media listener (pprof only on
// the separate admin listener, global.admin.listenaddr), and shuts down
// gracefully.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// GlobalConfig is the `global:` section of config.yaml.
type GlobalConfig struct {
	HTTP       HTTPConfig      `desc:"HTTP server for HTTP-FLV, /api/streams and /metrics"`
	Admin      AdminConfig     `desc:"separate listener for /debug/pprof/ and /metrics (off by default)"`
	LogLevel   string          `default:"info" desc:"debug, info, warn or error"`
	DisableAll bool            `default:"false" desc:"disable every plugin whose section does not say enable: true"`
	Publish    PublishConfig   `desc:"publishing rules for every stream"`
	Subscribe  SubscribeConfig `desc:"playback rules for every stream"`
}

// HTTPConfig configures the HTTP (media) listener.
type HTTPConfig struct {
	ListenAddr        string        `default:"127.0.0.1:8080" desc:"HTTP listen address"`
	MaxConnections    int           `default:"4096" min:"0" desc:"open HTTP connections (players included); more are closed at once (0: no cap)"`
	ReadHeaderTimeout time.Duration `default:"10s" min:"1ms" desc:"time allowed to send a request's headers"`
	IdleTimeout       time.Duration `default:"60s" min:"1ms" desc:"close a keep-alive connection idle this long"`
	WriteTimeout      time.Duration `default:"10s" min:"1ms" desc:"time allowed to write a non-streaming response (/api/streams, /metrics, errors); HTTP-FLV streams have their own per-write deadline"`
	// PProf is the removed global.http.pprof key, kept only to fail with
	// a message that points at its replacement.
	PProf bool `default:"false" desc:"removed: pprof is no longer served on the media listener; set global.admin.listenaddr"`
}

// AdminConfig configures the admin listener.
type AdminConfig struct {
	ListenAddr string `desc:"serve /debug/pprof/ and /metrics here, e.g. 127.0.0.1:6060 (empty: off); never expose it publicly"`
}

// PublishConfig mirrors m7s's publish section.
type PublishConfig struct {
	KickExist      bool          `default:"false" desc:"a new publisher on a busy path kicks the old one instead of being refused"`
	PublishTimeout time.Duration `default:"10s" min:"0s" desc:"end a publisher that sends no frame for this long"`
	RingSize       int           `default:"2048" min:"1" max:"65536" desc:"cap on frames kept per stream (ringduration and ringbytes normally bound the ring first; 2048 holds 12 s of 60 fps video with AAC)"`
	RingBytes      int64         `default:"33554432" min:"65536" max:"1073741824" desc:"payload bytes kept per stream for subscribers (32 MiB)"`
	RingDuration   time.Duration `default:"12s" min:"1s" max:"10m" desc:"media time kept per stream for subscribers"`
	CloseWait      time.Duration `default:"3s" min:"0s" desc:"how long an unpublish waits for subscribers to catch up"`
	ReconnectWait  time.Duration `default:"10s" min:"0s" desc:"how long players of a stream whose publisher left wait for it to come back"`
}

// SubscribeConfig mirrors m7s's subscribe section.
type SubscribeConfig struct {
	WaitTimeout time.Duration `default:"10s" min:"0s" desc:"how long a player waits for its stream to be published"`
}

// Server is a running embedded host.
type Server struct {
	global GlobalConfig
	log    *slog.Logger
	hub    *hub.Hub
	egress EgressStats

	ctx    context.Context
	cancel context.CancelFunc

	httpLn   net.Listener
	httpSrv  *http.Server
	httpDone chan struct{}

	adminLn   net.Listener // nil when global.admin.listenaddr is empty
	adminSrv  *http.Server
	adminDone chan struct{}

	refused refusedCounters

	mu        sync.Mutex
	plugins   []*runningPlugin
	listeners []*tcpListener
	quic      []*quicListener
	udp       []net.PacketConn
	demand    []host.OnDemand
	endpoints map[string]host.Endpoint // advertised by plugins (AdvertiseEndpoint)
	auth      atomic.Pointer[host.Authorizer]
	conns     sync.WaitGroup
	sessions  sync.WaitGroup // HTTP-FLV sessions (hijacked: http.Server.Shutdown does not wait for them)
	nextConn  atomic.Uint64
	stopped   bool
}

type runningPlugin struct {
	meta   host.PluginMeta
	plugin host.Plugin
}

// authorizer returns the hook a plugin installed, or host.AllowAll.
func (s *Server) authorizer() host.Authorizer {
	if a := s.auth.Load(); a != nil {
		return *a
	}
	return host.AllowAll
}

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Hub returns the stream hub (tests publish into it directly).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Egress returns the HTTP-FLV egress counters.
func (s *Server) Egress() *EgressStats { return &s.egress }

// Logger returns the host's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Addrs lists every bound listener by name (http, and each plugin's,
// including those a plugin binds itself and advertises).
func (s *Server) Addrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]net.Addr{"http": s.httpLn.Addr()}
	if s.adminLn != nil {
		out["admin"] = s.adminLn.Addr()
	}
	for _, l := range s.listeners {
		out[l.name] = l.ln.Addr()
	}
	for _, l := range s.quic {
		out[l.name] = l.addr
	}
	for name, e := range s.endpoints {
		out[name] = e.Addr
	}
	return out
}

// Start starts the HTTP server and every enabled plugin. A plugin whose
// Start fails stops start-up: everything already started is shut down and
// the error names the plugin and (through the plugin's error) the key.
func Start(cfg *Config) (*Server, error) {
	s := &Server{global: cfg.Global, log: cfg.Logger}
	if s.log == nil {
		s.log = NewLogger(os.Stderr, cfg.Global.LogLevel)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	hopts := hubOptions(cfg.Global)
	hopts.OnDemand = s.onDemand
	s.hub = hub.New(hopts, s.log)

	ln, err := net.Listen("tcp", cfg.Global.HTTP.ListenAddr)
	if err != nil {
		s.hub.Close()
		s.cancel()
		return nil, fmt.Errorf("global.http.listenaddr: %w", err)
	}
	if cfg.Global.Admin.ListenAddr != "" {
		if s.adminLn, err = net.Listen("tcp", cfg.Global.Admin.ListenAddr); err != nil {
			ln.Close()
			s.hub.Close()
			s.cancel()
			return nil, fmt.Errorf("global.admin.listenaddr: %w", err)
		}
	}
	h := cfg.Global.HTTP
	s.httpLn = newLimitListener(ln, "http", h.MaxConnections, s.log.With("listener", "http"), s.refused.counter)
	s.httpSrv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		IdleTimeout:       h.IdleTimeout,
		// No WriteTimeout: it would cut HTTP-FLV streams. Non-streaming
		// handlers get a per-request write deadline (withWriteDeadline),
		// and HTTP-FLV one per write.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.httpDone = make(chan struct{})
	go func() {
		defer close(s.httpDone)
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	if s.adminLn != nil {
		s.adminSrv = &http.Server{Handler: s.adminRoutes(), ReadHeaderTimeout: h.ReadHeaderTimeout, IdleTimeout: h.IdleTimeout}
		s.adminDone = make(chan struct{})
		go func() {
			defer close(s.adminDone)
			if err := s.adminSrv.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin server stopped", "err", err)
			}
		}()
		s.log.Info("admin listening (pprof, metrics)", "addr", s.adminLn.Addr().String())
	}

	for _, p := range cfg.Plugins {
		svc := &services{s: s, log: s.log.With("plugin", p.Meta.Name)}
		if err := p.Plugin.Start(svc); err != nil {
			svc.closeListeners()
			s.log.Error("start-up stopped: plugin failed to start", "plugin", p.Meta.Name, "err", err)
			ctx, cancel := context.WithTimeout(context.Background(), startFailureDrain)
			if serr := s.Shutdown(ctx); serr != nil {
				s.log.Warn("shutdown after a failed start", "err", serr)
			}
			cancel()
			return nil, fmt.Errorf("plugin %s: %w", p.Meta.Name, err)
		}
		s.plugins = append(s.plugins, &runningPlugin{meta: p.Meta, plugin: p.Plugin})
		s.log.Info("plugin started", "plugin", p.Meta.Name)
	}
	return s, nil
}

// startFailureDrain bounds the shutdown that follows a failed plugin start.
const startFailureDrain = 5 * time.Second

// hubOptions maps the global section onto the hub.
func hubOptions(g GlobalConfig) hub.Options {
	return hub.Options{
		KickExisting:   g.Publish.KickExist,
		PublishTimeout: g.Publish.PublishTimeout,
		RingSize:       g.Publish.RingSize,
		RingBytes:      g.Publish.RingBytes,
		RingDuration:   g.Publish.RingDuration,
		ReconnectWait:  g.Publish.ReconnectWait,
		CloseWait:      g.Publish.CloseWait,
		SubscribeWait:  g.Subscribe.WaitTimeout,
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"streams": s.hub.Streams()})
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	s.mountStatus(mux) // the status page at exactly "/" (status.go); other paths fall through to HTTP-FLV
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if path, ok := flvPath(r.URL.Path); ok {
			s.serveFLV(w, r, path)
			return
		}
		http.NotFound(w, r)
	})
	mux.HandleFunc("OPTIONS /", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := flvPath(r.URL.Path); ok {
			corsPreflight(w)
			return
		}
		http.NotFound(w, r)
	})
	return s.withWriteDeadline(mux)
}

// withWriteDeadline gives every response a write deadline, so a client
// that stops reading cannot hold a handler (and its connection) forever.
// HTTP-FLV re-arms it per write after hijacking the connection.
func (s *Server) withWriteDeadline(h http.Handler) http.Handler {
	d := s.global.HTTP.WriteTimeout
	if d <= 0 { // a Config built in code without the tag defaults
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		h.ServeHTTP(w, r)
	})
}

// adminRoutes serve pprof and metrics on the admin listener only.
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// AdminAddr is the bound admin address, or nil when it is off.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Shutdown drains gracefully: listeners stop, publishers are told to end
// (their connections close and they free their frames), subscribers end,
// plugins are disposed, and the HTTP server stops. It waits at most until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	listeners := s.listeners
	s.mu.Unlock()

	for _, l := range listeners {
		l.close()
	}
	s.closeQUIC()
	s.mu.Lock()
	for _, pc := range s.udp {
		_ = pc.Close()
	}
	s.mu.Unlock()
	s.hub.Close()
	s.cancel() // ends HTTP-FLV sessions and connection contexts

	done := make(chan struct{})
	go func() { s.conns.Wait(); s.sessions.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: connections still open: %w", ctx.Err())
		for _, l := range listeners {
			l.closeConns()
		}
		<-done
	}
	for i := len(s.plugins) - 1; i >= 0; i-- {
		s.plugins[i].plugin.Dispose()
	}
	if herr := s.httpSrv.Shutdown(ctx); herr != nil && err == nil {
		err = herr
	}
	<-s.httpDone
	if s.adminSrv != nil {
		if aerr := s.adminSrv.Shutdown(ctx); aerr != nil && err == nil {
			err = aerr
		}
		<-s.adminDone
	}
	return err
}

// NewLogger returns a text slog logger at level (debug, info, warn, error).
func NewLogger(w *os.File, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// services is what one plugin sees of the host.
type services struct {
	s         *Server
	log       *slog.Logger
	listeners []*tcpListener
	quic      []*quicListener
}

func (v *services) Logger() *slog.Logger { return v.log }

func (v *services) Publish(req host.PublishRequest) (host.Publisher, error) {
	st, err := v.s.hub.Publish(v.s.ctx, req)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (v *services) Subscribe(path string) (host.Subscriber, error) {
	sub, err := v.s.hub.Subscribe(path)
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// APIHandler serves the host's read-only API (GET /api/streams) for
// requests a cascade parent relays to this node.
func (v *services) APIHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/streams", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"streams": v.s.hub.Streams()})
	})
	return m
}

// AddOnDemand implements host.Services.
func (v *services) AddOnDemand(h host.OnDemand) {
	v.s.mu.Lock()
	v.s.demand = append(v.s.demand, h)
	v.s.mu.Unlock()
}

// onDemand asks each plugin's handler in turn to publish path.
func (s *Server) onDemand(path string) bool {
	s.mu.Lock()
	handlers := append([]host.OnDemand(nil), s.demand...)
	s.mu.Unlock()
	for _, h := range handlers {
		if h(path) {
			return true
		}
	}
	return false
}

// SetAuthorizer implements host.Services.
func (v *services) SetAuthorizer(a host.Authorizer) {
	if a == nil {
		a = host.AllowAll
	}
	v.s.auth.Store(&a)
}

// ListenUDP implements host.Services.
func (v *services) ListenUDP(name, addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen udp %s: %w", name, addr, err)
	}
	v.s.mu.Lock()
	v.s.udp = append(v.s.udp, pc)
	v.s.mu.Unlock()
	v.log.Info("listening", "listener", name, "udp", pc.LocalAddr().String())
	return pc, nil
}

func (v *services) closeListeners() {
	for _, l := range v.listeners {
		l.close()
	}
	// A plugin whose Start failed must not keep accepting QUIC either; the
	// UDP socket itself is closed with the others at Shutdown.
	for _, l := range v.quic {
		l.stop()
	}
}

// serveConn runs handler and closes conn afterwards. A panic closes only
// this connection; it is logged with its stack.
func serveConn(conn net.Conn, log *slog.Logger, handler host.ConnHandler) {
	defer conn.Close()
	defer func() {
		if v := recover(); v != nil {
			log.Error("connection closed: handler panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	handler(conn, log)
}
