package pool

import "testing"

// TestReserveArenasAddsWholeArenas: an 8 MiB reservation makes two pinned
// 4 MiB arenas beside the small first one (the second request must not fit
// into the first pinned arena's free space), leaving the allocator
// balanced: the pins are the arenas' own.
func TestReserveArenasAddsWholeArenas(t *testing.T) {
	a := NewAllocator(64 << 10)
	pins := ReserveArenas(a, 8<<20)
	total := 0
	for _, c := range a.GetChildren() {
		total += c.Size
	}
	if pins == nil {
		t.Fatal("ReserveArenas returned nil: callers would reserve again on every call")
	}
	if len(a.GetChildren()) != 3 || total < 8<<20 || !Balanced(a) {
		t.Fatalf("%d arenas total %d bytes, balanced %v; want 3 and at least 8 MiB, balanced",
			len(a.GetChildren()), total, Balanced(a))
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

// TestArenasDoNotChurn: a working set that crosses arena boundaries, filled
// and drained again and again (a publisher's ring), makes its arenas once.
// Without pins gomem drops every arena that empties and makes a new one on
// the next fill: allocated bytes grow with every round.
func TestArenasDoNotChurn(t *testing.T) {
	a := NewAllocator(64 << 10)
	seen := map[any]bool{}
	note := func() {
		for _, c := range a.GetChildren() {
			seen[c] = true
		}
	}
	var held [][]byte
	created := 0
	for round := range 30 {
		for range 300 { // 4.7 MB of 16 KiB blocks
			held = append(held, Malloc(a, 16<<10))
			note()
		}
		for _, b := range held {
			Free(a, b)
			note()
		}
		held = held[:0]
		if round == 0 {
			created = len(seen)
		}
	}
	if len(seen) != created {
		t.Fatalf("arenas made after the first round: %d, then %d in all (churn)", created, len(seen))
	}
	if !Balanced(a) {
		t.Fatalf("%d bytes in use", InUse(a))
	}
	Recycle(a)
}
