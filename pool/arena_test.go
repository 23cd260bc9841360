package pool

import "testing"

// TestReserveArenasAddsWholeArenas: an 8 MiB reservation makes two pinned
// 4 MiB arenas beside the small first one (the second request must not fit
// into the first pinned arena's free space), and the pins free cleanly.
func TestReserveArenasAddsWholeArenas(t *testing.T) {
	a := NewAllocator(64 << 10)
	pins := ReserveArenas(a, 8<<20)
	total := 0
	for _, c := range a.GetChildren() {
		total += c.Size
	}
	if len(pins) != 2 || total < 8<<20 {
		t.Fatalf("%d pins, arenas total %d bytes; want 2 pins and at least 8 MiB", len(pins), total)
	}
	// Filling and emptying the reserved space must not drop a reserved
	// arena (the small first one may go once it empties: that is not churn).
	big := func() (n int) {
		for _, c := range a.GetChildren() {
			if c.Size >= 4<<20 {
				n++
			}
		}
		return n
	}
	n := big()
	var held [][]byte
	for range 400 {
		held = append(held, Malloc(a, 16<<10))
	}
	for _, b := range held {
		Free(a, b)
	}
	if got := big(); got != n || n != 2 {
		t.Fatalf("reserved 4 MiB arenas changed from %d to %d under a full ring", n, got)
	}
	FreePins(a, pins)
	if !Balanced(a) {
		t.Fatalf("%d bytes in use after the pins were freed", InUse(a))
	}
	Recycle(a)
}
