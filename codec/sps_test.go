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

// spsSizeTests are SPS from Debian's ffmpeg 5.1 encodes of testsrc2
// (2 frames, libx264/libx265 as named); width and height are what ffprobe
// reports for the same streams.
var spsSizeTests = []struct {
	name          string
	h265          bool
	sps           string
	width, height int
}{
	{"x264 high 640x360", false, "6764001eacd940a02ff97011000003000100000300320f162d96", 640, 360},
	{"x264 baseline 640x360", false, "6742c01ed900a02ff97011000003000100000300320f162e48", 640, 360},
	{"x264 high 1280x720", false, "6764001facd9405005bb011000000300100000030320f1831960", 1280, 720},
	{"x264 high 1920x1080 (cropped from 1088)", false, "67640028acd940780227e5c044000003000400000300c83c60c658", 1920, 1080},
	{"x264 baseline 1920x1080", false, "6742c028da01e0089f97011000000300100000030320f1832a", 1920, 1080},
	{"x264 high 320x240", false, "6764000dacd94141fb011000000300100000030320f1429960", 320, 240},
	{"x264 baseline 320x240", false, "6742c00dd90141fb011000000300100000030320f142a480", 320, 240},
	{"x264 main interlaced 720x576", false, "674d401ef405a126c044000003000400000300c87c50aa80", 720, 576},
	{"x264 high interlaced 1920x1080", false, "67640028acd94078044fde0220000003002000000643e2c5b2c0", 1920, 1080},
	// CropUnitX = 1, CropUnitY = 1
	{"x264 high 4:4:4 322x242", false, "67f4000d919b282a10f1f1f808800000030080000019078a14cb", 322, 242},
	// CropUnitX = 2, CropUnitY = 1*2 (fields)
	{"x264 high 4:2:2 interlaced 642x362", false, "677a001ebce80a463c44660220000003002000000643e28554", 642, 362},
	// chroma_format_idc 0: CropUnitX = 1, CropUnitY = 1
	{"x264 gray 642x362", false, "6764001ef2d01485fc7cf80b64000003000400000300c83c58ba80", 642, 362},
	// x264 writes its quant matrices into the PPS, never the SPS: these
	// are the 1280x720 and 4:4:4 SPS above with seq_scaling_matrix_present
	// spliced in (delta-coded lists, lists absent, "use default", a list
	// ending early at next_scale 0; 8 and 12 lists). ffprobe reads the
	// streams with these SPS substituted as 1280x720 and 322x242.
	{"x264 high 1280x720 + SPS scaling lists", false, "6764001fad8330c30e82e0a1c1082a080b04609860f0528460cc30c3a0b82870420a8202c11826183c14c1986187417050e08415040582304c3078298330c30e82e0a1c1082a080b04609860f053305db280a00b760220000003002000000641e30632c0", 1280, 720},
	{"x264 high 4:4:4 322x242 + SPS scaling lists", false, "67f4000d91b0661861d05c143821054101608c130c1e0a508c1986187417050e08415040582304c3078298330c30e82e0a1c1082a080b04609860f0530661861d05c143821054101608c130c1e0a60cc30c3a0b82870420a8202c11826183c14822101305a1e205c1886a1b06016287c16048482305038682704828220ac10182a0bc388320cc30c3a0b82870420a8202c1282618982f0661861d05c143821054101608c130c1e0a411080982d0f102e0c4350d8300b143e0b02424118281c34138241411056080c1505e1c4190661861d05c1438210541016094130c8330c30e82e0a1c1082a080b04609860f052088404c168788170621a86c18058a1f058121208c140e1a09c120a0882b04060a82f0e20c8330c30e82e0a1c1082a080b04a098641986187417050e08415040582304c30782904420260b43c40b8310d4360c02c50f82c09090460a070d04e0905044158203054178710641986187417050e08415040582504c336505421e3e3f011000000300100000030320f1429960", 322, 242},
	{"x265 640x360", true, "42010101600000030090000003000003003fa005020171f2e595952930bc05a02000000300200000030321", 640, 360},
	{"x265 1920x1080", true, "420101016000000300900000030000030078a003c0801107cb965654a4c2f0168080000003008000000c84", 1920, 1080},
	{"x265 320x240", true, "42010101600000030090000003000003003ca00a080f16595952930bc05a020000030002000003003210", 320, 240},
	// conformance window in 4:2:0 chroma samples (SubWidthC = SubHeightC = 2)
	{"x265 642x362", true, "42010101600000030090000003000003003fa005220171c449965654a4c2f0168080000003008000000c84", 642, 362},
	// SubWidthC = 2, SubHeightC = 1
	{"x265 4:2:2 322x242", true, "4201010408000003009d0800000300003cb00a880407111f965654a4c2f0168080000003008000000c84", 322, 242},
	// SubWidthC = SubHeightC = 1
	{"x265 4:4:4 322x242", true, "4201010408000003009e0800000300003c9001510080e3e3f2caca94985e02d0100000030010000003019080", 322, 242},
}

func TestParseSPSSize(t *testing.T) {
	for _, tt := range spsSizeTests {
		t.Run(tt.name, func(t *testing.T) {
			var w, h int
			if tt.h265 {
				s, err := ParseH265SPS(unhex(tt.sps))
				if err != nil {
					t.Fatal(err)
				}
				w, h = s.Width, s.Height
			} else {
				s, err := ParseH264SPS(unhex(tt.sps))
				if err != nil {
					t.Fatal(err)
				}
				w, h = s.Width, s.Height
			}
			if w != tt.width || h != tt.height {
				t.Fatalf("%dx%d, want %dx%d", w, h, tt.width, tt.height)
			}
		})
	}
	// the older table's SPS too (ffprobe: 160x120, 1920x1080, 160x120)
	for i, want := range [][2]int{{160, 120}, {1920, 1080}, {160, 120}} {
		s, err := ParseH264SPS(unhex(h264SPSTests[i].sps))
		if err != nil || s.Width != want[0] || s.Height != want[1] {
			t.Errorf("%s: %dx%d %v, want %dx%d", h264SPSTests[i].name, s.Width, s.Height, err, want[0], want[1])
		}
	}
	if s, err := ParseH265SPS(unhex(h265SPSTests[0].sps)); err != nil || s.Width != 160 || s.Height != 120 {
		t.Errorf("%s: %dx%d %v", h265SPSTests[0].name, s.Width, s.Height, err)
	}
}

// TestCroppedSize: crops that leave no picture, and sides past
// maxPictureSide, give 0x0 rather than a negative or huge size; the SPS
// still parses (its other fields are fine).
func TestCroppedSize(t *testing.T) {
	for _, tt := range []struct {
		w, cw, h, ch uint64
		ww, wh       int
	}{
		{1920, 0, 1088, 8, 1920, 1080},
		{16, 16, 16, 0, 0, 0},
		{16, 0, 16, 32, 0, 0},
		{16, 1 << 40, 16, 0, 0, 0},
		{maxPictureSide, 0, maxPictureSide, 0, maxPictureSide, maxPictureSide},
		{maxPictureSide + 1, 0, 16, 0, 0, 0},
		{(1<<32 - 1) * 16, 0, 16, 0, 0, 0},
	} {
		if w, h := croppedSize(tt.w, tt.cw, tt.h, tt.ch); w != tt.ww || h != tt.wh {
			t.Errorf("croppedSize(%d, %d, %d, %d) = %d, %d", tt.w, tt.cw, tt.h, tt.ch, w, h)
		}
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
	b = unhex(spsSizeTests[len(spsSizeTests)-1].sps)
	if n := testing.AllocsPerRun(100, func() { ParseH265SPS(b) }); n != 0 {
		t.Fatalf("H.265: %v allocs", n)
	}
}

// checkSize fails unless w, h is 0x0 or a picture no side of which
// exceeds maxPictureSide.
func checkSize(t *testing.T, w, h int) {
	if (w == 0) != (h == 0) || w < 0 || h < 0 || w > maxPictureSide || h > maxPictureSide {
		t.Fatalf("size %dx%d", w, h)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tt := range h264SPSTests {
		f.Add(unhex(tt.sps))
	}
	for _, tt := range h265SPSTests {
		f.Add(unhex(tt.sps))
	}
	for _, tt := range spsSizeTests {
		f.Add(unhex(tt.sps))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseH264SPS(b); err == nil {
			if s.ReorderDepth() < 0 || s.ReorderDepth() > 16 {
				t.Fatalf("depth %d", s.ReorderDepth())
			}
			checkSize(t, s.Width, s.Height)
		}
		if s, err := ParseH265SPS(b); err == nil {
			if s.ReorderDepth() < 0 || s.ReorderDepth() > 16 {
				t.Fatalf("depth %d", s.ReorderDepth())
			}
			checkSize(t, s.Width, s.Height)
		}
	})
}
