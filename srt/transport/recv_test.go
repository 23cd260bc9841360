package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/srt/wire"
)

// connRig is a conn without a socket: datagrams are fed with enqueue and
// what it sends is captured.
type connRig struct {
	c    *Conn
	pool *packetPool
	mu   sync.Mutex
	out  [][]byte
	enc  *wire.Cipher
}

const rigLocal, rigRemote = 0x1111, 0x2222

func newConnRig(t *testing.T, isn uint32, lat, idle time.Duration, ci *wire.Cipher, pass string) *connRig {
	t.Helper()
	r := &connRig{pool: newPacketPool(4096), enc: ci}
	r.c = newConn(connParams{
		LocalID: rigLocal, PeerID: rigRemote, Peer: netip.MustParseAddrPort("127.0.0.1:9"),
		ISN: isn, Latency: lat, PeerIdleTimeout: idle, Cipher: ci, Passphrase: pass,
		Start: time.Now(), Pool: r.pool,
		Write: func(b []byte) error {
			r.mu.Lock()
			r.out = append(r.out, bytes.Clone(b))
			r.mu.Unlock()
			return nil
		},
	})
	return r
}

func (r *connRig) feed(t *testing.T, b []byte) {
	t.Helper()
	p := r.pool.get()
	p.setLen(copy(p.slot, b))
	if !r.c.enqueue(p) {
		p.Decommission()
		t.Fatal("enqueue refused")
	}
}

// data feeds data packet seq (payload: seq in its first 4 bytes).
func (r *connRig) data(t *testing.T, seq uint32, rexmit bool) {
	t.Helper()
	b := make([]byte, wire.HeaderSize+188)
	binary.BigEndian.PutUint32(b[wire.HeaderSize:], seq)
	h := wire.DataHeader{Seq: seq, Position: wire.PositionSolo, Retransmitted: rexmit, DestSocket: rigLocal}
	if r.enc != nil {
		h.Key = wire.KeyEven
		if err := r.enc.Encrypt(b[wire.HeaderSize:], wire.KeyEven, seq); err != nil {
			t.Fatal(err)
		}
	}
	h.Put(b)
	r.feed(t, b)
}

func (r *connRig) control(t *testing.T, typ wire.ControlType, sub uint16, ts uint32, cif []byte) {
	t.Helper()
	h := wire.ControlHeader{Type: typ, Subtype: sub, TypeSpecific: ts, DestSocket: rigLocal}
	r.feed(t, wire.AppendControl(nil, &h, cif))
}

// read returns the next packet's sequence number (checking its payload).
func (r *connRig) read(t *testing.T) uint32 {
	t.Helper()
	p, err := r.c.ReadPacket()
	if err != nil {
		t.Fatalf("ReadPacket: %v", err)
	}
	defer p.Decommission()
	if got := binary.BigEndian.Uint32(p.Data()); got != p.Seq() {
		t.Fatalf("packet %d carries %d", p.Seq(), got)
	}
	return p.Seq()
}

// sent returns the captured control packets of type typ, CIF only.
func (r *connRig) sent(typ wire.ControlType) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]byte
	for _, b := range r.out {
		if h, cif, err := wire.ParseControlHeader(b); err == nil && h.Type == typ {
			out = append(out, cif)
		}
	}
	return out
}

func (r *connRig) done(t *testing.T) {
	t.Helper()
	r.c.Close()
	if n := r.pool.outstanding(); n != 0 {
		t.Errorf("%d packets outstanding after Close", n)
	}
}

// TestReceiverOrderAndNAK: packets out of order are delivered in order; a
// gap is NAKed at once with its exact range and a retransmission fills it
// (counted).
func TestReceiverOrderAndNAK(t *testing.T) {
	const isn = wire.SeqMask - 2 // across the 31-bit wrap
	r := newConnRig(t, isn, time.Second, time.Minute, nil, "")
	r.data(t, isn, false)
	if got := r.read(t); got != isn {
		t.Fatalf("first: %d", got)
	}
	s := func(i int32) uint32 { return wire.SeqAdd(isn, i) }
	r.data(t, s(4), false) // 1..3 missing
	r.data(t, s(2), false)
	r.data(t, s(1), true)
	if got := r.read(t); got != s(1) {
		t.Fatalf("got %d, want %d", got, s(1))
	}
	if got := r.read(t); got != s(2) {
		t.Fatalf("got %d", got)
	}
	naks := r.sent(wire.CtrlNAK)
	var ranges [][2]uint32
	for _, n := range naks {
		wire.ParseNAK(n, func(a, b uint32) { ranges = append(ranges, [2]uint32{a, b}) })
	}
	if len(ranges) == 0 || ranges[0] != [2]uint32{s(1), s(3)} {
		t.Fatalf("NAKs %v, want first [%d %d]", ranges, s(1), s(3))
	}
	r.data(t, s(3), true)
	if got := r.read(t); got != s(3) {
		t.Fatalf("got %d", got)
	}
	if got := r.read(t); got != s(4) {
		t.Fatalf("got %d", got)
	}
	r.data(t, s(2), true) // late duplicate
	r.data(t, s(5), false)
	if got := r.read(t); got != s(5) {
		t.Fatalf("got %d", got)
	}
	st := r.c.Stats()
	if st.PktRecv != 6 || st.PktRecvLoss != 3 || st.PktRecvRetrans != 2 || st.PktRecvDup != 1 {
		t.Errorf("stats %+v", st)
	}
	r.done(t)
}

// TestReceiverTooLate: a gap still missing Latency after the packet behind
// it arrived is skipped and counted; periodic NAKs repeat it meanwhile.
func TestReceiverTooLate(t *testing.T) {
	// The periodic NAK interval starts at RTT+4*RTTVar = 300 ms.
	r := newConnRig(t, 100, 400*time.Millisecond, time.Minute, nil, "")
	r.data(t, 100, false)
	r.read(t)
	start := time.Now()
	r.data(t, 103, false)
	if got := r.read(t); got != 103 {
		t.Fatalf("got %d", got)
	}
	if el := time.Since(start); el < 400*time.Millisecond || el > 900*time.Millisecond {
		t.Errorf("skipped after %v, latency 400ms", el)
	}
	if st := r.c.Stats(); st.PktRecvDrop != 2 || st.PktRecvLoss != 2 {
		t.Errorf("stats %+v", st)
	}
	if n := len(r.sent(wire.CtrlNAK)); n < 2 {
		t.Errorf("%d NAKs, want the immediate one and periodic ones", n)
	}
	if len(r.sent(wire.CtrlACK)) == 0 {
		t.Error("no full ACK sent")
	}
	r.done(t)
}

// TestReceiverShutdownDeliversTail: after SHUTDOWN every packet already
// received is delivered, gaps skipped, then io.EOF.
func TestReceiverShutdownDeliversTail(t *testing.T) {
	r := newConnRig(t, 0, time.Second, time.Minute, nil, "")
	for _, s := range []uint32{0, 1, 3, 4, 7} {
		r.data(t, s, false)
	}
	r.control(t, wire.CtrlShutdown, 0, 0, make([]byte, 4))
	var got []uint32
	for {
		p, err := r.c.ReadPacket()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("ended with %v", err)
			}
			break
		}
		got = append(got, p.Seq())
		p.Decommission()
	}
	if want := []uint32{0, 1, 3, 4, 7}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if n := r.pool.outstanding(); n != 0 {
		t.Errorf("%d packets outstanding", n)
	}
	r.done(t)
}

// TestReceiverDropReq: the sender's DROPREQ skips that range at once.
func TestReceiverDropReq(t *testing.T) {
	r := newConnRig(t, 0, time.Hour, time.Minute, nil, "")
	r.data(t, 0, false)
	r.data(t, 5, false)
	r.read(t)
	r.control(t, wire.CtrlDropReq, 0, 0, wire.AppendDropReq(nil, 1, 4))
	if got := r.read(t); got != 5 {
		t.Fatalf("got %d", got)
	}
	// A range ahead of what arrived is skipped when it comes.
	r.control(t, wire.CtrlDropReq, 0, 0, wire.AppendDropReq(nil, 6, 8))
	r.data(t, 9, false)
	r.data(t, 7, true) // too late: dropped as a duplicate
	if got := r.read(t); got != 9 {
		t.Fatalf("got %d", got)
	}
	if st := r.c.Stats(); st.PktRecvDrop != 4 {
		t.Errorf("stats %+v", st)
	}
	r.done(t)
}

// TestReceiverIdleAndPeerError: nothing from the peer for PeerIdleTimeout
// ends ReadPacket with ErrPeerIdle (an io.EOF); PEERERROR with
// ErrPeerError. Both release every packet.
func TestReceiverIdleAndPeerError(t *testing.T) {
	r := newConnRig(t, 0, time.Hour, 100*time.Millisecond, nil, "")
	r.data(t, 1, false) // buffered behind a gap
	start := time.Now()
	_, err := r.c.ReadPacket()
	if !errors.Is(err, ErrPeerIdle) || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadPacket: %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > time.Second {
		t.Errorf("idle after %v", el)
	}
	if n := len(r.sent(wire.CtrlKeepalive)); n != 0 {
		t.Logf("%d keepalives", n)
	}
	r.done(t)

	r = newConnRig(t, 0, time.Hour, time.Minute, nil, "")
	r.data(t, 2, false)
	r.control(t, wire.CtrlPeerError, 0, 4000, make([]byte, 4))
	if _, err := r.c.ReadPacket(); !errors.Is(err, ErrPeerError) {
		t.Fatalf("ReadPacket: %v", err)
	}
	r.done(t)
}

// TestReceiverKeepalive: a conn that sent nothing for a second sends a
// keepalive.
func TestReceiverKeepalive(t *testing.T) {
	r := newConnRig(t, 0, time.Hour, time.Minute, nil, "")
	go func() {
		time.Sleep(keepaliveInterval + 100*time.Millisecond)
		r.c.Close()
	}()
	if _, err := r.c.ReadPacket(); err != io.EOF {
		t.Fatalf("ReadPacket: %v", err)
	}
	if n := len(r.sent(wire.CtrlKeepalive)); n != 1 {
		t.Errorf("%d keepalives, want 1", n)
	}
	if n := len(r.sent(wire.CtrlShutdown)); n != 1 {
		t.Errorf("%d shutdowns, want 1", n)
	}
}

// TestReceiverKeyRefresh: a KMREQ with a new key is installed and answered
// with KMRSP echoing it; packets encrypted with the new key decrypt.
func TestReceiverKeyRefresh(t *testing.T) {
	_, c1, err := wire.NewKM(ltPass, 16)
	if err != nil {
		t.Fatal(err)
	}
	r := newConnRig(t, 0, time.Hour, time.Minute, c1, ltPass)
	r.data(t, 0, false)
	r.read(t)
	km2, c2, err := wire.NewKM(ltPass, 16)
	if err != nil {
		t.Fatal(err)
	}
	cif, err := wire.AppendKM(nil, &km2)
	if err != nil {
		t.Fatal(err)
	}
	r.control(t, wire.CtrlUser, wire.SubtypeKMREQ, 0, cif)
	r.enc = c2
	r.data(t, 1, false)
	r.read(t) // checks the decrypted payload
	rsp := r.sent(wire.CtrlUser)
	if len(rsp) != 1 || !bytes.Equal(rsp[0], cif) {
		t.Fatalf("KMRSP %x, want %x", rsp, cif)
	}
	// A repeat (libsrt sends its KMREQ until the KMRSP arrives) is
	// answered the same, without another key derivation.
	r.control(t, wire.CtrlUser, wire.SubtypeKMREQ, 0, cif)
	r.data(t, 2, false)
	r.read(t)
	if rsp = r.sent(wire.CtrlUser); len(rsp) != 2 || !bytes.Equal(rsp[1], cif) {
		t.Fatalf("KMRSP to the repeat %x, want %x", rsp, cif)
	}
	// A different KMREQ within minKeyRefreshInterval is ignored: each
	// costs a PBKDF2 run.
	km3, _, _ := wire.NewKM("another-passphrase", 16)
	cif3, _ := wire.AppendKM(nil, &km3)
	r.control(t, wire.CtrlUser, wire.SubtypeKMREQ, 0, cif3)
	r.data(t, 3, false)
	r.read(t)
	if rsp = r.sent(wire.CtrlUser); len(rsp) != 2 {
		t.Fatalf("a second refresh within the interval was answered: %x", rsp)
	}
	// After it, a KMREQ wrapped with another passphrase is answered with
	// the bad-secret state and changes nothing.
	r.c.r.lastKMAt -= int64(minKeyRefreshInterval)
	r.control(t, wire.CtrlUser, wire.SubtypeKMREQ, 0, cif3)
	r.data(t, 4, false)
	r.read(t)
	if rsp = r.sent(wire.CtrlUser); len(rsp) != 3 || binary.BigEndian.Uint32(rsp[2]) != wire.KMStateBadSecret {
		t.Fatalf("KMRSPs %x", rsp)
	}
	r.done(t)
}

// TestCloseReleases: Close from another goroutine unblocks ReadPacket with
// io.EOF; Close with nobody reading releases queued and buffered packets.
func TestCloseReleases(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newConnRig(t, 0, time.Hour, time.Minute, nil, "")
	r.data(t, 0, false)
	r.read(t)
	r.data(t, 2, false) // buffered behind a gap
	errc := make(chan error)
	go func() {
		_, err := r.c.ReadPacket()
		errc <- err
	}()
	time.Sleep(30 * time.Millisecond)
	r.c.Close()
	if err := <-errc; err != io.EOF {
		t.Fatalf("ReadPacket after Close: %v", err)
	}
	if _, err := r.c.ReadPacket(); err != io.EOF {
		t.Fatalf("second ReadPacket: %v", err)
	}
	r.done(t)

	r = newConnRig(t, 0, time.Hour, time.Minute, nil, "")
	for _, s := range []uint32{0, 1, 5} {
		r.data(t, s, false)
	}
	r.c.Close()
	r.c.Close()
	p := r.pool.get()
	if r.c.enqueue(p) {
		t.Fatal("enqueue after Close accepted")
	}
	p.Decommission()
	r.done(t)
	testutil.WaitGoroutines(t, base)
}

// TestDecommissionTwicePanics: a double free is a bug, not a silent reuse.
func TestDecommissionTwicePanics(t *testing.T) {
	pp := newPacketPool(2)
	p := pp.get()
	p.Decommission()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	p.Decommission()
}

// TestPoolCap: the pool hands out at most its cap.
func TestPoolCap(t *testing.T) {
	pp := newPacketPool(70)
	var ps []*Packet
	for p := pp.get(); p != nil; p = pp.get() {
		ps = append(ps, p)
	}
	if len(ps) != 70 || pp.outstanding() != 70 {
		t.Fatalf("%d packets from a pool of 70", len(ps))
	}
	for _, p := range ps {
		p.Decommission()
	}
	if pp.outstanding() != 0 {
		t.Fatal("not back to zero")
	}
}

// TestReceiverJumpsAhead: a packet more than a flow window ahead (the
// sender moved on) makes the receiver give up what lies a window behind it
// instead of refusing every later packet for good.
func TestReceiverJumpsAhead(t *testing.T) {
	r := newConnRig(t, 0, 50*time.Millisecond, time.Minute, nil, "")
	r.data(t, 0, false)
	r.read(t)
	r.data(t, 2, false) // buffered behind a gap, then given up
	far := uint32(FlowWindow + 100)
	r.data(t, far, false)
	r.data(t, far+1, false)
	if got := r.read(t); got != far {
		t.Fatalf("got %d, want %d", got, far)
	}
	if got := r.read(t); got != far+1 {
		t.Fatalf("got %d", got)
	}
	st := r.c.Stats()
	if st.PktRecvDrop < 101 || st.RecvBufPkts != 0 {
		t.Errorf("stats %+v", st)
	}
	r.done(t)
}
