//go:build !race

package timeout

import "testing"

// TestDeadlineDoesNotAllocate: the shared RTSP UDP readers check a
// deadline error every UDPTick, so the check must not allocate.
func TestDeadlineDoesNotAllocate(t *testing.T) {
	err := deadlineError(t)
	if n := testing.AllocsPerRun(100, func() { _ = Is(err) }); n != 0 {
		t.Errorf("Is of a deadline error allocates %v times", n)
	}
}
