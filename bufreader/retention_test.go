package bufreader

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
	"weak"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// randomChunks cuts each read of r to a random length, so fills end at
// arbitrary offsets.
type randomChunks struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *randomChunks) Read(p []byte) (int, error) {
	return c.r.Read(p[:1+c.rng.IntN(len(p))])
}

// randomStream returns n random bytes with a newline about every 150 bytes.
func randomStream(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
		if rng.IntN(150) == 0 {
			b[i] = '\n'
		}
	}
	return b
}

// TestTakenRangesSurviveLaterReads keeps about 100 taken ranges alive while
// 10,000 further mixed reads go through the reader: no fill, seal, free or
// recycle may touch them. With -tags zcdebug freed bytes are poisoned and a
// double free panics, so a violation cannot hide.
func TestTakenRangesSurviveLaterReads(t *testing.T) {
	for _, bs := range []int{MinBlockSize, 1001} {
		rng := rand.New(rand.NewPCG(7, uint64(bs)))
		data := randomStream(rng, 1<<20)
		// The stream replays data forever, so the byte at stream offset p
		// is data[p%len(data)].
		at := func(p, n int) []byte {
			out := make([]byte, n)
			for i := range out {
				out[i] = data[(p+i)%len(data)]
			}
			return out
		}
		// intact reports whether m still holds the stream bytes from p on,
		// comparing block by block without copying.
		intact := func(m gomem.Memory, p int) bool {
			for _, b := range m.Buffers {
				for len(b) > 0 {
					k := p % len(data)
					n := min(len(b), len(data)-k)
					if !bytes.Equal(b[:n], data[k:k+n]) {
						return false
					}
					b, p = b[n:], p+n
				}
			}
			return true
		}
		alloc := pool.NewAllocator(64 << 10)
		r := New(&randomChunks{&cyclicReader{data: data}, rng}, Options{Allocator: alloc, BlockSize: bs})

		type keptRange struct {
			mem gomem.Memory
			off int // stream offset of its first byte
		}
		var kept []keptRange
		verify := func(when int) {
			t.Helper()
			for _, k := range kept {
				if !intact(k.mem, k.off) {
					t.Fatalf("bs=%d after %d reads: range taken at %d (%d bytes) changed", bs, when, k.off, k.mem.Size)
				}
			}
		}
		pos := 0
		for i := range 10000 {
			n := 1 + rng.IntN(2000)
			switch rng.IntN(8) {
			case 0, 1:
				var m gomem.Memory
				var err error
				if rng.IntN(2) == 0 {
					err = r.TakeInto(&m, n)
				} else {
					m, err = r.Take(n)
				}
				if err != nil {
					t.Fatal(err)
				}
				kept = append(kept, keptRange{m, pos})
				pos += n
				if len(kept) > 100 {
					// Free a random one, so frees interleave with reads.
					j := rng.IntN(len(kept))
					pool.FreeMemory(alloc, &kept[j].mem)
					kept[j] = kept[len(kept)-1]
					kept = kept[:len(kept)-1]
				}
			case 2:
				var got []byte
				if err := r.ReadRange(n, func(b []byte) { got = append(got, b...) }); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, at(pos, n)) {
					t.Fatalf("ReadRange at %d returned wrong bytes", pos)
				}
				pos += n
			case 3:
				c, err := r.ReadByte()
				if err != nil || c != data[pos%len(data)] {
					t.Fatalf("ReadByte at %d = %#x, %v", pos, c, err)
				}
				pos++
			case 4:
				w := 1 + rng.IntN(8)
				v, err := r.ReadBE(w)
				if err != nil || v != be(string(at(pos, w))) {
					t.Fatalf("ReadBE(%d) at %d = %#x, %v", w, pos, v, err)
				}
				pos += w
			case 5:
				p, err := r.Peek(n)
				if err != nil || !bytes.Equal(p, at(pos, n)) {
					t.Fatalf("Peek(%d) at %d: %v", n, pos, err)
				}
			case 6:
				d, err := r.Discard(n)
				if err != nil || d != n {
					t.Fatalf("Discard(%d) = %d, %v", n, d, err)
				}
				pos += n
			case 7:
				line, err := r.ReadLine()
				if err != nil {
					t.Fatal(err)
				}
				raw := at(pos, len(line)+2)
				want := raw[:len(line)]
				if raw[len(line)] == '\n' {
					pos += len(line) + 1
				} else if raw[len(line)] == '\r' && raw[len(line)+1] == '\n' {
					pos += len(line) + 2
				} else {
					t.Fatalf("ReadLine at %d returned %d bytes not followed by a line end", pos, len(line))
				}
				if !bytes.Equal(line, want) {
					t.Fatalf("ReadLine at %d returned wrong bytes", pos)
				}
			}
			if i%100 == 0 {
				verify(i)
			}
		}
		verify(10000)
		r.Recycle()
		verify(10000) // Recycle must not touch them either
		for i := range kept {
			pool.FreeMemory(alloc, &kept[i].mem)
		}
		if !pool.Balanced(alloc) {
			t.Fatalf("bs=%d: %d bytes leaked", bs, pool.InUse(alloc))
		}
		pool.Recycle(alloc)
	}
}

// TestAllocatorBalances checks that after Recycle and after every taken
// range is freed, the allocator balances, with a caller-supplied allocator
// and with one the reader created (which Recycle recycles, or abandons when
// taken ranges are outstanding).
func TestAllocatorBalances(t *testing.T) {
	data := []byte(pattern(20000))
	for _, callerAlloc := range []bool{true, false} {
		for _, freeBeforeRecycle := range []bool{true, false} {
			var opts Options
			if callerAlloc {
				opts.Allocator = pool.NewAllocator(16 << 10)
			}
			opts.BlockSize = 1000
			r := New(iotest.HalfReader(bytes.NewReader(data)), opts)
			a := r.Allocator()
			var taken []gomem.Memory
			var into gomem.Memory
			for i := 0; ; i++ {
				var err error
				switch i % 5 {
				case 0:
					var m gomem.Memory
					m, err = r.Take(1 + i*37%1500)
					taken = append(taken, m)
				case 1:
					err = r.TakeInto(&into, 1+i*53%700)
				case 2:
					_, err = r.ReadBE(1 + i%8)
				case 3:
					_, err = r.Peek(1 + i*11%900)
				case 4:
					err = r.ReadRange(1+i*7%400, func([]byte) {})
				}
				if err != nil {
					break
				}
			}
			if freeBeforeRecycle {
				for i := range taken {
					pool.FreeMemory(a, &taken[i])
				}
				pool.FreeMemory(a, &into)
			}
			r.Recycle()
			for i := range taken {
				pool.FreeMemory(a, &taken[i])
			}
			pool.FreeMemory(a, &into)
			if !pool.Balanced(a) || pool.InUse(a) != 0 || a.GetTotalMalloc() == 0 {
				t.Errorf("caller allocator %v, freed before Recycle %v: malloc %d, free %d, in use %d",
					callerAlloc, freeBeforeRecycle, a.GetTotalMalloc(), a.GetTotalFree(), pool.InUse(a))
			}
			// Only a reader-made allocator with ranges outstanding at
			// Recycle is abandoned: the frees after it are counted but give
			// nothing back to gomem.
			abandoned := !callerAlloc && !freeBeforeRecycle
			if gomemBalanced := a.GetTotalMalloc() == a.GetTotalFree(); gomemBalanced == abandoned {
				t.Errorf("caller allocator %v, freed before Recycle %v: gomem malloc %d, free %d",
					callerAlloc, freeBeforeRecycle, a.GetTotalMalloc(), a.GetTotalFree())
			}
			if !callerAlloc && freeBeforeRecycle && len(a.GetChildren()) != 0 {
				t.Errorf("the reader did not recycle its own allocator although nothing was outstanding")
			}
			if callerAlloc {
				pool.Recycle(a)
			}
		}
	}
}

// TestRecycleLeavesOwnAllocatorToTheGC checks what Recycle's doc promises
// for a reader-made allocator with a taken range outstanding: the range
// stays intact after Recycle, freeing it is harmless, and once it is
// dropped the garbage collector reclaims the allocator and its memory.
func TestRecycleLeavesOwnAllocatorToTheGC(t *testing.T) {
	data := []byte(pattern(5000))
	r := New(bytes.NewReader(data), Options{BlockSize: 1024})
	m, err := r.Take(3000)
	if err != nil {
		t.Fatal(err)
	}
	a := r.Allocator()
	wa, wMem := weak.Make(a), weak.Make(&m.Buffers[0][0])
	r.Recycle()
	r = nil
	runtime.GC()
	if got := m.ToBytes(); !bytes.Equal(got, data[:3000]) {
		t.Fatalf("taken range changed after Recycle: %s", short(got))
	}
	pool.FreeMemory(a, &m)
	a = nil
	for i := 0; i < 20 && (wa.Value() != nil || wMem.Value() != nil); i++ {
		runtime.GC()
	}
	if wa.Value() != nil || wMem.Value() != nil {
		t.Fatalf("after Recycle and dropping the taken range: allocator collected %v, memory collected %v",
			wa.Value() == nil, wMem.Value() == nil)
	}
}
