package mpegts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// frameOf builds a host frame viewing a collected AU's units.
func frameOf(au gotAU) *host.Frame {
	f := &host.Frame{Kind: au.kind, Codec: au.codec, Format: host.FormatUnits, PTS: au.pts, DTS: au.dts, Keyframe: au.key}
	for _, u := range au.units {
		f.Units = append(f.Units, codec.Span{Off: f.Payload.Size, Len: len(u)})
		f.Payload.Buffers = append(f.Payload.Buffers, u)
		f.Payload.Size += len(u)
	}
	return f
}

// muxAll muxes frames and returns the TS bytes, checking every send holds
// whole packets.
func muxAll(t testing.TB, m *Muxer, frames []*host.Frame) []byte {
	var out []byte
	send := func(pieces [][]byte) error {
		n := 0
		for _, p := range pieces {
			n += len(p)
			out = append(out, p...)
		}
		if n%PacketSize != 0 || n == 0 || n > PacketsPerSend*PacketSize {
			t.Fatalf("send of %d bytes", n)
		}
		return nil
	}
	for _, f := range frames {
		if err := m.WriteFrame(f, send); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(out); i += PacketSize {
		if out[i] != syncByte {
			t.Fatalf("no sync byte at %d", i)
		}
	}
	return out
}

func framemd5(t *testing.T, path, spec string) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-i", path, "-map", spec, "-c", "copy"}
	if spec == "0:v" {
		args = append(args, "-bsf:v", "filter_units=remove_types=9|35")
	} else {
		args = append(args, "-bsf:a", "aac_adtstoasc")
	}
	out, err := runTool("ffmpeg", append(args, "-f", "framemd5", "-")...)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var dts0 int64
	first := true
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		dts, _ := strconv.ParseInt(f[1], 10, 64)
		pts, _ := strconv.ParseInt(f[2], 10, 64)
		if first {
			dts0, first = dts, false
		}
		ts := ""
		if spec == "0:v" { // audio timestamps are ffmpeg's interpolation, compared by the round trip
			ts = fmt.Sprintf("%d,%d,", dts-dts0, pts-dts0)
		}
		// timestamps relative to the first, size, hash
		lines = append(lines, ts+strings.Join([]string{f[3], f[4], f[5]}, ","))
	}
	return lines
}

const tick = time.Second / 90000

func TestMuxRoundTripFFmpeg(t *testing.T) {
	for _, name := range []string{"h264", "h264bf2", "h265"} {
		t.Run(name, func(t *testing.T) {
			path := tsClip(t, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, _, vcfg, acfg := demuxFile(t, data)
			var frames []*host.Frame
			for _, au := range c.aus {
				frames = append(frames, frameOf(au))
			}
			out := muxAll(t, NewMuxer(vcfg, acfg), frames)

			// Demux our output: identical units and timestamps.
			c2, st2, _, _ := demuxFile(t, out)
			if st2.Malformed != 0 || st2.CCGaps != 0 || st2.DroppedAUs != 0 {
				t.Fatalf("stats of our mux output: %+v", st2)
			}
			// Compared per stream: a video AU is emitted at its stream's next
			// PUSI, so the interleaving may differ.
			a1, a2 := byKind(c.aus), byKind(c2.aus)
			if len(a2) != len(a1) {
				t.Fatalf("round trip: %d AUs, want %d", len(a2), len(a1))
			}
			for i, a := range a1 {
				b := a2[i]
				// Audio frames inside a PES get sub-tick timestamps; the TS
				// carries 90 kHz ticks: allow one tick.
				if a.kind != b.kind || absDur(a.pts-b.pts) > tick || absDur(a.dts-b.dts) > tick || a.key != b.key || len(a.units) != len(b.units) {
					t.Fatalf("AU %d: %v %v/%v key %v %d units, want %v %v/%v key %v %d units", i,
						b.kind, b.pts, b.dts, b.key, len(b.units), a.kind, a.pts, a.dts, a.key, len(a.units))
				}
				for k := range a.units {
					if !bytes.Equal(a.units[k], b.units[k]) {
						t.Fatalf("AU %d unit %d differs", i, k)
					}
				}
			}

			// ffmpeg reads it: per-packet framemd5 equal to the source's.
			outPath := filepath.Join(t.TempDir(), "out.ts")
			if err := os.WriteFile(outPath, out, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, spec := range []string{"0:v", "0:a"} {
				want, got := framemd5(t, path, spec), framemd5(t, outPath, spec)
				if len(want) != len(got) {
					t.Fatalf("%s: %d packets, want %d", spec, len(got), len(want))
				}
				for i := range want {
					if want[i] != got[i] {
						t.Fatalf("%s packet %d: %s, want %s", spec, i, got[i], want[i])
					}
				}
			}
		})
	}
}

// synthetic H.264 units: no 00 00 0x sequences inside.
var (
	synSPS = []byte{0x67, 0x42, 0xC0, 0x1E, 0x95, 0xA0, 0x50, 0x7F}
	synPPS = []byte{0x68, 0xCE, 0x3C, 0x80}
	synASC = []byte{0x12, 0x10} // AAC-LC, 44.1 kHz, stereo
)

func synSlice(key bool, n int, seed byte) []byte {
	b := make([]byte, n)
	b[0] = 0x41
	if key {
		b[0] = 0x65
	}
	for i := 1; i < n; i++ {
		b[i] = byte(i)*7 + seed | 0x10 // never 0
	}
	return b
}

func unitsFrame(kind host.Kind, c codec.Codec, key bool, pts, dts int64, units ...[]byte) *host.Frame {
	f := &host.Frame{Kind: kind, Codec: c, Format: host.FormatUnits, Keyframe: key,
		PTS: duration(pts), DTS: duration(dts)}
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: f.Payload.Size, Len: len(u)})
		f.Payload.Buffers = append(f.Payload.Buffers, u)
		f.Payload.Size += len(u)
	}
	return f
}

func TestMuxInsertsParameterSets(t *testing.T) {
	m := NewMuxer(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{synSPS}, PPS: [][]byte{synPPS}},
		host.AudioConfig{Codec: codec.AAC, ASC: synASC})
	frames := []*host.Frame{
		unitsFrame(host.Video, codec.H264, true, 0, 0, synSlice(true, 3000, 1)),
		unitsFrame(host.Audio, codec.AAC, true, 0, 0, bytes.Repeat([]byte{0x21}, 300)),
		unitsFrame(host.Video, codec.H264, false, 3600, 3600, synSlice(false, 500, 2)),
	}
	out := muxAll(t, m, frames)
	c, st, vcfg, acfg := demuxFile(t, out)
	c.aus = byKind(c.aus)
	if len(c.aus) != 3 || st.Malformed != 0 {
		t.Fatalf("%d AUs, stats %+v", len(c.aus), st)
	}
	if len(c.aus[0].units) != 3 || !bytes.Equal(c.aus[0].units[0], synSPS) || !bytes.Equal(c.aus[0].units[1], synPPS) {
		t.Fatalf("keyframe units %x", c.aus[0].units)
	}
	if !bytes.Equal(vcfg.SPS[0], synSPS) || !bytes.Equal(acfg.ASC, synASC) || acfg.Channels != 2 {
		t.Fatalf("config %+v %+v", vcfg, acfg)
	}
}

// byKind orders AUs video first, then audio, each in emission order.
func byKind(aus []gotAU) []gotAU {
	var v, a []gotAU
	for _, au := range aus {
		if au.kind == host.Video {
			v = append(v, au)
		} else {
			a = append(a, au)
		}
	}
	return append(v, a...)
}
