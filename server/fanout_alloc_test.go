//go:build !race && !zcdebug

package server_test

import (
	"runtime"
	"testing"
)

// TestFanoutSteadyStateAllocs: once warmed up, delivering a frame to an
// HTTP-FLV player allocates nothing: the whole process (publisher, hub,
// sessions and the players' reads) stays at or below 0.05 allocations per
// frame per player. (The race detector allocates on its own, hence !race.)
func TestFanoutSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const subs, frames = 10, 10 * 138
	f := newFanout(t, subs, 512)
	for range 4 * 512 { // warm up: fill the ring, grow every reused buffer and the allocators' free lists
		f.publishFrame()
	}
	f.drain()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range frames {
		f.publishFrame()
	}
	f.drain()
	runtime.ReadMemStats(&m1)
	f.close()
	per := float64(m1.Mallocs-m0.Mallocs) / (frames * subs)
	t.Logf("%d allocations over %d frames x %d players: %.4f per frame per player", m1.Mallocs-m0.Mallocs, frames, subs, per)
	if per > 0.05 {
		t.Fatalf("%.4f allocations per frame per player, want <= 0.05", per)
	}
}
