package ingest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/ingest"
	"github.com/zcingest/zerocopy/pool"
)

// pooled copies body into memory Malloc'd from alloc, split at half, as a
// reader would hand it over.
func pooled(alloc *pool.Allocator, body []byte) gomem.Memory {
	var m gomem.Memory
	for _, part := range [][]byte{body[:len(body)/2], body[len(body)/2:]} {
		if len(part) == 0 {
			continue
		}
		b := pool.Malloc(alloc, len(part))
		copy(b, part)
		m.Buffers = append(m.Buffers, b)
		m.Size += len(b)
	}
	return m
}

// avcSequenceHeader is a legacy AVC sequence header tag body (4-byte NAL
// lengths) with one SPS and one PPS.
func avcSequenceHeader(t *testing.T) []byte {
	t.Helper()
	body, err := flv.AppendVideoHeader(nil, flv.VideoTag{Codec: codec.H264, FrameType: flv.FrameKey, PacketType: flv.PacketSequenceHeader})
	if err != nil {
		t.Fatal(err)
	}
	rec := codec.AVCConfig{Version: 1, Profile: 66, Compatibility: 0xC0, Level: 30, LengthSize: 4,
		SPS: [][]byte{{0x67, 66, 0xC0, 30, 0xAA}}, PPS: [][]byte{{0x68, 0xCE, 0x3C, 0x80}}}
	body, err = rec.Append(body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// avcFrame is a legacy AVC frame tag body carrying the given NAL units.
func avcFrame(t *testing.T, key bool, nalus ...[]byte) []byte {
	t.Helper()
	ft := flv.FrameInter
	if key {
		ft = flv.FrameKey
	}
	body, err := flv.AppendVideoHeader(nil, flv.VideoTag{Codec: codec.H264, FrameType: ft, PacketType: flv.PacketFrame})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nalus {
		body = append(body, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		body = append(body, n...)
	}
	return body
}

// TestFLVPublisherFreesOnEveryPath: every tag body handed to WriteTag is
// either moved into a published frame or freed, on success and on each
// error; published frames carry the right views; and the allocator ends
// balanced once the publish is closed.
func TestFLVPublisherFreesOnEveryPath(t *testing.T) {
	// The frames below jump 49 days forward to cross the 2^32 ms wrap; a
	// ring bounded by the default 12 s would evict them before the
	// subscriber reads (the hub's duration bound is tested in hub/).
	h := hub.New(hub.Options{RingDuration: 100 * 24 * time.Hour}, nil)
	defer h.Close()
	st, err := h.Publish(context.Background(), host.PublishRequest{Path: "x", Protocol: "flv"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := h.Subscribe("x")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	alloc := pool.NewAllocator(64 << 10)
	p := ingest.NewFLVPublisher(st, alloc)

	write := func(name string, typ uint8, ts uint32, body []byte, wantErr bool) {
		t.Helper()
		m := pooled(alloc, body)
		err := p.WriteTag(typ, ts, &m)
		if (err != nil) != wantErr {
			t.Fatalf("%s: err %v, want error %v", name, err, wantErr)
		}
		if m.Size != 0 || len(m.Buffers) != 0 {
			t.Fatalf("%s: WriteTag left %d bytes in the caller's Memory", name, m.Size)
		}
	}
	write("script", flv.TagScript, 0, []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}, false)
	write("empty video", flv.TagVideo, 0, []byte{}, true)
	write("truncated video", flv.TagVideo, 0, []byte{0x17}, true)
	write("bad AVC config", flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 2}, true)
	write("sequence header", flv.TagVideo, 0, avcSequenceHeader(t), false)
	write("bad NAL length", flv.TagVideo, 0, append(avcFrame(t, true), 0, 0, 1, 0, 0x65), true)
	write("keyframe", flv.TagVideo, 40, avcFrame(t, true, []byte{0x65, 1, 2, 3}, []byte{0x06, 9}), false)
	write("end of sequence", flv.TagVideo, 80, []byte{0x17, 2, 0, 0, 0}, false)
	write("mp3 audio", flv.TagAudio, 80, []byte{0x2F, 1, 2, 3}, false)
	write("truncated AAC", flv.TagAudio, 80, []byte{0xAF}, true)
	write("bad ASC", flv.TagAudio, 80, []byte{0xAF, 0, 0}, true)
	write("ASC", flv.TagAudio, 80, append(flv.AppendAACHeader(nil, true), 0x12, 0x10), false)
	write("AAC frame", flv.TagAudio, 100, append(flv.AppendAACHeader(nil, false), 0x21, 0x22, 0x23), false)
	// Timestamps unwrap across 2^32 ms.
	write("before wrap", flv.TagVideo, 0xFFFFFF00, avcFrame(t, false, []byte{0x41, 1}), false)
	write("after wrap", flv.TagVideo, 0x10, avcFrame(t, false, []byte{0x41, 2}), false)

	v, a, changed := sub.Configs()
	if !changed || v.Codec != codec.H264 || len(v.SPS) != 1 || len(v.PPS) != 1 || a.Codec != codec.AAC || a.SampleRate != 44100 || a.Channels != 2 {
		t.Fatalf("configs: changed %v, video %+v, audio %+v", changed, v, a)
	}
	st2 := p.Stats()
	if st2.VideoFrames != 3 || st2.AudioFrames != 1 || st2.Ignored != 3 {
		t.Fatalf("stats %+v", st2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type want struct {
		kind  host.Kind
		dts   time.Duration
		key   bool
		units []int // unit lengths
	}
	for i, w := range []want{
		{host.Video, 40 * time.Millisecond, true, []int{4, 2}},
		{host.Audio, 100 * time.Millisecond, true, []int{3}},
		{host.Video, 0xFFFFFF00 * time.Millisecond, false, []int{2}},
		{host.Video, (1<<32 + 0x10) * time.Millisecond, false, []int{2}},
	} {
		f, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var lens []int
		for _, u := range f.Units {
			lens = append(lens, u.Len)
		}
		if f.Kind != w.kind || f.DTS != w.dts || f.Keyframe != w.key || f.Format != host.FormatFLV || len(lens) != len(w.units) {
			t.Fatalf("frame %d: %v dts %v key %v units %v; want %+v", i, f.Kind, f.DTS, f.Keyframe, lens, w)
		}
		for j := range lens {
			if lens[j] != w.units[j] {
				t.Fatalf("frame %d: unit lengths %v, want %v", i, lens, w.units)
			}
		}
		f.Release()
	}
	if !st.Close(nil) {
		t.Fatal("Close reported frames still held")
	}
	if _, err := sub.Next(ctx); err != io.EOF {
		t.Fatalf("after Close: %v", err)
	}
	if !pool.Balanced(alloc) {
		t.Fatalf("%d bytes still in use", pool.InUse(alloc))
	}
	pool.Recycle(alloc)
}
