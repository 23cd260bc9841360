package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

func pattern(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = typ << 1
	if n > 1 {
		b[1] = 1
	}
	for i := 2; i < n; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func testFrames() []*host.Frame {
	return []*host.Frame{
		frame(0, sps, pps, pattern(19, 5000)),
		frame(40e6, pattern(1, 300)),
		frame(80e6, pattern(1, 2), pattern(1, 287), pattern(1, 288), pattern(1, 289)),
		frame(120e6, pattern(39, 20), pattern(1, 2000)),
	}
}

func TestRoundTrip(t *testing.T) {
	rtptest.RoundTrip(t, NewPacketizer(96, 0x1234, 90000, 300), 300, newDep(WithReorderDepth(0)), testFrames())
}

// TestPacketizeViews: every payload piece send gets is a view of the
// frame's own buffers, never a copy; only the first piece (the headers) is
// the packetizer's.
func TestPacketizeViews(t *testing.T) {
	rtptest.PacketizeViews(t, func() rtp.Packetizer { return NewPacketizer(96, 1, 90000, 200) }, testFrames())
}

func TestPacketizeBadUnit(t *testing.T) {
	f := frame(0, idr)
	f.Units[0].Len = 100
	if err := NewPacketizer(96, 1, 90000, 1400).Packetize(f, func([][]byte) error { return nil }); err == nil {
		t.Fatal("unit past the payload accepted")
	}
}
