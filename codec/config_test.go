package codec

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/zcingest/zerocopy/limit"
)

// x264AVCC is the sequence header ffmpeg's libx264 (-preset ultrafast)
// writes into FLV for 320x240: Constrained Baseline (66, flags 0xc0),
// level 1.3.
var x264AVCC = unhex(`01 42 c0 0d ff e1 00 16 67 42 c0 0d da 05 07 ec 04 40 00 00 03 00 40 00 00 0c 83 c5 0a a8
	01 00 04 68 ce 0f c8`)

// highAVCC is a High profile record with the optional extension.
var highAVCC = unhex(`01 64 00 1f ff e1 00 04 67 64 00 1f 02 00 02 68 eb 00 03 68 ee 3c fd f8 f8 01 00 03 67 64 01`)

// x265HVCC is the hvcC libx265 produced for 320x240 (the x265 banner SEI
// array removed).
var x265HVCC = unhex(`0101600000009000000000003cf000fcfdf8f800000f03
	200001001840010c01ffff01600000030090000003000003003c959809
	210001002a42010101600000030090000003000003003ca00a080f165959a4932bc05a02000003000200000300321022
	000100074401c172b46240`)

type configCase struct {
	name    string
	data    []byte
	wantErr error // ErrTruncated, or nil for any non-nil error when bad
	bad     bool
	check   func(t *testing.T, data []byte, v any)
}

var avcConfigCases = []configCase{
	{name: "x264", data: x264AVCC, check: func(t *testing.T, data []byte, v any) {
		c := v.(AVCConfig)
		if c.Version != 1 || c.Profile != 66 || c.Compatibility != 0xc0 || c.Level != 13 || c.LengthSize != 4 {
			t.Errorf("header fields %+v", c)
		}
		if len(c.SPS) != 1 || len(c.SPS[0]) != 22 || H264Type(c.SPS[0][0]) != H264SPS ||
			len(c.PPS) != 1 || !bytes.Equal(c.PPS[0], []byte{0x68, 0xce, 0x0f, 0xc8}) || c.HasExt {
			t.Errorf("parameter sets %x %x ext %v", c.SPS, c.PPS, c.HasExt)
		}
		if &c.SPS[0][0] != &data[8] {
			t.Error("SPS does not alias the input")
		}
	}},
	{name: "high with ext", data: highAVCC, check: func(t *testing.T, _ []byte, v any) {
		c := v.(AVCConfig)
		if c.Profile != 100 || c.LengthSize != 4 || len(c.PPS) != 2 || !c.HasExt || c.ChromaFormat != 1 ||
			c.BitDepthLumaMinus8 != 0 || len(c.SPSExt) != 1 {
			t.Errorf("%+v", c)
		}
	}},
	{name: "high without ext", data: highAVCC[:len(highAVCC)-9], check: func(t *testing.T, _ []byte, v any) {
		if c := v.(AVCConfig); c.HasExt || len(c.PPS) != 2 {
			t.Errorf("%+v", c)
		}
	}},
	{name: "length size 2", data: append([]byte{1, 66, 0, 30, 0xfd, 0xe0, 0}, 0), check: func(t *testing.T, _ []byte, v any) {
		if c := v.(AVCConfig); c.LengthSize != 2 || len(c.SPS) != 0 || len(c.PPS) != 0 {
			t.Errorf("%+v", c)
		}
	}},
	{name: "empty", data: nil, wantErr: ErrTruncated},
	{name: "short", data: x264AVCC[:6], wantErr: ErrTruncated},
	{name: "sps cut", data: x264AVCC[:20], wantErr: ErrTruncated},
	{name: "no pps count", data: x264AVCC[:30], wantErr: ErrTruncated},
	{name: "pps cut", data: x264AVCC[:len(x264AVCC)-1], wantErr: ErrTruncated},
	{name: "version 0", data: append([]byte{0}, x264AVCC[1:]...), bad: true},
	{name: "empty sps", data: []byte{1, 66, 0, 30, 0xff, 0xe1, 0, 0, 0}, bad: true},
	{name: "too many pps", data: []byte{1, 66, 0, 30, 0xff, 0xe0, 200}, bad: true},
}

var hevcConfigCases = []configCase{
	{name: "x265", data: x265HVCC, check: func(t *testing.T, data []byte, v any) {
		c := v.(HEVCConfig)
		if c.Version != 1 || c.Profile != 1 || c.Tier != 0 || c.ProfileSpace != 0 || c.Level != 60 ||
			c.ProfileCompatibility != 0x60000000 || c.ConstraintIndicator != 0x900000000000 ||
			c.ChromaFormat != 1 || c.LengthSize != 4 || c.NumTemporalLayers != 1 || !c.TemporalIDNested {
			t.Errorf("header fields %+v", c)
		}
		if len(c.VPS) != 1 || len(c.SPS) != 1 || len(c.PPS) != 1 || len(c.SEI) != 0 ||
			H265Type(c.VPS[0][0]) != H265VPS || H265Type(c.SPS[0][0]) != H265SPS || H265Type(c.PPS[0][0]) != H265PPS {
			t.Errorf("arrays %x %x %x", c.VPS, c.SPS, c.PPS)
		}
		if &c.VPS[0][0] != &data[28] {
			t.Error("VPS does not alias the input")
		}
	}},
	{name: "unknown array skipped and sei kept", data: append(append(slices.Clone(x265HVCC[:22]), 3),
		unhex("3f 0002 0000 0001 ff  27 0001 0003 4e0105  28 0001 0002 5001")...), check: func(t *testing.T, _ []byte, v any) {
		if c := v.(HEVCConfig); len(c.SEI) != 2 || len(c.VPS) != 0 {
			t.Errorf("%+v", c)
		}
	}},
	{name: "version 0", data: append([]byte{0}, x265HVCC[1:]...)},
	{name: "short", data: x265HVCC[:22], wantErr: ErrTruncated},
	{name: "array header cut", data: x265HVCC[:25], wantErr: ErrTruncated},
	{name: "nalu cut", data: x265HVCC[:40], wantErr: ErrTruncated},
	{name: "skipped array cut", data: append(append(slices.Clone(x265HVCC[:22]), 1), unhex("3f 0001 0005 01")...), wantErr: ErrTruncated},
	{name: "version 2", data: append([]byte{2}, x265HVCC[1:]...), bad: true},
	{name: "too many", data: append(append(slices.Clone(x265HVCC[:22]), 1), 0x21, 0xff, 0xff), bad: true},
}

func runConfigCases[T any](t *testing.T, cases []configCase, parse func([]byte) (T, error)) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.data)
			if tc.wantErr != nil || tc.bad {
				if err == nil {
					t.Fatalf("no error: %+v", c)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, tc.data, c)
			}
		})
	}
}

func TestAVCConfig(t *testing.T) { runConfigCases(t, avcConfigCases, ParseAVCConfig) }

func TestHEVCConfig(t *testing.T) { runConfigCases(t, hevcConfigCases, ParseHEVCConfig) }

func TestAVCConfigRoundTrip(t *testing.T) {
	for _, data := range [][]byte{x264AVCC, highAVCC} {
		c, err := ParseAVCConfig(data)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("round trip:\n got %x\nwant %x", out, data)
		}
	}
	// Unmarshal reuses capacity and resets the extension.
	var c AVCConfig
	if err := c.Unmarshal(highAVCC); err != nil {
		t.Fatal(err)
	}
	if err := c.Unmarshal(x264AVCC); err != nil || c.HasExt || len(c.SPSExt) != 0 || len(c.PPS) != 1 {
		t.Fatalf("reuse: %v %+v", err, c)
	}
	bad := []AVCConfig{
		{LengthSize: 0},
		{LengthSize: 4, SPS: make([][]byte, 32)},
		{LengthSize: 4, SPS: [][]byte{{}}},
		{LengthSize: 4, PPS: [][]byte{make([]byte, 70000)}},
	}
	for i, c := range bad {
		if _, err := c.Append(nil); err == nil {
			t.Errorf("bad config %d encoded", i)
		}
	}
}

func TestHEVCConfigRoundTrip(t *testing.T) {
	c, err := ParseHEVCConfig(x265HVCC)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The record ffmpeg wrote has array_completeness clear; Append sets it.
	// Everything else is identical.
	want := slices.Clone(x265HVCC)
	for _, at := range []int{23, 23 + 29, 23 + 29 + 47} {
		want[at] |= 0x80
	}
	if !bytes.Equal(out, want) {
		t.Errorf("round trip:\n got %x\nwant %x", out, want)
	}
	c.SEI = [][]byte{{0x4e, 1, 5}, {0x50, 1}, {0x4e, 1, 6}}
	out, err = c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseHEVCConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.SEI) != 3 || H265Type(c2.SEI[2][0]) != H265SEISuffix {
		t.Errorf("SEI grouping: %x", c2.SEI)
	}
	if out[len(out)-1] != 1 || c2.LengthSize != 4 {
		t.Errorf("tail %x", out[len(out)-8:])
	}
	if _, err := (&HEVCConfig{LengthSize: 4, PPS: [][]byte{{}}}).Append(nil); err == nil {
		t.Error("empty PPS encoded")
	}
	if _, err := (&HEVCConfig{}).Append(nil); err == nil {
		t.Error("length size 0 encoded")
	}
}

func TestConfigLimitError(t *testing.T) {
	_, err := ParseAVCConfig([]byte{1, 66, 0, 30, 0xff, 0xe0, 200})
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxParameterSets" || le.Got != 200 {
		t.Fatalf("err = %v", err)
	}
}

func TestNALTypes(t *testing.T) {
	if H264Type(0x65) != H264IDR || H264Type(0x41) != H264NonIDR || H264Type(0x67) != H264SPS || H264Type(0x68) != H264PPS {
		t.Error("H264Type")
	}
	if !H264IDR.IsVCL() || H264SEI.IsVCL() || H264IDR.String() != "IDR" || H264NALType(30).String() != "H264NAL(30)" {
		t.Error("H264NALType methods")
	}
	for typ := range H265NALType(64) {
		hdr := byte(typ) << 1
		if H265Type(hdr) != typ || H265Type(hdr|0x81) != typ {
			t.Fatalf("H265Type(%#x) = %d", hdr, H265Type(hdr))
		}
		if want := typ >= 16 && typ <= 23; typ.IsIRAP() != want {
			t.Errorf("%v IsIRAP = %v", typ, !want)
		}
		if typ.String() == "" {
			t.Errorf("empty name for %d", typ)
		}
	}
	if H265IDRWRADL.String() != "IDR_W_RADL" || H265CRA.String() != "CRA" || !H265TrailR.IsVCL() || H265VPS.IsVCL() {
		t.Error("H265NALType methods")
	}
	for _, tc := range []struct {
		codec Codec
		nalus [][]byte
		want  bool
	}{
		{H264, [][]byte{{0x09, 0xf0}, {0x67, 1}, {0x68, 1}, {0x65, 1}}, true},
		{H264, [][]byte{{0x09, 0xf0}, {0x41, 1}}, false},
		{H264, [][]byte{{0x25, 1}}, true},                        // nal_ref_idc 1, IDR
		{H265, [][]byte{{0x46, 1, 0x50}, {0x26, 1, 0xaf}}, true}, // AUD, IDR_W_RADL
		{H265, [][]byte{{0x2a, 1, 0xaf}}, true},                  // CRA
		{H265, [][]byte{{0x02, 1, 0xd0}, {0x4e, 1, 5}}, false},   // TRAIL_R, SEI
		{H265, [][]byte{{0x40, 1}, {0x42, 1}, {0x44, 1}}, false}, // VPS SPS PPS only
		{AAC, [][]byte{{0x65, 1}}, false},
	} {
		data := avcc(4, tc.nalus...)
		m := splitMemory(data, 5, 6)
		spans, err := SplitAVCC(&m, 0, 4, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsKeyframe(tc.codec, &m, spans); got != tc.want {
			t.Errorf("%v %x: IsKeyframe = %v, want %v", tc.codec, tc.nalus, got, tc.want)
		}
	}
}
