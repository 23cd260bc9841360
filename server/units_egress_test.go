package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/pool"
)

// unitsFrame is one access unit of the clip as RTSP or SRT ingest would
// deliver it: the codec units without start codes or ADTS headers.
type unitsFrame struct {
	kind     host.Kind
	codec    codec.Codec
	dts, pts time.Duration
	key      bool
	units    [][]byte
}

// unitsClip is the shared clip taken apart into access units (video from
// the Annex-B stream ffmpeg extracts, audio from ADTS), with the source's
// own timestamps from ffprobe, in the FLV file's interleaving order.
type unitsClip struct {
	sps, pps []byte
	asc      []byte
	frames   []unitsFrame
}

var (
	unitsOnce sync.Once
	unitsSrc  *unitsClip
	unitsErr  error
)

func loadUnitsClip(t *testing.T) *unitsClip {
	t.Helper()
	path := clip(t).path
	unitsOnce.Do(func() { unitsSrc, unitsErr = buildUnitsClip(path) })
	if unitsErr != nil {
		t.Fatal(unitsErr)
	}
	return unitsSrc
}

func ffmpegOut(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("%s: %v: %s", args[0], err, ee.Stderr)
		}
		return nil, err
	}
	return out, nil
}

func buildUnitsClip(path string) (*unitsClip, error) {
	h264, err := ffmpegOut("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:v", "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-")
	if err != nil {
		return nil, err
	}
	adts, err := ffmpegOut("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:a", "-c", "copy", "-f", "adts", "-")
	if err != nil {
		return nil, err
	}
	type ts struct {
		dts, pts time.Duration
		key      bool
		video    bool
	}
	// Every packet of the FLV, in file order, with its timestamps.
	out, err := ffmpegOut("ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts,dts,flags", "-of", "csv=p=0", path)
	if err != nil {
		return nil, err
	}
	var order []ts
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 4 {
			continue
		}
		pts, err1 := strconv.Atoi(f[1])
		dts, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("ffprobe line %q", line)
		}
		order = append(order, ts{dts: time.Duration(dts) * time.Millisecond, pts: time.Duration(pts) * time.Millisecond,
			key: strings.Contains(f[3], "K"), video: f[0] == "video"})
	}
	c := &unitsClip{}
	aus := splitH264AUs(splitAnnexB(h264))
	var audio [][]byte
	for b := adts; len(b) >= 7; {
		if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			return nil, fmt.Errorf("ADTS sync lost")
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		hl := 7
		if b[1]&1 == 0 {
			hl = 9
		}
		if n < hl || n > len(b) {
			return nil, fmt.Errorf("ADTS frame of %d bytes", n)
		}
		if c.asc == nil {
			obj, sfi, ch := int(b[2]>>6)+1, int(b[2]>>2&0xf), int(b[2]&1)<<2|int(b[3]>>6)
			c.asc = []byte{byte(obj<<3 | sfi>>1), byte(sfi<<7 | ch<<3)}
		}
		audio = append(audio, b[hl:n])
		b = b[n:]
	}
	vi, ai := 0, 0
	for _, o := range order {
		if o.video {
			if vi >= len(aus) {
				return nil, fmt.Errorf("more video packets than the %d access units", len(aus))
			}
			c.frames = append(c.frames, unitsFrame{kind: host.Video, codec: codec.H264, dts: o.dts, pts: o.pts, key: o.key, units: aus[vi]})
			vi++
			continue
		}
		if ai >= len(audio) {
			return nil, fmt.Errorf("more audio packets than the %d ADTS frames", len(audio))
		}
		c.frames = append(c.frames, unitsFrame{kind: host.Audio, codec: codec.AAC, dts: o.dts, pts: o.pts, key: true, units: [][]byte{audio[ai]}})
		ai++
	}
	if vi != len(aus) || ai != len(audio) {
		return nil, fmt.Errorf("%d/%d video and %d/%d audio units matched to packets", vi, len(aus), ai, len(audio))
	}
	for _, u := range aus[0] {
		switch codec.H264Type(u[0]) {
		case codec.H264SPS:
			c.sps = u
		case codec.H264PPS:
			c.pps = u
		}
	}
	if c.sps == nil || c.pps == nil {
		return nil, fmt.Errorf("no in-band SPS/PPS in the first access unit")
	}
	return c, nil
}

// splitAnnexB splits a byte stream at its start codes.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 { // the 4-byte start code's zero
					end--
				}
				nals = append(nals, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	return nals
}

// splitH264AUs groups NAL units into access units: a new one starts at an
// AUD, SPS, PPS or SEI, or at a slice whose first_mb_in_slice is 0, once
// the current one has a slice.
func splitH264AUs(nals [][]byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range nals {
		if len(n) == 0 {
			continue
		}
		t := codec.H264Type(n[0])
		first := t.IsVCL() && len(n) > 1 && n[1]&0x80 != 0
		if hasVCL && (first || t == codec.H264AUD || t == codec.H264SPS || t == codec.H264PPS || t == codec.H264SEI) {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		cur = append(cur, n)
		hasVCL = hasVCL || t.IsVCL()
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// publishUnits publishes the clip into the hub as FormatUnits frames, the
// way RTSP ingest does, from its own goroutine and allocator, after subs
// subscribers have joined; with an access unit delimiter in front of every
// video frame (FLV egress drops it) and each frame's payload in two
// ranges cut inside its last unit (egress must slice a unit across
// ranges). The channel reports the end: an error, or nil once the stream
// is closed with every frame back and the allocator balanced.
func publishUnits(t *testing.T, h *harness, path string, subs int) <-chan error {
	t.Helper()
	c := loadUnitsClip(t)
	st, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: path, Protocol: "rtsp", Remote: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	done := make(chan error, 1)
	go func() {
		alloc := pool.NewAllocator(1 << 20)
		w := st.Writer(alloc)
		err := func() error {
			if err := st.SetVideoConfig(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{c.sps}, PPS: [][]byte{c.pps}}); err != nil {
				return err
			}
			if err := st.SetAudioConfig(host.AudioConfig{Codec: codec.AAC, ASC: c.asc, SampleRate: 44100, Channels: 1}); err != nil {
				return err
			}
			for deadline := time.Now().Add(10 * time.Second); st.Info().Subscribers < subs; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%d subscribers after 10 s, want %d", st.Info().Subscribers, subs)
				}
			}
			start := time.Now()
			aud := []byte{0x09, 0xf0}
			for _, fr := range c.frames {
				// Twice real time: quick, yet well inside the ring's bounds.
				if d := time.Until(start.Add(fr.dts / 2)); d > 0 {
					time.Sleep(d)
				}
				units := fr.units
				if fr.kind == host.Video {
					units = append([][]byte{aud}, units...)
				}
				fillUnits(w.Frame(), alloc, fr, units)
				var err error
				if fr.kind == host.Video {
					err = w.NextVideo()
				} else {
					err = w.NextAudio()
				}
				if err != nil {
					return err
				}
			}
			return nil
		}()
		free := st.Close(err)
		switch {
		case err != nil:
		case !free:
			err = fmt.Errorf("frames still held after close")
		case !pool.Balanced(alloc):
			err = fmt.Errorf("allocator unbalanced: %d bytes in use", pool.InUse(alloc))
		}
		if free {
			pool.Recycle(alloc)
		}
		done <- err
	}()
	return done
}

// fillUnits copies units into f as two Malloc'd ranges cut inside the
// last unit (the test is the payload's source; ingest would take ranges).
func fillUnits(f *host.Frame, alloc *pool.Allocator, fr unitsFrame, units [][]byte) {
	n := 0
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: n, Len: len(u)})
		n += len(u)
	}
	cut := n - len(units[len(units)-1])/2
	if cut == 0 || cut == n {
		cut = n
	}
	all := make([]byte, 0, n)
	for _, u := range units {
		all = append(all, u...)
	}
	for _, r := range [][]byte{all[:cut], all[cut:]} {
		if len(r) == 0 {
			continue
		}
		b := pool.Malloc(alloc, len(r))
		copy(b, r)
		f.Payload.PushOne(b)
	}
	f.Kind, f.Codec, f.Format = fr.kind, fr.codec, host.FormatUnits
	f.DTS, f.PTS, f.Keyframe = fr.dts, fr.pts, fr.key
}

// canonicalMD5 is ffmpeg's framemd5 of one stream of an FLV file in the
// canonical form of issue 9 (Annex-B video without SPS, PPS and AUD), so
// that the same units packaged differently hash the same.
func canonicalMD5(t *testing.T, input, spec string) []testclip.Packet {
	t.Helper()
	args := []string{"ffmpeg", "-hide_banner", "-loglevel", "error", "-copyts", "-i", input, "-map", spec, "-c", "copy"}
	if spec == "0:v" {
		args = append(args, "-bsf:v", "h264_mp4toannexb,filter_units=remove_types=7|8|9")
	}
	out, err := ffmpegOut(append(args, "-f", "framemd5", "-")...)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []testclip.Packet
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 6 {
			t.Fatalf("framemd5 line %q", line)
		}
		dts, _ := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		pts, _ := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
		size, _ := strconv.Atoi(strings.TrimSpace(f[4]))
		pkts = append(pkts, testclip.Packet{DTS: dts, PTS: pts, Size: size, Hash: strings.TrimSpace(f[5])})
	}
	return pkts
}

// compareCanonical checks that got holds the same units as want from
// the first keyframe on (DTS from; a player joins there), every one, in
// order, with monotonic DTS and the source's timestamps.
func compareCanonical(t *testing.T, what string, got, want []testclip.Packet, from int64) {
	t.Helper()
	// A player waiting before the first frame gets everything; one that
	// joins later starts at a keyframe, so at most what precedes the first
	// keyframe may be missing.
	for len(got) > 0 && len(want) > 0 && want[0].Hash != got[0].Hash && want[0].DTS <= from {
		want = want[1:]
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d packets, source %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Hash != w.Hash || g.Size != w.Size {
			t.Errorf("%s packet %d: %d bytes %s, source %d bytes %s", what, i, g.Size, g.Hash, w.Size, w.Hash)
			return
		}
		if g.DTS != w.DTS || g.PTS != w.PTS {
			t.Errorf("%s packet %d: dts/pts %d/%d, source %d/%d", what, i, g.DTS, g.PTS, w.DTS, w.PTS)
			return
		}
		if i > 0 && g.DTS < got[i-1].DTS {
			t.Errorf("%s packet %d: dts %d after %d", what, i, g.DTS, got[i-1].DTS)
		}
	}
}

// TestUnitsOverHTTPFLVAndRTMP publishes the clip as codec units (the
// RTSP/SRT frame format) and reads it back over HTTP-FLV (a Go client)
// and RTMP play (ffmpeg) at once: both must carry every video and audio
// access unit of the source, byte for byte in canonical form, with its
// timestamps; the publisher's allocator balances and the goroutines return.
func TestUnitsOverHTTPFLVAndRTMP(t *testing.T) {
	testclip.NeedFFmpeg(t)
	src := clip(t).path
	loadUnitsClip(t)
	yaml := strings.Replace(baseConfig, "zerocopy:\n  enable: false\n", "zerocopy:\n  rtmp:\n    listenaddr: 127.0.0.1:0\n", 1)
	h := startServer(t, yaml)
	var rtmpAddr string
	for name, a := range h.srv.Addrs() {
		if strings.Contains(name, "rtmp") {
			rtmpAddr = a.String()
		}
	}
	if rtmpAddr == "" {
		t.Fatalf("no RTMP listener in %v", h.srv.Addrs())
	}
	dir := t.TempDir()
	httpOut, rtmpOut := filepath.Join(dir, "http.flv"), filepath.Join(dir, "rtmp.flv")

	done := publishUnits(t, h, "live/u", 2)
	httpErr := make(chan error, 1)
	go func() {
		resp, err := httpClient.Get(h.url("/live/u.flv"))
		if err != nil {
			httpErr <- err
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, resp.Body); err != nil {
			httpErr <- err
			return
		}
		httpErr <- os.WriteFile(httpOut, buf.Bytes(), 0o600)
	}()
	rtmpErr := make(chan error, 1)
	go func() {
		_, err := ffmpegOut("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "rtmp://"+rtmpAddr+"/live/u", "-copyts", "-c", "copy", "-f", "flv", "-y", rtmpOut)
		rtmpErr <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-httpErr; err != nil {
		t.Fatal(err)
	}
	if err := <-rtmpErr; err != nil {
		t.Fatal(err)
	}
	var firstKey int64 = -1
	for _, fr := range loadUnitsClip(t).frames {
		if fr.kind == host.Video && fr.key {
			firstKey = fr.dts.Milliseconds()
			break
		}
	}
	for _, spec := range []string{"0:v", "0:a"} {
		want := canonicalMD5(t, src, spec)
		compareCanonical(t, "http-flv "+spec, canonicalMD5(t, httpOut, spec), want, firstKey)
		compareCanonical(t, "rtmp "+spec, canonicalMD5(t, rtmpOut, spec), want, firstKey)
	}
	if e := h.srv.Egress(); e.PayloadBytes.Load() == 0 {
		t.Error("no payload bytes counted")
	}
}
