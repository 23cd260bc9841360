package transport

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// Errors ReadPacket returns when a connection ends other than by a
// SHUTDOWN or Close (which end it with io.EOF itself). Each wraps io.EOF, so
// errors.Is(err, io.EOF) holds for every normal end of a connection.
var (
	// ErrPeerIdle: nothing arrived from the peer for PeerIdleTimeout.
	ErrPeerIdle = fmt.Errorf("srt: peer idle timeout: %w", io.EOF)
	// ErrPeerError: the peer reported an error (PEERERROR) and gave up.
	ErrPeerError = fmt.Errorf("srt: peer error: %w", io.EOF)
	// ErrListenerClosed: the listener the connection belongs to closed.
	ErrListenerClosed = fmt.Errorf("srt: listener closed: %w", io.EOF)
)

// connParams is what a connection's owner (the listener, or Dial) decides
// before the connection exists.
type connParams struct {
	LocalID, PeerID uint32 // socket IDs
	Peer            netip.AddrPort
	// ISN is the initial sequence number, the same in both directions
	// (HSv5).
	ISN                      uint32
	Latency, PeerIdleTimeout time.Duration
	// Cipher en/decrypts payloads; nil for a stream in the clear.
	Cipher *wire.Cipher
	// Passphrase is kept for key refreshes (KMREQ) on a receiving conn.
	Passphrase string
	StreamID   string
	// Start is our timestamp base: every packet we send carries the
	// microseconds since Start.
	Start time.Time
	Pool  *packetPool
	// Write sends one datagram to Peer (through the listener's socket or
	// the dialer's). b is not retained.
	Write func(b []byte) error
	// OnClose is called once when the connection ends, so that the owner
	// unregisters it (listener table) or closes its socket (dialer).
	OnClose func()
	Log     *slog.Logger
}

// Conn is one SRT connection in live mode: its receiver runs on the
// goroutine calling ReadPacket (which also processes every control packet
// and the connection's timer), its sender is fed by Write.
type Conn struct {
	p   connParams
	snd *sender

	// in carries datagrams from the socket reader. inMu orders enqueue
	// against the end: once inClosed is set nothing more is queued, so
	// the drain after it decommissions every packet exactly once. The
	// caller that sets inClosed is the one that ends the connection.
	in       chan *Packet
	inMu     sync.Mutex
	inClosed bool

	done chan struct{} // closed when the connection ends
	err  error         // why it ended; written before done is closed

	// readMu is held by ReadPacket for its whole call and by the final
	// drain: it guards the receive state (r, ctrl, tick).
	readMu sync.Mutex
	r      receiver
	ctrl   [MaxDatagram]byte // control packets built by the ReadPacket goroutine
	tick   *time.Ticker
	// tickFast: the timer runs at ackInterval (a gap is being recovered)
	// rather than idleTick.
	tickFast bool

	lastSend atomic.Int64 // ns since Start of our last datagram
	st       recvCounters
}

// newConn returns a registered-elsewhere connection ready to use.
func newConn(p connParams) *Conn {
	if p.Latency <= 0 {
		p.Latency = DefaultLatency
	}
	if p.PeerIdleTimeout <= 0 {
		p.PeerIdleTimeout = DefaultPeerIdleTimeout
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.OnClose == nil {
		p.OnClose = func() {}
	}
	c := &Conn{
		in:   make(chan *Packet, InboundQueue),
		done: make(chan struct{}),
		tick: time.NewTicker(idleTick),
	}
	write := p.Write
	p.Write = func(b []byte) error {
		c.lastSend.Store(int64(time.Since(c.p.Start)))
		return write(b)
	}
	c.p = p
	c.r.init(p.ISN)
	c.snd = newSender(&c.p)
	c.st.rtt.Store(int64(initialRTT))
	c.st.rttVar.Store(int64(initialRTTVar))
	return c
}

// enqueue hands a datagram from the socket reader to the connection. It
// never blocks: false means the queue is full or the connection closed,
// and the caller keeps (and must decommission) p.
func (c *Conn) enqueue(p *Packet) bool {
	c.inMu.Lock()
	if c.inClosed {
		c.inMu.Unlock()
		return false
	}
	select {
	case c.in <- p:
		c.inMu.Unlock()
		return true
	default:
		c.inMu.Unlock()
		c.st.queueDrop.Add(1)
		return false
	}
}

// ReadPacket returns the next data packet in sequence order; the caller
// owns it and must Decommission it. Packets lost for longer than the
// latency are skipped (counted in Stats().PktRecvDrop). It also processes
// every control packet and the connection's timers, so a connection that
// only sends (SRT play) must still have a goroutine calling ReadPacket.
//
// After a SHUTDOWN from the peer it first returns every packet already
// received, in order (skipping gaps), then io.EOF. After Close it returns
// io.EOF; after an idle peer or a peer error an error wrapping io.EOF.
func (c *Conn) ReadPacket() (*Packet, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		select {
		case <-c.done:
			c.drainLocked()
			return nil, c.err
		default:
		}
		if p := c.r.pop(); p != nil {
			c.st.bufPkts.Store(uint64(c.r.buffered))
			return p, nil
		}
		if c.r.peerShutdown {
			// Everything deliverable is delivered: skip the
			// remaining gaps and deliver what is behind them.
			if c.r.skipGap() > 0 {
				continue
			}
			c.end(io.EOF, false, true)
			continue
		}
		select {
		case p := <-c.in:
			c.handle(p)
		case <-c.tick.C:
			c.onTick()
		case <-c.done:
		}
		c.pace()
	}
}

// Write sends msg as one live-mode message (at most wire.MaxPayload
// bytes). It never blocks; msg is copied and not retained.
func (c *Conn) Write(msg []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.snd.write(msg, time.Now())
}

// Close ends the connection: it sends SHUTDOWN to the peer, makes
// ReadPacket return io.EOF and releases every packet still queued or
// buffered. It may be called from any goroutine, any number of times.
func (c *Conn) Close() error {
	c.end(io.EOF, true, false)
	return nil
}

// end closes the connection for reason err; only the first call acts, a
// later or concurrent one returns at once (the first one finishes the
// job). locked says the caller holds readMu (the ReadPacket goroutine).
func (c *Conn) end(err error, sendShutdown, locked bool) {
	c.inMu.Lock()
	if c.inClosed {
		c.inMu.Unlock()
		return
	}
	c.inClosed = true
	c.inMu.Unlock()
	if sendShutdown {
		// Before done is closed, so that the peer is told before
		// ReadPacket reports the end.
		var b [wire.HeaderSize + 4]byte
		h := wire.ControlHeader{Type: wire.CtrlShutdown, Timestamp: c.timestamp(), DestSocket: c.p.PeerID}
		h.Put(b[:])
		_ = c.p.Write(b[:])
	}
	c.err = err
	close(c.done)
	c.snd.close()
	if !locked {
		// Wait for a ReadPacket in progress (it sees done and drains),
		// then drain whatever remains.
		c.readMu.Lock()
	}
	c.drainLocked()
	c.tick.Stop()
	if !locked {
		c.readMu.Unlock()
	}
	c.p.Log.Debug("srt conn closed", "socket", c.p.LocalID, "peer", c.p.Peer, "reason", err)
	c.p.OnClose()
}

// drainLocked decommissions every queued and buffered packet. Called with
// readMu held, after inClosed is set (so the queue no longer grows).
func (c *Conn) drainLocked() {
	for {
		select {
		case p := <-c.in:
			p.Decommission()
		default:
			c.r.release()
			c.st.bufPkts.Store(0)
			return
		}
	}
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.p.Peer) }

// StreamID returns the streamid the caller sent (or that Dial sent).
func (c *Conn) StreamID() string { return c.p.StreamID }

// SocketID returns our socket ID of the connection.
func (c *Conn) SocketID() uint32 { return c.p.LocalID }

// PeerSocketID returns the peer's socket ID.
func (c *Conn) PeerSocketID() uint32 { return c.p.PeerID }

// Latency returns the negotiated latency.
func (c *Conn) Latency() time.Duration { return c.p.Latency }

// Done returns a channel closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// timestamp returns our SRT timestamp: microseconds since Start, wrapping.
func (c *Conn) timestamp() uint32 { return uint32(time.Since(c.p.Start) / time.Microsecond) }

// now returns the connection's monotonic clock: nanoseconds since Start.
func (c *Conn) now() int64 { return int64(time.Since(c.p.Start)) }
