package rtph265

import (
	"testing"

	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
)

var (
	idr    = []byte{0x26, 0x01, 0xaf, 1, 2, 3} // IDR_W_RADL
	nonIDR = []byte{0x02, 0x01, 0xd0, 5, 6}    // TRAIL_R
	// sps is libx265's for 160x120 4:4:4 with -bf 2 (sps_max_num_reorder_pics 2)
	sps = []byte{0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00, 0x00, 0x03, 0x00, 0x00, 0x1e, 0x90, 0x02, 0x84, 0x0f, 0x2c, 0xb2, 0xb2, 0x49, 0x26, 0x57, 0x80, 0xb7, 0x02, 0x02, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0x64, 0x20}
	pps = []byte{0x44, 0x01, 0xc1, 0x72, 0x86, 0x0c, 0x46, 0x24}
)

func stapA(nals ...[]byte) []byte {
	b := []byte{0x60, 0x01} // AP
	for _, n := range nals {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// fuA splits nal into FU payloads of at most n fragment bytes.
func fuA(nal []byte, n int) [][]byte {
	var out [][]byte
	rest := nal[2:]
	for first := true; len(rest) > 0; first = false {
		k := min(n, len(rest))
		fu := nal[0] >> 1 & 0x3f
		if first {
			fu |= 0x80
		}
		if k == len(rest) {
			fu |= 0x40
		}
		out = append(out, append([]byte{nal[0]&0x81 | 49<<1, nal[1], fu}, rest[:k]...))
		rest = rest[k:]
	}
	return out
}

var bigIDR = func() []byte {
	b := []byte{0x26, 0x01}
	for i := range 50 {
		b = append(b, byte(i))
	}
	return b
}()

type depCase struct {
	name    string
	pkts    []pk
	want    [][][]byte // units per emitted AU
	keys    []bool
	dropped int64
	skipped int64
	bad     int64 // malformed
	lost    int64
}

func depCases() []depCase {
	f := fuA(bigIDR, 20) // 3 fragments
	g := fuA(append([]byte{0x02, 0x01}, bigIDR[2:]...), 20)
	return []depCase{
		{name: "single NAL with marker", pkts: []pk{{1, 0, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}},
		{name: "STAP-A then slice", pkts: []pk{{1, 0, false, stapA(sps, pps)}, {2, 0, true, idr}}, want: [][][]byte{{sps, pps, idr}}, keys: []bool{true}},
		{name: "FU-A", pkts: []pk{{1, 0, false, f[0]}, {2, 0, false, f[1]}, {3, 0, true, f[2]}}, want: [][][]byte{{bigIDR}}, keys: []bool{true}},
		{name: "marker-less boundary by timestamp change", pkts: []pk{{1, 0, false, idr}, {2, 3000, false, nonIDR}, {3, 6000, true, nonIDR}},
			want: [][][]byte{{idr}, {nonIDR}, {nonIDR}}, keys: []bool{true, false, false}},
		{name: "starts at the first keyframe", pkts: []pk{{1, 0, true, nonIDR}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, skipped: 1},
		{name: "FU-A without a start bit", pkts: []pk{{1, 0, true, idr}, {2, 3000, false, g[1]}, {3, 3000, true, g[2]}, {4, 6000, true, nonIDR}, {5, 9000, true, idr}},
			want: [][][]byte{{idr}, {idr}}, keys: []bool{true, true}, dropped: 1, skipped: 1},
		{name: "FU end without a start", pkts: []pk{{1, 0, true, idr}, {2, 3000, true, g[2]}, {3, 6000, true, idr}},
			want: [][][]byte{{idr}, {idr}}, keys: []bool{true, true}, dropped: 1},
		{name: "FU start inside an open FU", pkts: []pk{{1, 0, false, f[0]}, {2, 0, false, f[0]}, {3, 0, true, f[2]}, {4, 3000, true, idr}},
			want: [][][]byte{{idr}}, keys: []bool{true}, dropped: 1},
		{name: "marker inside an FU", pkts: []pk{{1, 0, false, f[0]}, {2, 0, true, f[1]}, {3, 3000, true, idr}},
			want: [][][]byte{{idr}}, keys: []bool{true}, dropped: 1},
		{name: "sequence gap inside a NAL drops the AU and resumes at the next keyframe",
			pkts: []pk{{1, 0, true, idr}, {2, 3000, false, g[0]}, {4, 3000, true, g[2]}, {5, 6000, true, nonIDR}, {6, 9000, false, stapA(sps, pps)}, {7, 9000, true, idr}, {8, 12000, true, nonIDR}},
			want: [][][]byte{{idr}, {sps, pps, idr}, {nonIDR}}, keys: []bool{true, true, false}, dropped: 1, skipped: 1, lost: 1},
		{name: "gap between AUs taints the next timestamp", pkts: []pk{{1, 0, true, idr}, {3, 3000, true, nonIDR}, {4, 6000, true, idr}},
			want: [][][]byte{{idr}, {idr}}, keys: []bool{true, true}, dropped: 1, lost: 1},
		{name: "reordered packet is dropped late", pkts: []pk{{1, 0, true, idr}, {3, 3000, true, idr}, {2, 1500, true, nonIDR}, {4, 6000, true, nonIDR}, {5, 9000, true, idr}},
			want: [][][]byte{{idr}, {idr}}, keys: []bool{true, true}, dropped: 1, skipped: 1},
		{name: "duplicate", pkts: []pk{{1, 0, true, idr}, {1, 0, true, idr}, {2, 3000, true, nonIDR}},
			want: [][][]byte{{idr}, {nonIDR}}, keys: []bool{true, false}},
		{name: "PACI rejected", pkts: []pk{{1, 0, true, []byte{0x64, 0x01, 0, 0, 1, 0x65}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "type 63 rejected", pkts: []pk{{1, 0, true, []byte{0x7e, 0x01, 0}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "one-byte payload", pkts: []pk{{1, 0, true, []byte{0x26}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "AP size past the end", pkts: []pk{{1, 0, true, []byte{0x60, 0x01, 0, 9, 0x26, 1}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "AP one-byte NAL", pkts: []pk{{1, 0, true, []byte{0x60, 0x01, 0, 1, 0x26}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "FU too short", pkts: []pk{{1, 0, true, []byte{0x62, 0x01, 0x93}}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1, dropped: 1},
		{name: "CRA is a keyframe", pkts: []pk{{1, 0, true, []byte{0x2a, 0x01, 0xaf, 9}}}, want: [][][]byte{{{0x2a, 0x01, 0xaf, 9}}}, keys: []bool{true}},
		{name: "empty payload", pkts: []pk{{1, 0, true, nil}, {2, 3000, true, idr}}, want: [][][]byte{{idr}}, keys: []bool{true}, bad: 1},
		{name: "timestamp wrap", pkts: []pk{{1, 0xffffffff - 1499, true, idr}, {2, 1500, true, nonIDR}}, want: [][][]byte{{idr}, {nonIDR}}, keys: []bool{true, false}},
	}
}

func TestDepacketize(t *testing.T) {
	for _, c := range depCases() {
		t.Run(c.name, func(t *testing.T) {
			rtptest.CheckVideo(t, newDep(WithReorderDepth(0)), rtptest.VideoCase{Pkts: rtptest.Packets(c.pkts), Want: c.want, Keys: c.keys,
				Dropped: c.dropped, Skipped: c.skipped, Bad: c.bad, Lost: c.lost})
		})
	}
}

func TestTimestampWrapPTS(t *testing.T) {
	rtptest.TimestampWrapPTS(t, newDep(WithReorderDepth(0)), idr)
}

func TestAccessUnitLimit(t *testing.T) {
	rtptest.AccessUnitLimit(t, newDep(), []byte{0x62, 0x01, 0x93}, []byte{0x62, 0x01, 0x13})
}

func TestEmitErrorReturned(t *testing.T) { rtptest.EmitErrorReturned(t, newDep(), idr) }

func TestOptions(t *testing.T) {
	a := pool.NewAllocator(1 << 12)
	defer pool.Recycle(a)
	if _, err := NewDepacketizer(a, 90000, WithMaxDONDiff(1)); err == nil {
		t.Fatal("DONL accepted")
	}
	if _, err := NewDepacketizer(a, 90000, WithMaxDONDiff(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDepacketizer(a, 0); err == nil {
		t.Fatal("clock rate 0 accepted")
	}
	d, err := NewDepacketizer(a, 90000, WithSPS(sps))
	if err != nil || d.ReorderDepth() != 2 {
		t.Fatalf("x265 SPS: %v depth %d", err, d.ReorderDepth())
	}
	if _, err := NewDepacketizer(a, 90000, WithSPS([]byte{0x42, 1})); err == nil {
		t.Fatal("bad SPS accepted")
	}
}
