package rtph264

import (
	"bytes"
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

func pattern(typ byte, n int) []byte {
	b := make([]byte, n)
	b[0] = typ
	for i := 1; i < n; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

func testFrames() []*host.Frame {
	return []*host.Frame{
		frame(0, sps, pps, pattern(0x65, 5000)),
		frame(40e6, pattern(0x41, 300)),
		frame(80e6, pattern(0x41, 1), pattern(0x41, 287), pattern(0x41, 288), pattern(0x41, 289)),
		frame(120e6, pattern(0x06, 20), pattern(0x41, 2000)),
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

// TestPacketizeFLV: a FormatFLV frame's Units are views of the NALs inside
// the FLV body (after the 5-byte AVC header and each 4-byte length); only
// those bytes go out.
func TestPacketizeFLV(t *testing.T) {
	nal1, nal2 := pattern(0x65, 700), pattern(0x06, 9)
	body := []byte{0x17, 1, 0, 0, 0}
	body = append(body, 0, 0, 0x02, 0xbc)
	body = append(body, nal1...)
	body = append(body, 0, 0, 0, 9)
	body = append(body, nal2...)
	f := &host.Frame{Kind: host.Video, Codec: codec.H264, Format: host.FormatFLV, Keyframe: true}
	f.Payload.Buffers = [][]byte{body[:100], body[100:]}
	f.Payload.Size = len(body)
	f.Units, _ = codec.SplitAVCC(&f.Payload, 5, 4, nil)
	p := NewPacketizer(96, 1, 90000, 400)
	var got []byte
	n := 0
	err := p.Packetize(f, func(pieces [][]byte) error {
		n++
		b := bytes.Join(pieces, nil)
		if b[12]&0x1f == 28 {
			if b[13]&0x80 != 0 {
				got = append(got, b[12]&0xe0|b[13]&0x1f)
			}
			got = append(got, b[14:]...)
		} else {
			got = append(got, b[12:]...)
		}
		return nil
	})
	if err != nil || n != 3 || !bytes.Equal(got, append(append([]byte{}, nal1...), nal2...)) {
		t.Fatalf("%v %d packets", err, n)
	}
}

func TestPacketizeBadUnit(t *testing.T) {
	f := frame(0, idr)
	f.Units[0].Len = 100
	if err := NewPacketizer(96, 1, 90000, 1400).Packetize(f, func([][]byte) error { return nil }); err == nil {
		t.Fatal("unit past the payload accepted")
	}
}
