package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/srt/wire"
)

// rawCaller speaks the caller's side of the handshake by hand.
type rawCaller struct {
	t    *testing.T
	sock *net.UDPConn
	id   uint32
}

func newRawCaller(t *testing.T, addr net.Addr, id uint32) *rawCaller {
	t.Helper()
	s, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &rawCaller{t: t, sock: s, id: id}
}

func (c *rawCaller) send(hs *wire.Handshake) {
	c.t.Helper()
	h := wire.ControlHeader{Type: wire.CtrlHandshake}
	b := wire.AppendControl(nil, &h, nil)
	b, err := wire.AppendHandshake(b, hs)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.sock.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next handshake datagram, or nil after d.
func (c *rawCaller) recv(d time.Duration) ([]byte, *wire.Handshake) {
	c.t.Helper()
	buf := make([]byte, 2048)
	c.sock.SetReadDeadline(time.Now().Add(d))
	for {
		n, err := c.sock.Read(buf)
		if err != nil {
			return nil, nil
		}
		h, cif, err := wire.ParseControlHeader(buf[:n])
		if err != nil || h.Type != wire.CtrlHandshake {
			continue
		}
		if h.DestSocket != c.id {
			c.t.Fatalf("handshake to socket %#x, caller is %#x", h.DestSocket, c.id)
		}
		var hs wire.Handshake
		if err := wire.ParseHandshake(cif, &hs); err != nil {
			c.t.Fatal(err)
		}
		return bytes.Clone(buf[:n]), &hs
	}
}

// induce runs the induction and returns the cookie.
func (c *rawCaller) induce() uint32 {
	c.t.Helper()
	c.send(&wire.Handshake{Version: wire.HSVersion4, Extension: 2, InitialSeq: 5, MTU: 1500, FlowWindow: 8192, Type: wire.HSInduction, SocketID: c.id})
	_, hs := c.recv(time.Second)
	if hs == nil || hs.Version != wire.HSVersion5 || hs.Extension != wire.HandshakeMagic || hs.Type != wire.HSInduction {
		c.t.Fatalf("induction response %+v", hs)
	}
	return hs.SynCookie
}

func (c *rawCaller) conclusion(cookie uint32) *wire.Handshake {
	return &wire.Handshake{
		Version: wire.HSVersion5, InitialSeq: 5, MTU: 1500, FlowWindow: 8192, Type: wire.HSConclusion,
		SocketID: c.id, SynCookie: cookie, SRTCmd: wire.ExtHSREQ,
		SRT:      wire.SRTExtension{Version: 0x010501, Flags: 0xbf &^ wire.FlagStream, RecvDelay: 200, SendDelay: 300},
		StreamID: "publish:/live/raw",
	}
}

// TestHandshakeRetransmits: a retransmitted conclusion of a pending request
// is ignored (no answer, no second request); once decided the same answer
// is sent again. The response carries HSRSP with the larger latency.
func TestHandshakeRetransmits(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := Listen("127.0.0.1:0", Config{Latency: 120 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := newRawCaller(t, l.Addr(), 0x123)
	conc := c.conclusion(c.induce())
	c.send(conc)
	req, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if req.StreamID() != "publish:/live/raw" || req.IsEncrypted() || req.Version() != 5 {
		t.Fatalf("request %q %v %d", req.StreamID(), req.IsEncrypted(), req.Version())
	}
	c.send(conc)
	if b, _ := c.recv(100 * time.Millisecond); b != nil {
		t.Fatal("a pending request's retransmitted conclusion was answered")
	}
	if len(l.acceptQ) != 0 {
		t.Fatal("retransmitted conclusion queued again")
	}
	conn, err := req.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first, rsp := c.recv(time.Second)
	if rsp == nil || rsp.Type != wire.HSConclusion || rsp.SocketID != conn.SocketID() || rsp.SRTCmd != wire.ExtHSRSP {
		t.Fatalf("response %+v", rsp)
	}
	want := wire.FlagTSBPDSND | wire.FlagTSBPDRCV | wire.FlagTLPktDrop | wire.FlagPeriodicNAK | wire.FlagRexmitFlag
	if rsp.SRT.Flags != want || rsp.SRT.RecvDelay != 300 || rsp.SRT.SendDelay != 300 || conn.Latency() != 300*time.Millisecond {
		t.Fatalf("HSRSP %+v, conn latency %v", rsp.SRT, conn.Latency())
	}
	if _, err := req.Accept(); !errors.Is(err, ErrDecided) {
		t.Fatalf("second Accept: %v", err)
	}
	c.send(conc)
	again, _ := c.recv(time.Second)
	if !bytes.Equal(again, first) {
		t.Fatal("retransmitted conclusion got a different answer")
	}
	l.Close()
	if _, err := conn.ReadPacket(); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadPacket after listener Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	testutil.WaitGoroutines(t, base)
}

// TestHandshakeLatencyCapped: a caller asking for libsrt's largest latency
// (65 s) gets MaxLatency: a lost packet never stalls the stream longer.
func TestHandshakeLatencyCapped(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := Listen("127.0.0.1:0", Config{Latency: 120 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := newRawCaller(t, l.Addr(), 0x456)
	conc := c.conclusion(c.induce())
	conc.SRT.RecvDelay, conc.SRT.SendDelay = 0xFFFF, 0xFFFF
	c.send(conc)
	req, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := req.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if conn.Latency() != MaxLatency {
		t.Fatalf("latency %v, want MaxLatency %v", conn.Latency(), MaxLatency)
	}
	l.Close()
	testutil.WaitGoroutines(t, base)
}

// TestHandshakeRefusals: a bad cookie is refused as rogue; a full accept
// queue refuses with REJX_OVERLOAD; a request left undecided past
// HandshakeTimeout can no longer be accepted.
func TestHandshakeRefusals(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := Listen("127.0.0.1:0", Config{HandshakeTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := newRawCaller(t, l.Addr(), 0x77)
	cookie := c.induce()
	c.send(c.conclusion(cookie + 1))
	if _, rsp := c.recv(time.Second); rsp == nil || rsp.Type != wire.RejRogue.HandshakeType() {
		t.Fatalf("bad cookie answered %+v", rsp)
	}
	// Fill the accept queue from one address with distinct socket IDs.
	for i := range AcceptQueue {
		c.id = uint32(0x1000 + i)
		c.send(c.conclusion(cookie))
	}
	for deadline := time.Now().Add(2 * time.Second); len(l.acceptQ) < AcceptQueue; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued", len(l.acceptQ))
		}
	}
	c.id = 0x9999
	c.send(c.conclusion(cookie))
	if _, rsp := c.recv(time.Second); rsp == nil || rsp.Type != wire.RejXOverload.HandshakeType() {
		t.Fatalf("over the accept queue: %+v", rsp)
	}
	req, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(350 * time.Millisecond)
	if _, err := req.Accept(); !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("Accept after the timeout: %v", err)
	}
	// The others expired in the queue: Accept skips them and blocks.
	got := make(chan *Request, 1)
	go func() {
		r, _ := l.Accept()
		got <- r
	}()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	if r := <-got; r != nil {
		t.Fatal("an expired request was handed out")
	}
	if st := l.Stats(); st.Rejected != 2 || st.Accepted != 0 {
		t.Errorf("stats %+v", st)
	}
	testutil.WaitGoroutines(t, base)
}
