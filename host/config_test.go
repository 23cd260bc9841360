package host

import (
	"bytes"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
)

// TestFLVSequenceHeaderDerivedFromParameterSets covers protocols that carry
// parameter sets but no FLV sequence header (RTSP's SDP, SRT's in-band
// NAL units): egress must still announce the track.
func TestFLVSequenceHeaderDerivedFromParameterSets(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50}
	pps := []byte{0x68, 0xeb, 0xe3, 0xcb}
	vc := VideoConfig{Codec: codec.H264, SPS: [][]byte{sps}, PPS: [][]byte{pps}}
	body, err := vc.FLVSequenceHeader()
	if err != nil {
		t.Fatal(err)
	}
	m := gomem.NewMemory(body)
	tag, err := flv.ParseVideo(&m)
	if err != nil || tag.PacketType != flv.PacketSequenceHeader || tag.Codec != codec.H264 {
		t.Fatalf("derived header parses as %+v, %v", tag, err)
	}
	rec, err := codec.ParseAVCConfig(body[tag.DataOffset:])
	if err != nil {
		t.Fatal(err)
	}
	if rec.Profile != 0x64 || rec.Level != 0x1f || rec.LengthSize != 4 || !bytes.Equal(rec.SPS[0], sps) || !bytes.Equal(rec.PPS[0], pps) {
		t.Fatalf("derived record %+v", rec)
	}

	asc := []byte{0x12, 0x10}
	ac := AudioConfig{Codec: codec.AAC, ASC: asc}
	abody, err := ac.FLVSequenceHeader()
	if err != nil {
		t.Fatal(err)
	}
	am := gomem.NewMemory(abody)
	atag, err := flv.ParseAudio(&am)
	if err != nil || atag.PacketType != flv.AudioSequenceHeader || !bytes.Equal(abody[atag.DataOffset:], asc) {
		t.Fatalf("derived audio header %+v, %v", atag, err)
	}

	// A received sequence header wins and is forwarded unchanged.
	vc.SequenceHeader = []byte{0x17, 0, 0, 0, 0, 1}
	if got, _ := vc.FLVSequenceHeader(); !bytes.Equal(got, vc.SequenceHeader) {
		t.Fatal("received sequence header not forwarded as is")
	}
	if _, err := (VideoConfig{Codec: codec.H265, SPS: [][]byte{sps}}).FLVSequenceHeader(); err == nil {
		t.Fatal("H.265 without a received header must fail")
	}
}

func TestConfigCloneIsDeep(t *testing.T) {
	sps := []byte{1, 2, 3, 4}
	vc := VideoConfig{Codec: codec.H264, SPS: [][]byte{sps}, SequenceHeader: []byte{9}}
	c := vc.Clone()
	sps[0], vc.SequenceHeader[0] = 7, 7
	if c.SPS[0][0] != 1 || c.SequenceHeader[0] != 9 {
		t.Fatal("clone aliases the original")
	}
}
