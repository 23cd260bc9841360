//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtsp/server"
)

// lowWaterMark reads conn's SO_RCVLOWAT.
func lowWaterMark(t *testing.T, conn net.Conn) int {
	t.Helper()
	v, err := rcvlowat.Mark(conn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReadBatchDoesNotStallRequests: a TCP-interleaved publisher over real
// TCP whose media is far below the read low-water mark. Only the batching
// timer gets such bytes read, so each step must be seen within a fraction
// of a second, not at the 15 s read timeout: a few access units reach a
// subscriber; a GET_PARAMETER keep-alive and an OPTIONS sent right after
// media (the mark back up) are answered; then a TEARDOWN after media ends
// the publish, the mark is one byte again, and a second ANNOUNCE/RECORD
// on the same connection works.
func TestReadBatchDoesNotStallRequests(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: 100 * time.Millisecond, SubscribeWait: 5 * time.Second}, slog.New(slog.DiscardHandler))
	defer h.Close()
	srv := newTestServer(h) // default batching: 4096 bytes, 200 ms
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		st  server.Stats
		err error
	}
	done := make(chan result, 1)
	served := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		served <- nc
		st, err := srv.ServeConn(nc, slog.New(slog.DiscardHandler))
		nc.Close()
		done <- result{st, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := <-served
	br := bufio.NewReader(c)
	tp := textproto.NewReader(br)
	send := func(b []byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// answered reads responses up to the one with CSeq last, each 200
	// (skipping the server's interleaved receiver reports), and fails when
	// it took more than a fraction of the read timeout.
	answered := func(last int, what string) {
		t.Helper()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(5 * time.Second))
		for {
			if b, err := br.Peek(4); err == nil && b[0] == '$' {
				if _, err := br.Discard(4 + int(b[2])<<8 + int(b[3])); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				continue
			}
			line, err := tp.ReadLine()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			hdr, err := tp.ReadMIMEHeader()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if !bytes.HasPrefix([]byte(line), []byte("RTSP/1.0 200")) {
				t.Fatalf("%s: %q", what, line)
			}
			if hdr.Get("Cseq") == strconv.Itoa(last) {
				break
			}
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s answered after %v", what, d)
		}
	}
	// unit is one H.264 IDR access unit in one RTP packet at ts (90 kHz).
	seq := uint16(0)
	units := func(n int, ts uint32) []byte {
		var b []byte
		for i := range n {
			idr := append([]byte{0x65}, bytes.Repeat([]byte{0xaa}, 300)...)
			b = append(b, interleaved(0, rtpPacket(96, seq, ts+uint32(i)*3600, true, idr))...)
			seq++
		}
		return b
	}
	subscribed := make(chan int, 1)
	firstAt := make(chan time.Time, 1)
	subscribe := func() {
		sub, err := h.SubscribeWait(context.Background(), "live/s", 5*time.Second)
		if err != nil {
			subscribed <- -1
			return
		}
		defer sub.Close()
		n := 0
		for {
			f, err := sub.Next(context.Background())
			if err != nil {
				subscribed <- n
				return
			}
			if f.Kind == host.Video {
				if n == 0 {
					firstAt <- time.Now()
				}
				n++
			}
			f.Release()
		}
	}

	send(announceSetupRecord(1))
	recorded := time.Now()
	answered(4, "ANNOUNCE, SETUP, RECORD")
	if got := lowWaterMark(t, sc); time.Since(recorded) < 150*time.Millisecond && got != server.DefaultReadLowWater {
		t.Errorf("mark %d after RECORD, want %d", got, server.DefaultReadLowWater)
	}
	go subscribe()
	for h.Stream("live/s") == nil || h.Stream("live/s").Info().Subscribers == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	sent := time.Now()
	send(units(3, 0)) // about 950 bytes: far below the mark
	select {
	case at := <-firstAt:
		if d := at.Sub(sent); d > 500*time.Millisecond {
			t.Errorf("media below the mark published after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("media below the mark not published after 5 s")
	}
	time.Sleep(50 * time.Millisecond)
	send(units(2, 3*3600)) // the mark goes back up once these are read
	time.Sleep(20 * time.Millisecond)
	send(request("GET_PARAMETER", url, 5, nil, ""))
	answered(5, "GET_PARAMETER after media")
	send(units(2, 5*3600))
	time.Sleep(20 * time.Millisecond)
	send(request("OPTIONS", url, 6, nil, ""))
	answered(6, "OPTIONS after media")
	send(units(2, 7*3600))
	time.Sleep(20 * time.Millisecond)
	send(request("TEARDOWN", url, 7, nil, ""))
	answered(7, "TEARDOWN after media")
	if got := lowWaterMark(t, sc); got != 1 {
		t.Errorf("mark %d after TEARDOWN, want 1", got)
	}
	select {
	case n := <-subscribed:
		if n != 9 {
			t.Errorf("subscriber got %d video frames, want 9", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber did not see the publish end")
	}
	send(announceSetupRecord(8))
	answered(11, "the second ANNOUNCE, SETUP, RECORD")
	send(units(2, 0))
	time.Sleep(20 * time.Millisecond)
	send(request("TEARDOWN", url, 12, nil, ""))
	answered(12, "the second TEARDOWN")
	c.Close()
	r := <-done
	if r.err != nil && !errors.Is(r.err, io.EOF) {
		t.Fatalf("session: %v", r.err)
	}
	if r.st.VideoFrames != 11 || r.st.AllocMalloc != r.st.AllocFree {
		t.Fatalf("session: %d video frames (want 11), allocator %d/%d", r.st.VideoFrames, r.st.AllocMalloc, r.st.AllocFree)
	}
	srv.Close()
	h.Close()
	testutil.WaitGoroutines(t, base)
}
