package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

// TestBFramesAgainstFFprobe encodes a clip with two B-frames (libx265)),
// packetizes its access units with the PTS ffprobe reports, depacketizes
// them and checks the derived DTS (see rtptest.BFramesAgainstFFprobe).
func TestBFramesAgainstFFprobe(t *testing.T) {
	rtptest.BFramesAgainstFFprobe(t, rtptest.FFprobeCase{
		Encoder: []string{"-c:v", "libx265", "-preset", "veryfast", "-x265-params", "log-level=none:aud=1"},
		Format:  "hevc",
		IsAUD:   func(b byte) bool { return codec.H265Type(b) == codec.H265AUD },
		Frame:   frame,
		Packet:  NewPacketizer(96, 1, 90000, 1200),
		NewDep: func(a *pool.Allocator) rtptest.ReorderDepacketizer {
			d, _ := NewDepacketizer(a, 90000)
			return d
		},
	})
}
