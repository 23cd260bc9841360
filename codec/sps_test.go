package codec

import "testing"

// Parameter sets written by Debian's ffmpeg 5.1 (libx264, libx265).
var h264SPSTests = []struct {
	name           string
	sps            string
	profile, level uint8
	poc            uint32
	hasReorder     bool
	depth          int
	timeScale      uint32
}{
	// High, 160x120, -bf 2: emulation prevention bytes inside the VUI timing info
	{"x264 high bf2", "6764000bacd942847e5c0440000003004000000c83c50a6580", 100, 11, 0, true, 2, 50},
	{"x264 baseline 1080p", "6742c028da01e0089f970110000003001000000303c0f1832a", 66, 40, 2, true, 0, 60},
	{"x264 high 4:4:4", "67f4000b919b28508fc4e022000003000200000300641e28532c", 244, 11, 0, true, 2, 50},
	{"no VUI", "6742c01eda0a0fc8", 66, 30, 2, false, 0, 0},
}

func TestParseH264SPS(t *testing.T) {
	for _, tt := range h264SPSTests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseH264SPS(unhex(tt.sps))
			if err != nil {
				t.Fatal(err)
			}
			if s.Profile != tt.profile || s.Level != tt.level || s.PicOrderCntType != tt.poc || s.HasReorder != tt.hasReorder ||
				s.ReorderDepth() != tt.depth || s.TimeScale != tt.timeScale {
				t.Fatalf("%+v depth %d", s, s.ReorderDepth())
			}
		})
	}
}

func TestParseH264SPSErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {0x67}, {0x68, 1, 2, 3, 4}, {0x67, 0x64, 0, 0x0b}, unhex("6764000b00000000")} {
		if _, err := ParseH264SPS(b); err == nil {
			t.Errorf("%x accepted", b)
		}
	}
	// a VUI cut short keeps the core fields and drops the VUI ones
	full := unhex(h264SPSTests[0].sps)
	s, err := ParseH264SPS(full[:len(full)-4])
	if err != nil || s.HasReorder || s.Profile != 100 {
		t.Fatalf("%+v %v", s, err)
	}
}

var h265SPSTests = []struct {
	name  string
	sps   string
	depth int
	level uint8
}{
	{"x265 bf2 4:4:4", "420101040800000300 9e0800000300001e9002840f2cb2b249265780b70202000400000300040000030064 20", 2, 30},
}

func TestParseH265SPS(t *testing.T) {
	for _, tt := range h265SPSTests {
		s, err := ParseH265SPS(unhex(tt.sps))
		if err != nil || s.ReorderDepth() != tt.depth || s.Level != tt.level || s.Profile != 4 { // 4:4:4 input: RExt
			t.Fatalf("%s: %+v %v", tt.name, s, err)
		}
	}
	for _, b := range [][]byte{nil, {0x42, 1}, {0x40, 1, 1}, {0x42, 1, 0x0e}, {0x42, 1, 1, 4, 8}} {
		if _, err := ParseH265SPS(b); err == nil {
			t.Errorf("%x accepted", b)
		}
	}
}

func TestParseSPSAllocs(t *testing.T) {
	b := unhex(h264SPSTests[0].sps)
	if n := testing.AllocsPerRun(100, func() { ParseH264SPS(b) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tt := range h264SPSTests {
		f.Add(unhex(tt.sps))
	}
	for _, tt := range h265SPSTests {
		f.Add(unhex(tt.sps))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseH264SPS(b); err == nil && (s.ReorderDepth() < 0 || s.ReorderDepth() > 16) {
			t.Fatalf("depth %d", s.ReorderDepth())
		}
		if s, err := ParseH265SPS(b); err == nil && (s.ReorderDepth() < 0 || s.ReorderDepth() > 16) {
			t.Fatalf("depth %d", s.ReorderDepth())
		}
	})
}
