package codec

import (
	"errors"
	"testing"
)

// x265 4:4:4 8-bit parameter sets (ffmpeg, libx265 3.5).
var (
	x265VPS = unhex("40010c01ffff0408000003009e0800000300003c959009")
	x265SPS = unhex("4201010408000003009e0800000300003c90014101e2cb2b249265780b7020200040000003004000000642")
	x265PPS = unhex("4401c172860c4624")
)

var hevcDeriveCases = []struct {
	name          string
	vps, sps, pps []byte
	ok            bool
}{
	{"x265 444", x265VPS, x265SPS, x265PPS, true},
	{"SPS cut in the PTL", x265VPS, x265SPS[:10], x265PPS, false},
	{"SPS cut before bit depths", x265VPS, x265SPS[:17], x265PPS, false},
	{"not an SPS", x265VPS, x265PPS, x265PPS, false},
	{"empty SPS", x265VPS, []byte{}, x265PPS, false},
	{"sub-layers 7", x265VPS, append([]byte{0x42, 0x01, 0x0f}, x265SPS[3:]...), x265PPS, false},
	{"zeros after the header", x265VPS, append([]byte{0x42, 0x01}, make([]byte, 40)...), x265PPS, false},
}

func TestHEVCConfigFromParameterSets(t *testing.T) {
	for _, tc := range hevcDeriveCases {
		c, err := HEVCConfigFromParameterSets([][]byte{tc.vps}, [][]byte{tc.sps}, [][]byte{tc.pps})
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if !tc.ok {
			continue
		}
		// The same fields ffmpeg writes into its hvcC for this stream:
		// 01 04 08000000 9e0800000000 3c ... chroma 3, 8-bit, 1 layer, nested.
		if c.Version != 1 || c.ProfileSpace != 0 || c.Tier != 0 || c.Profile != 4 || c.ProfileCompatibility != 0x08000000 ||
			c.ConstraintIndicator != 0x9e0800000000 || c.Level != 0x3c || c.ChromaFormat != 3 || c.BitDepthLumaMinus8 != 0 ||
			c.BitDepthChromaMinus8 != 0 || c.NumTemporalLayers != 1 || !c.TemporalIDNested || c.LengthSize != 4 {
			t.Errorf("%s: %+v", tc.name, c)
		}
		if _, err := c.Append(nil); err != nil {
			t.Error(err)
		}
	}
	// Emulation prevention: 00 00 03 inside the PTL is skipped, so the
	// constraint flags read 9e08 0000 0000 (the SPS above has two).
	if _, err := HEVCConfigFromParameterSets(nil, [][]byte{x265SPS}, [][]byte{x265PPS}); err == nil {
		t.Error("no VPS: no error")
	}
	_, err := HEVCConfigFromParameterSets([][]byte{x265VPS}, [][]byte{x265SPS[:10]}, [][]byte{x265PPS})
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("cut SPS: %v, want ErrTruncated", err)
	}
}

func FuzzHEVCConfigFromParameterSets(f *testing.F) {
	for _, tc := range hevcDeriveCases {
		f.Add(tc.sps)
	}
	f.Fuzz(func(t *testing.T, sps []byte) {
		c, err := HEVCConfigFromParameterSets([][]byte{x265VPS}, [][]byte{sps}, [][]byte{x265PPS})
		if err != nil {
			return
		}
		b, err := c.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseHEVCConfig(b)
		if err != nil || !equalConfigHeader(back, c) {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}
