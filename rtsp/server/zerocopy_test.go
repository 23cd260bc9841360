package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtsp/base"
	"github.com/zcingest/zerocopy/rtsp/server"
)

// kernelRead is one datagram read: where it was written, and a snapshot.
type kernelRead struct {
	start uintptr
	data  []byte
}

// recordingPacketConn remembers every buffer a ReadFrom filled, so the
// test can prove frame payloads are the bytes the socket delivered, still
// where it delivered them.
type recordingPacketConn struct {
	net.PacketConn
	mu    sync.Mutex
	reads []kernelRead
}

func (c *recordingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.mu.Lock()
		c.reads = append(c.reads, kernelRead{uintptr(unsafe.Pointer(&p[0])), bytes.Clone(p[:n])})
		c.mu.Unlock()
	}
	return n, a, err
}

// delivered reports whether b is, byte for byte and at the same address,
// what the most recent reads covering its addresses put there (a range
// may span consecutive reads into one block). The first byte may be an
// FU-A NAL header rebuilt in place: see rewritten.
func (c *recordingPacketConn) delivered(b []byte, unitStart bool) bool {
	if len(b) == 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := uintptr(unsafe.Pointer(&b[0]))
	for i := 0; i < len(b); {
		r, ok := c.covering(a + uintptr(i))
		if !ok {
			return false
		}
		off := a + uintptr(i) - r.start
		n := min(len(b)-i, len(r.data)-int(off))
		orig := r.data[off : off+uintptr(n)]
		got := b[i : i+n]
		if i == 0 && orig[0] != got[0] {
			if !c.rewritten(a, orig[0], got[0], unitStart) {
				return false
			}
			orig, got = orig[1:], got[1:]
		}
		if !bytes.Equal(orig, got) {
			return false
		}
		i += n
	}
	return true
}

// covering is the most recent read that wrote address a.
func (c *recordingPacketConn) covering(a uintptr) (kernelRead, bool) {
	for i := len(c.reads) - 1; i >= 0; i-- {
		r := c.reads[i]
		if a >= r.start && a < r.start+uintptr(len(r.data)) {
			return r, true
		}
	}
	return kernelRead{}, false
}

// rewritten reports whether got, at address a where the socket put orig,
// is an FU-A NAL header rebuilt in place over the FU header byte (RFC
// 6184): from the FU indicator just before it, or, when the packet
// straddled two blocks between indicator and FU header (the indicator is
// then at the end of the other block), a unit start over an FU start
// header keeping its type bits.
func (c *recordingPacketConn) rewritten(a uintptr, orig, got byte, unitStart bool) bool {
	if ind, ok := c.byteAt(a - 1); ok && ind&0x1f == 28 && got == ind&0xe0|orig&0x1f {
		return true
	}
	return unitStart && orig&0x80 != 0 && got&0x1f == orig&0x1f
}

// byteAt is the byte the most recent read covering address a delivered
// there. Called with c.mu held.
func (c *recordingPacketConn) byteAt(a uintptr) (byte, bool) {
	r, ok := c.covering(a)
	if !ok {
		return 0, false
	}
	return r.data[a-r.start], true
}

// TestUDPPayloadIsTheSocketsMemory: a UDP RECORD session (H.264 single
// NAL units and FU-A, AAC) through the shared UDP socket: every byte of
// every frame payload a subscriber gets sits where the socket read put
// it (the FU-A NAL header is rebuilt in place in that memory, so it is
// compared after the rewrite). The UDP allocator is balanced at the end.
func TestUDPPayloadIsTheSocketsMemory(t *testing.T) {
	base0 := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: 200 * time.Millisecond, SubscribeWait: 5 * time.Second}, slog.New(slog.DiscardHandler))
	srv := newTestServer(h)
	rtpPC, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rtcpPC, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingPacketConn{PacketConn: rtpPC}
	srv.StartUDP(rec, rtcpPC)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan server.Stats, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- server.Stats{}
			return
		}
		st, _ := srv.ServeConn(c, slog.New(slog.DiscardHandler))
		c.Close()
		served <- st
	}()

	// One client socket per track: the shared socket demultiplexes by
	// source address.
	var socks [2]*net.UDPConn
	for i := range socks {
		if socks[i], err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		defer socks[i].Close()
	}

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr := textproto.NewReader(bufio.NewReader(nc))
	cseq := 0
	sess := ""
	do := func(method, u string, fields []string, body string) textproto.MIMEHeader {
		t.Helper()
		cseq++
		if sess != "" {
			fields = append(fields, "Session: "+sess)
		}
		if _, err := nc.Write(request(method, u, cseq, fields, body)); err != nil {
			t.Fatal(err)
		}
		line, err := tr.ReadLine()
		if err != nil || !strings.Contains(line, " 200 ") {
			t.Fatalf("%s: %q %v", method, line, err)
		}
		hdr, _ := tr.ReadMIMEHeader()
		if s := hdr.Get("Session"); s != "" {
			sess, _ = base.ParseSession(s)
		}
		return hdr
	}
	do("ANNOUNCE", url, []string{"Content-Type: application/sdp"}, testSDP)
	var to *net.UDPAddr
	for i, sk := range socks {
		p := sk.LocalAddr().(*net.UDPAddr).Port
		hdr := do("SETUP", fmt.Sprintf("%s/trackID=%d", url, i), []string{fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d;mode=record", p, p+1)}, "")
		ts, err := base.ParseTransports(hdr.Get("Transport"))
		if err != nil || len(ts) == 0 || !ts[0].HasServerPort {
			t.Fatalf("transport %q", hdr.Get("Transport"))
		}
		to = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: ts[0].ServerPort[0]}
	}
	do("RECORD", url, nil, "")

	type frameCheck struct {
		kind    string
		units   int
		bytes   int
		outside int
	}
	checks := make(chan frameCheck, 64)
	subDone := make(chan struct{})
	sub, err := h.SubscribeWait(context.Background(), "live/s", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(subDone)
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			f, err := sub.Next(ctx)
			if err != nil {
				close(checks)
				return
			}
			fc := frameCheck{kind: "audio", units: len(f.Units), bytes: f.Payload.Size}
			if f.Codec == codec.H264 {
				fc.kind = "video"
			}
			us := unitStarts(f)
			for i, b := range f.Payload.Buffers {
				if !rec.delivered(b, us[i]) {
					fc.outside += len(b)
				}
			}
			f.Release()
			checks <- fc
		}
	}()

	// Video: an IDR as one NAL, then a P slice in three FU-A fragments;
	// audio: two AAC packets. Each datagram is read by the server straight
	// into a block of its UDP allocator.
	send := func(track int, pkt []byte) {
		if _, err := socks[track].WriteToUDP(pkt, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	const frames = 10
	for k := range frames {
		seq, ts := uint16(10+4*k), uint32(3600*k)
		nal := byte(0x41)
		if k == 0 {
			nal = 0x65
		}
		send(0, rtpPacket(96, seq, ts, true, append([]byte{nal}, bytes.Repeat([]byte{byte(k)}, 1000)...)))
		for i, fu := range [][]byte{{0x7c, 0x81}, {0x7c, 0x01}, {0x7c, 0x41}} {
			send(0, rtpPacket(96, seq+1+uint16(i), ts+1800, i == 2, append(fu, bytes.Repeat([]byte{byte(i)}, 1200)...)))
		}
		au := bytes.Repeat([]byte{0x21}, 300)
		hdr := []byte{0, 16, byte(len(au) >> 5), byte(len(au)<<3) & 0xf8}
		send(1, rtpPacket(97, uint16(k), uint32(1024*k), true, append(hdr, au...)))
	}
	time.Sleep(200 * time.Millisecond)
	do("TEARDOWN", url, nil, "")
	nc.Close()
	st := <-served
	<-subDone
	var video, audio, outside, payload int
	for fc := range checks {
		payload += fc.bytes
		outside += fc.outside
		if fc.kind == "video" {
			video++
		} else {
			audio++
		}
	}
	if video != 2*frames || audio != frames {
		t.Errorf("subscriber got %d video and %d audio frames, want %d and %d", video, audio, 2*frames, frames)
	}
	if outside != 0 {
		t.Fatalf("%d of %d payload bytes are not where the socket read put them", outside, payload)
	}
	t.Logf("%d frames, %d payload bytes, every one in the memory the socket read into; connection stats %+v", video+audio, payload, st)
	srv.Close()
	if ok, inUse := srv.UDPAllocatorBalanced(); !ok {
		t.Errorf("UDP allocator unbalanced: %d bytes in use", inUse)
	}
	h.Close()
	ln.Close()
	testutil.WaitGoroutines(t, base0)
}

// recordingConn remembers every buffer a Read filled (see
// rtmp/session's test of the same name).
type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	reads []kernelRead
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.reads = append(c.reads, kernelRead{uintptr(unsafe.Pointer(&p[0])), bytes.Clone(p[:n])})
		c.mu.Unlock()
	}
	return n, err
}

func (c *recordingConn) delivered(b []byte, unitStart bool) bool {
	r := &recordingPacketConn{reads: c.snapshot()}
	return r.delivered(b, unitStart)
}

// unitStarts marks which of f's payload ranges begin a unit.
func unitStarts(f *host.Frame) []bool {
	starts := make([]bool, len(f.Payload.Buffers))
	off, k := 0, 0
	for i, b := range f.Payload.Buffers {
		for k < len(f.Units) && f.Units[k].Off < off {
			k++
		}
		starts[i] = k < len(f.Units) && f.Units[k].Off == off
		off += len(b)
	}
	return starts
}

func (c *recordingConn) snapshot() []kernelRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// TestTCPPayloadIsTheSocketsMemory: a TCP-interleaved RECORD session over
// a real loopback socket, with packets of sizes that make many of them
// straddle the reader's block boundaries: every byte of every frame
// payload a subscriber gets sits where the socket read put it (FU-A NAL
// headers rebuilt in place), the connection copies only control bytes
// (requests), and its allocator is balanced at the end.
func TestTCPPayloadIsTheSocketsMemory(t *testing.T) {
	base0 := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: 200 * time.Millisecond, SubscribeWait: 5 * time.Second, RingSize: 4096}, slog.New(slog.DiscardHandler))
	srv := newTestServer(h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  server.Stats
		rec *recordingConn
	}
	served := make(chan result, 1)
	recCh := make(chan *recordingConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- result{}
			return
		}
		rec := &recordingConn{Conn: c}
		recCh <- rec
		st, _ := srv.ServeConn(rec, slog.New(slog.DiscardHandler))
		c.Close()
		served <- result{st, rec}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, nc) }() // responses

	if _, err := nc.Write(announceSetupRecord(1)); err != nil {
		t.Fatal(err)
	}
	for h.Stream("live/s") == nil {
		time.Sleep(5 * time.Millisecond)
	}
	sub, err := h.Subscribe("live/s")
	if err != nil {
		t.Fatal(err)
	}
	// Each frame is checked while held (its blocks cannot be reused yet,
	// so the most recent read covering its addresses is the one that
	// delivered it), then released.
	var video, audio, outside, payload, multi int
	subDone := make(chan struct{})
	var rec *recordingConn
	go func() {
		defer close(subDone)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			f, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if rec == nil {
				rec = <-recCh
			}
			if f.Kind == host.Video {
				video++
			} else {
				audio++
			}
			us := unitStarts(f)
			for i, b := range f.Payload.Buffers {
				payload += len(b)
				if !rec.delivered(b, us[i]) {
					outside += len(b)
				}
			}
			// Consecutive pieces of one NAL from consecutive FU-A packets
			// in one block are 18 bytes apart ('$' header, RTP header, FU
			// indicator and header); any other distance is a block
			// boundary inside the NAL: a packet taken in two ranges.
			for i := 1; i < len(f.Payload.Buffers); i++ {
				prev, cur := f.Payload.Buffers[i-1], f.Payload.Buffers[i]
				end := uintptr(unsafe.Pointer(&prev[0])) + uintptr(len(prev))
				if !us[i] && uintptr(unsafe.Pointer(&cur[0])) != end+18 {
					multi++
				}
			}
			f.Release()
		}
	}()
	const frames = 200
	var wire []byte
	seq, aseq := uint16(1), uint16(1)
	for k := range frames {
		ts := uint32(3600 * k)
		nal := byte(0x41)
		if k == 0 {
			nal = 0x65
		}
		// sizes vary so packet boundaries fall everywhere in the blocks
		n := 900 + 37*(k%29)
		wire = append(wire, interleaved(0, rtpPacket(96, seq, ts, false, append([]byte{nal}, bytes.Repeat([]byte{byte(k)}, n)...)))...)
		seq++
		for i, fu := range [][]byte{{0x7c, 0x81}, {0x7c, 0x01}, {0x7c, 0x41}} {
			wire = append(wire, interleaved(0, rtpPacket(96, seq, ts, i == 2, append(fu, bytes.Repeat([]byte{byte(i + k)}, n+11*i)...)))...)
			seq++
		}
		au := bytes.Repeat([]byte{byte(k)}, 200+k%50)
		hdr := []byte{0, 16, byte(len(au) >> 5), byte(len(au)<<3) & 0xf8}
		wire = append(wire, interleaved(2, rtpPacket(97, aseq, uint32(1024*k), true, append(hdr, au...)))...)
		aseq++
	}
	// Written in uneven chunks, so reads end mid-packet too.
	for off := 0; off < len(wire); {
		n := min(len(wire)-off, 7000+off%3001)
		if _, err := nc.Write(wire[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if _, err := nc.Write(request("TEARDOWN", url, 9, nil, "")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	nc.Close()
	<-subDone
	res := <-served
	sub.Close()
	if video != frames || audio != frames {
		t.Errorf("subscriber got %d video and %d audio frames, want %d and %d", video, audio, frames, frames)
	}
	if outside != 0 {
		t.Fatalf("%d of %d payload bytes are not where the socket read put them", outside, payload)
	}
	if multi == 0 {
		t.Fatalf("no unit crossed a block boundary: the test did not exercise straddling packets")
	}
	if res.st.BytesCopied > 2048 {
		t.Fatalf("%d bytes copied for %d payload bytes: more than the control data", res.st.BytesCopied, payload)
	}
	if res.st.AllocMalloc != res.st.AllocFree {
		t.Fatalf("allocator unbalanced: malloc %d free %d", res.st.AllocMalloc, res.st.AllocFree)
	}
	t.Logf("%d frames, %d payload bytes in the socket's memory; %d block boundaries inside units; %d control bytes copied", video+audio, payload, multi, res.st.BytesCopied)
	srv.Close()
	h.Close()
	ln.Close()
	testutil.WaitGoroutines(t, base0)
}
