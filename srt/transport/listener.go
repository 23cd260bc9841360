package transport

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// Config configures a Listener. Zero durations take the Default* values of
// limits.go.
type Config struct {
	// Latency is our receiver latency; a connection uses the larger of it
	// and the peer's. A gap still missing this long after the first packet
	// behind it arrived is skipped.
	Latency time.Duration
	// PeerIdleTimeout ends a connection the peer sent nothing on for this
	// long.
	PeerIdleTimeout time.Duration
	// HandshakeTimeout is how long a request waits for Accept or Reject
	// (and how long a decided one's answer is kept for retransmitted
	// conclusions).
	HandshakeTimeout time.Duration
	// Log receives connection and handshake events; nil discards them.
	Log *slog.Logger
}

// Listener is an SRT listener on one UDP socket. One goroutine reads every
// datagram into a pooled packet and hands it to its connection by
// destination socket ID; handshakes are answered on that goroutine too.
type Listener struct {
	cfg   Config
	log   *slog.Logger
	sock  *net.UDPConn
	pool  *packetPool
	start time.Time

	// mu guards conns and closed. The reader takes the read lock per
	// datagram (no allocation, no contention with other readers).
	mu     sync.RWMutex
	conns  map[uint32]*Conn // by our socket ID
	closed bool

	// hsMu guards the requests and the handshake buffer.
	hsMu   sync.Mutex
	reqs   map[reqKey]*Request
	hsBuf  []byte
	secret [cookieSecretSize]byte

	acceptQ    chan *Request
	done       chan struct{}
	closeOnce  sync.Once
	readerDone chan struct{}
	scratch    [MaxDatagram]byte // read target when the pool is exhausted (reader only)
	st         listenerCounters
}

// Listen opens an SRT listener on the UDP address addr ("host:port").
func Listen(addr string, cfg Config) (*Listener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("srt listen %s: %w", addr, err)
	}
	sock, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("srt listen %s: %w", addr, err)
	}
	return newListener(sock, cfg), nil
}

func newListener(sock *net.UDPConn, cfg Config) *Listener {
	if cfg.Latency <= 0 {
		cfg.Latency = DefaultLatency
	}
	if cfg.PeerIdleTimeout <= 0 {
		cfg.PeerIdleTimeout = DefaultPeerIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	// Best effort: the kernel clamps the size, and a smaller buffer
	// only costs drops under bursts.
	_ = sock.SetReadBuffer(SocketBuffer)
	_ = sock.SetWriteBuffer(SocketBuffer)
	l := &Listener{
		cfg:        cfg,
		log:        cfg.Log,
		sock:       sock,
		pool:       newPacketPool(MaxPoolPackets),
		start:      time.Now(),
		conns:      make(map[uint32]*Conn),
		reqs:       make(map[reqKey]*Request),
		acceptQ:    make(chan *Request, AcceptQueue),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	_, _ = rand.Read(l.secret[:])
	go l.readLoop()
	return l
}

// Addr returns the listener's local UDP address.
func (l *Listener) Addr() net.Addr { return l.sock.LocalAddr() }

// Accept waits for the next conclusion handshake and returns it, to be
// decided with Request.Accept or Request.Reject within HandshakeTimeout.
// After Close it returns net.ErrClosed.
func (l *Listener) Accept() (*Request, error) {
	for {
		select {
		case r := <-l.acceptQ:
			if time.Since(r.created) >= l.cfg.HandshakeTimeout {
				// The caller gave up on it: drop it unanswered.
				l.hsMu.Lock()
				r.decided = true
				l.hsMu.Unlock()
				continue
			}
			return r, nil
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
}

// Close closes every connection (each sends SHUTDOWN), then the socket, and
// waits for the reader goroutine. It is idempotent.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.mu.Lock()
		l.closed = true
		conns := make([]*Conn, 0, len(l.conns))
		for _, c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			c.end(ErrListenerClosed, true, false)
		}
		_ = l.sock.Close()
		<-l.readerDone
	})
	return nil
}

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	l.mu.RLock()
	n := len(l.conns)
	l.mu.RUnlock()
	return ListenerStats{
		Datagrams:     l.st.datagrams.Load(),
		PoolExhausted: l.st.poolExhausted.Load(),
		QueueFull:     l.st.queueFull.Load(),
		UnknownSocket: l.st.unknown.Load(),
		Malformed:     l.st.malformed.Load(),
		Handshakes:    l.st.handshakes.Load(),
		Rejected:      l.st.rejected.Load(),
		Accepted:      l.st.accepted.Load(),
		Conns:         uint64(n),
		PoolPackets:   uint64(l.pool.outstanding()),
	}
}

// readLoop reads every datagram of the socket until it closes.
func (l *Listener) readLoop() {
	defer close(l.readerDone)
	for {
		p := l.pool.get()
		buf := l.scratch[:]
		if p != nil {
			buf = p.slot
		}
		n, from, err := l.sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			if p != nil {
				p.Decommission()
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-l.done:
				return
			default:
			}
			continue
		}
		l.st.datagrams.Add(1)
		if p == nil {
			l.st.poolExhausted.Add(1)
			continue
		}
		p.setLen(n)
		l.dispatch(p, from)
	}
}

// dispatch routes one datagram: handshakes (to socket 0) are answered here,
// everything else goes to its connection's queue. It takes ownership of p
// and never panics on its contents.
func (l *Listener) dispatch(p *Packet, from netip.AddrPort) {
	b := p.raw()
	if len(b) < wire.HeaderSize {
		l.st.malformed.Add(1)
		p.Decommission()
		return
	}
	dst := wire.DestSocket(b)
	if dst == 0 {
		if wire.IsControl(b) {
			l.handshake(b, from)
		} else {
			l.st.malformed.Add(1)
		}
		p.Decommission()
		return
	}
	l.mu.RLock()
	c := l.conns[dst]
	l.mu.RUnlock()
	if c == nil || c.p.Peer != from {
		l.st.unknown.Add(1)
		p.Decommission()
		return
	}
	if !c.enqueue(p) {
		l.st.queueFull.Add(1)
		p.Decommission()
	}
}

// register gives c a fresh socket ID and adds it to the table; false when
// the listener is closed.
func (l *Listener) register(p *connParams) (*Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false
	}
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		// libsrt's IDs stay below 2^30; 0 is the listener's.
		id := binary.BigEndian.Uint32(b[:]) & 0x3FFFFFFF
		if _, dup := l.conns[id]; id != 0 && !dup {
			p.LocalID = id
			break
		}
	}
	id := p.LocalID
	peer := p.Peer
	p.Write = func(b []byte) error {
		_, err := l.sock.WriteToUDPAddrPort(b, peer)
		return err
	}
	p.OnClose = func() {
		l.mu.Lock()
		delete(l.conns, id)
		l.mu.Unlock()
	}
	c := newConn(*p)
	l.conns[id] = c
	return c, true
}
