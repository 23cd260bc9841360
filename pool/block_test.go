package pool_test

import (
	"testing"

	"github.com/zcingest/zerocopy/pool"
)

func TestBlockReturnsWholeWhenEveryPieceIsFreed(t *testing.T) {
	a := pool.NewAllocator(64 << 10)
	b := pool.Malloc(a, 16<<10)
	if got := pool.InUse(a); got != 16<<10 {
		t.Fatalf("InUse %d after Malloc", got)
	}
	pieces := [][]byte{b[:1], b[1:4097], b[4097:4100], b[4100:]}
	for i, p := range pieces {
		pool.Free(a, p)
		if i < len(pieces)-1 && a.GetTotalFree() != 0 {
			t.Fatalf("block returned to gomem after %d of %d pieces", i+1, len(pieces))
		}
	}
	if !pool.Balanced(a) || pool.InUse(a) != 0 {
		t.Fatalf("not balanced: malloc %d free %d inuse %d", a.GetTotalMalloc(), a.GetTotalFree(), pool.InUse(a))
	}
	// Plain allocations are freed straight through.
	p := pool.Malloc(a, 100)
	pool.Free(a, p[:40])
	if pool.InUse(a) != 60 {
		t.Fatalf("InUse %d after a partial plain free", pool.InUse(a))
	}
	pool.Free(a, p[40:])
	if !pool.Balanced(a) {
		t.Fatal("plain memory not balanced")
	}
	pool.Recycle(a)
}

// TestHeaderGapsDoNotFragmentTheAllocator reproduces the RTMP pattern that
// made the pinned gomem allocate a fresh 4 MiB arena every few MB: payload
// ranges held by a ring of frames with one-byte header gaps freed between
// them. With whole-block accounting the allocator never grows past the
// blocks actually held.
func TestHeaderGapsDoNotFragmentTheAllocator(t *testing.T) {
	a := pool.NewAllocator(1 << 20)
	const block, piece, held = 16 << 10, 4096, 300
	var ring [][]byte
	var cur []byte
	for i := 0; i < 50000; i++ {
		if len(cur) < piece+1 {
			pool.Free(a, cur) // the block's unused tail
			cur = pool.Malloc(a, block)
		}
		pool.Free(a, cur[:1]) // the chunk header, consumed
		ring = append(ring, cur[1:piece+1])
		cur = cur[piece+1:]
		if len(ring) > held {
			pool.Free(a, ring[0])
			ring = ring[1:]
		}
	}
	if n := len(a.GetChildren()); n > 2 {
		t.Fatalf("allocator grew to %d arenas for %d held ranges", n, held)
	}
	for _, r := range ring {
		pool.Free(a, r)
	}
	pool.Free(a, cur)
	if !pool.Balanced(a) {
		t.Fatalf("unbalanced: %d", pool.InUse(a))
	}
	pool.Recycle(a)
}
