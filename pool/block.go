package pool

import (
	"cmp"
	"slices"
	"sync"
	"unsafe"

	"github.com/langhuihui/gomem"
)

// Whole-block accounting.
//
// A reader splits each block it fills into many ranges: payloads taken by
// frames and the small gaps between them (chunk headers) that it frees at
// once. Handing those gaps to the pinned gomem one by one fragments its free
// tree into thousands of tiny blocks; the tree is ordered by address but
// searched as if by size, so Malloc then misses free space, allocates a new
// 4 MiB arena (garbage once dropped: gomem pools only 1-16 KiB arenas), and
// every insert walks a long chain. Measured under 32 RTMP pushers: 1.19
// allocated bytes per ingested byte and 39% of CPU in gomem's tree.
//
// So blocks Malloc'd with MallocBlock are returned to gomem only whole: Free
// of a range inside one just counts its bytes down, and the block goes back
// when its last byte is released. gomem then sees equal-sized whole blocks
// and never fragments. Ownership rules are unchanged: every byte is still
// freed exactly once, on the allocator's goroutine (the zcdebug ledger
// checks each range as before).

// block is one whole block and how many of its bytes are not yet freed.
type block struct {
	start uintptr
	mem   []byte
	live  int
}

// blockTable lists an allocator's live blocks by address. Only the
// allocator's goroutine touches it, like the allocator itself.
type blockTable struct {
	blocks []block
	// released counts bytes already freed by callers inside blocks that are
	// still out (not yet returned whole), so InUse can report what callers
	// hold rather than what gomem has lent.
	released int64
	// pinned lists the arenas holding a pin (arena.go: pinArenas).
	pinned []*gomem.MemoryAllocator
}

// tables maps an allocator made by NewAllocator to its block table. Entries
// are written once per allocator, so lookups are lock-free. The key is a
// strong reference: Recycle and Abandon delete the entry, so that the map
// does not keep a finished allocator (or, through the table, its arenas)
// alive.
var tables sync.Map // *gomem.ScalableMemoryAllocator -> *blockTable

func tableOf(a *gomem.ScalableMemoryAllocator) *blockTable {
	if t, ok := tables.Load(a); ok {
		return t.(*blockTable)
	}
	return nil
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// MallocBlock returns n bytes that callers may free in pieces of any size;
// the block returns to gomem when all n bytes have been freed. For an
// allocator not made by NewAllocator (one a host such as m7s frees directly
// with gomem), it is plain Malloc.
func MallocBlock(a *Allocator, n int) []byte {
	b := Malloc(a, n)
	if t := tableOf(a); t != nil {
		start := addrOf(b)
		i, _ := slices.BinarySearchFunc(t.blocks, start, blockCmp)
		t.blocks = slices.Insert(t.blocks, i, block{start: start, mem: b, live: n})
	}
	return b
}

func blockCmp(x block, start uintptr) int { return cmp.Compare(x.start, start) }

// release counts b down in the block of t containing it and frees the
// block to a when it is fully released. It reports false when b is not
// inside a block (plain memory, freed to gomem directly).
func (t *blockTable) release(a *Allocator, b []byte) bool {
	if len(t.blocks) == 0 {
		return false
	}
	p := addrOf(b)
	i, found := slices.BinarySearchFunc(t.blocks, p, blockCmp)
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	blk := &t.blocks[i]
	if p+uintptr(len(b)) > blk.start+uintptr(len(blk.mem)) {
		return false
	}
	blk.live -= len(b)
	t.released += int64(len(b))
	if blk.live <= 0 {
		t.released -= int64(len(blk.mem))
		a.Free(blk.mem)
		t.blocks = slices.Delete(t.blocks, i, i+1)
	}
	return true
}
