// Package pool is the single place where zerocopy allocates and frees gomem
// memory. Routing every Malloc and Free through it lets the zcdebug build tag
// keep a ledger of live ranges per allocator: freed bytes are poisoned, a
// double or foreign free panics, and use of an allocator from a second
// goroutine panics. Without the tag every function is a thin, inlinable call.
//
// Ownership rules: one allocator per connection, used only on that
// connection's goroutine; every Malloc is freed exactly once, on that
// goroutine (ranges lent to other goroutines come back to it to be freed);
// gomem frees by address range, so a Malloc'd block may be freed in several
// pieces. An allocator ends with Recycle once every range is back, or with
// Abandon when ranges are still held and the owner cannot wait for them.
package pool

import (
	"github.com/langhuihui/gomem"
)

// Allocator is the gomem allocator type every connection owns.
type Allocator = gomem.ScalableMemoryAllocator

// NewAllocator returns a fresh allocator whose first arena has size bytes,
// rounded up to whole granules (block.go: Granule) so that gomem only ever
// holds granule-sized free space. Every range Malloc'd from it returns to
// gomem only with the rest of its granules (see block.go).
func NewAllocator(size int) *Allocator {
	a := gomem.NewScalableMemoryAllocator(roundGranule(max(size, 1)))
	trackNew(a)
	tables.Store(a, &blockTable{})
	return a
}

// Malloc returns n bytes owned by the caller until they are passed to Free.
// The slice's capacity is clipped to n, so appending to it can never scribble
// over a neighbouring allocation. For an allocator made by NewAllocator the
// bytes are carved from whole granules (block.go), which the caller may free
// in pieces of any size.
func Malloc(a *Allocator, n int) []byte {
	var b []byte
	if t := tableOf(a); t != nil && n > 0 && n <= gomem.MaxBlockSize {
		b = t.malloc(a, n)
	} else {
		b = gomemMalloc(a, n)
	}
	trackMalloc(a, b)
	return b
}

// gomemMalloc takes n bytes straight from gomem, pinning any arena gomem
// adds for them (arena.go).
func gomemMalloc(a *Allocator, n int) []byte {
	arenas := len(a.GetChildren())
	b := a.Malloc(n)
	if len(a.GetChildren()) > arenas {
		pinArenas(a)
	}
	return b[:n:n]
}

// Free returns b to a. b may be any sub-range of memory Malloc'd from a that
// has not been freed yet. An empty b is a no-op (gomem itself would panic).
// Once a has been abandoned, Free only counts b and may run on any
// goroutine (see Abandon).
func Free(a *Allocator, b []byte) {
	if len(b) == 0 {
		return
	}
	t := tableOf(a)
	if t == nil {
		if st := abandonedOf(a); st != nil {
			trackAbandonedFree(a, b)
			st.inUse.Add(-int64(len(b)))
			return
		}
	}
	trackFree(a, b)
	if t == nil || !t.release(a, b) {
		a.Free(b)
	}
}

// FreeMemory frees every buffer of m to a and empties m, clearing the stale
// slice headers that gomem's Memory.Reset leaves behind (they would keep the
// freed bytes reachable and invite use after free).
func FreeMemory(a *Allocator, m *gomem.Memory) {
	for _, b := range m.Buffers {
		Free(a, b)
	}
	ResetMemory(m)
}

// ResetMemory empties m without freeing, keeping the Buffers capacity for reuse.
func ResetMemory(m *gomem.Memory) {
	clear(m.Buffers)
	m.Buffers = m.Buffers[:0]
	m.Size = 0
}

// InUse reports the bytes Malloc'd from a and not yet freed by their
// owners (bytes freed inside a block that is still partly held count as
// freed, although gomem gets them back only with the whole block; so do
// bytes freed after Abandon, which gomem never gets back).
func InUse(a *Allocator) int64 {
	t := tableOf(a)
	if t == nil {
		if st := abandonedOf(a); st != nil {
			return st.inUse.Load()
		}
	}
	n := a.GetTotalMalloc() - a.GetTotalFree()
	if t != nil {
		n -= t.released
	}
	return n
}

// Balanced reports whether every byte Malloc'd from a has been freed.
func Balanced(a *Allocator) bool {
	if st := abandonedOf(a); st != nil {
		return st.inUse.Load() == 0
	}
	return a.GetTotalMalloc() == a.GetTotalFree()
}

// Recycle returns a's arenas to gomem. Every range must have been freed
// first; with the zcdebug tag a leak panics here. Recycle of an abandoned
// allocator is a no-op: its arenas may still be in use.
func Recycle(a *Allocator) {
	if isAbandoned(a) {
		return
	}
	trackRecycle(a)
	tables.Delete(a)
	a.Recycle()
}
