//go:build linux

package rcvlowat

import (
	"net"
	"testing"
	"time"
)

// rcvlowat reads conn's SO_RCVLOWAT.
func rcvlowat(t *testing.T, conn net.Conn) int {
	t.Helper()
	v, err := Mark(conn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestMark: the mark starts at the configured size, follows the bitrate
// the media timestamps show (20 ms of stream), goes down to one byte when
// media stops for the delay and back up with the next, and is one byte
// after Stop.
func TestMark(t *testing.T) {
	_, s := tcpPair(t)
	b := Start(s, 4096, 100*time.Millisecond)
	if b == nil {
		t.Fatal("no batching on a TCP connection")
	}
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d at start, want 4096", got)
	}
	// 16 kB/s (128 kbit/s audio): 20 ms of it is 320 bytes.
	for ts := 0; ts <= 1100; ts += 23 {
		b.Touch(ms(ts), 368)
	}
	if got := rcvlowat(t, s); got != 320 {
		t.Fatalf("mark %d for 16 kB/s, want 320", got)
	}
	// 1 MB/s: 20 kB, capped at 4096.
	for ts := 1100; ts <= 2300; ts += 10 {
		b.Touch(ms(ts), 10_000)
	}
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d for 1 MB/s, want the 4096 cap", got)
	}
	// Silence past the delay lowers it; the next media restores it.
	deadline := time.Now().Add(2 * time.Second)
	for rcvlowat(t, s) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("mark not lowered after the delay without media")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Touch(ms(2310), 10_000)
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d after media, want 4096 back", got)
	}
	b.Stop()
	if got := rcvlowat(t, s); got != 1 {
		t.Fatalf("mark %d after stop, want 1", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { b.Touch(ms(2320), 100) }); allocs != 0 {
		t.Fatalf("Touch allocates %v", allocs)
	}
}

// TestMarkInterleavedTracks: audio and video access units of one stream
// come a little out of order (each track's times are monotonic, the
// merge is not); the window still measures the stream's bitrate instead
// of starting over at every step back. A jump back by more than the
// window (a new timeline) starts it over without a bogus mark.
func TestMarkInterleavedTracks(t *testing.T) {
	_, s := tcpPair(t)
	b := Start(s, 4096, time.Second)
	if b == nil {
		t.Fatal("no batching on a TCP connection")
	}
	defer b.Stop()
	// Video 40 ms frames of 4000 bytes (100 kB/s), audio 23 ms frames of
	// 368 bytes (16 kB/s) whose times trail the video's by up to 30 ms:
	// 116 kB/s, 20 ms of it is 2320 bytes.
	v, a := 0, 0
	for v <= 2200 {
		if a+30 < v {
			b.Touch(ms(a), 368)
			a += 23
			continue
		}
		b.Touch(ms(v), 4000)
		v += 40
	}
	if got := rcvlowat(t, s); got < 2320*3/4 || got > 2320*5/4 {
		t.Fatalf("mark %d for 116 kB/s of interleaved tracks, want about 2320", got)
	}
	// Back to 0 (a new timeline): no mark from the negative span, and
	// the next window measures again.
	before := rcvlowat(t, s)
	b.Touch(0, 4000)
	if got := rcvlowat(t, s); got != before {
		t.Fatalf("mark %d after a jump back, want %d kept", got, before)
	}
	for ts := 0; ts <= 1100; ts += 10 {
		b.Touch(ms(ts), 10_000)
	}
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d for 1 MB/s after the jump, want the 4096 cap", got)
	}
}

// TestStartOff: sizes of one byte or less, a zero delay, or a conn that is
// not a socket turn batching off, and a nil Batch does nothing.
func TestStartOff(t *testing.T) {
	_, s := tcpPair(t)
	if b := Start(s, 1, time.Second); b != nil {
		t.Fatal("batching with a one-byte mark")
	}
	if b := Start(s, -1, time.Second); b != nil {
		t.Fatal("batching with a negative mark")
	}
	if b := Start(s, 4096, 0); b != nil {
		t.Fatal("batching without a delay")
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if b := Start(p, 4096, time.Second); b != nil {
		t.Fatal("batching on a pipe")
	}
	var b *Batch
	b.Touch(0, 1)
	b.Stop()
	if got := rcvlowat(t, s); got > 1 {
		t.Fatalf("mark %d after refused starts, want the default", got)
	}
}
