package timeout

import (
	"errors"
	"net"
	"testing"
	"time"
)

type otherTimeout struct{}

func (otherTimeout) Error() string { return "timed out elsewhere" }
func (otherTimeout) Timeout() bool { return true }

// deadlineError returns what a UDP read whose deadline has passed returns.
func deadlineError(t *testing.T) error {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, _, rerr := pc.ReadFromUDPAddrPort(make([]byte, 16))
	return rerr
}

// TestIs: a passed deadline and other errors that say they are timeouts
// count; other errors do not.
func TestIs(t *testing.T) {
	if err := deadlineError(t); !Is(err) {
		t.Fatalf("Is(%v) = false", err)
	}
	if !Is(otherTimeout{}) || Is(errors.New("closed")) || Is(nil) {
		t.Error("Is misjudges a non-deadline error")
	}
}
