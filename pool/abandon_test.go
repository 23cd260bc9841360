package pool

import (
	"bytes"
	"runtime"
	"testing"
	"time"
	"weak"
)

// TestAbandonedAllocatorIsCollected abandons an allocator while a range of
// one of its blocks is still held elsewhere and checks that the held bytes
// stay intact, that a Free from another goroutine after Abandon is a
// harmless no-op, and that once the range is dropped the GC collects the
// allocator, its arena and the pool's own record of the abandonment.
func TestAbandonedAllocatorIsCollected(t *testing.T) {
	a := NewAllocator(64 << 10)
	blk := Malloc(a, 16<<10)
	for i := range blk {
		blk[i] = byte(i)
	}
	plain := Malloc(a, 1000)
	// The owner frees what it holds; a "reader" keeps blk[100:200] and plain.
	Free(a, blk[:100])
	Free(a, blk[200:])
	held := blk[100:200:200]
	want := bytes.Clone(held)
	blk = nil
	wa, wArena := weak.Make(a), weak.Make(&held[0])

	Abandon(a)
	Abandon(a) // idempotent
	Recycle(a) // a no-op: the arena is still in use
	if got := InUse(a); got != 1100 {
		t.Fatalf("InUse %d after Abandon, want the 1100 bytes still held", got)
	}
	if _, ok := tables.Load(a); ok {
		t.Fatal("the block table still refers to the abandoned allocator")
	}

	// The holder frees one range on its own goroutine, as a subscriber
	// releasing a frame would; it must neither panic nor touch gomem.
	freed, done := a.GetTotalFree(), make(chan any)
	go func() {
		defer func() { done <- recover() }()
		Free(a, plain)
	}()
	if p := <-done; p != nil {
		t.Fatalf("Free after Abandon panicked: %v", p)
	}
	if a.GetTotalFree() != freed {
		t.Fatal("Free after Abandon gave memory back to gomem")
	}
	if got := InUse(a); got != 100 || Balanced(a) {
		t.Fatalf("InUse %d (balanced %v) after freeing 1000 of 1100 held bytes", got, Balanced(a))
	}
	a, plain = nil, nil

	gc := func(until func() bool) bool {
		for range 20 {
			runtime.GC()
			if until() {
				return true
			}
			time.Sleep(5 * time.Millisecond) // cleanups run on their own goroutine
		}
		return false
	}
	gc(func() bool { return wa.Value() == nil })
	if wArena.Value() == nil || !bytes.Equal(held, want) {
		t.Fatal("the held range was reclaimed or overwritten while still held")
	}
	runtime.KeepAlive(held)
	held = nil
	if !gc(func() bool { return wa.Value() == nil && wArena.Value() == nil }) {
		t.Fatalf("not collected after the last held range was dropped: allocator %v, arena %v",
			wa.Value() != nil, wArena.Value() != nil)
	}
	if !gc(func() bool { _, ok := abandoned.Load(wa); return !ok }) {
		t.Fatal("the abandoned set still lists the collected allocator")
	}
}
