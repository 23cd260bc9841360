package rtpaac

import (
	"testing"

	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

func FuzzDepacketize(f *testing.F) {
	for _, pkts := range seeds() {
		f.Add(rtptest.EncodeRecords(pkts))
	}
	rtptest.FuzzPush(f, newDep(), func(t *testing.T) func(*rtp.AccessUnit) {
		var prev rtp.AccessUnit
		first := true
		return func(au *rtp.AccessUnit) {
			if au.DTS != au.PTS || (!first && au.PTS < prev.PTS) || len(au.Units) != 1 || au.Units[0].Len != au.Payload.Size {
				t.Fatalf("bad AU %+v after pts %v", au, prev.PTS)
			}
			first, prev.PTS = false, au.PTS
		}
	})
}
