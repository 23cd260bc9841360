//go:build !race && !zcdebug

package hub_test

import (
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// TestPublishSteadyStateAllocs: once a stream's ring is full, publishing a
// frame (with the evictions every bound causes and a subscriber reading
// it) allocates nothing: the frame pool grew in batches while the ring
// filled and its frames now circulate.
func TestPublishSteadyStateAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts hub.Options
	}{
		{"duration", hub.Options{RingDuration: 2 * time.Second}},
		{"bytes", hub.Options{RingBytes: 200 << 10}},
		{"frames", hub.Options{RingSize: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, tc.opts)
			p := publishSynth(t, h, "live/alloc", 1)
			sub, err := h.Subscribe("live/alloc")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			ctx := poll()
			var dts time.Duration
			step := func() {
				key := dts%time.Second == 0
				if err := p.frame(host.Video, dts, key, 2000); err != nil {
					t.Fatal(err)
				}
				dts += 20 * time.Millisecond
				for {
					f, err := sub.Next(ctx)
					if err != nil {
						break
					}
					f.Release()
				}
			}
			for range 1000 { // fill the ring and the pool
				step()
			}
			if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
				t.Fatalf("%v allocations per published frame", allocs)
			}
			if !p.close(nil) {
				t.Fatal("allocator not free")
			}
		})
	}
}
