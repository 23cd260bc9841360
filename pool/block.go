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
// So memory goes back to gomem only as whole blocks: Free of a range inside
// one just counts its bytes down, and the block goes back when its last
// byte is released. Ownership rules are unchanged: every byte is still
// freed exactly once, on the allocator's goroutine (the zcdebug ledger
// checks each range as before).
//
// Granules. Whole blocks are not enough: gomem's search starts at the
// smallest free block and, when that is too small, looks only at higher
// addresses, so one free block smaller than a request (a 64-byte arena pin's
// neighbour, a freed control message) hides every larger free block below
// it. A ring that allocates at its tail and frees at its head then cannot
// reuse an arena until the arena empties completely, and gomem adds arenas:
// TestFIFOArenasTrackRing measured 17 MB of arenas touched for a 4.7 Mbit/s
// ring holding 7.5 MB (the ingest benchmark: 16.5 MB RSS per stream). So
// every block handed to gomem is a whole number of Granules, arenas and pins
// are too, and Mallocs smaller than a granule are carved one after another
// from a shared granule (the slab). gomem's free space is then made of whole
// granules only, its search cannot miss a free granule (a request of several
// granules can still be missed, and then costs an arena), and the arenas
// grow to the ring's peak granules and no further.

// Granule is the unit of everything pool takes from gomem: the reader's
// default block (bufreader.DefaultBlockSize), so a ring of reader blocks
// leaves no free space smaller than a block.
const Granule = 16 << 10

func roundGranule(n int) int { return (n + Granule - 1) / Granule * Granule }

// block is one whole block and how many of its bytes are not yet freed
// (for the slab, its room not yet carved counts as not freed).
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
	// slab is the granule Mallocs smaller than a granule are carved from,
	// slab[used:] its room; nil when there is none. Its room counts as
	// released until carved.
	slab []byte
	used int
	// hint holds the indexes of the last two blocks find returned.
	hint [2]int
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

// malloc carves n (0 < n <= gomem.MaxBlockSize) bytes: from the slab when
// n is smaller than a granule, else as a block of whole granules whose tail
// beyond n counts as freed at once.
func (t *blockTable) malloc(a *Allocator, n int) []byte {
	if n >= Granule {
		m := roundGranule(n)
		mem := gomemMalloc(a, m)
		t.insert(mem, n)
		t.released += int64(m - n)
		return mem[:n:n]
	}
	if room := len(t.slab) - t.used; room < n {
		if room > Granule-n {
			// The slab keeps more room than a new granule would after n:
			// n gets a granule of its own and small Mallocs keep the slab.
			mem := gomemMalloc(a, Granule)
			t.insert(mem, n)
			t.released += int64(Granule - n)
			return mem[:n:n]
		}
		t.sealSlab(a)
		t.slab, t.used = gomemMalloc(a, Granule), 0
		t.insert(t.slab, Granule)
		t.released += Granule
	}
	b := t.slab[t.used : t.used+n : t.used+n]
	t.used += n
	t.released -= int64(n)
	return b
}

// sealSlab gives up the slab's room: it counts as freed from now on, and
// the slab goes back to gomem if nothing carved from it is still held.
func (t *blockTable) sealSlab(a *Allocator) {
	if t.slab == nil {
		return
	}
	room := len(t.slab) - t.used
	slab := t.slab
	t.slab, t.used = nil, 0
	i, _ := slices.BinarySearchFunc(t.blocks, addrOf(slab), blockCmp)
	t.blocks[i].live -= room
	t.returnIfDone(a, i)
}

func (t *blockTable) insert(mem []byte, live int) {
	start := addrOf(mem)
	i, _ := slices.BinarySearchFunc(t.blocks, start, blockCmp)
	t.blocks = slices.Insert(t.blocks, i, block{start: start, mem: mem, live: live})
}

// returnIfDone frees block i to gomem when nothing in it is held: every
// byte freed, or, for the slab, every carved byte freed.
func (t *blockTable) returnIfDone(a *Allocator, i int) {
	blk := &t.blocks[i]
	isSlab := t.slab != nil && blk.start == addrOf(t.slab)
	room := 0
	if isSlab {
		room = len(t.slab) - t.used
	}
	if blk.live > room {
		return
	}
	if isSlab {
		t.slab, t.used = nil, 0
	}
	t.released -= int64(len(blk.mem))
	a.Free(blk.mem)
	t.blocks = slices.Delete(t.blocks, i, i+1)
}

func blockCmp(x block, start uintptr) int { return cmp.Compare(x.start, start) }

// find returns the index of the block with the greatest start <= p, or -1.
// Frees come in two streams, the reader's header gaps in the newest block
// and evicted frames in the oldest, so the last two blocks found are tried
// before the binary search.
func (t *blockTable) find(p uintptr) int {
	for _, h := range t.hint {
		if h < len(t.blocks) && t.blocks[h].start <= p && (h+1 == len(t.blocks) || t.blocks[h+1].start > p) {
			return h
		}
	}
	lo, hi := 0, len(t.blocks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.blocks[m].start <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i >= 0 {
		t.hint[1], t.hint[0] = t.hint[0], i
	}
	return i
}

// release counts b down in the block of t containing it and frees the
// block to a when it is fully released. It reports false when b is not
// inside a block (plain memory, freed to gomem directly).
func (t *blockTable) release(a *Allocator, b []byte) bool {
	if len(t.blocks) == 0 {
		return false
	}
	p := addrOf(b)
	i := t.find(p)
	if i < 0 {
		return false
	}
	blk := &t.blocks[i]
	if p+uintptr(len(b)) > blk.start+uintptr(len(blk.mem)) {
		return false
	}
	blk.live -= len(b)
	t.released += int64(len(b))
	t.returnIfDone(a, i)
	return true
}
