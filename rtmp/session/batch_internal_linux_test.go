//go:build linux

package session

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// rcvlowat reads conn's SO_RCVLOWAT.
func rcvlowat(t *testing.T, conn net.Conn) int {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return v
}

// TestReadBatchMark: the mark starts at the configured size, follows the
// bitrate the message timestamps show (20 ms of stream), goes down to one
// byte when messages stop for the delay and back up with the next one,
// and is one byte after stop.
func TestReadBatchMark(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	b := startReadBatch(s, 4096, 100*time.Millisecond)
	if b == nil {
		t.Fatal("no batching on a TCP connection")
	}
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d at start, want 4096", got)
	}
	// 16 kB/s (128 kbit/s audio): 20 ms of it is 320 bytes.
	for ts := uint32(0); ts <= 1100; ts += 23 {
		b.touch(ts, 368)
	}
	if got := rcvlowat(t, s); got != 320 {
		t.Fatalf("mark %d for 16 kB/s, want 320", got)
	}
	// 1 MB/s: 20 kB, capped at 4096.
	for ts := uint32(1100); ts <= 2300; ts += 10 {
		b.touch(ts, 10_000)
	}
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d for 1 MB/s, want the 4096 cap", got)
	}
	// Silence past the delay lowers it; the next message restores it.
	deadline := time.Now().Add(2 * time.Second)
	for rcvlowat(t, s) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("mark not lowered after the delay without messages")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.touch(2310, 10_000)
	if got := rcvlowat(t, s); got != 4096 {
		t.Fatalf("mark %d after a message, want 4096 back", got)
	}
	b.stop()
	if got := rcvlowat(t, s); got != 1 {
		t.Fatalf("mark %d after stop, want 1", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { b.touch(2320, 100) }); allocs != 0 {
		t.Fatalf("touch allocates %v", allocs)
	}
}
