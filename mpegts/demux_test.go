package mpegts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// demuxFile demuxes a whole file and checks the invariants every test
// shares: zero copy, sources balanced after release and Close.
func demuxFile(t *testing.T, data []byte) (*collector, Stats, host.VideoConfig, host.AudioConfig) {
	t.Helper()
	d := NewDemuxer(Options{})
	var l ledger
	var c collector
	if errs := feed(t, d, data, &l, c.emit); len(errs) > 0 {
		t.Fatalf("push errors: %v", errs)
	}
	v, a, _ := d.Config()
	for i, au := range c.aus {
		for _, b := range au.bufs {
			if !within(data, b) {
				t.Fatalf("AU %d: a payload range does not lie inside a TS packet's payload: copied", i)
			}
		}
	}
	c.releaseAll()
	d.Close()
	if err := l.balanced(); err != nil {
		t.Fatal(err)
	}
	return &c, d.Stats(), v, a
}

func TestDemuxFFmpeg(t *testing.T) {
	for _, tc := range []struct {
		clip   string
		codec  codec.Codec
		format string
	}{
		{"h264", codec.H264, "h264"},
		{"h264bf2", codec.H264, "h264"},
		{"h265", codec.H265, "hevc"},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			path := tsClip(t, tc.clip)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			es := filepath.Join(dir, "v.es")
			adts := filepath.Join(dir, "a.aac")
			bsf := "h264_mp4toannexb"
			if tc.codec == codec.H265 {
				bsf = "hevc_mp4toannexb"
			}
			if _, err := runTool("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:v", "-c", "copy", "-bsf:v", bsf, "-f", tc.format, es,
				"-map", "0:a", "-c", "copy", "-f", "adts", adts); err != nil {
				t.Fatal(err)
			}
			c, st, vcfg, acfg := demuxFile(t, data)
			t.Logf("stats %+v", st)
			if st.CCGaps != 0 || st.DroppedAUs != 0 || st.Malformed != 0 || st.Discontinuities != 0 {
				t.Errorf("clean clip: stats %+v", st)
			}

			// Video: every unit identical (AUDs, which the demuxer drops, left out of the reference).
			ref, _ := os.ReadFile(es)
			var want [][]byte
			for _, u := range splitAnnexB(ref) {
				if !isAUD(tc.codec, u) {
					want = append(want, u)
				}
			}
			var got [][]byte
			var vid, aud []gotAU
			for _, au := range c.aus {
				if au.kind == host.Video {
					vid = append(vid, au)
					got = append(got, au.units...)
					if au.codec != tc.codec {
						t.Fatalf("video codec %v", au.codec)
					}
				} else {
					aud = append(aud, au)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("video units: got %d, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("video unit %d differs (%d vs %d bytes)", i, len(got[i]), len(want[i]))
				}
			}
			// Audio: every raw frame identical.
			ra, _ := os.ReadFile(adts)
			wantA := splitADTS(t, ra)
			if len(aud) != len(wantA) {
				t.Fatalf("audio frames: got %d, want %d", len(aud), len(wantA))
			}
			for i := range wantA {
				if len(aud[i].units) != 1 || !bytes.Equal(aud[i].units[0], wantA[i]) {
					t.Fatalf("audio frame %d differs", i)
				}
			}

			// Timestamps: ffprobe's, up to one constant offset shared by both streams.
			pv, pa := probe(t, path, "v"), probe(t, path, "a")
			if len(pv) != len(vid) || len(pa) != len(aud) {
				t.Fatalf("AUs: video %d audio %d, ffprobe %d %d", len(vid), len(aud), len(pv), len(pa))
			}
			offset := vid[0].dts - pv[0].dts
			const tol = time.Millisecond
			for i, p := range pv {
				g := vid[i]
				if absDur(g.pts-p.pts-offset) > tol || absDur(g.dts-p.dts-offset) > tol {
					t.Fatalf("video AU %d: pts/dts %v/%v, ffprobe %v/%v (+%v)", i, g.pts, g.dts, p.pts, p.dts, offset)
				}
				if g.key != p.key {
					t.Fatalf("video AU %d: keyframe %v, ffprobe %v", i, g.key, p.key)
				}
				if i > 0 && g.dts < vid[i-1].dts {
					t.Fatalf("video DTS not monotonic at %d", i)
				}
			}
			for i, p := range pa {
				if g := aud[i]; absDur(g.pts-p.pts-offset) > tol || g.dts != g.pts {
					t.Fatalf("audio AU %d: pts %v, ffprobe %v (+%v)", i, g.pts, p.pts, offset)
				}
			}

			reordered := 0
			for _, v := range vid {
				if v.pts != v.dts {
					reordered++
				}
			}
			if tc.clip == "h264bf2" && reordered == 0 {
				t.Errorf("the -bf 2 clip has no reordered frames")
			}
			t.Logf("%d video AUs (%d with PTS != DTS), %d audio AUs", len(vid), reordered, len(aud))

			// Config from in-band parameter sets and the ADTS header.
			if vcfg.Codec != tc.codec || len(vcfg.SPS) != 1 || len(vcfg.PPS) != 1 || (tc.codec == codec.H265) != (len(vcfg.VPS) == 1) {
				t.Errorf("video config %+v", vcfg)
			}
			if acfg.Codec != codec.AAC || acfg.SampleRate != 44100 || acfg.Channels != 1 || len(acfg.ASC) != 2 {
				t.Errorf("audio config %+v", acfg)
			}
			if _, err := codec.ParseAudioSpecificConfig(acfg.ASC); err != nil {
				t.Errorf("ASC: %v", err)
			}
		})
	}
}

// TestDemuxStraddle pushes each packet's payload split over sources at
// every packet, and checks start codes straddling packet boundaries are
// found: the clip's units must come out whole whichever packet carries
// which byte.
func TestScanAnnexBSplits(t *testing.T) {
	stream := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5, 6, 0, 0}
	want := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4, 5, 6}}
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			ps := []piece{{b: stream[:i]}, {b: stream[i:j]}, {b: stream[j:]}}
			spans, err := scanAnnexB(ps, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != len(want) {
				t.Fatalf("split %d/%d: %d units", i, j, len(spans))
			}
			for k, s := range spans {
				if !bytes.Equal(stream[s.Off:s.End()], want[k]) {
					t.Fatalf("split %d/%d: unit %d = %x", i, j, k, stream[s.Off:s.End()])
				}
			}
		}
	}
}

// esPkt builds one TS packet of pid carrying payload (at most 184 bytes),
// stuffed through the adaptation field.
func esPkt(pid uint16, pusi bool, cc byte, payload []byte) []byte {
	p := make([]byte, 0, PacketSize)
	b1 := byte(pid>>8) & 0x1F
	if pusi {
		b1 |= 0x40
	}
	p = append(p, syncByte, b1, byte(pid))
	if n := PacketSize - 4 - len(payload); n > 0 {
		p = append(p, 0x30|cc&15, byte(n-1))
		if n > 1 {
			p = append(p, 0)
			p = append(p, bytes.Repeat([]byte{0xFF}, n-2)...)
		}
	} else {
		p = append(p, 0x10|cc&15)
	}
	return append(p, payload...)
}

// TestDemuxVideoSourcesHandedOver: a video unit takes over the PES's holds
// on its sources (no second Retain), and a source the unit does not
// reference (a packet carrying only the PES header and an AUD) is
// released when the PES ends, not kept by the unit. When a source's
// pieces are not contiguous, the unit's sources are not in the PES's order
// and the demuxer retains them instead; either way every hold comes back.
func TestDemuxVideoSourcesHandedOver(t *testing.T) {
	const vpid = 0x100
	pesHdr := []byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1} // PTS only, unbounded length
	aud := []byte{0, 0, 0, 1, 0x09, 0xF0}
	idr := append([]byte{0, 0, 0, 1, 0x65}, bytes.Repeat([]byte{0x88}, 150)...)
	for _, tc := range []struct {
		name string
		// which source (0, 1, 2) carries packets 1..3 of the PES; packet
		// 0 (PES header + AUD) is always source 0.
		of      [3]int
		want    []int // the sources the unit lists, in order
		retains [3]int
		// headerOnly: source 0 carries nothing of the unit, so only the
		// feeder's hold is left on it once the PES has ended.
		headerOnly bool
	}{
		{"contiguous", [3]int{1, 1, 2}, []int{1, 2}, [3]int{1, 1, 1}, true},
		{"source reappears", [3]int{1, 0, 2}, []int{1, 0, 2}, [3]int{2, 2, 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDemuxer(Options{})
			var l ledger
			var c collector
			srcs := [3]*countSource{l.new(t), l.new(t), l.new(t)}
			push := func(pkt []byte, s Source) {
				t.Helper()
				if err := d.Push(pkt, s, c.emit); err != nil {
					t.Fatal(err)
				}
			}
			push(psiPkt(0, patSec(1, MuxPMTPID)), nil)
			push(psiPkt(MuxPMTPID, pmtSec(1, vpid, StreamTypeH264, vpid)), nil)
			push(esPkt(vpid, true, 0, append(append([]byte(nil), pesHdr...), aud...)), srcs[0])
			push(esPkt(vpid, false, 1, idr[:100]), srcs[tc.of[0]])
			push(esPkt(vpid, false, 2, idr[100:]), srcs[tc.of[1]])
			push(esPkt(vpid, false, 3, bytes.Repeat([]byte{0x99}, 60)), srcs[tc.of[2]])
			if err := d.Flush(c.emit); err != nil {
				t.Fatal(err)
			}
			if len(c.aus) != 1 {
				t.Fatalf("%d units, want 1", len(c.aus))
			}
			var got []int
			for _, s := range c.aus[0].srcs {
				for i, x := range srcs {
					if s == x {
						got = append(got, i)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("unit's sources %v, want %v", got, tc.want)
			}
			for i, s := range srcs {
				if s.retains != tc.retains[i] {
					t.Errorf("source %d retained %d times, want %d", i, s.retains, tc.retains[i])
				}
			}
			if tc.headerOnly && srcs[0].refs != 1 {
				t.Errorf("header-only source still held by the demuxer or the unit: %d holds", srcs[0].refs)
			}
			c.releaseAll()
			d.Close()
			for _, s := range srcs {
				s.Release() // the feeder's hold
			}
			if err := l.balanced(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
