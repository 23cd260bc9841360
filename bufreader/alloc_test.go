// The race detector and the zcdebug ledger both allocate on their own, so
// allocation counts are only meaningful without them.
//go:build !race && !zcdebug

package bufreader

import (
	"strings"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// TestSteadyStateAllocatesNothing guards the zero-allocation hot paths: once
// warmed up, views, takes (freed again), integer reads, peeks and lines must
// not allocate, fills and block recycling included.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	binary := []byte(pattern(10007)) // not a multiple of any block size
	lines := []byte(strings.Repeat(text(0, 90)+"\r\n"+text(1, 300)+"\n"+text(2, 7)+"\r\n", 20))
	var sink uint64
	count := func(b []byte) { sink += uint64(len(b)) }
	var m gomem.Memory
	m.Buffers = make([][]byte, 0, 8)

	cases := []struct {
		name string
		data []byte
		run  func(r *Reader) error
	}{
		{"ReadRange", binary, func(r *Reader) error { return r.ReadRange(1300, count) }},
		{"TakeInto and FreeMemory", binary, func(r *Reader) error {
			err := r.TakeInto(&m, 2500)
			pool.FreeMemory(r.Allocator(), &m)
			return err
		}},
		{"ReadByte ReadBE ReadLE", binary, func(r *Reader) error {
			c, err := r.ReadByte()
			sink += uint64(c)
			for w := 1; w <= 8 && err == nil; w++ {
				var v uint64
				if v, err = r.ReadBE(w); err == nil {
					v, err = r.ReadLE(w)
				}
				sink += v
			}
			return err
		}},
		{"Peek", binary, func(r *Reader) error {
			p, err := r.Peek(600) // straddles blocks regularly
			sink += uint64(len(p))
			if err == nil {
				_, err = r.Discard(457)
			}
			return err
		}},
		{"ReadLine", lines, func(r *Reader) error {
			line, err := r.ReadLine()
			sink += uint64(len(line))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := pool.NewAllocator(256 << 10)
			defer pool.Recycle(alloc)
			r := New(&cyclicReader{data: tc.data}, Options{Allocator: alloc, BlockSize: 4096})
			defer r.Recycle()
			// Warm up: grow the block list, the assembly buffer and the
			// allocator's node pool to their steady-state sizes.
			for range 5000 {
				if err := tc.run(r); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			allocs := testing.AllocsPerRun(10000, func() {
				if e := tc.run(r); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per call, want 0", allocs)
			}
		})
	}
	_ = sink
}
