// Package srt serves SRT for the zerocopy plugin over its own transport
// (package srt/transport): publishers whose MPEG-TS is demuxed straight
// out of the packet slots the datagrams were read into, as codec-unit
// frames (no copy: frames hold the packets and the last frame to go
// decommissions them; only a TS packet a sender split across two SRT
// packets is copied, 188 bytes, counted), players fed by the TS muxer, and
// pulls in caller mode. The streamid decides the role and the hub path
// (package streamid); the plugin's one auth hook decides access.
package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/srt/streamid"
	"github.com/zcingest/zerocopy/srt/transport"
	"github.com/zcingest/zerocopy/srt/wire"
)

// Config configures the server. Zero durations take the defaults below.
type Config struct {
	ListenAddr string
	// Passphrase, when set, is required of every caller (AES, 10..79
	// bytes); a caller without it or with another is refused.
	Passphrase string
	// Latency is the SRT latency offered in the handshake; a connection
	// uses the larger of it and the peer's. Received packets are
	// delivered as soon as they are in order (no TSBPD hold): the latency
	// is how long a lost packet is waited for before it is skipped, and
	// what a player's sender keeps unacknowledged packets for.
	Latency time.Duration
	// ReadTimeout closes a publisher that sends no data for this long; it
	// is also the transport's peer idle timeout (no packet at all).
	ReadTimeout time.Duration
	// AuthTimeout bounds one auth hook call.
	AuthTimeout time.Duration
	// Caps on open connections (handshakes being decided included); 0
	// means no cap.
	MaxConnections      int
	MaxConnectionsPerIP int
	// Auth decides every publish and play (nil allows all).
	Auth host.Authorizer
	// Pull maps hub paths to srt:// URLs pulled in caller mode.
	Pull map[string]string
	// PullOnDemand starts a pull only when a player asks for its path and
	// ends it PullIdle after the last player left; otherwise every pull
	// runs from Start to Close.
	PullOnDemand bool
	PullIdle     time.Duration
	// PullRetry is the first wait before redialing a pull; it doubles up
	// to PullRetryMax.
	PullRetry, PullRetryMax time.Duration
	Demux                   mpegts.Options
}

// Defaults for zero Config fields.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultAuthTimeout  = 2 * time.Second
	DefaultPullRetry    = time.Second
	DefaultPullRetryMax = 30 * time.Second
	DefaultPullIdle     = 10 * time.Second
	DefaultLatency      = 120 * time.Millisecond
)

// Server is the SRT listener, its connections and its pulls.
type Server struct {
	cfg    Config
	svc    host.Services
	log    *slog.Logger
	ln     *transport.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	open    int            // accepted connections and handshakes being decided
	perIP   map[string]int // the same, per remote IP
	pending int            // handshakes being decided
	conns   map[*transport.Conn]struct{}
	pulls   map[string]bool // paths with a running pull goroutine
	nextID  uint64

	totals Totals
}

// ValidatePassphrase checks a configured passphrase against SRT's bounds.
func ValidatePassphrase(p string) error {
	if p != "" && (len(p) < MinPassphrase || len(p) > MaxPassphrase) {
		return fmt.Errorf("must be %d to %d bytes, got %d", MinPassphrase, MaxPassphrase, len(p))
	}
	return nil
}

// New returns a server; Listen and StartPulls start it, Close ends it.
func New(cfg Config, svc host.Services, log *slog.Logger) (*Server, error) {
	if err := ValidatePassphrase(cfg.Passphrase); err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	for path, u := range cfg.Pull {
		if _, err := pullConfig(cfg, u); err != nil {
			return nil, fmt.Errorf("pull %s: %w", path, err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.ReadTimeout, DefaultReadTimeout)
	def(&cfg.AuthTimeout, DefaultAuthTimeout)
	def(&cfg.PullRetry, DefaultPullRetry)
	def(&cfg.PullRetryMax, DefaultPullRetryMax)
	def(&cfg.PullIdle, DefaultPullIdle)
	if cfg.Latency <= 0 {
		cfg.Latency = DefaultLatency
	}
	if cfg.Auth == nil {
		cfg.Auth = host.AllowAll
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, svc: svc, log: log, ctx: ctx, cancel: cancel,
		perIP: map[string]int{}, conns: map[*transport.Conn]struct{}{}, pulls: map[string]bool{}}, nil
}

// Listen binds the UDP address and starts accepting callers.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := transport.Listen(s.cfg.ListenAddr, transport.Config{Latency: s.cfg.Latency,
		PeerIdleTimeout: s.cfg.ReadTimeout, HandshakeTimeout: s.cfg.AuthTimeout + time.Second, Log: s.log})
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	return ln.Addr(), nil
}

// Totals returns the server-wide counters.
func (s *Server) Totals() *Totals { return &s.totals }

// ListenerStats returns the listener socket's counters (datagrams, drops,
// malformed handshakes); zero before Listen.
func (s *Server) ListenerStats() transport.ListenerStats {
	if s.ln == nil {
		return transport.ListenerStats{}
	}
	return s.ln.Stats()
}

// URL is the srt:// URL a caller dials at hostPort to publish or play
// path: the streamid (simple form, see package streamid) travels in the
// URL's streamid parameter, as ffmpeg and srt-live-transmit take it. A
// non-empty query (the auth hook's "key=…") follows the streamid's path,
// where Parse finds it.
func URL(action host.Action, hostPort, path, query string) string {
	mode := "subscribe"
	if action == host.ActionPublish {
		mode = "publish"
	}
	u := "srt://" + hostPort + "?streamid=" + mode + ":/" + path
	if query != "" {
		u += "?" + query
	}
	return u
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		req, err := s.ln.Accept()
		if err != nil {
			if !s.isClosed() {
				s.log.Error("srt listener failed; no more callers are accepted", "err", err)
			}
			return
		}
		s.dispatch(req)
	}
}

// dispatch decides one request on a goroutine of its own (the auth hook
// may block), bounded by MaxPendingHandshakes and the connection caps.
func (s *Server) dispatch(req *transport.Request) {
	ip := ipOf(req.RemoteAddr())
	s.mu.Lock()
	var refuse string
	switch {
	case s.closed:
		refuse = "server closing"
	case s.pending >= MaxPendingHandshakes:
		refuse = "too many handshakes in progress (MaxPendingHandshakes)"
	case s.cfg.MaxConnections > 0 && s.open >= s.cfg.MaxConnections:
		refuse = "connection cap reached (maxconnections)"
	case s.cfg.MaxConnectionsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnectionsPerIP:
		refuse = "per-IP connection cap reached (maxconnectionsperip)"
	}
	if refuse != "" {
		s.mu.Unlock()
		s.reject(req, wire.RejXOverload, refuse)
		return
	}
	s.pending++
	s.open++
	s.perIP[ip]++
	s.nextID++
	id := s.nextID
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.release(ip)
		s.serve(req, s.log.With("conn", id, "remote", req.RemoteAddr().String()))
	}()
}

func (s *Server) release(ip string) {
	s.mu.Lock()
	s.open--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
}

func (s *Server) reject(req *transport.Request, code wire.RejectReason, why string) {
	s.totals.Rejected.Add(1)
	// code is libsrt's number for the reason (REJ_BADSECRET is 10, the
	// access-control REJX_UNAUTHORIZED 1401), as srt_getrejectreason
	// reports it to the caller.
	s.log.Info("srt caller refused", "remote", req.RemoteAddr().String(), "code", int(code), "reason", why)
	req.Reject(code)
}

// rejection maps a refusal to its SRT code.
type rejection struct {
	code wire.RejectReason
	err  error
}

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

// serve decides a request, accepts it and runs the connection.
func (s *Server) serve(req *transport.Request, log *slog.Logger) {
	remote := req.RemoteAddr().String()
	id, pub, rej := s.decide(req, remote)
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	if rej != nil {
		s.reject(req, rej.code, rej.err.Error())
		return
	}
	conn, err := req.Accept()
	if err != nil {
		s.totals.Rejected.Add(1)
		if pub != nil {
			pub.Close(err)
		}
		log.Info("srt caller not accepted", "reason", err)
		return
	}
	if !s.track(conn) {
		_ = conn.Close()
		if pub != nil {
			pub.Close(errors.New("srt server closing"))
		}
		return
	}
	defer s.untrack(conn)
	s.totals.Accepted.Add(1)
	st := &ConnStats{Path: id.Path, Remote: remote}
	var runErr error
	if id.Mode == streamid.Publish {
		st.Role = "publish"
		log.Info("srt publish started", "path", id.Path)
		runErr = s.runPublish(conn, pub, st, log)
	} else {
		st.Role = "play"
		log.Info("srt play started", "path", id.Path)
		runErr = s.runPlay(conn, id.Path, st, log)
	}
	log.Info("srt connection closed", st.logAttrs(reasonOf(runErr))...)
}

// reasonOf names why a connection ended: io.EOF itself is a SHUTDOWN from
// the peer (or our own close, logged where it is decided); the transport's
// other ends (peer idle, peer error) wrap io.EOF and name themselves.
func reasonOf(err error) string {
	if err == nil || err == io.EOF {
		return "peer closed the connection"
	}
	return err.Error()
}

// decide parses the streamid, checks the passphrase, asks the auth hook
// and, for a publisher, claims the path, all before the handshake is
// answered, so every refusal is an SRT rejection code the caller sees.
func (s *Server) decide(req *transport.Request, remote string) (streamid.ID, host.Publisher, *rejection) {
	if req.Version() != 5 {
		return streamid.ID{}, nil, &rejection{wire.RejXBadRequest, errors.New("HSv4 caller: no streamid")}
	}
	id, err := streamid.Parse(req.StreamID())
	if err != nil {
		code := wire.RejXBadRequest
		if errors.Is(err, streamid.ErrBadMode) {
			code = wire.RejXBadMode
		}
		return id, nil, &rejection{code, err}
	}
	switch {
	case s.cfg.Passphrase != "" && !req.IsEncrypted():
		return id, nil, &rejection{wire.RejUnsecure, errors.New("passphrase required, caller is not encrypting")}
	case s.cfg.Passphrase == "" && req.IsEncrypted():
		return id, nil, &rejection{wire.RejUnsecure, errors.New("caller encrypts, no passphrase configured")}
	case s.cfg.Passphrase != "":
		if err := req.SetPassphrase(s.cfg.Passphrase); err != nil {
			return id, nil, &rejection{wire.RejBadSecret, errors.New("wrong passphrase")}
		}
	}
	action := host.ActionPlay
	if id.Mode == streamid.Publish {
		action = host.ActionPublish
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AuthTimeout)
	err = s.cfg.Auth.Authorize(ctx, host.AuthRequest{Action: action, Protocol: "srt", Path: id.Path, Query: id.Query, Remote: remote, User: id.User})
	cancel()
	if err != nil {
		code := wire.RejXDown // the hook could not decide (callback down or slow)
		switch {
		case errors.Is(err, host.ErrUnauthorized):
			code = wire.RejXUnauthorized
		case errors.Is(err, host.ErrForbidden):
			code = wire.RejXForbidden
		}
		// The hook's error may echo the query; name only the outcome.
		return id, nil, &rejection{code, fmt.Errorf("srt %s %s refused by the auth hook (code %d)", action, id.Path, code)}
	}
	if id.Mode != streamid.Publish {
		return id, nil, nil
	}
	pub, err := s.svc.Publish(host.PublishRequest{Path: id.Path, Protocol: "srt", Remote: remote})
	if err != nil {
		code := wire.RejXISE
		if errors.Is(err, host.ErrStreamExists) {
			code = wire.RejXConflict
		}
		return id, nil, &rejection{code, fmt.Errorf("srt publish %s: %w", id.Path, err)}
	}
	return id, pub, nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers an open connection so Close can end it; false when
// the server is closing.
func (s *Server) track(c *transport.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *transport.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listener and the pulls, closes every connection and
// waits until every goroutine the server started has ended (publishers
// have then closed their publishes and decommissioned their packets).
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*transport.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	if s.ln != nil {
		s.ln.Close() // closes its own connections too
	}
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

func ipOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}
