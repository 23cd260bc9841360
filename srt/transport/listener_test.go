package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/srt/wire"
)

const ltPass = "correct-horse-battery"

// ltMsg is message i of a test stream: its index, then a pattern derived
// from it, 1316 bytes in all.
func ltMsg(i int) []byte {
	b := make([]byte, 1316)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i*7 + j)
	}
	return b
}

// ltServer is a Listener whose requests are decided by decide in a
// goroutine, with every accepted conn read to its end into got.
type ltServer struct {
	t    *testing.T
	l    *Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  [][]byte // payload copies, in delivery order
	errs []error  // ReadPacket's final error per conn
	conn []*Conn
}

func startLT(t *testing.T, cfg Config, decide func(*Request) (*Conn, error)) *ltServer {
	t.Helper()
	l, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &ltServer{t: t, l: l}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			r, err := l.Accept()
			if err != nil {
				return
			}
			c, err := decide(r)
			if err != nil || c == nil {
				continue
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				for {
					p, err := c.ReadPacket()
					if err != nil {
						s.mu.Lock()
						s.errs = append(s.errs, err)
						s.mu.Unlock()
						return
					}
					s.mu.Lock()
					s.got = append(s.got, bytes.Clone(p.Data()))
					s.mu.Unlock()
					p.Decommission()
				}
			}()
		}
	}()
	return s
}

func (s *ltServer) addr() string { return s.l.Addr().String() }

// close closes the listener, waits for the readers and checks that every
// packet slot went back to the pool.
func (s *ltServer) close() {
	s.t.Helper()
	s.l.Close()
	s.wg.Wait()
	if n := s.l.pool.outstanding(); n != 0 {
		s.t.Errorf("pool: %d packets outstanding after Close", n)
	}
}

// waitEnd waits until n connections have ended.
func (s *ltServer) waitEnd(n int, d time.Duration) []error {
	s.t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		e := append([]error(nil), s.errs...)
		s.mu.Unlock()
		if len(e) >= n {
			return e
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d of %d connections ended within %v", len(e), n, d)
		}
	}
}

func (s *ltServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.got...)
}

// acceptWith accepts every request, unwrapping with pass when the caller
// encrypts and rejecting with RejBadSecret when that fails.
func acceptWith(pass string) func(*Request) (*Conn, error) {
	return func(r *Request) (*Conn, error) {
		if r.IsEncrypted() {
			if err := r.SetPassphrase(pass); err != nil {
				r.Reject(wire.RejBadSecret)
				return nil, err
			}
		}
		return r.Accept()
	}
}

func gosrtDial(addr, streamid, pass string, latency time.Duration) (gosrt.Conn, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamid
	cfg.Passphrase = pass
	cfg.ConnectionTimeout = 3 * time.Second
	if latency > 0 {
		cfg.ReceiverLatency, cfg.PeerLatency = latency, latency
	}
	return gosrt.Dial("srt", addr, cfg)
}

// publish writes n messages paced at about 2000 per second, then waits for
// the peer's ACKs to settle and closes.
func publish(t *testing.T, c gosrt.Conn, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.Write(ltMsg(i)); err != nil {
			t.Fatalf("gosrt write %d: %v", i, err)
		}
		if i%4 == 3 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	closeGosrt(c)
}

// closeGosrt closes a gosrt dialer and waits (bounded) for its socket
// reader: gosrt v0.11's reader reports its end with a blocking send that
// only a later Read receives, so it would outlive the test otherwise.
func closeGosrt(c gosrt.Conn) {
	c.Close()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := c.ReadPacket(); errors.Is(err, gosrt.ErrClientClosed) {
			return
		}
	}
}

// checkInOrder checks that got is a subsequence of messages 0..n-1, in
// order and exact, and returns how many are missing.
func checkInOrder(t *testing.T, got [][]byte, n int) int {
	t.Helper()
	last := -1
	for k, b := range got {
		if len(b) < 4 {
			t.Fatalf("message %d: %d bytes", k, len(b))
		}
		i := int(binary.BigEndian.Uint32(b))
		if i <= last || i >= n {
			t.Fatalf("message %d is #%d after #%d", k, i, last)
		}
		if !bytes.Equal(b, ltMsg(i)) {
			t.Fatalf("message #%d differs", i)
		}
		last = i
	}
	return n - len(got)
}

// TestGosrtPublish: a gosrt caller publishes N messages to our listener, in
// the clear and encrypted: all arrive in order, exact, and its shutdown
// ends the conn with io.EOF after the last one.
func TestGosrtPublish(t *testing.T) {
	for _, tc := range []struct{ name, pass string }{{"plain", ""}, {"aes", ltPass}} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			const n = 600
			var sid string
			s := startLT(t, Config{}, func(r *Request) (*Conn, error) {
				sid = r.StreamID()
				if r.IsEncrypted() != (tc.pass != "") {
					t.Errorf("IsEncrypted = %v", r.IsEncrypted())
				}
				return acceptWith(ltPass)(r)
			})
			c, err := gosrtDial(s.addr(), "publish:/live/x", tc.pass, 0)
			if err != nil {
				t.Fatal(err)
			}
			publish(t, c, n)
			errs := s.waitEnd(1, 5*time.Second)
			if errs[0] != io.EOF {
				t.Errorf("ReadPacket ended with %v, want io.EOF", errs[0])
			}
			if miss := checkInOrder(t, s.received(), n); miss != 0 {
				t.Errorf("%d of %d messages missing", miss, n)
			}
			if sid != "publish:/live/x" {
				t.Errorf("streamid %q", sid)
			}
			st := s.conn[0].Stats()
			if st.PktRecv != n || st.RTT <= 0 {
				t.Errorf("stats: %+v", st)
			}
			ls := s.l.Stats()
			if ls.Accepted != 1 || ls.Handshakes < 2 || ls.Conns != 0 {
				t.Errorf("listener stats: %+v", ls)
			}
			s.close()
			testutil.WaitGoroutines(t, base)
		})
	}
}

// gosrtRejection is how gosrt's Dial names a rejection with reason r: the
// handshake type (1000 + r) in base 32.
func gosrtRejection(r wire.RejectReason) string {
	return "REJECT (" + strconv.FormatUint(uint64(r.HandshakeType()), 32) + ")"
}

// TestGosrtReject: a wrong passphrase is refused with 1010, a missing one
// too, and Reject's code reaches the caller.
func TestGosrtReject(t *testing.T) {
	base := runtime.NumGoroutine()
	s := startLT(t, Config{}, func(r *Request) (*Conn, error) {
		if strings.HasPrefix(r.StreamID(), "forbid") {
			r.Reject(wire.RejXForbidden)
			return nil, nil
		}
		if !r.IsEncrypted() {
			// A request accepted without its passphrase is refused.
			r.Reject(wire.RejUnsecure)
			return nil, nil
		}
		return acceptWith(ltPass)(r)
	})
	for _, tc := range []struct {
		sid, pass string
		want      wire.RejectReason
	}{
		{"publish:/live/a", "wrong-passphrase-x", wire.RejBadSecret},
		{"forbid:/live/b", "", wire.RejXForbidden},
		{"publish:/live/c", "", wire.RejUnsecure},
	} {
		_, err := gosrtDial(s.addr(), tc.sid, tc.pass, 0)
		if err == nil || !strings.Contains(err.Error(), gosrtRejection(tc.want)) {
			t.Errorf("%s: gosrt Dial: %v, want %s", tc.sid, err, gosrtRejection(tc.want))
		}
	}
	if ls := s.l.Stats(); ls.Rejected != 3 || ls.Accepted != 0 {
		t.Errorf("listener stats: %+v", ls)
	}
	s.close()
	// gosrt v0.11 may leak the socket reader of a refused Dial: it ends
	// with a blocking send (dial.go:140) that only a Read of the conn it
	// never returned would receive. Allow one per refusal; ours are gone.
	testutil.WaitGoroutines(t, base+3)
}

// relay forwards datagrams between a caller and the listener, dropping or
// reordering the caller's data packets as drop decides.
type relay struct {
	sock   *net.UDPConn
	server *net.UDPAddr
	mu     sync.Mutex
	client *net.UDPAddr
	// drop is called for each data packet from the caller: drop it, or
	// hold it and send it after the next one (reorder).
	drop  func(seq uint32) (drop, hold bool)
	done  chan struct{}
	toSrv *net.UDPConn
}

func newRelay(t *testing.T, server string, drop func(seq uint32) (bool, bool)) *relay {
	t.Helper()
	sa, _ := net.ResolveUDPAddr("udp", server)
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// A second socket faces the server, so replies come back to it.
	toSrv, err := net.DialUDP("udp", nil, sa)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{sock: sock, server: sa, drop: drop, done: make(chan struct{}), toSrv: toSrv}
	go r.fromServer()
	go r.fromClient()
	t.Cleanup(func() {
		sock.Close()
		toSrv.Close()
		<-r.done
		<-r.done
	})
	return r
}

func (r *relay) addr() string { return r.sock.LocalAddr().String() }

func (r *relay) fromClient() {
	defer func() { r.done <- struct{}{} }()
	buf := make([]byte, 2048)
	var held []byte
	for {
		n, from, err := r.sock.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.client = from
		r.mu.Unlock()
		b := buf[:n]
		if n >= 16 && !wire.IsControl(b) {
			drop, hold := r.drop(binary.BigEndian.Uint32(b) & wire.SeqMask)
			if drop {
				continue
			}
			if hold && held == nil {
				held = bytes.Clone(b)
				continue
			}
		}
		r.toSrv.Write(b)
		if held != nil {
			r.toSrv.Write(held)
			held = nil
		}
	}
}

func (r *relay) fromServer() {
	defer func() { r.done <- struct{}{} }()
	buf := make([]byte, 2048)
	for {
		n, err := r.toSrv.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.mu.Lock()
		c := r.client
		r.mu.Unlock()
		if c != nil {
			r.sock.WriteToUDP(buf[:n], c)
		}
	}
}

// TestLossyRelay: 5% of the caller's data packets dropped (first sends and
// retransmissions alike) and some reordered: every message still arrives,
// in order, through NAKs and retransmissions.
func TestLossyRelay(t *testing.T) {
	base := runtime.NumGoroutine()
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	s := startLT(t, Config{Latency: 400 * time.Millisecond}, acceptWith(ltPass))
	const n = 1000
	// A lost tail is never noticed: nothing comes behind it to reveal the
	// gap, and gosrt's sender retransmits only on a NAK. So the last
	// lossFreeTail messages pass untouched (about 1 run in 20 lost the
	// last one otherwise).
	const lossFreeTail = 10
	var first uint32
	seen := false
	r := newRelay(t, s.addr(), func(seq uint32) (bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if !seen {
			first, seen = seq, true
		}
		if wire.SeqDiff(first, seq) >= n-lossFreeTail {
			return false, false
		}
		x := rng.IntN(100)
		return x < 5, x >= 5 && x < 8
	})
	c, err := gosrtDial(r.addr(), "publish:/live/lossy", ltPass, 400*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, n)
	s.waitEnd(1, 5*time.Second)
	if miss := checkInOrder(t, s.received(), n); miss != 0 {
		t.Errorf("%d of %d messages missing", miss, n)
	}
	st := s.conn[0].Stats()
	t.Logf("stats: %+v", st)
	if st.PktRecvLoss == 0 || st.PktRecvRetrans == 0 {
		t.Errorf("no loss or retransmission counted: %+v", st)
	}
	s.close()
	testutil.WaitGoroutines(t, base+2) // the relay's two goroutines end at Cleanup
}

// TestBlackoutSkipped: every packet sent during a blackout longer than the
// latency is dropped for ever (retransmissions too): the receiver skips the
// gap after Latency, counts it, and delivers the rest in order.
func TestBlackoutSkipped(t *testing.T) {
	base := runtime.NumGoroutine()
	const lat = 150 * time.Millisecond
	var mu sync.Mutex
	var from time.Time
	dead := map[uint32]bool{}
	s := startLT(t, Config{Latency: lat}, acceptWith(""))
	r := newRelay(t, s.addr(), func(seq uint32) (bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if from.IsZero() {
			from = time.Now().Add(200 * time.Millisecond)
		}
		if now := time.Now(); now.After(from) && now.Before(from.Add(3*lat)) {
			dead[seq] = true
		}
		return dead[seq], false
	})
	const n = 1200
	c, err := gosrtDial(r.addr(), "publish:/live/gap", "", lat)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, n)
	s.waitEnd(1, 5*time.Second)
	miss := checkInOrder(t, s.received(), n)
	st := s.conn[0].Stats()
	mu.Lock()
	nd := len(dead)
	mu.Unlock()
	t.Logf("blackout: %d packets dead, %d messages missing; stats %+v", nd, miss, st)
	if nd == 0 || miss != nd || st.PktRecvDrop < uint64(nd) {
		t.Errorf("dead %d, missing %d, PktRecvDrop %d", nd, miss, st.PktRecvDrop)
	}
	s.close()
	testutil.WaitGoroutines(t, base+2)
}

// TestGosrtV011PanicDatagram: a conclusion whose CIF is 49 to 51 bytes
// with a non-zero extension field (it panics gosrt v0.11's parser) is
// counted as malformed, and the listener keeps serving.
func TestGosrtV011PanicDatagram(t *testing.T) {
	base := runtime.NumGoroutine()
	s := startLT(t, Config{}, acceptWith(""))
	cl, err := net.Dial("udp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	for extra := 1; extra <= 3; extra++ {
		b := make([]byte, wire.HeaderSize+wire.HandshakeCIFSize+extra)
		h := wire.ControlHeader{Type: wire.CtrlHandshake}
		h.Put(b)
		cif := b[wire.HeaderSize:]
		binary.BigEndian.PutUint32(cif[0:], 5)
		binary.BigEndian.PutUint16(cif[6:], wire.ExtFlagHSREQ|wire.ExtFlagConfig)
		binary.BigEndian.PutUint32(cif[20:], uint32(wire.HSConclusion))
		binary.BigEndian.PutUint32(cif[24:], 1234)
		if _, err := cl.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); s.l.Stats().Malformed+s.l.Stats().Rejected < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats: %+v", s.l.Stats())
		}
	}
	cl.Close()
	c, err := gosrtDial(s.addr(), "publish:/live/after", "", 0)
	if err != nil {
		t.Fatalf("listener no longer accepts: %v", err)
	}
	publish(t, c, 20)
	s.waitEnd(1, 5*time.Second)
	if miss := checkInOrder(t, s.received(), 20); miss != 0 {
		t.Errorf("%d missing", miss)
	}
	s.close()
	testutil.WaitGoroutines(t, base)
}

// FuzzListenerDatagram feeds arbitrary datagrams to the listener's
// dispatch: no panic, and every packet slot comes back.
func FuzzListenerDatagram(f *testing.F) {
	hs := func(typ wire.HandshakeType, ext uint16, extra []byte) []byte {
		b := make([]byte, wire.HeaderSize+wire.HandshakeCIFSize)
		h := wire.ControlHeader{Type: wire.CtrlHandshake}
		h.Put(b)
		binary.BigEndian.PutUint32(b[wire.HeaderSize:], 5)
		binary.BigEndian.PutUint16(b[wire.HeaderSize+6:], ext)
		binary.BigEndian.PutUint32(b[wire.HeaderSize+20:], uint32(typ))
		return append(b, extra...)
	}
	f.Add(hs(wire.HSInduction, 2, nil))
	f.Add(hs(wire.HSConclusion, 5, []byte{0}))
	f.Add(hs(wire.HSConclusion, 5, []byte{0, 1, 0, 3, 0, 1, 5, 1, 0, 0, 0, 0x3f, 0, 0x78, 0, 0x78}))
	f.Add(hs(wire.HSConclusion, 7, []byte{0, 5, 0, 1, 'a', 'b', 'c', 'd', 0, 3, 0, 0}))
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7})
	f.Add(make([]byte, 16))
	f.Add([]byte{1})
	l, err := Listen("127.0.0.1:0", Config{})
	if err != nil {
		f.Fatal(err)
	}
	// One registered conn, so that datagrams to its ID reach a receiver
	// (fed through enqueue, drained at Close).
	peer := l.sock.LocalAddr().(*net.UDPAddr).AddrPort()
	c, _ := l.register(&connParams{PeerID: 9, Peer: peer, Pool: l.pool, Start: time.Now()})
	f.Add([]byte{0, 0, 0, 0, 0xC0, 0, 0, 1, 0, 0, 0, 0, byte(c.p.LocalID >> 24), byte(c.p.LocalID >> 16), byte(c.p.LocalID >> 8), byte(c.p.LocalID), 1, 2, 3})
	f.Cleanup(func() {
		l.Close()
		if n := l.pool.outstanding(); n != 0 {
			f.Errorf("%d packets outstanding", n)
		}
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := l.pool.get()
		if p == nil {
			t.Fatal("packet pool exhausted: dispatch leaked packets")
		}
		p.setLen(copy(p.slot, b))
		l.dispatch(p, peer)
		// Let the conn's receiver process what was queued.
		select {
		case q := <-c.in:
			c.readMu.Lock()
			c.handle(q)
			for q := c.r.pop(); q != nil; q = c.r.pop() {
				q.Decommission()
			}
			c.readMu.Unlock()
		default:
		}
	})
}

// TestOwnDialBothWays: our Dial with a passphrase against our Listener:
// the caller publishes N messages (listener reads), then the listener's
// conn plays N messages back (caller reads); all exact and in order.
func TestOwnDialBothWays(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := Listen("127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan *Conn, 1)
	go func() {
		r, err := l.Accept()
		if err != nil {
			close(acc)
			return
		}
		c, _ := acceptWith(ltPass)(r)
		acc <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dc, err := Dial(ctx, l.Addr().String(), DialConfig{StreamID: "publish:/live/own", Passphrase: ltPass})
	if err != nil {
		t.Fatal(err)
	}
	lc := <-acc
	if lc == nil || lc.StreamID() != "publish:/live/own" {
		t.Fatal("not accepted")
	}
	// Idempotent: they only matter when the test stops early.
	defer l.Close()
	defer dc.Close()
	defer lc.Close()
	const n = 300
	// Each side reads all the time: its ReadPacket also processes the
	// ACKs and NAKs its sender needs.
	type side struct {
		data chan []byte
		end  chan error
	}
	read := func(c *Conn) side {
		sd := side{make(chan []byte, 2*n), make(chan error, 1)}
		go func() {
			for {
				p, err := c.ReadPacket()
				if err != nil {
					sd.end <- err
					return
				}
				sd.data <- bytes.Clone(p.Data())
				p.Decommission()
			}
		}()
		return sd
	}
	dside, lside := read(dc), read(lc)
	pump := func(from *Conn, to side) {
		t.Helper()
		for i := range n {
			if _, err := from.Write(ltMsg(i)); err != nil {
				t.Fatal(err)
			}
			if i%4 == 3 {
				time.Sleep(time.Millisecond)
			}
		}
		var msgs [][]byte
		timeout := time.After(5 * time.Second)
		for len(msgs) < n {
			select {
			case m := <-to.data:
				msgs = append(msgs, m)
			case <-timeout:
				t.Fatalf("%d of %d messages", len(msgs), n)
			}
		}
		if miss := checkInOrder(t, msgs, n); miss != 0 {
			t.Fatalf("%d missing", miss)
		}
	}
	pump(dc, lside)
	pump(lc, dside)
	dc.Close()
	select {
	case err := <-lside.end:
		if err != io.EOF {
			t.Errorf("listener side after the caller's Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("listener side did not end after the caller's Close")
	}
	<-dside.end
	lc.Close()
	l.Close()
	if o := l.pool.outstanding(); o != 0 {
		t.Errorf("%d packets outstanding", o)
	}
	testutil.WaitGoroutines(t, base)
}
