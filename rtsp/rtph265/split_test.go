package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

// TestPushPartsEverySplit: every table case, with every packet split at
// every offset into two ranges, yields exactly the access units, times and
// counters of the whole packets, every payload byte inside a pushed range
// (no copy), and the allocator balanced.
func TestPushPartsEverySplit(t *testing.T) {
	for _, c := range depCases() {
		t.Run(c.name, func(t *testing.T) { rtptest.EverySplit(t, newDep(WithReorderDepth(0)), rtptest.Packets(c.pkts)) })
	}
}

// FuzzDepacketizeSplit is FuzzDepacketize with every packet pushed in two
// ranges Malloc'd apart (see rtptest.FuzzSplit).
func FuzzDepacketizeSplit(f *testing.F) { rtptest.FuzzSplit(f, newDep(), seeds()) }
