//go:build linux

package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/textproto"
	"runtime"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testutil"
)

// TestReadBatchPull: a TCP-interleaved pull from a scripted camera over
// real TCP whose media is far below the read low-water mark. Only the
// batching timer gets such bytes read: the access units must reach a
// subscriber within a fraction of a second (not at the read timeout), the
// pull's keep-alives are answered while the media is paused, and on stop
// the TEARDOWN reaches the camera and the allocator is balanced.
func TestReadBatchPull(t *testing.T) {
	base := runtime.NumGoroutine()
	h, _, log := newTestHub(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	camURL := "rtsp://" + ln.Addr().String() + "/cam"
	const sdpBody = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LACtoR7ARAAAADAEAAAAyDxImo,aM4PyA==\r\na=control:trackID=0\r\n"

	playing := make(chan net.Conn, 1)
	methods := make(chan string, 64)
	camDone := make(chan struct{})
	go func() {
		defer close(camDone)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		tp := textproto.NewReader(br)
		for {
			if b, err := br.Peek(4); err == nil && b[0] == '$' {
				// The pull's interleaved receiver reports.
				if _, err := br.Discard(4 + int(b[2])<<8 + int(b[3])); err != nil {
					return
				}
				continue
			}
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			hdr, err := tp.ReadMIMEHeader()
			if err != nil {
				return
			}
			var method string
			fmt.Sscan(line, &method)
			methods <- method
			extra, body := "", ""
			switch method {
			case "OPTIONS":
				extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
			case "DESCRIBE":
				extra = "Content-Type: application/sdp\r\nContent-Base: " + camURL + "/\r\n"
				body = sdpBody
			case "SETUP":
				extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 1234;timeout=2\r\n"
			}
			resp := fmt.Sprintf("RTSP/1.0 200 OK\r\nCSeq: %s\r\n%sContent-Length: %d\r\n\r\n%s", hdr.Get("Cseq"), extra, len(body), body)
			if _, err := nc.Write([]byte(resp)); err != nil {
				return
			}
			if method == "PLAY" {
				playing <- nc
			}
		}
	}()

	seq := uint16(0)
	units := func(n int, ts uint32) []byte {
		var b []byte
		for i := range n {
			pkt := make([]byte, 12, 12+301)
			pkt[0], pkt[1] = 0x80, 0x80|96
			binary.BigEndian.PutUint16(pkt[2:], seq)
			binary.BigEndian.PutUint32(pkt[4:], ts+uint32(i)*3600)
			binary.BigEndian.PutUint32(pkt[8:], 0x1234)
			pkt = append(append(pkt, 0x65), bytes.Repeat([]byte{0xaa}, 300)...)
			b = append(append(b, '$', 0, byte(len(pkt)>>8), byte(len(pkt))), pkt...)
			seq++
		}
		return b
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{URL: camURL, Path: "live/cam", Transport: TCP, ReadTimeout: 5 * time.Second}.withDefaults()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, _, err := runSession(ctx, cfg, hubHost{h}, log, time.Now())
		done <- result{st, err}
	}()
	var cam net.Conn
	select {
	case cam = <-playing:
	case <-time.After(5 * time.Second):
		t.Fatal("no PLAY within 5 s")
	}
	sub, err := h.Subscribe("live/cam")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// next waits for a video frame and returns how long it took.
	next := func(what string) {
		t.Helper()
		start := time.Now()
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer fcancel()
		for {
			f, err := sub.Next(fctx)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			kind := f.Kind
			f.Release()
			if kind == host.Video {
				break
			}
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s published after %v", what, d)
		}
	}
	write := func(b []byte) {
		t.Helper()
		if _, err := cam.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(units(3, 0)) // about 950 bytes: far below the mark
	for range 3 {
		next("media below the mark")
	}
	// Paused media across a keep-alive (every second with timeout=2): the
	// camera answers it, and media after the pause is read as promptly.
	time.Sleep(1200 * time.Millisecond)
	write(units(2, 3*3600))
	for range 2 {
		next("media after a pause")
	}
	cancel()
	r := <-done
	<-camDone
	sawKeepAlive, sawTeardown := false, false
	for len(methods) > 0 {
		switch <-methods {
		case "GET_PARAMETER":
			sawKeepAlive = true
		case "TEARDOWN":
			sawTeardown = true
		}
	}
	if !sawKeepAlive || !sawTeardown {
		t.Errorf("camera saw keep-alive %v, TEARDOWN %v", sawKeepAlive, sawTeardown)
	}
	if r.st.VideoFrames != 5 || !r.st.Balanced {
		t.Errorf("session: %+v (err %v)", r.st, r.err)
	}
	sub.Close()
	h.Close()
	testutil.WaitGoroutines(t, base)
}
