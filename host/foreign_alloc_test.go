//go:build !race

package host

import (
	"math/rand/v2"
	"testing"

	"github.com/zcingest/zerocopy/pool"
)

// A ring of frames holding varying numbers of holders, as an SRT stream's
// (audio frames hold one packet, P-frames a few, one frame in 30 a
// keyframe's dozens), recycles holder slices through the pool's size
// classes: once warm, a frame that carries a keyframe for the first time
// takes a recycled slice instead of growing its own by doubling.
func TestHoldSteadyStateAllocs(t *testing.T) {
	a := pool.NewAllocator(1 << 16)
	p := NewFramePool(a)
	var h countingHolder
	rng := rand.New(rand.NewPCG(3, 4))
	const ringFrames = 900 // 12 s of 30 video and 45 audio frames a second
	ring := make([]*Frame, 0, ringFrames)
	next := 0
	step := func() {
		n := 1 + rng.IntN(8)
		if rng.IntN(30) == 0 {
			n = 40 + rng.IntN(80)
		}
		f := p.Get()
		for range n {
			f.Hold(&h)
		}
		if len(ring) < ringFrames {
			ring = append(ring, f)
			return
		}
		p.Discard(ring[next])
		ring[next] = f
		next = (next + 1) % ringFrames
	}
	for range 20000 {
		step()
	}
	const measured = 5000
	allocs := testing.AllocsPerRun(1, func() {
		for range measured {
			step()
		}
	})
	t.Logf("%.0f allocations over %d frames", allocs, measured)
	if allocs/measured > 0.005 {
		t.Fatalf("%.3f allocations per frame once warm", allocs/measured)
	}
	for _, f := range ring {
		p.Discard(f)
	}
	if !pool.Balanced(a) {
		t.Fatal("allocator unbalanced")
	}
}
