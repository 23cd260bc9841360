package rtp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func hdr(b1 byte, extra ...byte) []byte {
	return append([]byte{0x80, b1, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef}, extra...)
}

var parseTests = []struct {
	name    string
	pkt     []byte
	ok      bool
	h       Header
	payload []byte
	hdrLen  int
}{
	{"plain", hdr(0xe0, 1, 2, 3), true, Header{true, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{1, 2, 3}, 12},
	{"empty payload", hdr(0x60), true, Header{false, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{}, 12},
	{"csrc", append([]byte{0x82}, hdr(0x60, 0, 0, 0, 1, 0, 0, 0, 2, 9)[1:]...), true, Header{false, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{9}, 20},
	{"extension", append([]byte{0x90}, hdr(0x60, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 7, 8)[1:]...), true, Header{false, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{7, 8}, 20},
	{"padding", append([]byte{0xa0}, hdr(0x60, 5, 6, 0, 0, 3)[1:]...), true, Header{false, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{5, 6}, 12},
	{"padding is the whole payload", append([]byte{0xa0}, hdr(0x60, 0, 2)[1:]...), true, Header{false, 96, 0x1234, 0x1000, 0xdeadbeef}, []byte{}, 12},
	{"short", hdr(0x60)[:11], false, Header{}, nil, 0},
	{"version 1", append([]byte{0x40}, hdr(0x60, 1)[1:]...), false, Header{}, nil, 0},
	{"version 0", append([]byte{0x00}, hdr(0x60, 1)[1:]...), false, Header{}, nil, 0},
	{"padding longer than the payload", append([]byte{0xa0}, hdr(0x60, 1, 2, 4)[1:]...), false, Header{}, nil, 0},
	{"padding into the header", append([]byte{0xa0}, hdr(0x60, 200)[1:]...), false, Header{}, nil, 0},
	{"padding zero", append([]byte{0xa0}, hdr(0x60, 1, 0)[1:]...), false, Header{}, nil, 0},
	{"csrc count past the end", append([]byte{0x8f}, hdr(0x60, 1, 2, 3, 4)[1:]...), false, Header{}, nil, 0},
	{"csrc past the end with padding", append([]byte{0xa1}, hdr(0x60, 0, 0, 0, 4)[1:]...), false, Header{}, nil, 0},
	{"extension header past the end", append([]byte{0x90}, hdr(0x60, 0xbe, 0xde)[1:]...), false, Header{}, nil, 0},
	{"extension length past the end", append([]byte{0x90}, hdr(0x60, 0xbe, 0xde, 0, 2, 1, 2, 3, 4)[1:]...), false, Header{}, nil, 0},
	{"extension length huge", append([]byte{0x90}, hdr(0x60, 0xbe, 0xde, 0xff, 0xff)[1:]...), false, Header{}, nil, 0},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, n, err := Parse(tt.pkt)
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.h || !bytes.Equal(payload, tt.payload) || n != tt.hdrLen {
				t.Fatalf("got %+v %x %d, want %+v %x %d", h, payload, n, tt.h, tt.payload, tt.hdrLen)
			}
			if len(payload) > 0 && &payload[0] != &tt.pkt[n] {
				t.Fatal("payload does not alias the packet")
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	if _, _, _, err := Parse(make([]byte, MaxPacketSize+1)); err == nil {
		t.Fatal("oversized packet accepted")
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	want := Header{Marker: true, PayloadType: 97, SequenceNumber: 65535, Timestamp: 0xfffffff0, SSRC: 7}
	b := AppendHeader(nil, want)
	b = append(b, 1, 2)
	h, p, n, err := Parse(b)
	if err != nil || h != want || n != HeaderSize || !bytes.Equal(p, []byte{1, 2}) {
		t.Fatalf("%+v %x %d %v", h, p, n, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, payload, n, err := Parse(pkt)
		if err != nil {
			return
		}
		if n < HeaderSize || n+len(payload) > len(pkt) {
			t.Fatalf("hdrLen %d payload %d in %d bytes", n, len(payload), len(pkt))
		}
		if len(payload) > 0 && &payload[0] != &pkt[n] {
			t.Fatal("payload does not alias the packet")
		}
		if cap(payload) != len(payload) {
			t.Fatal("payload capacity reaches into the padding")
		}
		b := AppendHeader(nil, h)
		if h2, _, _, err := Parse(b); err != nil || h2 != h {
			t.Fatalf("re-encoded header %+v, %v", h2, err)
		}
	})
}

func TestTicksDuration(t *testing.T) {
	for _, rate := range []int{8000, 44100, 48000, 90000, 1000} {
		for _, ticks := range []int64{0, 1, -1, 89999, 1 << 32, 5<<32 + 12345, -(1 << 33), 1 << 40} {
			d := TicksToDuration(ticks, rate)
			if got := DurationToTicks(d, rate); got != ticks {
				t.Fatalf("rate %d: %d ticks -> %v -> %d", rate, ticks, d, got)
			}
		}
	}
	// no drift: an hour of 90 kHz ticks is exactly an hour
	if d := TicksToDuration(90000*3600, 90000); d != time.Hour {
		t.Fatalf("an hour of ticks is %v", d)
	}
	if d := TicksToDuration(1<<40, 90000); d != time.Duration((1<<40)/90000)*time.Second+time.Duration((1<<40)%90000*int64(time.Second)/90000) {
		t.Fatalf("large tick count %v", d)
	}
}

func TestClockWrap(t *testing.T) {
	c := NewClock(90000)
	start := uint32(0xffffffff - 3000)
	if d := c.Duration(start); d != 0 {
		t.Fatalf("first packet at %v", d)
	}
	if d := c.Duration(start + 3000); d != 3000*time.Second/90000 {
		t.Fatalf("before wrap %v", d)
	}
	if d := c.Duration(start + 6000); d != 6000*time.Second/90000 { // wrapped past 0
		t.Fatalf("after wrap %v", d)
	}
	if d := c.Duration(start + 4500); d != 4500*time.Second/90000 { // reordered, back across the wrap
		t.Fatalf("reordered back %v", d)
	}
	// run 3 wraps forward in 2^30 steps
	ts := start + 4500
	for range 12 {
		ts += 1 << 30
		c.Duration(ts)
	}
	if want := TicksToDuration(4500+12<<30, 90000); c.Peek(ts) != want {
		t.Fatalf("after 3 wraps %v, want %v", c.Peek(ts), want)
	}
}

func TestClockAnchor(t *testing.T) {
	base := 3900000000 * time.Second // some NTP time
	video, audio := NewClock(90000), NewClock(48000)
	// SR before the first packet is kept until the first packet arrives
	video.Anchor(DurationToNTP(base), 1000)
	if _, ok := video.Start(); ok {
		t.Fatal("anchored before a packet")
	}
	video.Duration(1000 + 9000) // first video packet 100 ms after the SR instant
	audio.Duration(500)         // first audio packet
	if _, ok := Offset(video, audio); ok {
		t.Fatal("offset with one track unanchored")
	}
	audio.Anchor(DurationToNTP(base+50*time.Millisecond), 500+4800) // audio ts 500 is at base-50ms
	vs, _ := video.Start()
	as, _ := audio.Start()
	if vs != base+100*time.Millisecond || as != base-50*time.Millisecond {
		t.Fatalf("starts %v %v", vs-base, as-base)
	}
	off, ok := Offset(video, audio)
	if !ok || off != -150*time.Millisecond {
		t.Fatalf("offset %v %v", off, ok)
	}
}

func TestNTP(t *testing.T) {
	for _, d := range []time.Duration{0, 1, time.Second - 1, 3900000000*time.Second + 123456789} {
		if got := NTPToDuration(DurationToNTP(d)); got != d {
			t.Fatalf("%v -> %v", d, got)
		}
	}
	if NTPTime(time.Unix(0, 0)) != 2208988800<<32 {
		t.Fatal("unix epoch")
	}
}

func TestSeq(t *testing.T) {
	type step struct {
		n       uint16
		r       SeqResult
		missing int
	}
	steps := []step{
		{65530, SeqNext, 0}, {65531, SeqNext, 0}, {65531, SeqDuplicate, 0},
		{65534, SeqGap, 2}, {65533, SeqLate, 0}, {65533, SeqDuplicate, 0},
		{65535, SeqNext, 0}, {0, SeqNext, 0}, {2, SeqGap, 1},
		{65000, SeqLate, 0}, // too old to tell
		{2 + MaxSeqJump + 1, SeqReset, 0}, {2 + MaxSeqJump + 2, SeqNext, 0},
	}
	var s Seq
	for i, st := range steps {
		r, m := s.Update(st.n)
		if r != st.r || m != st.missing {
			t.Fatalf("step %d (%d): %v %d, want %v %d", i, st.n, r, m, st.r, st.missing)
		}
	}
	if s.Lost() != 2 { // 65532, 65533 (back), 1
		t.Fatalf("lost %d", s.Lost())
	}
	if s.ExtendedMax() != 1<<16|uint32(2+MaxSeqJump+2) {
		t.Fatalf("extended max %x", s.ExtendedMax())
	}
}

func TestDTSDeriver(t *testing.T) {
	const fr = 40 * time.Millisecond
	cases := []struct {
		name  string
		depth int
		pts   []int // in frames, decode order
	}{
		{"no B-frames", 0, []int{0, 1, 2, 3, 4, 5}},
		{"one B", 1, []int{0, 2, 1, 4, 3, 6, 5}},
		{"B-pyramid", 2, []int{0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11}},
		{"depth declared too deep", 3, []int{0, 2, 1, 4, 3}},
		{"depth declared too shallow", 1, []int{0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d DTSDeriver
			d.SetDepth(c.depth)
			prev := time.Duration(-1)
			emitted := 0
			for _, p := range c.pts {
				pts, dts, ok := d.Next(time.Duration(p) * fr)
				if !ok {
					continue
				}
				emitted++
				if pts != time.Duration(p)*fr+time.Duration(c.depth)*DTSStep {
					t.Fatalf("pts %v", pts)
				}
				if dts > pts || dts <= prev || dts < 0 {
					t.Fatalf("frame %d: dts %v pts %v prev %v", p, dts, pts, prev)
				}
				prev = dts
			}
			if c.name != "depth declared too shallow" && emitted != len(c.pts) {
				t.Fatalf("emitted %d of %d", emitted, len(c.pts))
			}
			if c.name == "depth declared too shallow" && d.Depth() != 2 {
				t.Fatalf("depth %d after deepening", d.Depth())
			}
		})
	}
}
