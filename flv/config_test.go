package flv

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// x265 (yuv444p, Main 4:4:4 RExt, level 2) parameter sets, from ffmpeg.
const (
	x265VPS = "40010c01ffff0408000003009e0800000300003c959009"
	x265SPS = "4201010408000003009e0800000300003c90014101e2cb2b249265780b7020200040000003004000000642"
	x265PPS = "4401c172860c4624"
)

// TestSequenceHeadersDerivedFromParameterSets covers protocols that carry
// parameter sets but no FLV sequence header (RTSP's SDP, SRT's in-band
// NAL units): egress must still announce the track, H.265 as an Enhanced
// RTMP 'hvc1' SequenceStart whose record round-trips through the parser.
func TestSequenceHeadersDerivedFromParameterSets(t *testing.T) {
	vc := host.VideoConfig{Codec: codec.H264, SPS: [][]byte{sps264}, PPS: [][]byte{pps264}}
	body, err := VideoSequenceHeaderBody(vc)
	if err != nil {
		t.Fatal(err)
	}
	m := gomem.NewMemory(body)
	tag, err := ParseVideo(&m)
	if err != nil || tag.PacketType != PacketSequenceHeader || tag.Codec != codec.H264 || tag.Enhanced {
		t.Fatalf("derived header parses as %+v, %v", tag, err)
	}
	rec, err := codec.ParseAVCConfig(body[tag.DataOffset:])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Profile != 0x64 || rec.Level != 0x1f || rec.LengthSize != 4 || !bytes.Equal(rec.SPS[0], sps264) || !bytes.Equal(rec.PPS[0], pps264) {
		t.Fatalf("derived record %+v", rec)
	}

	vps, sps, pps := unhexT(t, x265VPS), unhexT(t, x265SPS), unhexT(t, x265PPS)
	hc := host.VideoConfig{Codec: codec.H265, VPS: [][]byte{vps}, SPS: [][]byte{sps}, PPS: [][]byte{pps}}
	body, err = VideoSequenceHeaderBody(hc)
	if err != nil {
		t.Fatal(err)
	}
	m = gomem.NewMemory(body)
	tag, err = ParseVideo(&m)
	if err != nil || tag.PacketType != PacketSequenceHeader || tag.Codec != codec.H265 || !tag.Enhanced || tag.FourCC != FourCCHEVC || !tag.FrameType.IsKey() {
		t.Fatalf("derived H.265 header parses as %+v, %v", tag, err)
	}
	hrec, err := codec.ParseHEVCConfig(body[tag.DataOffset:])
	if err != nil {
		t.Fatal(err)
	}
	if hrec.Profile != 4 || hrec.Level != 60 || hrec.ChromaFormat != 3 || hrec.LengthSize != 4 || hrec.ProfileCompatibility != 0x08000000 ||
		!bytes.Equal(hrec.VPS[0], vps) || !bytes.Equal(hrec.SPS[0], sps) || !bytes.Equal(hrec.PPS[0], pps) {
		t.Fatalf("derived HEVC record %+v", hrec)
	}

	asc := []byte{0x12, 0x10}
	abody, err := AudioSequenceHeaderBody(host.AudioConfig{Codec: codec.AAC, ASC: asc})
	if err != nil {
		t.Fatal(err)
	}
	am := gomem.NewMemory(abody)
	atag, err := ParseAudio(&am)
	if err != nil || atag.PacketType != AudioSequenceHeader || !bytes.Equal(abody[atag.DataOffset:], asc) {
		t.Fatalf("derived audio header %+v, %v", atag, err)
	}

	// A received sequence header wins and is forwarded unchanged.
	vc.SequenceHeader = []byte{0x17, 0, 0, 0, 0, 1}
	if got, _ := VideoSequenceHeaderBody(vc); !bytes.Equal(got, vc.SequenceHeader) {
		t.Fatal("received sequence header not forwarded as is")
	}
	for name, c := range map[string]host.VideoConfig{
		"h265 without VPS": {Codec: codec.H265, SPS: [][]byte{sps}, PPS: [][]byte{pps}},
		"h265 SPS cut":     {Codec: codec.H265, VPS: [][]byte{vps}, SPS: [][]byte{sps[:12]}, PPS: [][]byte{pps}},
		"h264 without PPS": {Codec: codec.H264, SPS: [][]byte{sps264}},
		"vp9":              {Codec: codec.VP9},
	} {
		if _, err := VideoSequenceHeaderBody(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := AudioSequenceHeaderBody(host.AudioConfig{Codec: codec.AAC}); err == nil {
		t.Error("AAC without ASC: no error")
	}
}
