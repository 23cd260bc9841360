package zerocopy_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// rt2Clip encodes a 3 s test pattern with a tone (AAC) into file name with
// the given video encoder arguments.
func rt2Clip(t *testing.T, name string, video ...string) string {
	t.Helper()
	testclip.NeedFFmpeg(t)
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-pix_fmt", "yuv420p"}, video...)
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	return out
}

// rt2HEVCCanonical is a file's per-packet MD5s of its HEVC video as Annex-B
// without VPS/SPS/PPS/AUD/prefix SEI (32-35, 39), the form both Matroska and
// RTSP recordings reduce to (hevc_mp4toannexb prepends the hvcC arrays,
// where x265 puts an SEI that RTP never carries).
func rt2HEVCCanonical(t *testing.T, file string, annexB bool) []testclip.Packet {
	t.Helper()
	out := filepath.Join(t.TempDir(), "canon.nut")
	bsf := "filter_units=remove_types=32|33|34|35|39"
	if !annexB {
		bsf = "hevc_mp4toannexb," + bsf
	}
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", file, "-map", "0:v", "-c", "copy",
		"-bsf:v", bsf, "-f", "nut", "-y", out).CombinedOutput(); err != nil {
		t.Fatalf("canonical %s: %v: %s", file, err, b)
	}
	return testclip.FrameMD5(t, out, "0:v")
}

// TestRTSP2H265RecordAndPlay: ffmpeg pushes an H.265 (libx265) + AAC clip over RTSP, TCP interleaved and UDP; ffmpeg reads it
// back over RTSP PLAY: every video and audio access unit identical to the
// source's, in order, none missing. (HTTP-FLV and RTMP play write H.265 as
// Enhanced RTMP, which Debian's ffmpeg 5.1 FLV reader cannot parse, so the
// read-back here is RTSP only. The clip has no B-frames: ffmpeg's RTSP
// reader gives reordered HEVC pictures no timestamp, which its muxers
// refuse; derived DTS is tested with H.264 over HTTP-FLV.)
func TestRTSP2H265RecordAndPlay(t *testing.T) {
	testclip.NeedFFmpeg(t)
	if out, _ := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output(); !strings.Contains(string(out), "libx265") {
		t.Skip("ffmpeg has no libx265")
	}
	clip := rt2Clip(t, "hevc.mkv", "-c:v", "libx265", "-preset", "ultrafast", "-g", "25", "-x265-params", "log-level=error:bframes=0")
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			ts := rtStartServer(t, "")
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			pushDone := make(chan error, 1)
			go func() { pushDone <- rtPushRTSP(ctx, clip, "rtsp://"+ts.rtsp+"/live/hevc", transport) }()
			rtWaitStream(t, ts, "live/hevc")
			out := filepath.Join(t.TempDir(), "play.nut")
			wait := rtRecord(t, ctx, []string{"-timeout", "15000000", "-rtsp_transport", transport, "-i", "rtsp://" + ts.rtsp + "/live/hevc"}, out)
			if err := <-pushDone; err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			sameCanonicalRun(t, out, "0:v", rt2HEVCCanonical(t, clip, false), rt2HEVCCanonical(t, out, true), 0.5)
			rtSameUnits(t, clip, out, "0:a", false, true, 0.5)
		})
	}
}

// sameCanonicalRun checks that have (got's canonical packets of spec) is a
// contiguous run of want (the source's) from some packet on: every access
// unit identical and in order, none missing in between, DTS monotonic, and
// covering at least minFrac of the source.
func sameCanonicalRun(t *testing.T, got, spec string, want, have []testclip.Packet, minFrac float64) {
	t.Helper()
	if len(have) == 0 {
		t.Fatalf("%s %s: no packets", got, spec)
	}
	start := -1
	for i := range want {
		if want[i].Hash == have[0].Hash {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s %s: first packet (size %d) is not in the source", got, spec, have[0].Size)
	}
	for i := range have {
		if start+i >= len(want) {
			t.Fatalf("%s %s: %d packets past the source's end", got, spec, len(have)-i)
		}
		if want[start+i].Hash != have[i].Hash {
			t.Fatalf("%s %s packet %d: size %d, source packet %d has size %d", got, spec, i, have[i].Size, start+i, want[start+i].Size)
		}
		if i > 0 && have[i].DTS < have[i-1].DTS {
			t.Fatalf("%s %s packet %d: dts %d after %d", got, spec, i, have[i].DTS, have[i-1].DTS)
		}
	}
	if frac := float64(len(have)) / float64(len(want)); frac < minFrac {
		t.Fatalf("%s %s: %d of %d packets (from %d)", got, spec, len(have), len(want), start)
	}
	t.Logf("%s %s: %d access units identical to the source's %d..%d", filepath.Base(got), spec, len(have), start, start+len(have)-1)
}

// TestRTSP2BFrames: an H.264 clip with B-frames (-bf 2; RTP carries only
// PTS) pushed over RTSP and read back over HTTP-FLV: DTS is derived, the
// FLV plays with monotonic DTS, and every video and audio unit is
// identical to the source's.
func TestRTSP2BFrames(t *testing.T) {
	clip := rt2Clip(t, "bf.flv", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "2")
	ts := rtStartServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flvOut := filepath.Join(t.TempDir(), "http.flv")
	waitFLV := rtRecord(t, ctx, []string{"-rw_timeout", "15000000", "-i", "http://" + ts.http + "/live/bf.flv", "-f", "flv"}, flvOut)
	settle()
	if err := rtPushRTSP(ctx, clip, "rtsp://"+ts.rtsp+"/live/bf", "tcp"); err != nil {
		t.Fatal(err)
	}
	if err := waitFLV(); err != nil {
		t.Fatal(err)
	}
	rtSameUnits(t, clip, flvOut, "0:v", false, false, 0.9)
	rtSameUnits(t, clip, flvOut, "0:a", false, false, 0.9)
	reordered := false
	for _, p := range testclip.FrameMD5(t, flvOut, "0:v") {
		reordered = reordered || p.PTS != p.DTS
	}
	if !reordered {
		t.Error("no packet with PTS != DTS: the clip has no B-frames or DTS was not derived")
	}
}
