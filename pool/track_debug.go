//go:build zcdebug

package pool

import (
	"bytes"
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"
	"weak"
)

// Debug is true in builds with the zcdebug tag.
const Debug = true

// Poison is written over every freed byte, so a reader of recycled memory
// sees an obvious pattern instead of plausible media.
const Poison = 0xDB

type span struct{ start, end uintptr }

func spanCmp(x span, start uintptr) int { return cmp.Compare(x.start, start) }

type ledger struct {
	owner int64  // goroutine that may Malloc/Free; 0 until the first Malloc
	live  []span // sorted, non-overlapping live ranges
}

var (
	ledgersMu sync.Mutex
	ledgers   = map[*Allocator]*ledger{}
	// abandonedLedgers keeps checking the ranges still held when their
	// allocator was abandoned. It is keyed by weak pointer, so it does not
	// keep the allocator alive; the entry goes when the allocator is
	// collected.
	abandonedLedgers = map[weak.Pointer[Allocator]]*ledger{}
)

func goid() int64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseInt(string(s), 10, 64)
	return id
}

func ledgerOf(a *Allocator) *ledger {
	l := ledgers[a]
	if l == nil {
		l = &ledger{}
		ledgers[a] = l
	}
	return l
}

func (l *ledger) checkOwner(op string) {
	g := goid()
	if l.owner == 0 {
		l.owner = g
		return
	}
	if l.owner != g {
		panic(fmt.Sprintf("pool: %s on goroutine %d, but the allocator belongs to goroutine %d", op, g, l.owner))
	}
}

func addr(b []byte) span {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return span{p, p + uintptr(len(b))}
}

func trackNew(a *Allocator) {
	ledgersMu.Lock()
	ledgers[a] = &ledger{}
	ledgersMu.Unlock()
}

func trackMalloc(a *Allocator, b []byte) {
	if isAbandoned(a) {
		panic("pool: Malloc from an abandoned allocator")
	}
	if len(b) == 0 {
		// An empty range owns nothing and is never freed (Free of an
		// empty slice is a no-op): recording it would leave a live entry
		// that the next Malloc at the same address overlaps.
		return
	}
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := ledgerOf(a)
	l.checkOwner("Malloc")
	s := addr(b)
	i, _ := slices.BinarySearchFunc(l.live, s.start, spanCmp)
	if (i > 0 && l.live[i-1].end > s.start) || (i < len(l.live) && l.live[i].start < s.end) {
		panic(fmt.Sprintf("pool: Malloc returned [%#x,%#x) which overlaps live memory", s.start, s.end))
	}
	l.live = slices.Insert(l.live, i, s)
}

func trackFree(a *Allocator, b []byte) {
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := ledgerOf(a)
	l.checkOwner("Free")
	l.remove(b)
}

// remove takes b out of the live ranges and poisons it; a range that is not
// live panics.
func (l *ledger) remove(b []byte) {
	s := addr(b)
	i, found := slices.BinarySearchFunc(l.live, s.start, spanCmp)
	if !found {
		i--
	}
	if i < 0 || l.live[i].start > s.start || l.live[i].end < s.end {
		panic(fmt.Sprintf("pool: double or foreign Free of [%#x,%#x) (%d bytes)", s.start, s.end, len(b)))
	}
	live := l.live[i]
	var keep []span
	if live.start < s.start {
		keep = append(keep, span{live.start, s.start})
	}
	if s.end < live.end {
		keep = append(keep, span{s.end, live.end})
	}
	l.live = slices.Replace(l.live, i, i+1, keep...)
	for j := range b {
		b[j] = Poison
	}
}

// trackAbandon moves a's ledger out of the strong map into
// abandonedLedgers, under w, so Frees of ranges still held are checked (on
// any goroutine) without keeping a alive.
func trackAbandon(a *Allocator, w weak.Pointer[Allocator]) {
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := ledgers[a]
	delete(ledgers, a)
	if l == nil {
		l = &ledger{}
	}
	abandonedLedgers[w] = l
}

// trackAbandonedFree checks and poisons a Free of a range held past
// Abandon. Any goroutine may make it, but each range only once.
func trackAbandonedFree(a *Allocator, b []byte) {
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := abandonedLedgers[weak.Make(a)]
	if l == nil {
		panic("pool: Free for an abandoned allocator with no ledger")
	}
	l.remove(b)
}

// trackCollected forgets an abandoned allocator the GC has collected.
func trackCollected(w weak.Pointer[Allocator]) {
	ledgersMu.Lock()
	delete(abandonedLedgers, w)
	ledgersMu.Unlock()
}

func trackRecycle(a *Allocator) {
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := ledgers[a]
	delete(ledgers, a)
	if l == nil {
		return
	}
	var leaked uintptr
	for _, s := range l.live {
		leaked += s.end - s.start
	}
	if leaked != 0 {
		panic(fmt.Sprintf("pool: Recycle with %d bytes in %d ranges still live", leaked, len(l.live)))
	}
}

// Adopt makes the calling goroutine the owner of a. Call it only when the
// previous owner has provably stopped using a (for example after its
// goroutine has exited), to hand teardown to another goroutine.
func Adopt(a *Allocator) {
	if isAbandoned(a) {
		return // nobody owns it any more
	}
	ledgersMu.Lock()
	ledgerOf(a).owner = goid()
	ledgersMu.Unlock()
}
