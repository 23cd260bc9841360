package zerocopym7s

import (
	"log/slog"
	"net"
	"testing"
	"unsafe"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// The allocator is recycled by whoever lets go last, and only when every
// byte has come back.
func TestAllocLeaseRecyclesOnLastRelease(t *testing.T) {
	var tot Totals
	a := gomem.NewScalableMemoryAllocator(1 << 16)
	b := a.Malloc(100)
	l := allocLease{holders: 1}
	l.hold() // a publisher
	l.set(a)
	l.release(slog.Default(), &tot, false) // the session lets go first
	if tot.RecycledAtTeardown.Load()+tot.RecycledInDispose.Load() != 0 {
		t.Fatal("recycled while the publisher still held the allocator")
	}
	a.Free(b)                             // m7s's dispose frees the ring …
	l.release(slog.Default(), &tot, true) // … then lets go
	if tot.RecycledInDispose.Load() != 1 || tot.Unbalanced.Load() != 0 {
		t.Fatalf("in dispose %d, unbalanced %d", tot.RecycledInDispose.Load(), tot.Unbalanced.Load())
	}
}

func TestAllocLeaseKeepsUnbalancedAllocator(t *testing.T) {
	var tot Totals
	a := gomem.NewScalableMemoryAllocator(1 << 16)
	a.Malloc(64) // never freed
	l := allocLease{holders: 1}
	l.set(a)
	l.release(slog.Default(), &tot, false)
	if tot.Unbalanced.Load() != 1 || tot.RecycledAtTeardown.Load() != 0 {
		t.Fatalf("unbalanced %d, recycled %d", tot.Unbalanced.Load(), tot.RecycledAtTeardown.Load())
	}
}

// lend moves the payload's ranges into the m7s frame memory without
// copying (same backing arrays), skips empty ranges, and leaves the payload
// empty. m7s's Recycle of the frame frees only what m7s allocated in it;
// the lent ranges are freed when the frame is lent to again, in a sweep of
// emptied frames, or by freeAll.
func TestLendMovesRangesAndFreesThemOnReuse(t *testing.T) {
	a := pool.NewAllocator(1 << 16)
	blk := pool.Malloc(a, 300)
	var f host.Frame
	f.Payload.PushOne(blk[:100])
	f.Payload.PushOne(blk[100:100]) // empty: gomem's Free would panic on it
	f.Payload.PushOne(blk[100:300])
	var rm gomem.RecyclableMemory
	rm.SetAllocator(a)
	copy(rm.NextN(5), "hello") // what m7s allocates itself (a sequence header)
	rm.Recycle()
	var l lentRanges
	l.lend(a, &rm, &f.Payload)
	if f.Payload.Size != 0 || len(f.Payload.Buffers) != 0 {
		t.Fatalf("payload not emptied: %d bytes in %d buffers", f.Payload.Size, len(f.Payload.Buffers))
	}
	if rm.Size != 300 || rm.Count() != 2 {
		t.Fatalf("frame holds %d bytes in %d buffers, want 300 in 2", rm.Size, rm.Count())
	}
	if unsafe.SliceData(rm.Buffers[0]) != unsafe.SliceData(blk) || unsafe.SliceData(rm.Buffers[1]) != &blk[100] {
		t.Fatal("ranges were copied, not moved")
	}
	rm.Recycle() // m7s recycles the slot: it must not free the lent ranges
	if pool.InUse(a) != 300 {
		t.Fatalf("in use after m7s's Recycle: %d, want the 300 lent bytes", pool.InUse(a))
	}
	blk2 := pool.Malloc(a, 50)
	f.Payload.PushOne(blk2)
	l.lend(a, &rm, &f.Payload) // the slot comes back for writing: the old ranges are freed
	if pool.InUse(a) != 50 {
		t.Fatalf("in use after the slot was reused: %d, want 50", pool.InUse(a))
	}
	rm.Recycle()
	l.sweep(a) // an emptied frame's ranges go in a sweep
	if !pool.Balanced(a) {
		t.Fatalf("%d bytes still in use after the sweep", pool.InUse(a))
	}
	pool.Recycle(a)
}

func TestLendFreeAll(t *testing.T) {
	a := pool.NewAllocator(1 << 16)
	var l lentRanges
	var frames [3]gomem.RecyclableMemory
	for i := range frames {
		frames[i].SetAllocator(a)
		var p gomem.Memory
		p.PushOne(pool.Malloc(a, 1000))
		l.lend(a, &frames[i], &p)
	}
	l.freeAll(a)
	if !pool.Balanced(a) {
		t.Fatalf("%d bytes still in use after freeAll", pool.InUse(a))
	}
}

// The caps count concurrent connections, in all and per IP, and a released
// connection frees its place.
func TestConnCapsAdmitAndRelease(t *testing.T) {
	var c connCaps
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1000}
	b := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1000}
	ip1, r1 := c.admit(a, 3, 2)
	_, r2 := c.admit(a, 3, 2)
	if r1 != "" || r2 != "" || ip1 != "127.0.0.1" {
		t.Fatalf("first two from one IP: ip %q, refused %q %q", ip1, r1, r2)
	}
	if _, r := c.admit(a, 3, 2); r != refusedPerIP {
		t.Fatalf("third from one IP: refused %q, want %q", r, refusedPerIP)
	}
	if _, r := c.admit(b, 3, 2); r != "" {
		t.Fatalf("another IP: refused %q", r)
	}
	if _, r := c.admit(b, 3, 2); r != refusedListener {
		t.Fatalf("fourth in all: refused %q, want %q", r, refusedListener)
	}
	c.release(ip1)
	if _, r := c.admit(a, 3, 2); r != "" {
		t.Fatalf("after a release: refused %q", r)
	}
	if _, r := c.admit(a, 0, 0); r != "" {
		t.Fatalf("no caps: refused %q", r)
	}
}
