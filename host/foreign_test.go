package host

import (
	"context"
	"testing"

	"github.com/zcingest/zerocopy/pool"
)

type countingHolder struct{ released int }

func (h *countingHolder) Release() { h.released++ }

// TestForeignPayloadReleasedNotFreed: a frame whose payload is foreign
// memory releases its holders on recycle and never frees those bytes to
// the allocator (which would corrupt it: they are not its own).
func TestForeignPayloadReleasedNotFreed(t *testing.T) {
	alloc := pool.NewAllocator(64 << 10)
	defer pool.Recycle(alloc)
	fp := NewFramePool(alloc)
	foreign := make([]byte, 188) // stands in for a library's packet buffer
	a, b := &countingHolder{}, &countingHolder{}
	f := fp.Get()
	f.Payload.Buffers = append(f.Payload.Buffers, foreign[4:100], foreign[100:188])
	f.Payload.Size = 184
	f.Hold(a)
	f.Hold(b)
	if !f.Foreign() {
		t.Fatal("Foreign() = false after Hold")
	}
	f.Release() // the last reference: queued back to the owner
	if err := fp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.released != 1 || b.released != 1 {
		t.Fatalf("holders released %d and %d times, want 1 each", a.released, b.released)
	}
	if !pool.Balanced(alloc) || alloc.GetTotalFree() != 0 {
		t.Fatalf("foreign bytes went to the allocator: malloc %d free %d", alloc.GetTotalMalloc(), alloc.GetTotalFree())
	}
	// The recycled frame is an ordinary allocator frame again.
	g := fp.Get()
	if g.Foreign() || g.Payload.Size != 0 || len(g.Payload.Buffers) != 0 {
		t.Fatalf("recycled frame still foreign: %v, %d bytes", g.Foreign(), g.Payload.Size)
	}
	fp.Discard(g)
}
