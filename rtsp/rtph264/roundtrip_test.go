package rtph264

import (
	"bytes"
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
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

// packetize runs p over frames and returns each packet's bytes joined.
func packetize(t testing.TB, p *Packetizer, frames []*host.Frame) [][]byte {
	var out [][]byte
	for _, f := range frames {
		err := p.Packetize(f, func(pieces [][]byte) error {
			out = append(out, bytes.Join(pieces, nil))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	const mtu = 300
	frames := testFrames()
	p := NewPacketizer(96, 0x1234, 90000, mtu)
	p.SetInitial(65530, 0xfffff000) // sequence and timestamp wrap inside the run
	pkts := packetize(t, p, frames)
	if p.NextSequence() != uint16(65530+len(pkts)) {
		t.Fatalf("sequence %d after %d packets", p.NextSequence(), len(pkts))
	}
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := NewDepacketizer(a, 90000, WithReorderDepth(0))
	col := &collector{t: t, a: a}
	var lastTS uint32
	for i, b := range pkts {
		if len(b) > mtu {
			t.Fatalf("packet %d is %d bytes", i, len(b))
		}
		h, _, _, err := rtp.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.SSRC != 0x1234 || h.PayloadType != 96 {
			t.Fatalf("header %+v", h)
		}
		if i > 0 && h.Timestamp != lastTS && !lastMarker(pkts[i-1]) {
			t.Fatalf("packet %d: timestamp changed without a marker", i)
		}
		lastTS = h.Timestamp
		if err := col.push(d, b); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("not balanced: %d", pool.InUse(a))
	}
	if len(col.aus) != len(frames) {
		t.Fatalf("%d AUs for %d frames", len(col.aus), len(frames))
	}
	for i, f := range frames {
		var want [][]byte
		for _, u := range f.Units {
			want = append(want, codec.AppendSpanBytes(nil, &f.Payload, u))
		}
		if !equalUnits(col.aus[i].units, want) {
			t.Fatalf("frame %d units differ", i)
		}
		if col.aus[i].pts != int64(f.PTS) || col.aus[i].key != (i == 0) {
			t.Fatalf("frame %d: pts %d key %v", i, col.aus[i].pts, col.aus[i].key)
		}
	}
	if s := d.Stats(); s.HeaderBytes == 0 || s.Dropped+s.Skipped+s.Malformed+s.Lost != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func lastMarker(b []byte) bool { return b[1]&0x80 != 0 }

// TestPacketizeViews: every payload piece send gets is a view of the
// frame's own buffers, never a copy; only the first piece (the headers) is
// the packetizer's.
func TestPacketizeViews(t *testing.T) {
	for _, f := range testFrames() {
		c := &collector{t: t}
		for _, b := range f.Payload.Buffers {
			c.track(b)
		}
		hdr := -1
		err := NewPacketizer(96, 1, 90000, 200).Packetize(f, func(pieces [][]byte) error {
			if hdr == -1 {
				hdr = len(pieces[0])
			}
			if c.inside(pieces[0]) {
				t.Fatal("header piece aliases the frame")
			}
			for _, b := range pieces[1:] {
				if !c.inside(b) {
					t.Fatal("payload piece is not a view of the frame")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
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
