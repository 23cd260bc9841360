//go:build !race

package server

import (
	"errors"
	"net"
	"testing"
	"time"
)

type otherTimeout struct{}

func (otherTimeout) Error() string { return "timed out elsewhere" }
func (otherTimeout) Timeout() bool { return true }

// TestIsTimeoutDeadlineDoesNotAllocate: the shared UDP readers check a
// deadline error every UDPTick, so the check must not allocate; other
// errors that say they are timeouts still count.
func TestIsTimeoutDeadlineDoesNotAllocate(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, rerr := pc.ReadFromUDPAddrPort(make([]byte, 16))
	if !isTimeout(rerr) {
		t.Fatalf("isTimeout(%v) = false", rerr)
	}
	if n := testing.AllocsPerRun(100, func() { _ = isTimeout(rerr) }); n != 0 {
		t.Errorf("isTimeout of a deadline error allocates %v times", n)
	}
	if !isTimeout(otherTimeout{}) || isTimeout(errors.New("closed")) {
		t.Error("isTimeout misjudges a non-deadline error")
	}
}
