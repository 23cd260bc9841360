package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

func FuzzDepacketize(f *testing.F) {
	for _, pkts := range seeds() {
		f.Add(rtptest.EncodeRecords(pkts))
	}
	f.Add(rtptest.EncodeRecords(rtptest.Packetize(f, NewPacketizer(96, 1, 90000, 200), testFrames())))
	rtptest.FuzzPush(f, newDep(), rtptest.VideoChecker)
}
