package flv

import (
	"bytes"
	"testing"
	"time"
	"unsafe"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// unitsFrame builds a FormatUnits frame of units whose payload is split
// at the given offsets (so units straddle ranges).
func unitsFrame(c codec.Codec, key bool, dts, pts time.Duration, units [][]byte, cuts ...int) *host.Frame {
	f := &host.Frame{Kind: host.Video, Codec: c, Format: host.FormatUnits, DTS: dts, PTS: pts, Keyframe: key}
	if c == codec.AAC {
		f.Kind = host.Audio
	}
	var all []byte
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: len(all), Len: len(u)})
		all = append(all, u...)
	}
	f.Payload = splitMemory(all, cuts...)
	return f
}

// inside reports whether b lies inside one of bufs.
func inside(b []byte, bufs ...[]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, x := range bufs {
		s := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
		if cap(x) > 0 && p >= s && p+uintptr(len(b)) <= s+uintptr(cap(x)) {
			return true
		}
	}
	return false
}

var (
	sps264 = []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50}
	pps264 = []byte{0x68, 0xeb, 0xe3, 0xcb}
	aud264 = []byte{0x09, 0xf0}
	idr264 = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0x01, 0x02, 0x03}
	aud265 = []byte{0x46, 0x01, 0x10}
	idr265 = []byte{0x26, 0x01, 0xaf, 0x09, 0x40, 0xf3, 0xb8}
	trl265 = []byte{0x02, 0x01, 0xd0, 0x09, 0x7e}
)

// TestAppendFrameBody: the body of every frame format parses back with
// ParseVideo/ParseAudio and SplitAVCC to the frame's units (AUDs left
// out), with the composition time; every media piece points into the
// frame's memory and every other piece into scratch.
func TestAppendFrameBody(t *testing.T) {
	ms := time.Millisecond
	flvFrame := &host.Frame{Kind: host.Video, Codec: codec.H264, Format: host.FormatFLV}
	body := cat("17 01 000000 00000004", idr264[:4])
	flvFrame.Payload = splitMemory(body, 3)
	for _, tc := range []struct {
		name      string
		f         *host.Frame
		codec     codec.Codec
		enhanced  bool
		key       bool
		cts       int32
		wantUnits [][]byte // nil: the body is the frame's own payload
	}{
		{"flv passthrough", flvFrame, codec.H264, false, true, 0, nil},
		{"h264 key with AUD and in-band sets", unitsFrame(codec.H264, true, 40*ms, 120*ms, [][]byte{aud264, sps264, pps264, idr264}, 3, 12, 17),
			codec.H264, false, true, 80, [][]byte{sps264, pps264, idr264}},
		{"h264 inter, PTS before DTS clamps to 0", unitsFrame(codec.H264, false, 80*ms, 40*ms, [][]byte{trl265}, 1),
			codec.H264, false, false, 0, [][]byte{trl265}},
		{"h264 sub-millisecond PTS", unitsFrame(codec.H264, false, 1999*time.Microsecond, 2001*time.Microsecond, [][]byte{idr264}),
			codec.H264, false, false, 1, [][]byte{idr264}},
		{"h265 key CodedFramesX", unitsFrame(codec.H265, true, 0, 0, [][]byte{aud265, idr265}, 2, 4),
			codec.H265, true, true, 0, [][]byte{idr265}},
		{"h265 inter CodedFrames", unitsFrame(codec.H265, false, 40*ms, 80*ms, [][]byte{trl265, trl265}, 7),
			codec.H265, true, false, 40, [][]byte{trl265, trl265}},
		{"aac", unitsFrame(codec.AAC, true, 23*ms, 23*ms, [][]byte{{0xde, 0x02, 0x00, 0x4c, 0x61}}, 2),
			codec.AAC, false, false, 0, [][]byte{{0xde, 0x02, 0x00, 0x4c, 0x61}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scratch := make([]byte, 0, 64)
			pieces := [][]byte{[]byte("caller's")}
			scratch, pieces, size, err := AppendFrameBody(scratch, pieces, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if string(pieces[0]) != "caller's" {
				t.Fatal("pieces already in the list were changed")
			}
			pieces = pieces[1:]
			var out []byte
			media := 0
			for _, p := range pieces {
				switch {
				case inside(p, tc.f.Payload.Buffers...):
					media += len(p)
				case inside(p, scratch):
				default:
					t.Fatalf("piece % x points neither into the frame nor into scratch", p)
				}
				out = append(out, p...)
			}
			if len(out) != size {
				t.Fatalf("size %d, pieces hold %d bytes", size, len(out))
			}
			if tc.wantUnits == nil {
				if !bytes.Equal(out, body) || media != len(body) {
					t.Fatalf("FLV body % x, want % x", out, body)
				}
				return
			}
			m := gomem.NewMemory(out)
			var units [][]byte
			want := 0
			for _, u := range tc.wantUnits {
				want += len(u)
			}
			if media != want {
				t.Errorf("%d media bytes from frame memory, want %d (nothing copied)", media, want)
			}
			if tc.codec == codec.AAC {
				a, err := ParseAudio(&m)
				if err != nil || a.Codec != codec.AAC || a.PacketType != AudioRaw || out[0] != 0xaf {
					t.Fatalf("audio body %+v, %v", a, err)
				}
				units = [][]byte{out[a.DataOffset:]}
			} else {
				v, err := ParseVideo(&m)
				if err != nil {
					t.Fatal(err)
				}
				if v.Codec != tc.codec || v.Enhanced != tc.enhanced || v.FrameType.IsKey() != tc.key || v.PacketType != PacketFrame || v.CTS != tc.cts {
					t.Fatalf("video header %+v", v)
				}
				if tc.enhanced && tc.cts == 0 && out[0]&0x0f != exCodedFramesX {
					t.Fatalf("CTS 0 written as packet type %d, want CodedFramesX", out[0]&0x0f)
				}
				spans, err := codec.SplitAVCC(&m, v.DataOffset, 4, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range spans {
					units = append(units, out[s.Off:s.End()])
				}
			}
			if len(units) != len(tc.wantUnits) {
				t.Fatalf("%d units, want %d", len(units), len(tc.wantUnits))
			}
			for i := range units {
				if !bytes.Equal(units[i], tc.wantUnits[i]) {
					t.Fatalf("unit %d % x, want % x", i, units[i], tc.wantUnits[i])
				}
			}
		})
	}
}

// TestAppendFrameBodyErrors: formats and codecs FLV cannot carry, units
// outside the payload and oversized bodies fail without touching pieces.
func TestAppendFrameBodyErrors(t *testing.T) {
	bad := unitsFrame(codec.H264, true, 0, 0, [][]byte{idr264})
	bad.Units[0].Len++
	for name, f := range map[string]*host.Frame{
		"no format":       {Kind: host.Video, Codec: codec.H264},
		"vp9 units":       unitsFrame(codec.VP9, true, 0, 0, [][]byte{{1, 2}}),
		"unit past end":   bad,
		"flv over 16 MiB": {Kind: host.Video, Codec: codec.H264, Format: host.FormatFLV, Payload: gomem.Memory{Size: MaxDataSize + 1}},
	} {
		scratch, pieces, size, err := AppendFrameBody([]byte{7}, [][]byte{{1}}, f)
		if err == nil || len(pieces) != 1 || len(scratch) != 1 || size != 0 {
			t.Errorf("%s: err %v, %d pieces, %d scratch, size %d", name, err, len(pieces), len(scratch), size)
		}
	}
}
