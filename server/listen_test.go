package server

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testutil"
)

// shFakeListener fails Accept with EMFILE `fails` times, then returns one
// end of a pipe, then blocks until closed.
type shFakeListener struct {
	fails  int
	conns  chan net.Conn
	closed chan struct{}
}

func (f *shFakeListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}
func (f *shFakeListener) Close() error   { close(f.closed); return nil }
func (f *shFakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAcceptLoopSurvivesEMFILE: item 4. Accept errors other than
// net.ErrClosed are retried with backoff (logged, rate-limited); the loop
// then serves the next connection and stops cleanly on Close.
func TestAcceptLoopSurvivesEMFILE(t *testing.T) {
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	fake := &shFakeListener{fails: 4, conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	a, b := net.Pipe()
	defer b.Close()
	fake.conns <- a
	var refused refusedCounters
	l := newTCPListener("fake", fake, host.ListenOptions{}, log, &refused)
	served := make(chan net.Conn, 1)
	start := time.Now()
	go l.serve(func(c net.Conn) { served <- c })
	select {
	case c := <-served:
		l.untrack(c)
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatalf("no connection served after accept errors; log:\n%s", logs)
	}
	// 5+10+20+40 ms of backoff.
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Errorf("retried without backing off (%v)", d)
	}
	l.close()
	select {
	case <-l.stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("accept loop did not stop on Close")
	}
	out := logs.String()
	if !strings.Contains(out, "accept failed; retrying") || !strings.Contains(out, "too many open files") {
		t.Fatalf("accept errors not logged:\n%s", out)
	}
	if n := strings.Count(out, "accept failed"); n != 1 {
		t.Errorf("%d accept-error lines for a burst of 4, want 1 (rate-limited):\n%s", n, out)
	}
}

func TestBackoffDoubles(t *testing.T) {
	var d time.Duration
	var got []string
	for range 10 {
		d = nextBackoff(d)
		got = append(got, d.String())
	}
	want := "[5ms 10ms 20ms 40ms 80ms 160ms 320ms 640ms 1s 1s]"
	if fmt.Sprint(got) != want {
		t.Fatalf("backoff %v, want %s", got, want)
	}
}
