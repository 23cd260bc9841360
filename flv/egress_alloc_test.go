//go:build !race

package flv

import (
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
)

// TestAppendFrameBodyDoesNotAllocate: with per-subscriber scratch and
// pieces reused, framing a frame of each kind allocates nothing.
func TestAppendFrameBodyDoesNotAllocate(t *testing.T) {
	h264 := unitsFrame(codec.H264, true, 0, 80*time.Millisecond, [][]byte{aud264, sps264, pps264, idr264}, 5, 13)
	h265 := unitsFrame(codec.H265, false, 0, 40*time.Millisecond, [][]byte{aud265, trl265, trl265}, 4)
	aac := unitsFrame(codec.AAC, true, 0, 0, [][]byte{{1, 2, 3}}, 1)
	var scratch []byte
	var pieces [][]byte
	allocs := testing.AllocsPerRun(200, func() {
		var err error
		scratch, pieces = scratch[:0], pieces[:0]
		if scratch, pieces, _, err = AppendFrameBody(scratch, pieces, h264); err != nil {
			panic(err)
		}
		if scratch, pieces, _, err = AppendFrameBody(scratch, pieces, h265); err != nil {
			panic(err)
		}
		if scratch, pieces, _, err = AppendFrameBody(scratch, pieces, aac); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendFrameBody allocates %.1f times per run", allocs)
	}
}
