package pool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// abandoned maps each allocator given up with Abandon to what it still has
// out. It is keyed by weak pointer and the value refers to no memory, so the
// entry keeps nothing alive; a cleanup deletes it once the GC has collected
// the allocator.
var (
	abandoned  sync.Map     // weak.Pointer[Allocator] -> *abandonedState
	nAbandoned atomic.Int64 // entries in abandoned; while 0, lookups are skipped
)

// abandonedState counts the bytes of an abandoned allocator still held.
// Frees after Abandon may come from any goroutine, hence the atomic.
type abandonedState struct {
	inUse atomic.Int64
}

// Abandon gives up a, an allocator that may still have ranges held
// elsewhere, and makes the pool drop every reference it keeps to a (the
// block table and, with the zcdebug tag, the ledger's entry). The garbage
// collector then reclaims a and its arenas once nothing else refers to them,
// that is once the last range still held is dropped.
//
// Call it on the owning goroutine instead of Recycle when the owner is done
// but cannot wait for every range to come back: typically a publisher whose
// stream ended while readers still hold frames (where the hub and the RTMP
// session log "leaking its allocator"). Free everything the owner itself
// holds first (for example Recycle its bufreader.Reader). Without Recycle or
// Abandon the pool keeps the allocator reachable for ever.
//
// After Abandon:
//   - the owning side must not Malloc from a again (a zcdebug build panics);
//   - a holder may Free its ranges or simply drop them. Such a Free gives
//     nothing back to gomem (the memory is left to the garbage collector,
//     so it is never handed out again while other ranges are held); it
//     only counts the bytes for InUse and Balanced, which stay exact,
//     while gomem's own GetTotalFree no longer changes. It is safe on any
//     goroutine, provided it happens after Abandon (for example after a
//     channel or lock handoff from the owner, or on the owner itself);
//   - a zcdebug build still checks each such Free against its ledger,
//     panicking on a double or foreign Free, and poisons the freed bytes,
//     but no longer checks the goroutine;
//   - Recycle(a), Adopt(a) and further Abandon(a) calls are no-ops.
//
// Recycle is still better when every range is back: it returns the arenas
// to gomem's pool for reuse.
func Abandon(a *Allocator) {
	w := weak.Make(a)
	st := new(abandonedState)
	st.inUse.Store(InUse(a))
	if _, loaded := abandoned.LoadOrStore(w, st); loaded {
		return
	}
	nAbandoned.Add(1)
	runtime.AddCleanup(a, forget, w)
	tables.Delete(a)
	trackAbandon(a, w)
}

// forget runs once an abandoned allocator has been collected. It must not
// refer to the allocator.
func forget(w weak.Pointer[Allocator]) {
	abandoned.Delete(w)
	nAbandoned.Add(-1)
	trackCollected(w)
}

// abandonedOf returns a's state if Abandon was called for a, or nil. It
// costs one atomic load while no abandoned allocator is alive, and a
// weak.Make plus a map lookup otherwise; Free calls it only for allocators
// without a block table (abandoned, or not made by NewAllocator).
func abandonedOf(a *Allocator) *abandonedState {
	if nAbandoned.Load() == 0 {
		return nil
	}
	if st, ok := abandoned.Load(weak.Make(a)); ok {
		return st.(*abandonedState)
	}
	return nil
}

func isAbandoned(a *Allocator) bool { return abandonedOf(a) != nil }
