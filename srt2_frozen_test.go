package zerocopy_test

import (
	"context"
	"encoding/binary"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/srt/transport"
)

// TestSRT2FrozenPlayerCut: a player that stays alive but never
// acknowledges a packet (a frozen client; here a relay turns each of the
// caller's ACKs and NAKs into a keepalive) is cut once its connection has
// dropped unacknowledged packets in srt.MaxSendDropIntervals stats
// intervals in a row; the publisher goes on.
func TestSRT2FrozenPlayerCut(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushCtx, stopPush := context.WithCancel(ctx)
	pushDone := make(chan error, 1)
	go func() {
		pushDone <- ffmpeg(pushCtx, "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "mpegts",
			ts.url("publish:/live/frozen", "")).Run()
	}()
	defer func() { stopPush(); <-pushDone }()
	stWaitStream(t, ts, "live/frozen")

	relay := st2AckEater(t, ts.srt)
	conn, err := transport.Dial(ctx, relay, transport.DialConfig{StreamID: "subscribe:/live/frozen"})
	if err != nil {
		t.Fatal(err)
	}
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for {
			p, err := conn.ReadPacket()
			if err != nil {
				return
			}
			p.Decommission()
		}
	}()
	defer func() { conn.Close(); reader.Wait() }()
	start := time.Now()
	cut := regexp.MustCompile(`msg="srt connection closed".*reason="player not acknowledging`)
	for !cut.MatchString(ts.log.String()) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("a player that never acknowledges was not cut within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("frozen player cut after %v", time.Since(start).Round(100*time.Millisecond))
	stWaitStream(t, ts, "live/frozen")
}

// st2AckEater relays UDP between one caller and the SRT server at dst,
// rewriting the caller's ACK and NAK control packets into keepalives: the
// server sees a live peer that never acknowledges anything.
func st2AckEater(t *testing.T, dst string) string {
	t.Helper()
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.Dial("udp", dst)
	if err != nil {
		t.Fatal(err)
	}
	var caller atomic.Pointer[net.Addr]
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := ln.ReadFrom(buf)
			if err != nil {
				return
			}
			caller.Store(&from)
			b := buf[:n]
			if n >= 20 && b[0]&0x80 != 0 {
				if typ := binary.BigEndian.Uint16(b[0:2]) & 0x7FFF; typ == 2 || typ == 3 { // ACK, NAK
					binary.BigEndian.PutUint16(b[0:2], 0x8001) // keepalive
					binary.BigEndian.PutUint16(b[2:4], 0)
					binary.BigEndian.PutUint32(b[4:8], 0)
					b = b[:20]
				}
			}
			_, _ = up.Write(b)
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if a := caller.Load(); a != nil {
				_, _ = ln.WriteTo(buf[:n], *a)
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); up.Close(); wg.Wait() })
	return ln.LocalAddr().String()
}
