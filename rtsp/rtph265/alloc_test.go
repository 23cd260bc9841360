// The race detector and the zcdebug ledger both allocate on their own, so
// allocation counts are only meaningful without them.
//go:build !race && !zcdebug

package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

func TestSteadyStateAllocatesNothing(t *testing.T) {
	rtptest.VideoSteadyState(t, NewPacketizer(96, 1, 90000, 300), newDep(), testFrames(), 160e6)
}
