//go:build !race

package transport

import (
	"runtime"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testutil"
)

// TestReceiveAllocs: the steady-state receive path (socket reader ->
// enqueue -> ReadPacket -> Decommission), in the clear and decrypting,
// allocates nothing per packet.
func TestReceiveAllocs(t *testing.T) {
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "aes"
		}
		t.Run(name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			rig := newRecvRig(t, enc)
			rig.round(t) // grow the pool and warm every path
			i := 0
			allocs := testing.AllocsPerRun(3000, func() {
				rig.round(t)
				if i++; i%100 == 0 {
					// Let the 10 ms timer fire: full ACKs are part
					// of the steady state.
					time.Sleep(ackInterval + time.Millisecond)
				}
			})
			if allocs != 0 {
				t.Errorf("%.2f allocations per packet, want 0", allocs)
			}
			rig.close(t)
			testutil.WaitGoroutines(t, base)
		})
	}
}
