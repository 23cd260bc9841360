package codec

import (
	"bytes"
	"slices"
	"testing"
)

// splitAVCCReference is the obvious contiguous implementation SplitAVCC must
// agree with.
func splitAVCCReference(b []byte, off, lengthSize int) ([]Span, bool) {
	if lengthSize < 1 || lengthSize > 4 || off < 0 || off > len(b) {
		return nil, false
	}
	var out []Span
	count := 0
	for p := off; p < len(b); {
		if len(b)-p < lengthSize {
			return nil, false
		}
		n := 0
		for _, c := range b[p : p+lengthSize] {
			n = n<<8 | int(c)
		}
		p += lengthSize
		if n > len(b)-p {
			return nil, false
		}
		if count++; count > MaxNALUsPerFrame {
			return nil, false
		}
		if n > 0 {
			out = append(out, Span{p, n})
		}
		p += n
	}
	return out, true
}

func FuzzSplitAVCC(f *testing.F) {
	for _, tc := range avccCases {
		f.Add(tc.data, tc.off, tc.lengthSize, uint16(len(tc.data)/3), uint16(len(tc.data)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, off, lengthSize int, c1, c2 uint16) {
		m := splitMemory(data, int(c1), int(c2))
		got, err := SplitAVCC(&m, off, lengthSize, nil)
		want, ok := splitAVCCReference(data, off, lengthSize)
		if ok != (err == nil) {
			t.Fatalf("SplitAVCC err %v, reference ok %v", err, ok)
		}
		if !ok {
			if len(got) != 0 {
				t.Fatalf("spans returned with error: %v", got)
			}
			return
		}
		if !slices.Equal(got, want) {
			t.Fatalf("spans %v, reference %v", got, want)
		}
		for _, s := range got {
			if !bytes.Equal(AppendSpanBytes(nil, &m, s), data[s.Off:s.End()]) {
				t.Fatalf("span %v bytes differ", s)
			}
		}
		_ = H264IsKeyframe(&m, got)
		_ = H265IsKeyframe(&m, got)
	})
}

func equalSets(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

func FuzzAVCConfig(f *testing.F) {
	for _, tc := range avcConfigCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseAVCConfig(data)
		if err != nil {
			return
		}
		out, err := c.Append(nil)
		if err != nil {
			t.Fatalf("parsed config does not encode: %v\n%+v", err, c)
		}
		c2, err := ParseAVCConfig(out)
		if err != nil {
			t.Fatalf("re-encoded config does not parse: %v", err)
		}
		if c.Profile != c2.Profile || c.Compatibility != c2.Compatibility || c.Level != c2.Level ||
			c.LengthSize != c2.LengthSize || c.HasExt != c2.HasExt || c.ChromaFormat != c2.ChromaFormat ||
			c.BitDepthLumaMinus8 != c2.BitDepthLumaMinus8 || c.BitDepthChromaMinus8 != c2.BitDepthChromaMinus8 ||
			!equalSets(c.SPS, c2.SPS) || !equalSets(c.PPS, c2.PPS) || !equalSets(c.SPSExt, c2.SPSExt) {
			t.Fatalf("round trip differs:\n%+v\n%+v", c, c2)
		}
	})
}

func FuzzHEVCConfig(f *testing.F) {
	for _, tc := range hevcConfigCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseHEVCConfig(data)
		if err != nil {
			return
		}
		out, err := c.Append(nil)
		if err != nil {
			t.Fatalf("parsed config does not encode: %v\n%+v", err, c)
		}
		c2, err := ParseHEVCConfig(out)
		if err != nil {
			t.Fatalf("re-encoded config does not parse: %v", err)
		}
		sei1, sei2 := c.SEI, c2.SEI
		c.VPS, c.SPS, c.PPS, c.SEI = nil, nil, nil, nil
		vps, sps, pps := c2.VPS, c2.SPS, c2.PPS
		c2.VPS, c2.SPS, c2.PPS, c2.SEI = nil, nil, nil, nil
		if !equalConfigHeader(c, c2) {
			t.Fatalf("header round trip differs:\n%+v\n%+v", c, c2)
		}
		c, _ = ParseHEVCConfig(data)
		if !equalSets(c.VPS, vps) || !equalSets(c.SPS, sps) || !equalSets(c.PPS, pps) || len(sei1) != len(sei2) {
			t.Fatalf("arrays differ")
		}
	})
}

func equalConfigHeader(a, b HEVCConfig) bool {
	return a.Version == b.Version && a.ProfileSpace == b.ProfileSpace && a.Tier == b.Tier && a.Profile == b.Profile &&
		a.ProfileCompatibility == b.ProfileCompatibility && a.ConstraintIndicator == b.ConstraintIndicator &&
		a.Level == b.Level && a.MinSpatialSegmentation == b.MinSpatialSegmentation &&
		a.ParallelismType == b.ParallelismType && a.ChromaFormat == b.ChromaFormat &&
		a.BitDepthLumaMinus8 == b.BitDepthLumaMinus8 && a.BitDepthChromaMinus8 == b.BitDepthChromaMinus8 &&
		a.AvgFrameRate == b.AvgFrameRate && a.ConstantFrameRate == b.ConstantFrameRate &&
		a.NumTemporalLayers == b.NumTemporalLayers && a.TemporalIDNested == b.TemporalIDNested &&
		a.LengthSize == b.LengthSize
}

func FuzzASC(f *testing.F) {
	for _, tc := range ascCases {
		f.Add(tc.data, 100)
	}
	f.Fuzz(func(t *testing.T, data []byte, payload int) {
		c, err := ParseAudioSpecificConfig(data)
		if err != nil {
			return
		}
		if c.ObjectType <= 0 || c.SampleRate <= 0 || c.ChannelConfig < 0 || c.ChannelConfig > 15 ||
			(c.SBR && c.ExtSampleRate <= 0) || (c.PS && !c.SBR) {
			t.Fatalf("implausible config %+v", c)
		}
		h, err := c.AppendADTSHeader(nil, payload)
		if err != nil {
			return
		}
		p, sfi, ch, fl, ok := decodeADTS(h)
		if !ok || p != c.ObjectType-1 || sfi != c.SampleRateIndex || ch != c.ChannelConfig || fl != payload+ADTSHeaderSize {
			t.Fatalf("ADTS header %x does not match %+v payload %d", h, c, payload)
		}
	})
}
