package flv

import (
	"testing"

	"github.com/zcingest/zerocopy/codec"
)

type audioCase struct {
	name      string
	body      []byte
	want      AudioTag
	wantErr   error
	limitName string
	bad       bool
}

var audioCases = []audioCase{
	{name: "aac sequence header", body: cat("af 00 120856e500"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 10, SoundRate: 3, SoundSize: 1, SoundType: 1, PacketType: AudioSequenceHeader, DataOffset: 2}},
	{name: "aac raw", body: cat("af 01 de020040"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 10, SoundRate: 3, SoundSize: 1, SoundType: 1, PacketType: AudioRaw, DataOffset: 2}},
	{name: "aac raw empty frame", body: cat("ae 01"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 10, SoundRate: 3, SoundSize: 1, PacketType: AudioRaw, DataOffset: 2}},
	{name: "mp3", body: cat("2f fffb9064"),
		want: AudioTag{SoundFormat: 2, SoundRate: 3, SoundSize: 1, SoundType: 1, PacketType: AudioRaw, DataOffset: 1}},
	{name: "g711 alaw", body: cat("72 d5d5"),
		want: AudioTag{SoundFormat: 7, SoundSize: 1, PacketType: AudioRaw, DataOffset: 1}},
	{name: "silence", body: nil, want: AudioTag{PacketType: AudioSilence}},
	{name: "aac no packet type", body: cat("af"), wantErr: ErrTruncated},
	{name: "aac reserved packet type", body: cat("af 02"), bad: true},

	{name: "mp4a sequence start", body: cat("90 'mp4a 1210"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 9, PacketType: AudioSequenceHeader, DataOffset: 5, Enhanced: true, FourCC: FourCCAAC}},
	{name: "mp4a coded frames", body: cat("91 'mp4a 2100"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 9, PacketType: AudioRaw, DataOffset: 5, Enhanced: true, FourCC: FourCCAAC}},
	{name: "opus coded frames", body: cat("91 'Opus fc"),
		want: AudioTag{SoundFormat: 9, PacketType: AudioRaw, DataOffset: 5, Enhanced: true, FourCC: FourCCOpus}},
	{name: "mp4a sequence end", body: cat("92 'mp4a"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 9, PacketType: AudioSequenceEnd, DataOffset: 5, Enhanced: true, FourCC: FourCCAAC}},
	{name: "multichannel config", body: cat("94 'Opus 01 02 00000003"),
		want: AudioTag{SoundFormat: 9, PacketType: AudioMultichannelConfig, DataOffset: 5, Enhanced: true, FourCC: FourCCOpus}},
	{name: "modex nano", body: cat("97 02 00007b 01 'mp4a 2100"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 9, PacketType: AudioRaw, DataOffset: 10, Enhanced: true, FourCC: FourCCAAC, TimestampNanoOffset: 123}},
	{name: "modex other type ignored", body: cat("97 00 ff 11 'mp4a"),
		want: AudioTag{Codec: codec.AAC, SoundFormat: 9, PacketType: AudioRaw, DataOffset: 8, Enhanced: true, FourCC: FourCCAAC}},
	{name: "modex cut", body: cat("97 05 0000"), wantErr: ErrTruncated},
	{name: "multitrack", body: cat("95 00 'mp4a"), wantErr: ErrUnsupported},
	{name: "reserved packet type", body: cat("93 'mp4a"), bad: true},
	{name: "fourcc cut", body: cat("90 'mp"), wantErr: ErrTruncated},
}

func TestParseAudio(t *testing.T) {
	for _, tc := range audioCases {
		for c1 := 0; c1 <= len(tc.body); c1++ {
			for c2 := c1; c2 <= len(tc.body); c2++ {
				m := splitMemory(tc.body, c1, c2)
				got, err := ParseAudio(&m)
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

func TestAppendAudioHeaderRoundTrip(t *testing.T) {
	for _, tc := range audioCases {
		if tc.wantErr != nil || tc.bad || tc.limitName != "" {
			continue
		}
		checkAudioRoundTrip(t, tc.name, tc.body, tc.want)
	}
}

func checkAudioRoundTrip(t *testing.T, name string, body []byte, a AudioTag) {
	t.Helper()
	hdr, err := AppendAudioHeader(nil, a)
	if err != nil {
		t.Fatalf("%s: AppendAudioHeader(%+v): %v", name, a, err)
	}
	m := splitMemory(cat(hdr, body[a.DataOffset:]))
	got, err := ParseAudio(&m)
	if err != nil {
		t.Fatalf("%s: re-encoded %x: %v", name, hdr, err)
	}
	if got.DataOffset != len(hdr) {
		t.Fatalf("%s: DataOffset %d, header is %d bytes", name, got.DataOffset, len(hdr))
	}
	got.DataOffset = a.DataOffset
	if got != a {
		t.Fatalf("%s: round trip of %x:\n got %+v\nwant %+v", name, hdr, got, a)
	}
}

func TestAppendAudioHeaderKnownBytes(t *testing.T) {
	if got := AppendAACHeader(nil, true); string(got) != "\xaf\x00" {
		t.Errorf("AppendAACHeader(seq) = %x", got)
	}
	if got := AppendAACHeader(nil, false); string(got) != "\xaf\x01" {
		t.Errorf("AppendAACHeader(raw) = %x", got)
	}
	got, err := AppendAudioHeader(nil, AudioTag{Codec: codec.AAC, Enhanced: true, PacketType: AudioSequenceHeader})
	if err != nil || string(got) != string(cat("90 'mp4a")) {
		t.Errorf("enhanced AAC: %x %v", got, err)
	}
	for i, a := range []AudioTag{
		{SoundFormat: 9, PacketType: AudioRaw},
		{SoundFormat: 10, SoundRate: 4},
		{SoundFormat: 10, PacketType: AudioSequenceEnd},
		{SoundFormat: 2, PacketType: AudioSequenceHeader},
		{SoundFormat: 10, PacketType: AudioRaw, TimestampNanoOffset: 1},
		{Enhanced: true, PacketType: AudioRaw},
		{Enhanced: true, Codec: codec.AAC, PacketType: 99},
		{Enhanced: true, Codec: codec.AAC, PacketType: AudioRaw, TimestampNanoOffset: 1 << 24},
	} {
		if got, err := AppendAudioHeader(nil, a); err == nil {
			t.Errorf("bad case %d (%+v) encoded as %x", i, a, got)
		}
	}
	for p := range AudioSilence + 2 {
		if p.String() == "" {
			t.Errorf("AudioPacketType(%d) has no name", p)
		}
	}
}
