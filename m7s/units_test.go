package zerocopym7s

import (
	"testing"
	"unsafe"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// A unit spanning two payload ranges becomes two views pointing into the
// payload, capped at their ends: nothing is copied.
func TestAppendSpanViewsAcrossRanges(t *testing.T) {
	a := pool.NewAllocator(1 << 16)
	b1, b2 := pool.Malloc(a, 10), pool.Malloc(a, 10)
	for i := range b1 {
		b1[i], b2[i] = byte(i), byte(10+i)
	}
	var m gomem.Memory
	m.PushOne(b1)
	m.PushOne(b2)
	pieces := appendSpan(nil, &m, codec.Span{Off: 7, Len: 6})
	if len(pieces) != 2 || len(pieces[0]) != 3 || len(pieces[1]) != 3 || cap(pieces[0]) != 3 {
		t.Fatalf("pieces %v", pieces)
	}
	if unsafe.SliceData(pieces[0]) != &b1[7] || unsafe.SliceData(pieces[1]) != &b2[0] {
		t.Fatal("unit pieces are not views of the payload")
	}
	var nalu gomem.Memory
	nalu.Push(pieces...)
	if got := nalu.ToBytes(); string(got) != string([]byte{7, 8, 9, 10, 11, 12}) {
		t.Fatalf("unit bytes %v", got)
	}
	pool.FreeMemory(a, &m)
	if !pool.Balanced(a) {
		t.Fatal("unbalanced")
	}
	pool.Recycle(a)
}

type countHolder struct{ n int }

func (h *countHolder) Release() { h.n++ }

// Lent frames go back to their pool when m7s hands their slot back, in a
// sweep once m7s emptied a slot, or all at once: allocator payload is
// freed, foreign memory (SRT's gosrt packets) is released, exactly once.
func TestLentFramesGiveBack(t *testing.T) {
	a := pool.NewAllocator(1 << 16)
	fp := host.NewFramePool(a)
	var l lentFrames
	var slots [3]gomem.RecyclableMemory

	lend := func(slot *gomem.RecyclableMemory, f *host.Frame) {
		e := l.reclaim(fp, slot)
		e.pieces = append(e.pieces, f.Payload.Buffers...)
		slot.Push(e.pieces...)
		e.frame = f
		l.lent(fp)
	}
	own := fp.Get() // allocator memory
	own.Payload.PushOne(pool.Malloc(a, 100))
	lend(&slots[0], own)

	h := &countHolder{}
	foreign := fp.Get() // foreign memory held by h
	foreign.Payload.PushOne(make([]byte, 50))
	foreign.Hold(h)
	lend(&slots[1], foreign)

	third := fp.Get()
	third.Payload.PushOne(pool.Malloc(a, 30))
	lend(&slots[2], third)

	slots[0].Reset()
	if e := l.reclaim(fp, &slots[0]); len(e.pieces) != 0 || e.frame != nil { // m7s hands slot 0 back for writing
		t.Fatal("reclaimed slot entry not emptied")
	}
	if pool.InUse(a) != 30 {
		t.Fatalf("in use after reclaiming slot 0: %d, want 30", pool.InUse(a))
	}
	slots[1].Reset() // m7s emptied slot 1 without reusing it
	l.sweep(fp)
	if h.n != 1 {
		t.Fatalf("holder released %d times after the sweep, want 1", h.n)
	}
	l.giveBackAll(fp) // after m7s's dispose
	if !pool.Balanced(a) || fp.Outstanding() != 0 || h.n != 1 {
		t.Fatalf("in use %d, outstanding %d, releases %d", pool.InUse(a), fp.Outstanding(), h.n)
	}
	l.reclaim(fp, &slots[2]) // nothing left: no double free
	pool.Recycle(a)
}

func TestIsAUD(t *testing.T) {
	if !isAUD(codec.H264, 0x09) || isAUD(codec.H264, 0x65) {
		t.Fatal("h264")
	}
	if !isAUD(codec.H265, 35<<1) || isAUD(codec.H265, 19<<1) {
		t.Fatal("h265")
	}
}
