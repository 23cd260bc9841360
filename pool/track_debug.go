//go:build zcdebug

package pool

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// Debug is true in builds with the zcdebug tag.
const Debug = true

// Poison is written over every freed byte, so a reader of recycled memory
// sees an obvious pattern instead of plausible media.
const Poison = 0xDB

type span struct{ start, end uintptr }

type ledger struct {
	owner int64  // goroutine that may Malloc/Free; 0 until the first Malloc
	live  []span // sorted, non-overlapping live ranges
}

var (
	ledgersMu sync.Mutex
	ledgers   = map[*Allocator]*ledger{}
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
	ledgersMu.Lock()
	defer ledgersMu.Unlock()
	l := ledgerOf(a)
	l.checkOwner("Malloc")
	s := addr(b)
	i, _ := slices.BinarySearchFunc(l.live, s.start, func(x span, t uintptr) int { return cmpUintptr(x.start, t) })
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
	s := addr(b)
	i, found := slices.BinarySearchFunc(l.live, s.start, func(x span, t uintptr) int { return cmpUintptr(x.start, t) })
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
	ledgersMu.Lock()
	ledgerOf(a).owner = goid()
	ledgersMu.Unlock()
}

func cmpUintptr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
