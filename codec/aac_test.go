package codec

import (
	"errors"
	"testing"
)

type ascCase struct {
	name    string
	data    []byte
	want    AudioSpecificConfig
	wantErr error
	bad     bool
}

var ascCases = []ascCase{
	{name: "ffmpeg lc 44.1k mono with sbr sync ext", data: unhex("12 08 56 e5 00"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, SampleRate: 44100, ChannelConfig: 1}},
	{name: "lc 44.1k stereo", data: unhex("12 10"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, SampleRate: 44100, ChannelConfig: 2}},
	{name: "lc 48k stereo", data: unhex("11 90"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 3, SampleRate: 48000, ChannelConfig: 2}},
	{name: "lc 960", data: unhex("12 0c"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, SampleRate: 44100, ChannelConfig: 1, FrameLength960: true}},
	{name: "he-aac explicit", data: unhex("2b 11 88 00"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 6, SampleRate: 24000, ChannelConfig: 2, SBR: true, ExtSampleRate: 48000}},
	{name: "he-aac v2 explicit", data: unhex("eb 09 88 00"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 6, SampleRate: 24000, ChannelConfig: 1, SBR: true, PS: true, ExtSampleRate: 48000}},
	{name: "explicit rate", data: unhex("17 80 56 22 10"),
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 15, SampleRate: 44100, ChannelConfig: 2}},
	{name: "escaped object type", data: unhex("f9 46 40"),
		want: AudioSpecificConfig{ObjectType: 42, SampleRateIndex: 3, SampleRate: 48000, ChannelConfig: 2}},
	{name: "13 bits only", data: unhex("12 10")[:2],
		want: AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, SampleRate: 44100, ChannelConfig: 2}},
	{name: "empty", data: nil, wantErr: ErrTruncated},
	{name: "one byte", data: unhex("12"), wantErr: ErrTruncated},
	{name: "escape cut", data: unhex("f8"), wantErr: ErrTruncated},
	{name: "explicit rate cut", data: unhex("17 80 56"), wantErr: ErrTruncated},
	{name: "sbr core cut", data: unhex("2b 11"), wantErr: ErrTruncated},
	{name: "null object", data: unhex("00 10"), bad: true},
	{name: "reserved rate 13", data: unhex("16 90"), bad: true},
	{name: "explicit rate 0", data: unhex("17 80 00 00 10"), bad: true},
	{name: "sbr with null core", data: unhex("2b 11 80 00"), bad: true},
}

func TestAudioSpecificConfig(t *testing.T) {
	for _, tc := range ascCases {
		got, err := ParseAudioSpecificConfig(tc.data)
		if tc.wantErr != nil || tc.bad {
			if err == nil {
				t.Errorf("%s: no error: %+v", tc.name, got)
			} else if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestAACChannelsAndRates(t *testing.T) {
	for cfg, want := range map[int]int{0: 0, 1: 1, 2: 2, 6: 6, 7: 8, 8: 0, 15: 0} {
		c := AudioSpecificConfig{ChannelConfig: cfg}
		if got := c.Channels(); got != want {
			t.Errorf("Channels(%d) = %d, want %d", cfg, got, want)
		}
	}
	if AACSampleRate(4) != 44100 || AACSampleRate(12) != 7350 || AACSampleRate(13) != 0 || AACSampleRate(-1) != 0 {
		t.Error("AACSampleRate")
	}
}

// decodeADTS reads back the fields AppendADTSHeader writes.
func decodeADTS(h []byte) (profile, sfi, ch, frameLen int, ok bool) {
	if len(h) != ADTSHeaderSize || h[0] != 0xff || h[1] != 0xf1 || h[6]&3 != 0 {
		return 0, 0, 0, 0, false
	}
	profile = int(h[2] >> 6)
	sfi = int(h[2] >> 2 & 0xf)
	ch = int(h[2]&1)<<2 | int(h[3]>>6)
	frameLen = int(h[3]&3)<<11 | int(h[4])<<3 | int(h[5]>>5)
	fullness := int(h[5]&0x1f)<<6 | int(h[6]>>2)
	return profile, sfi, ch, frameLen, fullness == 0x7ff
}

func TestADTSHeader(t *testing.T) {
	c := AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, ChannelConfig: 2}
	for _, n := range []int{0, 1, 371, 8184} {
		h, err := c.AppendADTSHeader(nil, n)
		if err != nil {
			t.Fatal(err)
		}
		p, sfi, ch, fl, ok := decodeADTS(h)
		if !ok || p != 1 || sfi != 4 || ch != 2 || fl != n+7 {
			t.Errorf("payload %d: header %x decodes to %d %d %d %d %v", n, h, p, sfi, ch, fl, ok)
		}
	}
	if h, _ := c.AppendADTSHeader(nil, 10); string(h) != string(unhex("ff f1 50 80 02 3f fc")) {
		t.Errorf("known header: %x", h)
	}
	bad := []struct {
		c AudioSpecificConfig
		n int
	}{
		{AudioSpecificConfig{ObjectType: 5, SampleRateIndex: 4, ChannelConfig: 2}, 10},
		{AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 15, ChannelConfig: 2}, 10},
		{AudioSpecificConfig{ObjectType: 2, SampleRateIndex: 4, ChannelConfig: 8}, 10},
		{c, 8185},
		{c, -1},
	}
	for i, b := range bad {
		if _, err := b.c.AppendADTSHeader(nil, b.n); err == nil {
			t.Errorf("bad case %d accepted", i)
		}
	}
}
