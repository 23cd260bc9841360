// Package server is the embedded default host: it loads config.yaml, runs
// the installed plugins (see package host), keeps the stream hub, serves
// HTTP-FLV, /api/streams, /metrics and optionally pprof, and shuts down
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
	HTTP       HTTPConfig      `desc:"HTTP server for HTTP-FLV, /api/streams, /metrics and pprof"`
	LogLevel   string          `default:"info" desc:"debug, info, warn or error"`
	DisableAll bool            `default:"false" desc:"disable every plugin whose section does not say enable: true"`
	Publish    PublishConfig   `desc:"publishing rules for every stream"`
	Subscribe  SubscribeConfig `desc:"playback rules for every stream"`
}

// HTTPConfig configures the HTTP listener.
type HTTPConfig struct {
	ListenAddr string `default:"127.0.0.1:8080" desc:"HTTP listen address"`
	PProf      bool   `default:"false" desc:"serve /debug/pprof/"`
}

// PublishConfig mirrors m7s's publish section.
type PublishConfig struct {
	KickExist      bool          `default:"false" desc:"a new publisher on a busy path kicks the old one instead of being refused"`
	PublishTimeout time.Duration `default:"10s" desc:"end a publisher that sends no frame for this long"`
	RingSize       int           `default:"256" desc:"frames kept per stream for subscribers (must hold a GOP: 256 holds 3 s at 30 fps with AAC)"`
	CloseWait      time.Duration `default:"3s" desc:"how long an unpublish waits for subscribers to catch up"`
}

// SubscribeConfig mirrors m7s's subscribe section.
type SubscribeConfig struct {
	WaitTimeout time.Duration `default:"10s" desc:"how long a player waits for its stream to be published"`
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

	mu        sync.Mutex
	plugins   []*runningPlugin
	listeners []*tcpListener
	quic      []*quicListener
	udp       []net.PacketConn
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

// Addrs lists every bound listener by name (http, and each plugin's).
func (s *Server) Addrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]net.Addr{"http": s.httpLn.Addr()}
	for _, l := range s.listeners {
		out[l.name] = l.ln.Addr()
	}
	for _, l := range s.quic {
		out[l.name] = l.addr
	}
	return out
}

// Start starts the HTTP server and every enabled plugin.
func Start(cfg *Config) (*Server, error) {
	s := &Server{global: cfg.Global, log: cfg.Logger}
	if s.log == nil {
		s.log = NewLogger(os.Stderr, cfg.Global.LogLevel)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.hub = hub.New(hub.Options{
		KickExisting:   cfg.Global.Publish.KickExist,
		PublishTimeout: cfg.Global.Publish.PublishTimeout,
		RingSize:       cfg.Global.Publish.RingSize,
		CloseWait:      cfg.Global.Publish.CloseWait,
		SubscribeWait:  cfg.Global.Subscribe.WaitTimeout,
	}, s.log)

	ln, err := net.Listen("tcp", cfg.Global.HTTP.ListenAddr)
	if err != nil {
		s.hub.Close()
		s.cancel()
		return nil, fmt.Errorf("global.http.listenaddr: %w", err)
	}
	s.httpLn = ln
	s.httpSrv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.httpDone = make(chan struct{})
	go func() {
		defer close(s.httpDone)
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()

	for _, p := range cfg.Plugins {
		svc := &services{s: s, log: s.log.With("plugin", p.Meta.Name)}
		if err := p.Plugin.Start(svc); err != nil {
			s.log.Error("plugin disabled: start failed", "plugin", p.Meta.Name, "err", err)
			svc.closeListeners()
			continue
		}
		s.plugins = append(s.plugins, &runningPlugin{meta: p.Meta, plugin: p.Plugin})
		s.log.Info("plugin started", "plugin", p.Meta.Name)
	}
	return s, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/streams", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"streams": s.hub.Streams()})
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	if s.global.HTTP.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if path, ok := flvPath(r.URL.Path); ok {
			s.serveFLV(w, r, path)
			return
		}
		http.NotFound(w, r)
	})
	return mux
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

type tcpListener struct {
	name    string
	ln      net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	stopped chan struct{}
}

func (v *services) ListenTCP(name, addr string, opts host.ListenOptions, handler host.ConnHandler) (net.Addr, error) {
	_ = opts // TODO(issue 8): caps
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", name, addr, err)
	}
	l := &tcpListener{name: name, ln: ln, conns: map[net.Conn]struct{}{}, stopped: make(chan struct{})}
	v.listeners = append(v.listeners, l)
	s := v.s
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	log := v.log.With("listener", name)
	s.conns.Add(1)
	go func() {
		defer s.conns.Done()
		defer close(l.stopped)
		for {
			conn, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !errors.Is(err, net.ErrClosed) {
					log.Error("accept loop stopped", "err", err)
				}
				return
			}
			if !l.track(conn) {
				conn.Close()
				return
			}
			id := s.nextConn.Add(1)
			s.conns.Add(1)
			go func() {
				defer s.conns.Done()
				defer l.untrack(conn)
				clog := log.With("conn", id, "remote", conn.RemoteAddr().String())
				serveConn(conn, clog, handler)
			}()
		}
	}()
	log.Info("listening", "addr", ln.Addr().String())
	return ln.Addr(), nil
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

func (l *tcpListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *tcpListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

func (l *tcpListener) close() {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		l.ln.Close()
	}
}

// closeConns force-closes every connection still open.
func (l *tcpListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
}
