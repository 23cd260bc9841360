// Package pool is the single place where zerocopy allocates and frees gomem
// memory. Routing every Malloc and Free through it lets the zcdebug build tag
// keep a ledger of live ranges per allocator: freed bytes are poisoned, a
// double or foreign free panics, and use of an allocator from a second
// goroutine panics. Without the tag every function is a thin, inlinable call.
//
// Ownership rules (see DESIGN.md): one allocator per connection, used only on
// that connection's goroutine; every Malloc is freed exactly once; gomem frees
// by address range, so a Malloc'd block may be freed in several pieces.
package pool

import (
	"github.com/langhuihui/gomem"
)

// Allocator is the gomem allocator type every connection owns.
type Allocator = gomem.ScalableMemoryAllocator

// NewAllocator returns a fresh allocator whose first arena has size bytes.
// Blocks taken from it with MallocBlock return to gomem only whole (see
// block.go).
func NewAllocator(size int) *Allocator {
	a := gomem.NewScalableMemoryAllocator(size)
	trackNew(a)
	tables.Store(a, &blockTable{})
	return a
}

// Malloc returns n bytes owned by the caller until they are passed to Free.
// The slice's capacity is clipped to n, so appending to it can never scribble
// over a neighbouring allocation.
func Malloc(a *Allocator, n int) []byte {
	b := a.Malloc(n)
	b = b[:n:n]
	trackMalloc(a, b)
	return b
}

// Free returns b to a. b may be any sub-range of memory Malloc'd from a that
// has not been freed yet. An empty b is a no-op (gomem itself would panic).
func Free(a *Allocator, b []byte) {
	if len(b) == 0 {
		return
	}
	trackFree(a, b)
	if !releaseInBlock(a, b) {
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
// freed, although gomem gets them back only with the whole block).
func InUse(a *Allocator) int64 {
	n := a.GetTotalMalloc() - a.GetTotalFree()
	if t := tableOf(a); t != nil {
		n -= t.released
	}
	return n
}

// Balanced reports whether every byte Malloc'd from a has been freed.
func Balanced(a *Allocator) bool {
	return a.GetTotalMalloc() == a.GetTotalFree()
}

// Recycle returns a's arenas to gomem. Every range must have been freed
// first; with the zcdebug tag a leak panics here.
func Recycle(a *Allocator) {
	trackRecycle(a)
	tables.Delete(a)
	a.Recycle()
}
