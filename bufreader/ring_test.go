package bufreader

// Tests of the wrap (reader.go, wrap): when the only block runs short of
// room, fills go into its consumed front, so a reader that keeps up with
// its source refills one block, as bufio refills its one buffer, instead of
// alternating between two (which made every line the source writes miss
// L1; see docs/bench-bufreader.md).

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// chunkReader cuts each read of r to the next of sizes, in turn.
type chunkReader struct {
	r     io.Reader
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := min(len(p), c.sizes[c.i%len(c.sizes)])
	c.i++
	return c.r.Read(p[:n])
}

// streamAt returns the n bytes at stream offset p of a cyclic stream over data.
func streamAt(data []byte, p, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = data[(p+i)%len(data)]
	}
	return out
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestRingRefillsOneBlock reads packets of up to an eighth of a block from
// a source that returns 64..2048 bytes per read (the fair benchmarks'
// network model). Once warm, the reader must Malloc nothing and every view
// must lie in one block's memory: the fills wrap around it.
func TestRingRefillsOneBlock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		blockSize int
		packet    func(*rand.Rand) int
	}{
		{"16K/1024", 16 << 10, func(*rand.Rand) int { return 1024 }},
		{"16K/128", 16 << 10, func(*rand.Rand) int { return 128 }},
		{"16K/64..2048", 16 << 10, func(rng *rand.Rand) int { return 64 + rng.IntN(2048-64+1) }},
		{"4K/500", 4096, func(*rand.Rand) int { return 500 }},
		{"4K/1..512", 4096, func(rng *rand.Rand) int { return 1 + rng.IntN(512) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(12, uint64(tc.blockSize)))
			data := []byte(pattern(1<<20 + 13))
			sizes := make([]int, 4096)
			for i := range sizes {
				sizes[i] = 64 + rng.IntN(2048-64+1)
			}
			alloc := pool.NewAllocator(256 << 10)
			defer func() {
				if !pool.Balanced(alloc) {
					t.Errorf("allocator unbalanced after Recycle: %d bytes in use", pool.InUse(alloc))
				}
				pool.Recycle(alloc)
			}()
			r := New(&chunkReader{r: &cyclicReader{data: data}, sizes: sizes}, Options{Allocator: alloc, BlockSize: tc.blockSize})
			defer r.Recycle()

			pos := 0
			var lo, hi uintptr
			check := func(n int) {
				err := r.ReadRange(n, func(p []byte) {
					if !bytes.Equal(p, streamAt(data, pos, len(p))) {
						t.Fatalf("view at stream offset %d holds the wrong bytes", pos)
					}
					pos += len(p)
					if a := addrOf(p); lo == 0 || a < lo {
						lo = a
					}
					if a := addrOf(p) + uintptr(len(p)); a > hi {
						hi = a
					}
				})
				if err != nil {
					t.Fatalf("ReadRange(%d) at %d: %v", n, pos, err)
				}
			}
			for pos < 4*tc.blockSize {
				check(tc.packet(rng))
			}
			mallocs := alloc.GetTotalMalloc()
			lo, hi = 0, 0
			for pos < 1<<20 {
				check(tc.packet(rng))
			}
			if got := alloc.GetTotalMalloc() - mallocs; got != 0 {
				t.Errorf("warm reader Malloc'd %d bytes while reading %d bytes", got, pos)
			}
			if span := int(hi - lo); span > tc.blockSize {
				t.Errorf("views spread over %d bytes of memory, want one block (%d)", span, tc.blockSize)
			}
			if held := pool.InUse(alloc); held > int64(tc.blockSize) {
				t.Errorf("reader holds %d bytes, want one block (%d)", held, tc.blockSize)
			}
		})
	}
}

// TestRingWrapOwnership drives one block through a wrap step by step and
// checks the chain's two entries, their rejoining, and that ranges taken
// from either side of the wrap, or across it, survive the fills that go on
// around them (with -tags zcdebug freed bytes are poisoned and a double
// free panics).
func TestRingWrapOwnership(t *testing.T) {
	const bs = MinBlockSize // minFill is 64
	for _, tc := range []struct {
		name string
		// take runs once the chain is wrapped: the head holds [110, 200)
		// of the block (stream offsets 110..199) and the front [0, 100)
		// (stream offsets 200..299); nothing of it is consumed yet.
		take   func(r *Reader, m *gomem.Memory) error
		rejoin bool // the front is expected to take the head's memory back
	}{
		{"no take", func(*Reader, *gomem.Memory) error { return nil }, true},
		{"take in the head", func(r *Reader, m *gomem.Memory) error {
			if err := r.Skip(10); err != nil {
				return err
			}
			return r.TakeInto(m, 30)
		}, false},
		{"take across the wrap", func(r *Reader, m *gomem.Memory) error {
			if err := r.Skip(60); err != nil {
				return err
			}
			return r.TakeInto(m, 60)
		}, false},
		{"take in the front", func(r *Reader, m *gomem.Memory) error {
			if err := r.Skip(95); err != nil {
				return err
			}
			return r.TakeInto(m, 50)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(pattern(4099))
			alloc := pool.NewAllocator(64 << 10)
			defer pool.Recycle(alloc)
			r := New(&chunkReader{r: &cyclicReader{data: data}, sizes: []int{100}}, Options{Allocator: alloc, BlockSize: bs})
			pos := 0
			read := func(n int) {
				t.Helper()
				err := r.ReadRange(n, func(p []byte) {
					if !bytes.Equal(p, streamAt(data, pos, len(p))) {
						t.Fatalf("view at stream offset %d holds the wrong bytes", pos)
					}
					pos += len(p)
				})
				if err != nil {
					t.Fatalf("ReadRange(%d) at %d: %v", n, pos, err)
				}
			}
			read(90) // fill [0, 100)
			read(20) // fill [100, 200); read up to 110
			// 90 bytes are buffered, 56 bytes of room are left (under
			// minFill) and 110 bytes are consumed at the front: the fill
			// for the 91st byte wraps.
			if _, err := r.Peek(91); err != nil {
				t.Fatal(err)
			}
			if n := len(r.blocks) - r.head; n != 2 {
				t.Fatalf("%d chain entries after the wrap, want 2", n)
			}
			head, front := r.blocks[r.head], r.blocks[r.head+1]
			base := addrOf(front.mem)
			if len(head.mem) != bs-110 || head.r != 0 || head.w != 90 || head.keep != 0 {
				t.Fatalf("head after the wrap: len %d, r %d, w %d, keep %d; want %d, 0, 90, 0", len(head.mem), head.r, head.w, head.keep, bs-110)
			}
			if len(front.mem) != 110 || cap(front.mem) != bs || front.w != 100 || addrOf(head.mem) != base+110 {
				t.Fatalf("front after the wrap: len %d, cap %d, w %d; want 110, %d, 100, with the head right after it", len(front.mem), cap(front.mem), front.w, bs)
			}
			if held := pool.InUse(alloc); held != bs {
				t.Fatalf("reader holds %d bytes after the wrap, want the one block (%d)", held, bs)
			}

			var m gomem.Memory
			if err := tc.take(r, &m); err != nil {
				t.Fatal(err)
			}
			taken := m.ToBytes()
			pos = int(r.Stats().BytesRead) - r.Buffered()
			takenAt := pos - len(taken) // the take was the last call
			if !bytes.Equal(taken, streamAt(data, takenAt, len(taken))) {
				t.Fatalf("taken range holds the wrong bytes")
			}
			// Read one byte past the head entry, so the reader leaves it:
			// it is rejoined to the front or freed.
			h := r.blocks[r.head]
			read(h.w - h.r + 1)
			b := r.blocks[r.head]
			if whole := len(b.mem) == bs && addrOf(b.mem) == base; whole != tc.rejoin {
				t.Fatalf("after leaving the head the entry has len %d at offset %d of the block; rejoined %v, want %v", len(b.mem), addrOf(b.mem)-base, whole, tc.rejoin)
			}
			if cap(b.mem) != len(b.mem) {
				t.Fatalf("entry still reaches past its end (cap %d, len %d) after the head was released", cap(b.mem), len(b.mem))
			}
			for range 200 {
				read(37)
				if held := pool.InUse(alloc) - int64(len(taken)); held > int64(r.Buffered()+3*bs) {
					t.Fatalf("reader holds %d bytes, bound %d", held, r.Buffered()+3*bs)
				}
			}
			if !bytes.Equal(m.ToBytes(), streamAt(data, takenAt, len(taken))) {
				t.Fatalf("taken range changed while the reader went on filling")
			}
			r.Recycle()
			if held := pool.InUse(alloc); held != int64(len(taken)) {
				t.Fatalf("after Recycle %d bytes are in use, want the %d taken", held, len(taken))
			}
			pool.FreeMemory(alloc, &m)
			if !pool.Balanced(alloc) {
				t.Fatalf("allocator unbalanced: %d bytes in use", pool.InUse(alloc))
			}
		})
	}
}
