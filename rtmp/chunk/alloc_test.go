//go:build !race

package chunk

import (
	"io"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/pool"
)

// TestSteadyStateReadAllocs reads media messages in a loop, reusing msg and
// freeing its payload: after warm-up, neither the taking path nor the
// copying path allocates.
func TestSteadyStateReadAllocs(t *testing.T) {
	if pool.Debug {
		t.Skip("the zcdebug ledger allocates")
	}
	for _, cs := range []uint32{4096, 60000, 128} {
		src := &cycleReader{b: mediaStream(t, cs)}
		alloc := pool.NewAllocator(4 << 20)
		br := bufreader.New(src, bufreader.Options{Allocator: alloc})
		r := NewReader(br, Options{})
		var msg Message
		read := func() {
			if err := r.ReadMessage(&msg); err != nil {
				t.Fatal(err)
			}
			msg.Free(alloc)
		}
		for range 2000 {
			read()
		}
		if n := testing.AllocsPerRun(2000, read); n != 0 {
			t.Errorf("chunk size %d: %v allocations per message", cs, n)
		}
		r.Close()
		br.Recycle()
		if !pool.Balanced(alloc) {
			t.Fatalf("unbalanced: %d", pool.InUse(alloc))
		}
		pool.Recycle(alloc)
	}
}

// TestSteadyStateWriteAllocs queues and flushes messages and control
// messages in a loop: after warm-up the Writer does not allocate.
func TestSteadyStateWriteAllocs(t *testing.T) {
	w := NewWriter(io.Discard, 4096)
	video := [][]byte{make([]byte, 10000), make([]byte, 5000)}
	audio := [][]byte{make([]byte, 300)}
	ts := uint32(0)
	write := func() {
		ts += 40
		if err := w.Queue(Header{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: ts}, video); err != nil {
			t.Fatal(err)
		}
		if err := w.Queue(Header{CSID: 4, TypeID: TypeAudio, StreamID: 1, Timestamp: ts}, audio); err != nil {
			t.Fatal(err)
		}
		if err := w.QueueAck(ts); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		write()
	}
	if n := testing.AllocsPerRun(1000, write); n != 0 {
		t.Errorf("%v allocations per iteration", n)
	}
}
