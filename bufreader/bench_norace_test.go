//go:build !race

package bufreader_test

import (
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
)

// TestFairOursZeroAlloc guards the fair suite's headline claim: once warm,
// ours allocates nothing per op in any scenario. It is excluded under -race
// because the race runtime allocates on its own behalf.
func TestFairOursZeroAlloc(t *testing.T) {
	f := fairData()
	for _, c := range fairCases(f) {
		t.Run(c.name, func(t *testing.T) {
			r := bufreader.New(newFairConn(c.data, f.chunks, 1), bufreader.Options{BlockSize: fairBlockSize})
			defer r.Recycle()
			op := func() {
				if _, err := c.ours(r); err != nil {
					t.Fatal(err)
				}
			}
			for range 1000 { // warm up: first blocks and allocator nodes
				op()
			}
			if a := testing.AllocsPerRun(20000, op); a != 0 {
				t.Errorf("%v allocs/op in steady state, want 0", a)
			}
		})
	}
}
