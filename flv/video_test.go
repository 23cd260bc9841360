package flv

import (
	"testing"

	"github.com/zcingest/zerocopy/codec"
)

type videoCase struct {
	name      string
	body      []byte
	want      VideoTag
	wantErr   error
	limitName string
	bad       bool
}

func modExChain(n int) []byte {
	b := []byte{0x97}
	for range n {
		b = append(b, 0, 0xaa, 0x17) // 1 byte of data, type 1, next ModEx
	}
	return append(cat(b), cat("00 aa 11 'hvc1 000000")...)
}

var videoCases = []videoCase{
	// Legacy AVC and HEVC.
	{name: "avc sequence header", body: cat("17 00 000000", avcConfig),
		want: VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketSequenceHeader, DataOffset: 5, CodecID: 7}},
	{name: "avc keyframe", body: cat("17 01 000000", avcKeyNALUs),
		want: VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 5, CodecID: 7}},
	{name: "avc inter cts 80", body: cat("27 01 000050", avcInterNALUs),
		want: VideoTag{Codec: codec.H264, FrameType: FrameInter, PacketType: PacketFrame, CTS: 80, DataOffset: 5, CodecID: 7}},
	{name: "avc negative cts", body: cat("27 01 ffff38", avcInterNALUs),
		want: VideoTag{Codec: codec.H264, FrameType: FrameInter, PacketType: PacketFrame, CTS: -200, DataOffset: 5, CodecID: 7}},
	{name: "avc end of sequence", body: cat("17 02 000000"),
		want: VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketEndOfSequence, DataOffset: 5, CodecID: 7}},
	{name: "hevc sequence header", body: cat("1c 00 000000", hevcConfig),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketSequenceHeader, DataOffset: 5, CodecID: 12}},
	{name: "hevc frame", body: cat("1c 01 000028", hevcKeyNALUs),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketFrame, CTS: 40, DataOffset: 5, CodecID: 12}},
	{name: "legacy command", body: cat("57 01"),
		want: VideoTag{Codec: codec.H264, FrameType: FrameCommand, PacketType: PacketCommand, Command: 1, DataOffset: 2, CodecID: 7}},
	{name: "sorenson h263", body: cat("22 00840000"),
		want: VideoTag{FrameType: FrameInter, PacketType: PacketFrame, DataOffset: 1, CodecID: 2}},
	{name: "vp6 header only", body: cat("14"),
		want: VideoTag{FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 1, CodecID: 4}},
	{name: "empty", body: nil, wantErr: ErrTruncated},
	{name: "avc no packet type", body: cat("17"), wantErr: ErrTruncated},
	{name: "avc cts cut", body: cat("17 01 0000"), wantErr: ErrTruncated},
	{name: "avc reserved packet type", body: cat("17 03 000000"), bad: true},
	{name: "legacy command cut", body: cat("57"), wantErr: ErrTruncated},

	// Enhanced RTMP.
	{name: "hvc1 sequence start", body: cat("90 'hvc1", hevcConfig),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketSequenceHeader, DataOffset: 5, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "hvc1 coded frames", body: cat("91 'hvc1 000028", hevcKeyNALUs),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketFrame, CTS: 40, DataOffset: 8, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "hvc1 coded frames x", body: cat("a3 'hvc1", hevcKeyNALUs),
		want: VideoTag{Codec: codec.H265, FrameType: FrameInter, PacketType: PacketFrame, DataOffset: 5, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "avc1 negative cts", body: cat("a1 'avc1 fffff6", avcInterNALUs),
		want: VideoTag{Codec: codec.H264, FrameType: FrameInter, PacketType: PacketFrame, CTS: -10, DataOffset: 8, Enhanced: true, FourCC: FourCCAVC}},
	{name: "av01 coded frames carry no cts", body: cat("91 'av01 0a0b00"),
		want: VideoTag{Codec: codec.AV1, FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 5, Enhanced: true, FourCC: FourCCAV1}},
	{name: "vp09 sequence start", body: cat("90 'vp09 01000000"),
		want: VideoTag{Codec: codec.VP9, FrameType: FrameKey, PacketType: PacketSequenceHeader, DataOffset: 5, Enhanced: true, FourCC: FourCCVP9}},
	{name: "av01 mpeg2ts sequence start", body: cat("95 'av01 80"),
		want: VideoTag{Codec: codec.AV1, FrameType: FrameKey, PacketType: PacketMPEG2TSSequenceStart, DataOffset: 5, Enhanced: true, FourCC: FourCCAV1}},
	{name: "hvc1 sequence end", body: cat("92 'hvc1"),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketEndOfSequence, DataOffset: 5, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "metadata", body: cat("84 'hvc1 02000a636f6c6f72496e666f"),
		want: VideoTag{Codec: codec.H265, PacketType: PacketMetadata, DataOffset: 5, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "metadata ignores command frame type", body: cat("d4 'hvc1 05"),
		want: VideoTag{Codec: codec.H265, FrameType: FrameCommand, PacketType: PacketMetadata, DataOffset: 5, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "enhanced command", body: cat("d1 00"),
		want: VideoTag{FrameType: FrameCommand, PacketType: PacketCommand, Command: 0, DataOffset: 2, Enhanced: true}},
	{name: "unknown fourcc", body: cat("91 'vvc1 0000"),
		want: VideoTag{FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 5, Enhanced: true, FourCC: 'v'<<24 | 'v'<<16 | 'c'<<8 | '1'}},
	{name: "modex nano offset", body: cat("97 02 0f423f 01 'hvc1 000000", hevcKeyNALUs),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 13, Enhanced: true, FourCC: FourCCHEVC, TimestampNanoOffset: 999999}},
	{name: "modex 16-bit size", body: cat("97 ff 0001 aabb 10 'avc1", avcConfig),
		want: VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketSequenceHeader, DataOffset: 11, Enhanced: true, FourCC: FourCCAVC}},
	{name: "modex chain at limit", body: modExChain(MaxModEx - 1),
		want: VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketFrame, DataOffset: 1 + 3*MaxModEx + 7, Enhanced: true, FourCC: FourCCHEVC}},
	{name: "modex chain over limit", body: modExChain(MaxModEx), limitName: "MaxModEx"},
	{name: "modex size cut", body: cat("97"), wantErr: ErrTruncated},
	{name: "modex 16-bit size cut", body: cat("97 ff 00"), wantErr: ErrTruncated},
	{name: "modex data cut", body: cat("97 02 0f42"), wantErr: ErrTruncated},
	{name: "modex type cut", body: cat("97 02 0f423f"), wantErr: ErrTruncated},
	{name: "multitrack", body: cat("96 00 'hvc1"), wantErr: ErrUnsupported},
	{name: "reserved packet type", body: cat("98 'hvc1"), bad: true},
	{name: "fourcc cut", body: cat("91 'hv"), wantErr: ErrTruncated},
	{name: "cts cut", body: cat("91 'hvc1 00"), wantErr: ErrTruncated},
	{name: "enhanced command cut", body: cat("d1"), wantErr: ErrTruncated},
}

// TestParseVideo runs every case contiguous and split at every pair of
// offsets.
func TestParseVideo(t *testing.T) {
	for _, tc := range videoCases {
		for c1 := 0; c1 <= len(tc.body); c1++ {
			for c2 := c1; c2 <= len(tc.body); c2++ {
				m := splitMemory(tc.body, c1, c2)
				got, err := ParseVideo(&m)
				if !checkErr(err, tc.wantErr, tc.limitName, tc.bad) {
					t.Fatalf("%s (cuts %d,%d): error %v", tc.name, c1, c2, err)
				}
				if err == nil && got != tc.want {
					t.Fatalf("%s (cuts %d,%d):\n got %+v\nwant %+v", tc.name, c1, c2, got, tc.want)
				}
			}
		}
	}
}

// TestAppendVideoHeaderRoundTrip re-encodes every valid case and parses it
// back.
func TestAppendVideoHeaderRoundTrip(t *testing.T) {
	for _, tc := range videoCases {
		if tc.wantErr != nil || tc.bad || tc.limitName != "" {
			continue
		}
		if tc.want.Enhanced && tc.want.FourCC != 0 && tc.want.Codec == codec.Unknown {
			continue // unknown FourCCs are re-encoded as given; covered by the fuzzer
		}
		checkVideoRoundTrip(t, tc.name, tc.body, tc.want)
	}
}

func checkVideoRoundTrip(t *testing.T, name string, body []byte, v VideoTag) {
	t.Helper()
	hdr, err := AppendVideoHeader(nil, v)
	if err != nil {
		t.Fatalf("%s: AppendVideoHeader(%+v): %v", name, v, err)
	}
	m := splitMemory(cat(hdr, body[v.DataOffset:]))
	got, err := ParseVideo(&m)
	if err != nil {
		t.Fatalf("%s: re-encoded %x: %v", name, hdr, err)
	}
	if got.DataOffset != len(hdr) {
		t.Fatalf("%s: DataOffset %d, header is %d bytes", name, got.DataOffset, len(hdr))
	}
	got.DataOffset = v.DataOffset
	if got != v {
		t.Fatalf("%s: round trip of %x:\n got %+v\nwant %+v", name, hdr, got, v)
	}
}

func TestAppendVideoHeaderKnownBytes(t *testing.T) {
	for _, tc := range []struct {
		v    VideoTag
		want []byte
	}{
		{VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketSequenceHeader}, cat("17 00 000000")},
		{VideoTag{Codec: codec.H264, FrameType: FrameInter, PacketType: PacketFrame, CTS: -1}, cat("27 01 ffffff")},
		{VideoTag{Codec: codec.H265, FrameType: FrameKey, PacketType: PacketFrame, CTS: 40}, cat("1c 01 000028")},
		{VideoTag{Codec: codec.H265, Enhanced: true, FrameType: FrameKey, PacketType: PacketFrame, CTS: 40}, cat("91 'hvc1 000028")},
		{VideoTag{Codec: codec.H265, Enhanced: true, FrameType: FrameInter, PacketType: PacketFrame}, cat("a3 'hvc1")},
		{VideoTag{Codec: codec.AV1, Enhanced: true, FrameType: FrameKey, PacketType: PacketSequenceHeader}, cat("90 'av01")},
		{VideoTag{Enhanced: true, FrameType: FrameCommand, PacketType: PacketCommand, Command: 1}, cat("d1 01")},
	} {
		got, err := AppendVideoHeader(nil, tc.v)
		if err != nil || string(got) != string(tc.want) {
			t.Errorf("%+v: got %x, %v; want %x", tc.v, got, err, tc.want)
		}
	}
	for i, v := range []VideoTag{
		{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketFrame, CTS: 1 << 23},
		{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketMetadata},
		{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketCommand},
		{Codec: codec.H264, FrameType: 8, PacketType: PacketFrame},
		{Codec: codec.H264, PacketType: PacketFrame, TimestampNanoOffset: 5},
		{CodecID: 2, PacketType: PacketSequenceHeader},
		{Enhanced: true, PacketType: PacketFrame},
		{Enhanced: true, Codec: codec.AV1, PacketType: PacketFrame, CTS: 3},
		{Enhanced: true, Codec: codec.H265, FrameType: 8, PacketType: PacketFrame},
		{Enhanced: true, Codec: codec.H265, PacketType: PacketCommand},
		{Enhanced: true, Codec: codec.H265, PacketType: 99},
		{Enhanced: true, Codec: codec.H265, PacketType: PacketFrame, TimestampNanoOffset: 1 << 24},
	} {
		if got, err := AppendVideoHeader(nil, v); err == nil {
			t.Errorf("bad case %d (%+v) encoded as %x", i, v, got)
		}
	}
}

func TestVideoEnums(t *testing.T) {
	if !FrameKey.IsKey() || !FrameGeneratedKey.IsKey() || FrameInter.IsKey() || FrameCommand.IsKey() {
		t.Error("IsKey")
	}
	for p := range PacketCommand + 2 {
		if p.String() == "" {
			t.Errorf("PacketType(%d) has no name", p)
		}
	}
	if PacketFrame.String() != "Frame" || PacketType(77).String() != "PacketType(77)" {
		t.Error("PacketType.String")
	}
	if FourCCHEVC.String() != "hvc1" || FourCCMP3.String() != ".mp3" || FourCC(0).String() != "FourCC(0x00000000)" {
		t.Errorf("FourCC.String: %s %s %s", FourCCHEVC, FourCCMP3, FourCC(0))
	}
}
