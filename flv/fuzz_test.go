package flv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/pool"
)

// reencodable reports whether Append*Header is expected to reproduce a
// parsed header: everything except enhanced bodies whose FourCC is 0 (to the
// encoders a FourCC of 0 means "derive it from Codec"); enhanced video
// commands carry no FourCC and are re-encodable too.
func reencodable(enhanced bool, f FourCC) bool { return !enhanced || f != 0 }

func FuzzParseVideo(f *testing.F) {
	for _, tc := range videoCases {
		f.Add(tc.body, uint16(1), uint16(len(tc.body)/2))
	}
	f.Fuzz(func(t *testing.T, body []byte, c1, c2 uint16) {
		m := splitMemory(body, int(c1), int(c2))
		v, err := ParseVideo(&m)
		if err != nil {
			return
		}
		if v.DataOffset < 1 || v.DataOffset > len(body) {
			t.Fatalf("DataOffset %d outside a %d-byte body", v.DataOffset, len(body))
		}
		if v.PacketType == PacketFrame && (v.Codec == codec.H264 || v.Codec == codec.H265) {
			spans, err := codec.SplitAVCC(&m, v.DataOffset, 4, nil)
			if err == nil {
				_ = codec.IsKeyframe(v.Codec, &m, spans)
			}
		}
		if !reencodable(v.Enhanced, v.FourCC) && v.PacketType != PacketCommand {
			return
		}
		checkVideoRoundTrip(t, "fuzz", body, v)
	})
}

func FuzzParseAudio(f *testing.F) {
	for _, tc := range audioCases {
		f.Add(tc.body, uint16(1), uint16(len(tc.body)/2))
	}
	f.Fuzz(func(t *testing.T, body []byte, c1, c2 uint16) {
		m := splitMemory(body, int(c1), int(c2))
		a, err := ParseAudio(&m)
		if err != nil {
			return
		}
		if a.DataOffset < 0 || a.DataOffset > len(body) || (a.DataOffset == 0) != (len(body) == 0) {
			t.Fatalf("DataOffset %d for a %d-byte body", a.DataOffset, len(body))
		}
		if a.PacketType == AudioSequenceHeader && a.Codec == codec.AAC {
			_, _ = codec.ParseAudioSpecificConfig(body[a.DataOffset:])
		}
		if !reencodable(a.Enhanced, a.FourCC) {
			return
		}
		checkAudioRoundTrip(t, "fuzz", body, a)
	})
}

// FuzzReader feeds arbitrary bytes through a bufreader and the FLV Reader
// (whole, or one byte or half a request at a time, with minimal blocks),
// parses what it gets, and checks that no byte is leaked once the payloads
// are freed.
func FuzzReader(f *testing.F) {
	f.Add(buildStream(f, sampleTags), uint8(0))
	f.Add(buildStream(f, sampleTags[3:5]), uint8(1))
	var tags []testTag
	for _, tc := range videoCases {
		tags = append(tags, testTag{TagHeader{Type: TagVideo}, tc.body})
	}
	for _, tc := range audioCases {
		tags = append(tags, testTag{TagHeader{Type: TagAudio}, tc.body})
	}
	f.Add(buildStream(f, tags), uint8(2))
	f.Add(cat("'FLV 01 05 0000000c aabbcc 00000000 08 000002 00000000 000000 af01 0000000d"), uint8(0))
	f.Add(cat("'FLV 01 05 00000009 00000000 09 000000 00000000 000000 0000000b"), uint8(1))
	if testclip.Available() {
		if data, err := os.ReadFile(testclip.FLV(f)); err == nil {
			f.Add(data[:min(len(data), 4096)], uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		var src io.Reader = bytes.NewReader(data)
		switch mode % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		a := pool.NewAllocator(1 << 16)
		br := bufreader.New(src, bufreader.Options{Allocator: a, BlockSize: bufreader.MinBlockSize})
		r := NewReader(br, ReaderOptions{MaxTagSize: 64 << 10, IgnorePreviousTagSize: mode&4 != 0})
		// A stream without a valid file header is still read as bare tags.
		_, _ = r.ReadHeader()
		var tag Tag
		var spans []codec.Span
		for range 1000 {
			err := r.ReadTag(&tag)
			if errors.Is(err, ErrPreviousTagSize) {
				if tag.Payload.Size != 0 {
					t.Fatal("payload kept after a PreviousTagSize mismatch")
				}
				continue
			}
			if err != nil {
				if tag.Payload.Size != 0 || len(tag.Payload.Buffers) != 0 {
					t.Fatalf("payload left behind by %v", err)
				}
				break
			}
			switch tag.Type {
			case TagVideo:
				if v, err := ParseVideo(&tag.Payload); err == nil && v.PacketType == PacketFrame {
					spans, _ = codec.SplitAVCC(&tag.Payload, v.DataOffset, 4, spans[:0])
				}
			case TagAudio:
				_, _ = ParseAudio(&tag.Payload)
			}
			pool.FreeMemory(a, &tag.Payload)
		}
		br.Recycle()
		if !pool.Balanced(a) {
			t.Fatalf("allocator unbalanced: %d bytes in use", pool.InUse(a))
		}
		pool.Recycle(a)
	})
}
