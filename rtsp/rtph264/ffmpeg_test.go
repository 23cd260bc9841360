package rtph264

import (
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

// TestBFramesAgainstFFprobe encodes a clip with two B-frames (libx264
// B-pyramid)),
// packetizes its access units with the PTS ffprobe reports, depacketizes
// them and checks the derived DTS (see rtptest.BFramesAgainstFFprobe).
func TestBFramesAgainstFFprobe(t *testing.T) {
	rtptest.BFramesAgainstFFprobe(t, rtptest.FFprobeCase{
		Encoder: []string{"-c:v", "libx264", "-preset", "veryfast"},
		Format:  "h264",
		IsAUD:   func(b byte) bool { return codec.H264Type(b) == codec.H264AUD },
		Frame:   frame,
		Packet:  NewPacketizer(96, 1, 90000, 1200),
		NewDep: func(a *pool.Allocator) rtptest.ReorderDepacketizer {
			d, _ := NewDepacketizer(a, 90000)
			return d
		},
	})
}
