package mpegts

import (
	"bytes"
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// BenchmarkDemux measures Push over a 1 Mbit/s-like synthetic stream
// (20 kB keyframes, 5 kB delta frames, AAC), reporting bytes per second.
func BenchmarkDemux(b *testing.B) {
	m := NewMuxer(host.VideoConfig{Codec: codec.H264}, host.AudioConfig{Codec: codec.AAC, ASC: synASC})
	var ts []byte
	send := func(pieces [][]byte) error {
		for _, p := range pieces {
			ts = append(ts, p...)
		}
		return nil
	}
	for i := range 50 {
		t0 := int64(i) * 3600
		key := i%25 == 0
		n := 5000
		if key {
			n = 20000
		}
		for _, f := range []*host.Frame{
			unitsFrame(host.Video, codec.H264, key, t0, t0, synSPS, synPPS, synSlice(key, n, byte(i))),
			unitsFrame(host.Audio, codec.AAC, true, t0, t0, bytes.Repeat([]byte{0x21}, 300)),
		} {
			if err := m.WriteFrame(f, send); err != nil {
				b.Fatal(err)
			}
		}
	}
	d := NewDemuxer(Options{})
	emit := func(au *AccessUnit) error { return nil }
	b.SetBytes(int64(len(ts)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off+PacketSize <= len(ts); off += PacketSize {
			if err := d.Push(ts[off:off+PacketSize], nil, emit); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMux measures WriteFrame for a 20 kB keyframe.
func BenchmarkMux(b *testing.B) {
	m := NewMuxer(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{synSPS}, PPS: [][]byte{synPPS}}, host.AudioConfig{})
	f := unitsFrame(host.Video, codec.H264, true, 0, 0, synSlice(true, 20000, 1))
	send := func(pieces [][]byte) error { return nil }
	b.SetBytes(int64(f.Payload.Size))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.WriteFrame(f, send); err != nil {
			b.Fatal(err)
		}
	}
}
