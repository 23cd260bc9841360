package zerocopy_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/rtsp/base"
)

// rt2ClipSeconds is rt2Clip of a given length (H.264 + AAC, FLV).
func rt2ClipSeconds(t *testing.T, name string, seconds int, video ...string) string {
	t.Helper()
	testclip.NeedFFmpeg(t)
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"}, video...)
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	return out
}

// TestRTSP2UDPCloseDoesNotStall: while one UDP publisher's close waits for
// a reader that holds one of its frames (up to the close wait, 2 s here),
// another UDP publisher's frames keep arriving: the wait no longer runs on
// the shared UDP goroutine. Both end with every allocator byte back.
func TestRTSP2UDPCloseDoesNotStall(t *testing.T) {
	long := rt2ClipSeconds(t, "long.flv", 8)
	short := testclip.FLV(t)
	ts := rtStartServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pushB := make(chan error, 1)
	go func() { pushB <- rtPushRTSP(ctx, long, "rtsp://"+ts.rtsp+"/live/b", "udp") }()
	rtWaitStream(t, ts, "live/b")

	// B's frames, stamped with their wall-clock arrival.
	var mu sync.Mutex
	var arrivals []time.Time
	subB, err := ts.Hub().Subscribe("live/b")
	if err != nil {
		t.Fatal(err)
	}
	readB := make(chan struct{})
	go func() {
		defer close(readB)
		defer subB.Close()
		for {
			f, err := subB.Next(ctx)
			if err != nil {
				return
			}
			f.Release()
			mu.Lock()
			arrivals = append(arrivals, time.Now())
			mu.Unlock()
		}
	}()

	pushA := make(chan error, 1)
	go func() { pushA <- rtPushRTSP(ctx, short, "rtsp://"+ts.rtsp+"/live/a", "udp") }()
	rtWaitStream(t, ts, "live/a")
	subA, err := ts.Hub().Subscribe("live/a")
	if err != nil {
		t.Fatal(err)
	}
	held, err := subA.Next(ctx) // held: A's close must wait for it
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pushA; err != nil {
		t.Fatal(err)
	}
	for ts.Hub().Stream("live/a") != nil { // A's close has begun
		time.Sleep(10 * time.Millisecond)
	}
	closeStart := time.Now()
	time.Sleep(2500 * time.Millisecond) // inside A's close: catch-up wait, then the wait for frames
	held.Release()
	subA.Close()
	window := time.Now()
	mu.Lock()
	var maxGap time.Duration
	prev := closeStart
	n := 0
	for _, at := range arrivals {
		if at.Before(closeStart) || at.After(window) {
			continue
		}
		maxGap = max(maxGap, at.Sub(prev))
		prev = at
		n++
	}
	mu.Unlock()
	if n < 50 || maxGap > time.Second {
		t.Fatalf("during the other publisher's close: %d frames of live/b, longest gap %v", n, maxGap)
	}
	t.Logf("during the other publisher's 2.5 s close: %d frames of live/b, longest gap %v", n, maxGap)
	if err := <-pushB; err != nil {
		t.Fatal(err)
	}
	<-readB
}

// rt2Control is a minimal RTSP client connection for tests that drive the
// server by hand.
type rt2Control struct {
	t    *testing.T
	c    net.Conn
	r    *textproto.Reader
	cseq int
	sess string
}

func rt2Dial(t *testing.T, addr string) *rt2Control {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return &rt2Control{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c))}
}

// do sends one request and returns the status code and headers.
func (rc *rt2Control) do(method, url string, hdr []string, body string) (int, textproto.MIMEHeader) {
	rc.t.Helper()
	rc.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, rc.cseq)
	if rc.sess != "" {
		fmt.Fprintf(&b, "Session: %s\r\n", rc.sess)
	}
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write([]byte(b.String())); err != nil {
		rc.t.Fatal(err)
	}
	line, err := rc.r.ReadLine()
	if err != nil {
		rc.t.Fatalf("%s: %v", method, err)
	}
	h, err := rc.r.ReadMIMEHeader()
	if err != nil {
		rc.t.Fatalf("%s: %v", method, err)
	}
	code, _ := strconv.Atoi(strings.Fields(line)[1])
	if s := h.Get("Session"); s != "" {
		rc.sess, _ = base.ParseSession(s)
	}
	return code, h
}

// TestRTSP2UDPLoss: an RTP sender (ffmpeg's rtp muxer) reaches a UDP
// RECORD session through a loopback relay that drops every 50th packet.
// The loss is counted (close log), broken access units are dropped and the
// stream recovers at the next keyframe: an HTTP-FLV reader gets only
// access units identical to the source's, with monotonic timestamps, and
// most of them.
func TestRTSP2UDPLoss(t *testing.T) {
	clip := rt2ClipSeconds(t, "loss.flv", 6)
	ts := rtStartServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out, outRTCP *net.UDPConn
	for range 20 { // an even/odd pair: the client ports of SETUP
		out, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := out.LocalAddr().(*net.UDPAddr).Port
		if outRTCP, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1}); err == nil {
			break
		}
		out.Close()
		out = nil
	}
	if out == nil {
		t.Fatal("no UDP port pair")
	}
	defer out.Close()
	defer outRTCP.Close()

	dir := t.TempDir()
	sdpFile := filepath.Join(dir, "push.sdp")
	inPort := in.LocalAddr().(*net.UDPAddr).Port
	sender := ffmpeg(ctx, "-re", "-i", clip, "-an", "-c", "copy", "-f", "rtp", "-rtpflags", "skip_rtcp", "-sdp_file", sdpFile,
		fmt.Sprintf("rtp://127.0.0.1:%d", inPort))
	var senderOut strings.Builder
	sender.Stdout, sender.Stderr = &senderOut, &senderOut

	// Hold the first packets until RECORD: the relay starts forwarding then.
	var serverRTP atomic.Pointer[net.UDPAddr]
	var relayed, dropped atomic.Int64
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		buf := make([]byte, 2048)
		for i := 1; ; i++ {
			n, _, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			to := serverRTP.Load()
			if to == nil {
				continue
			}
			if i%50 == 0 {
				dropped.Add(1)
				continue
			}
			relayed.Add(1)
			_, _ = out.WriteToUDP(buf[:n], to)
		}
	}()
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	var sdpBody []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if sdpBody, _ = os.ReadFile(sdpFile); len(sdpBody) > 0 && strings.Contains(string(sdpBody), "sprop-parameter-sets") {
			break
		}
	}
	if len(sdpBody) == 0 {
		t.Fatalf("ffmpeg wrote no SDP: %s", senderOut.String())
	}
	desc := strings.ReplaceAll(string(sdpBody), "\n", "\r\n")
	desc = strings.ReplaceAll(desc, "\r\r\n", "\r\n") + "a=control:trackID=0\r\n"
	url := "rtsp://" + ts.rtsp + "/live/loss"

	flvOut := filepath.Join(dir, "http.flv")
	waitFLV := rtRecord(t, ctx, []string{"-rw_timeout", "15000000", "-i", "http://" + ts.http + "/live/loss.flv", "-f", "flv"}, flvOut)
	settle()

	rc := rt2Dial(t, ts.rtsp)
	defer rc.c.Close()
	if code, _ := rc.do("ANNOUNCE", url, nil, desc); code != 200 {
		t.Fatalf("ANNOUNCE: %d", code)
	}
	port := out.LocalAddr().(*net.UDPAddr).Port
	code, h := rc.do("SETUP", url+"/trackID=0", []string{fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d;mode=record", port, port+1)}, "")
	if code != 200 {
		t.Fatalf("SETUP: %d", code)
	}
	tr, err := base.ParseTransports(h.Get("Transport"))
	if err != nil || len(tr) != 1 || !tr[0].HasServerPort {
		t.Fatalf("SETUP transport %q: %v", h.Get("Transport"), err)
	}
	if code, _ := rc.do("RECORD", url, nil, ""); code != 200 {
		t.Fatalf("RECORD: %d", code)
	}
	serverRTP.Store(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: tr[0].ServerPort[0]})
	if err := sender.Wait(); err != nil {
		t.Fatalf("ffmpeg rtp sender: %v: %s", err, senderOut.String())
	}
	time.Sleep(300 * time.Millisecond)
	rc.do("TEARDOWN", url, nil, "")
	rc.c.Close()
	if err := waitFLV(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	<-relayDone

	// Every unit read back is one of the source's, in order, with
	// monotonic DTS; units broken by loss are missing, never damaged.
	want, have := rtCanonical(t, clip, "0:v", false), rtCanonical(t, flvOut, "0:v", false)
	index := map[string]int{}
	for i, p := range want {
		index[p.Hash] = i
	}
	last := -1
	for i, p := range have {
		k, ok := index[p.Hash]
		if !ok {
			t.Fatalf("read-back unit %d (size %d) is not one of the source's: a damaged unit was delivered", i, p.Size)
		}
		if k <= last {
			t.Fatalf("read-back unit %d is source unit %d after %d", i, k, last)
		}
		if i > 0 && p.DTS < have[i-1].DTS {
			t.Fatalf("read-back unit %d: dts %d after %d", i, p.DTS, have[i-1].DTS)
		}
		last = k
	}
	if len(have) < len(want)/3 {
		t.Fatalf("%d of %d units read back: the stream did not recover", len(have), len(want))
	}
	m := regexp.MustCompile(`rtp_lost=(\d+) units_dropped=(\d+)`).FindStringSubmatch(ts.log.String())
	if m == nil {
		t.Fatalf("no close log with loss counters")
	}
	lost, _ := strconv.Atoi(m[1])
	if lost == 0 || int64(lost) > dropped.Load() {
		t.Fatalf("close log counts %d lost packets; the relay dropped %d", lost, dropped.Load())
	}
	t.Logf("relayed %d, dropped %d; server counted lost=%s dropped units=%s; %d of %d units read back, all intact", relayed.Load(), dropped.Load(), m[1], m[2], len(have), len(want))
}
