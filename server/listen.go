package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Accept retry: a failed Accept (EMFILE, ENFILE, ENOBUFS, ECONNABORTED …)
// is retried after a pause that doubles from acceptBackoffMin to
// acceptBackoffMax, as net/http does, so a process out of descriptors
// neither spins nor stops accepting for good.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// logEvery rate-limits the log lines of events a peer can trigger at will
// (refused connections, accept errors), so a flood cannot flood the log.
const logEvery = time.Second

// Refusal reasons, the reason label of zerocopy_connections_refused_total.
const (
	refusedPerIP    = "per_ip"
	refusedListener = "listener"
)

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return acceptBackoffMin
	}
	return min(2*d, acceptBackoffMax)
}

// rateLog lets one line through per logEvery and counts the rest.
type rateLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many lines were held back
// since the last one.
func (r *rateLog) allow() (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}

// refusedCounters back zerocopy_connections_refused_total{listener,reason}.
type refusedCounters struct {
	mu sync.Mutex
	m  map[[2]string]*atomic.Int64
}

func (r *refusedCounters) counter(listener, reason string) *atomic.Int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[[2]string]*atomic.Int64{}
	}
	k := [2]string{listener, reason}
	c := r.m[k]
	if c == nil {
		c = new(atomic.Int64)
		r.m[k] = c
	}
	return c
}

type refusedSample struct {
	listener, reason string
	n                int64
}

func (r *refusedCounters) snapshot() []refusedSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]refusedSample, 0, len(r.m))
	for k, c := range r.m {
		out = append(out, refusedSample{k[0], k[1], c.Load()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].listener != out[j].listener {
			return out[i].listener < out[j].listener
		}
		return out[i].reason < out[j].reason
	})
	return out
}

// Refused returns how many connections listener refused for reason
// ("per_ip" or "listener").
func (s *Server) Refused(listener, reason string) int64 {
	return s.refused.counter(listener, reason).Load()
}

func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// tcpListener is one plugin listener: its accept loop, its open
// connections and its caps.
type tcpListener struct {
	name    string
	ln      net.Listener
	opts    host.ListenOptions
	log     *slog.Logger
	refused *refusedCounters

	mu      sync.Mutex
	conns   map[net.Conn]string // open connection -> remote IP
	perIP   map[string]int
	closed  bool
	closing chan struct{} // closed by close: ends a backoff pause
	stopped chan struct{} // closed when the accept loop has returned

	refuseLog, errLog rateLog
}

func newTCPListener(name string, ln net.Listener, opts host.ListenOptions, log *slog.Logger, refused *refusedCounters) *tcpListener {
	l := &tcpListener{
		name: name, ln: ln, opts: opts, log: log, refused: refused,
		conns: map[net.Conn]string{}, perIP: map[string]int{},
		closing: make(chan struct{}), stopped: make(chan struct{}),
	}
	// Capped listeners show their refusal counters from the start.
	if opts.MaxConnections > 0 {
		refused.counter(name, refusedListener)
	}
	if opts.MaxConnectionsPerIP > 0 {
		refused.counter(name, refusedPerIP)
	}
	return l
}

// ListenTCP implements host.Services.
func (v *services) ListenTCP(name, addr string, opts host.ListenOptions, handler host.ConnHandler) (net.Addr, error) {
	if opts.MaxConnections < 0 || opts.MaxConnectionsPerIP < 0 {
		return nil, fmt.Errorf("%s: negative connection cap %+v", name, opts)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", name, addr, err)
	}
	s := v.s
	l := newTCPListener(name, ln, opts, v.log.With("listener", name), &s.refused)
	v.listeners = append(v.listeners, l)
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	s.conns.Add(1)
	go func() {
		defer s.conns.Done()
		l.serve(func(conn net.Conn) {
			id := s.nextConn.Add(1)
			s.conns.Add(1)
			go func() {
				defer s.conns.Done()
				defer l.untrack(conn)
				clog := l.log.With("conn", id, "remote", conn.RemoteAddr().String())
				serveConn(conn, clog, handler)
			}()
		})
	}()
	l.log.Info("listening", "addr", ln.Addr().String(),
		"max_connections", opts.MaxConnections, "max_connections_per_ip", opts.MaxConnectionsPerIP)
	return ln.Addr(), nil
}

// serve accepts until the listener is closed and hands each admitted
// connection to start, which must arrange for untrack once it is done.
func (l *tcpListener) serve(start func(net.Conn)) {
	defer close(l.stopped)
	for {
		conn, ok := l.accept()
		if !ok {
			return
		}
		ip, reason := l.admit(conn)
		switch reason {
		case "":
			start(conn)
		case "closed":
			conn.Close()
			return
		default:
			conn.Close()
			l.refused.counter(l.name, reason).Add(1)
			if ok, held := l.refuseLog.allow(); ok {
				limit := l.opts.MaxConnections
				if reason == refusedPerIP {
					limit = l.opts.MaxConnectionsPerIP
				}
				l.log.Warn("connection refused: cap reached", "remote_ip", ip, "cap", reason, "limit", limit, "suppressed", held)
			}
		}
	}
}

// accept returns the next connection, retrying failed Accepts with
// backoff; ok is false once the listener is closed.
func (l *tcpListener) accept() (net.Conn, bool) {
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err == nil {
			return conn, true
		}
		if errors.Is(err, net.ErrClosed) || l.isClosed() {
			return nil, false
		}
		delay = nextBackoff(delay)
		if ok, held := l.errLog.allow(); ok {
			l.log.Warn("accept failed; retrying", "err", err, "retry_in", delay, "suppressed", held)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.closing:
			t.Stop()
			return nil, false
		}
	}
}

func (l *tcpListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// admit tracks c unless a cap refuses it; reason is "" when admitted,
// "closed" when the listener is closing, or the refusal reason.
func (l *tcpListener) admit(c net.Conn) (ip, reason string) {
	ip = remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ip, "closed"
	case l.opts.MaxConnections > 0 && len(l.conns) >= l.opts.MaxConnections:
		return ip, refusedListener
	case l.opts.MaxConnectionsPerIP > 0 && l.perIP[ip] >= l.opts.MaxConnectionsPerIP:
		return ip, refusedPerIP
	}
	l.conns[c] = ip
	l.perIP[ip]++
	return ip, ""
}

func (l *tcpListener) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ip, ok := l.conns[c]
	if !ok {
		return
	}
	delete(l.conns, c)
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func (l *tcpListener) close() {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	if !already {
		close(l.closing)
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

// limitListener caps the HTTP listener's open connections: one over the
// cap is closed at once, logged (rate-limited) and counted.
type limitListener struct {
	net.Listener
	name    string
	max     int
	log     *slog.Logger
	refused *atomic.Int64
	mu      sync.Mutex
	open    int
	rl      rateLog
}

// newLimitListener wraps ln; max <= 0 returns ln itself.
func newLimitListener(ln net.Listener, name string, max int, log *slog.Logger, counter func(listener, reason string) *atomic.Int64) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, name: name, max: max, log: log, refused: counter(name, refusedListener)}
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		full := l.open >= l.max
		if !full {
			l.open++
		}
		l.mu.Unlock()
		if !full {
			return wrapCounted(c, l.release), nil
		}
		ip := remoteIP(c)
		c.Close()
		l.refused.Add(1)
		if ok, held := l.rl.allow(); ok {
			l.log.Warn("connection refused: cap reached", "remote_ip", ip, "cap", refusedListener, "limit", l.max, "suppressed", held)
		}
	}
}

func (l *limitListener) release() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
}

// wrapCounted calls release once when c is closed. A *net.TCPConn stays
// embedded so that net.Buffers still goes out with one writev (its
// unexported writeBuffers method is promoted) and io.Copy still splices.
func wrapCounted(c net.Conn, release func()) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &countedTCPConn{TCPConn: tc, release: release}
	}
	return &countedConn{Conn: c, release: release}
}

type countedTCPConn struct {
	*net.TCPConn
	once    sync.Once
	release func()
}

func (c *countedTCPConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
