//go:build !race

package mpegts

import (
	"bytes"
	"testing"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

func TestMuxNoAllocs(t *testing.T) {
	m := NewMuxer(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{synSPS}, PPS: [][]byte{synPPS}},
		host.AudioConfig{Codec: codec.AAC, ASC: synASC})
	key := unitsFrame(host.Video, codec.H264, true, 0, 0, synSlice(true, 20000, 1))
	delta := unitsFrame(host.Video, codec.H264, false, 3600, 3600, synSlice(false, 3000, 2), synSlice(false, 700, 3))
	aud := unitsFrame(host.Audio, codec.AAC, true, 0, 0, bytes.Repeat([]byte{0x21}, 300))
	var n int
	send := func(pieces [][]byte) error {
		for _, p := range pieces {
			n += len(p)
		}
		return nil
	}
	write := func() {
		for _, f := range []*host.Frame{key, aud, delta, aud, delta} {
			f.DTS += 40e6
			f.PTS += 40e6
			if err := m.WriteFrame(f, send); err != nil {
				t.Fatal(err)
			}
		}
	}
	write() // warm up: scratch grows once
	if a := testing.AllocsPerRun(100, write); a != 0 {
		t.Fatalf("WriteFrame allocates %.1f times per run", a)
	}
	if n == 0 || n%PacketSize != 0 {
		t.Fatalf("wrote %d bytes", n)
	}
}

func TestDemuxNoAllocs(t *testing.T) {
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
		fs := []*host.Frame{
			unitsFrame(host.Video, codec.H264, i%25 == 0, t0, t0, synSPS, synPPS, synSlice(i%25 == 0, 5000, byte(i))),
			unitsFrame(host.Audio, codec.AAC, true, t0, t0, bytes.Repeat([]byte{0x21}, 300)),
		}
		for _, f := range fs {
			if err := m.WriteFrame(f, send); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := NewDemuxer(Options{})
	aus := 0
	emit := func(au *AccessUnit) error { aus++; return nil }
	push := func() {
		for off := 0; off+PacketSize <= len(ts); off += PacketSize {
			if err := d.Push(ts[off:off+PacketSize], nil, emit); err != nil {
				t.Fatal(err)
			}
		}
	}
	push() // warm up: unit tables, piece lists and the config copies grow once
	if a := testing.AllocsPerRun(20, push); a != 0 {
		t.Fatalf("Push allocates %.1f times per run of %d packets", a, len(ts)/PacketSize)
	}
	if aus == 0 {
		t.Fatal("no access units")
	}
}
