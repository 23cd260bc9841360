package ingestbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	srt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/packet"
)

// ---- gosrt: the plain gosrt listener ----

// gosrtTarget is gosrt's listener with the library's defaults: it accepts
// every publish:… caller and reads each connection with ReadPacket,
// counting the payload bytes (what ours counts) and handing every packet
// back with Decommission. With ret (gosrt-retain) it keeps each packet
// as long as our ring keeps frames before handing it back, so gosrt's
// payload pool cannot recycle it sooner than ours can: the cost any
// server pays that caches a GOP in gosrt's own packets.
type gosrtTarget struct {
	ret     *retention
	ln      srt.Listener
	bytes   atomic.Int64
	pub     atomic.Int64
	errs    atomic.Int64
	lastErr atomic.Pointer[string]

	mu     sync.Mutex
	conns  map[srt.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startGosrt(ret *retention) (*gosrtTarget, error) {
	ln, err := srt.Listen("srt", "127.0.0.1:0", srt.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("gosrt: %w", err)
	}
	t := &gosrtTarget{ret: ret, ln: ln, conns: map[srt.Conn]struct{}{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

func (t *gosrtTarget) accept() {
	defer t.wg.Done()
	for {
		req, err := t.ln.Accept2()
		if err != nil {
			return // closed by shutdown
		}
		conn, err := req.Accept()
		if err != nil {
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			conn.Close()
			return
		}
		t.conns[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			err := t.read(conn)
			conn.Close()
			t.mu.Lock()
			delete(t.conns, conn)
			closing := t.closed
			t.mu.Unlock()
			if err != nil && !closing {
				t.errs.Add(1)
				msg := err.Error()
				t.lastErr.Store(&msg)
			}
		}()
	}
}

func (t *gosrtTarget) read(conn srt.Conn) error {
	t.pub.Add(1)
	defer t.pub.Add(-1)
	var kept *packetFIFO
	if t.ret != nil {
		kept = &packetFIFO{ret: *t.ret}
		defer kept.releaseAll()
	}
	for {
		p, err := conn.ReadPacket()
		if err != nil {
			return err
		}
		t.bytes.Add(int64(p.Len()))
		if kept == nil {
			p.Decommission()
			continue
		}
		kept.keep(p)
	}
}

// packetFIFO holds one connection's gosrt packets, oldest first, and
// decommissions a packet once it is older than maxAge or the FIFO holds
// more than maxBytes (our ring's bounds). One goroutine only.
type packetFIFO struct {
	ret     retention
	packets []keptPacket
	head    int
	held    int
}

type keptPacket struct {
	p   packet.Packet
	at  time.Time
	len int
}

func (f *packetFIFO) keep(p packet.Packet) {
	now := time.Now()
	f.packets = append(f.packets, keptPacket{p: p, at: now, len: int(p.Len())})
	f.held += int(p.Len())
	for f.head < len(f.packets)-1 {
		k := &f.packets[f.head]
		if now.Sub(k.at) <= f.ret.maxAge && f.held <= f.ret.maxBytes {
			break
		}
		f.held -= k.len
		k.p.Decommission()
		*k = keptPacket{}
		f.head++
	}
	if f.head > 1024 && f.head*2 > len(f.packets) {
		n := copy(f.packets, f.packets[f.head:])
		clear(f.packets[n:])
		f.packets = f.packets[:n]
		f.head = 0
	}
}

func (f *packetFIFO) releaseAll() {
	for i := f.head; i < len(f.packets); i++ {
		f.packets[i].p.Decommission()
	}
	f.packets, f.head, f.held = nil, 0, 0
}

func (t *gosrtTarget) pushOutput(i int) []string  { return srtOutput(t.ln.Addr().String(), i) }
func (t *gosrtTarget) publishing() int            { return int(t.pub.Load()) }
func (t *gosrtTarget) bytesRead() int64           { return t.bytes.Load() }
func (t *gosrtTarget) bytesCopied() (int64, bool) { return 0, false }
func (t *gosrtTarget) check(int64) error {
	if n := t.errs.Load(); n > 0 {
		return fmt.Errorf("gosrt: %d connection(s) failed; last: %s", n, *t.lastErr.Load())
	}
	return nil
}

func (t *gosrtTarget) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.ln.Close(); t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gosrt shutdown: %w", ctx.Err())
	}
}

// ---- the UDP read floor ----

// udpFloor is one UDP socket read into a reused buffer (or a retaining
// ring). SRT needs a handshake and acknowledgements that a bare socket
// cannot give, so its pushers send the very same MPEG-TS datagrams
// (pkt_size=1316, -re) over plain UDP instead: the same datagram count and
// pacing, 16 bytes less per datagram (the SRT header), no control packets.
// The publishers counted are the distinct source addresses seen.
type udpFloor struct {
	pc      *net.UDPConn
	st      sinkStats
	sources sourceSet
	done    chan struct{}
}

func startUDPFloor(ret *retention, n int) (*udpFloor, error) {
	pc, err := listenUDP()
	if err != nil {
		return nil, err
	}
	f := &udpFloor{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		_ = readUDPFloor(pc, &f.st, ret, n, &f.sources)
	}()
	return f, nil
}

func (f *udpFloor) pushOutput(i int) []string {
	return []string{"-f", "mpegts", fmt.Sprintf("udp://%s?pkt_size=1316", f.pc.LocalAddr())}
}
func (f *udpFloor) publishing() int            { return int(f.sources.n.Load()) }
func (f *udpFloor) bytesRead() int64           { return f.st.bytes.Load() }
func (f *udpFloor) bytesCopied() (int64, bool) { return 0, false }
func (f *udpFloor) check(int64) error          { return nil }
func (f *udpFloor) shutdown(ctx context.Context) error {
	f.pc.Close()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sourceSet counts distinct source addresses. The reader samples one
// datagram in sourceSample, so a floor spends no map lookup on most
// datagrams; a pusher sends hundreds per second, so each is seen within
// a second.
type sourceSet struct {
	seen map[netip.AddrPort]struct{}
	n    atomic.Int64
}

const sourceSample = 16

// readUDPFloor reads pc until it is closed: into one reused buffer, or
// with ret into a ring holding what n streams' rings hold. With sources,
// distinct senders are counted.
func readUDPFloor(pc *net.UDPConn, st *sinkStats, ret *retention, n int, sources *sourceSet) error {
	var ring *retainRing
	buf := make([]byte, floorBufferSize)
	if ret != nil {
		r := *ret
		r.maxBytes *= max(n, 1)
		ring = newRetainRing(r, udpDatagramMax)
	}
	if sources != nil {
		sources.seen = map[netip.AddrPort]struct{}{}
	}
	for i := 0; ; i++ {
		b := buf
		if ring != nil {
			b = ring.room()
		}
		k, from, err := pc.ReadFromUDPAddrPort(b)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if ring != nil {
			ring.commit(k)
		}
		st.bytes.Add(int64(k))
		if sources != nil && i%sourceSample == 0 {
			if _, ok := sources.seen[from]; !ok {
				sources.seen[from] = struct{}{}
				sources.n.Store(int64(len(sources.seen)))
			}
		}
	}
}
