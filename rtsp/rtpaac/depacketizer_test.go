package rtpaac

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// hbr builds an AAC-hbr payload: the AU header section for sizes, then data.
func hbr(sizes []int, data ...[]byte) []byte {
	b := []byte{byte(len(sizes) * 16 >> 8), byte(len(sizes) * 16)}
	for _, s := range sizes {
		b = append(b, byte(s>>5), byte(s<<3))
	}
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

func au(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

var a1, a2, a3, big = au(10, 1), au(20, 50), au(7, 100), au(300, 7)

type depCase struct {
	name    string
	pkts    []pk
	want    [][]byte
	pts     []int64 // in samples
	dropped int64
	bad     int64
}

func depCases() []depCase {
	return []depCase{
		{name: "one AU", pkts: []pk{{1, 0, true, hbr([]int{10}, a1)}}, want: [][]byte{a1}, pts: []int64{0}},
		{name: "three AUs in a packet", pkts: []pk{{1, 1000, true, hbr([]int{10, 20, 7}, a1, a2, a3)}, {2, 1000 + 3*1024, true, hbr([]int{10}, a1)}},
			want: [][]byte{a1, a2, a3, a1}, pts: []int64{0, 1024, 2048, 3072}},
		{name: "fragmented AU", pkts: []pk{{1, 0, false, hbr([]int{300}, big[:100])}, {2, 0, false, hbr([]int{300}, big[100:250])}, {3, 0, true, hbr([]int{300}, big[250:])}, {4, 1024, true, hbr([]int{10}, a1)}},
			want: [][]byte{big, a1}, pts: []int64{0, 1024}},
		{name: "gap inside a fragmented AU drops only it", pkts: []pk{{1, 0, false, hbr([]int{300}, big[:100])}, {3, 0, true, hbr([]int{300}, big[250:])}, {4, 1024, true, hbr([]int{10}, a1)}},
			want: [][]byte{a1}, pts: []int64{1024}, dropped: 2},
		{name: "fragment chain broken by a new AU", pkts: []pk{{1, 0, false, hbr([]int{300}, big[:100])}, {2, 1024, true, hbr([]int{10}, a1)}},
			want: [][]byte{a1}, pts: []int64{1024}, dropped: 1},
		{name: "fragments exceed the AU size", pkts: []pk{{1, 0, false, hbr([]int{120}, big[:100])}, {2, 0, true, hbr([]int{120}, big[:100])}, {3, 1024, true, hbr([]int{10}, a1)}},
			want: [][]byte{a1}, pts: []int64{1024}, dropped: 1, bad: 1},
		{name: "timestamp wrap", pkts: []pk{{1, 0xffffffff - 1023, true, hbr([]int{10}, a1)}, {2, 0, true, hbr([]int{10, 20}, a1, a2)}},
			want: [][]byte{a1, a1, a2}, pts: []int64{0, 1024, 2048}},
		{name: "padding freed", pkts: []pk{{1, 0, true, append(hbr([]int{10}, a1), 9, 9)}}, want: [][]byte{a1}, pts: []int64{0}},
		{name: "backward time dropped", pkts: []pk{{1, 5000, true, hbr([]int{10}, a1)}, {2, 4000, true, hbr([]int{10}, a2)}}, want: [][]byte{a1}, pts: []int64{0}, dropped: 1},
		{name: "header section past the end", pkts: []pk{{1, 0, true, []byte{0, 64, 1, 2}}}, bad: 1},
		{name: "AU sizes past the data", pkts: []pk{{1, 0, true, hbr([]int{10, 20}, a1)}}, bad: 1},
		{name: "no AU header", pkts: []pk{{1, 0, true, []byte{0, 0, 1}}}, bad: 1},
		{name: "short payload", pkts: []pk{{1, 0, true, []byte{0}}}, bad: 1},
		{name: "interleaved index", pkts: []pk{{1, 0, true, []byte{0, 16, 0, 0x51, 1, 2}}}, bad: 1},
		{name: "ragged header bits", pkts: []pk{{1, 0, true, []byte{0, 17, 0, 0x50, 0, 1, 2}}}, bad: 1},
	}
}

func TestDepacketize(t *testing.T) {
	for _, c := range depCases() {
		t.Run(c.name, func(t *testing.T) {
			a := pool.NewAllocator(1 << 16)
			defer pool.Recycle(a)
			d, err := NewDepacketizer(a, 48000)
			if err != nil {
				t.Fatal(err)
			}
			col := &rtptest.Collector{T: t, A: a}
			var bad int64
			for _, p := range c.pkts {
				if err := col.Push(d, p.bytes()); err != nil {
					if !errors.Is(err, rtp.ErrMalformed) {
						t.Fatal(err)
					}
					bad++
				}
			}
			d.Close()
			if !pool.Balanced(a) {
				t.Fatalf("not balanced: %d", pool.InUse(a))
			}
			if len(col.AUs) != len(c.want) {
				t.Fatalf("%d AUs, want %d", len(col.AUs), len(c.want))
			}
			for i, g := range col.AUs {
				if len(g.Units) != 1 || !bytes.Equal(g.Units[0], c.want[i]) || !g.Key {
					t.Fatalf("AU %d: %x", i, g.Units)
				}
				if want := int64(rtp.TicksToDuration(c.pts[i], 48000)); g.PTS != want || g.DTS != want {
					t.Fatalf("AU %d: pts %v dts %v want %v", i, time.Duration(g.PTS), time.Duration(g.DTS), time.Duration(want))
				}
			}
			s := d.Stats()
			if s.Dropped != c.dropped || s.Malformed != c.bad || bad != c.bad {
				t.Fatalf("stats %+v errors %d", s, bad)
			}
		})
	}
}

func TestLBR(t *testing.T) {
	a := pool.NewAllocator(1 << 12)
	defer pool.Recycle(a)
	d, err := NewDepacketizer(a, 8000, WithAUHeader(6, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	col := &rtptest.Collector{T: t, A: a}
	// two 8-bit AU headers: sizes 10 and 7
	if err := col.Push(d, pk{1, 0, true, append([]byte{0, 16, 10 << 2, 7 << 2}, append(append([]byte{}, a1...), a3...)...)}.bytes()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if len(col.AUs) != 2 || !bytes.Equal(col.AUs[1].Units[0], a3) || !pool.Balanced(a) {
		t.Fatalf("%+v", col.AUs)
	}
	for _, o := range []Option{WithAUHeader(0, 3, 3), WithAUHeader(13, 9, 3), WithSamplesPerAU(0)} {
		if _, err := NewDepacketizer(a, 8000, o); err == nil {
			t.Fatal("bad option accepted")
		}
	}
	if _, err := NewDepacketizer(a, 0); err == nil {
		t.Fatal("rate 0 accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	frames := []*host.Frame{frame(0, a1), frame(int64(rtp.TicksToDuration(1024, 44100)), au(1500, 3)), frame(int64(rtp.TicksToDuration(2048, 44100)), a2)}
	p := NewPacketizer(97, 9, 44100, 400)
	p.SetInitial(65535, 0xffffff00)
	var pkts [][]byte
	for _, f := range frames {
		if err := p.Packetize(f, func(pieces [][]byte) error {
			pkts = append(pkts, bytes.Join(pieces, nil))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(pkts) != 1+4+1 {
		t.Fatalf("%d packets", len(pkts))
	}
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := NewDepacketizer(a, 44100)
	col := &rtptest.Collector{T: t, A: a}
	for _, b := range pkts {
		if len(b) > 400 {
			t.Fatalf("packet of %d bytes", len(b))
		}
		if err := col.Push(d, b); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if !pool.Balanced(a) || len(col.AUs) != 3 {
		t.Fatalf("balanced %v, %d AUs", pool.Balanced(a), len(col.AUs))
	}
	for i, f := range frames {
		if !bytes.Equal(col.AUs[i].Units[0], codec.AppendSpanBytes(nil, &f.Payload, f.Units[0])) || col.AUs[i].PTS != int64(f.PTS) {
			t.Fatalf("AU %d differs (pts %d want %d)", i, col.AUs[i].PTS, f.PTS)
		}
	}
	big := frame(0, au(maxAUSize+1, 0))
	if err := p.Packetize(big, func([][]byte) error { return nil }); err == nil {
		t.Fatal("AU over 13 bits accepted")
	}
}
