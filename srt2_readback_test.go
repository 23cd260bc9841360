package zerocopy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestSRT2RTSPPlay: an SRT-published stream read over RTSP PLAY (TCP
// interleaved) by ffmpeg: every video and audio access unit identical to
// the source's in canonical form.
func TestSRT2RTSPPlay(t *testing.T) {
	ts := stStartServer(t, "", "")
	rtspAddr := ts.Addrs()["rtsp"].String()
	clip := stClip(t, "rtsp.flv")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/rp", "")) }()
	stWaitStream(t, ts, "live/rp")
	// DESCRIBE describes the tracks whose configurations are known: the
	// audio one is, from TS, only once the first ADTS header arrived
	// (ffmpeg's TS muxer sends audio up to 0.7 s after the first video).
	st2WaitCodecs(t, ts, "live/rp")
	out := filepath.Join(t.TempDir(), "play.nut")
	wait := rtRecord(t, ctx, []string{"-timeout", "15000000", "-rtsp_transport", "tcp", "-i", "rtsp://" + rtspAddr + "/live/rp"}, out)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	rtSameUnits(t, clip, out, "0:v", false, true, 0.4)
	rtSameUnits(t, clip, out, "0:a", false, true, 0.4)
}

// st2HEVCCanonical is a TS file's per-packet MD5s of its H.265 video in
// canonical form: Annex-B without VPS/SPS/PPS/AUD (types 32-35).
func st2HEVCCanonical(t *testing.T, file string) []testclip.Packet {
	t.Helper()
	out := filepath.Join(t.TempDir(), "canon.nut")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", file, "-map", "0:v", "-c", "copy",
		"-bsf:v", "filter_units=remove_types=32|33|34|35", "-f", "nut", "-y", out).CombinedOutput(); err != nil {
		t.Fatalf("canonical %s: %v: %s", file, err, b)
	}
	return testclip.FrameMD5(t, out, "0:v")
}

// TestSRT2H265: an H.265 (libx265, B-frames) + AAC clip pushed over SRT
// reads back over SRT play with every access unit identical, and the
// stream is announced as H.265.
func TestSRT2H265(t *testing.T) {
	ts := stStartServer(t, "", "")
	dir := t.TempDir()
	clip := filepath.Join(dir, "hevc.ts")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "3", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:bframes=2:log-level=error", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "mpegts", "-y", clip).CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("ffmpeg"); lerr == nil {
			t.Skipf("no libx265 encoder? %v: %s", err, b)
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(dir, "play.ts")
	wait := stRecord(t, ctx, ts.url("subscribe:/live/hevc", ""), out)
	time.Sleep(300 * time.Millisecond)
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/hevc", "")) }()
	stWaitStream(t, ts, "live/hevc")
	var codecName string
	for deadline := time.Now().Add(3 * time.Second); codecName == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, info := range ts.Hub().Streams() {
			if info.Path == "live/hevc" {
				codecName = info.VideoCodec
			}
		}
	}
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	want, have := st2HEVCCanonical(t, clip), st2HEVCCanonical(t, out)
	if len(have) == 0 || len(want) == 0 {
		t.Fatalf("no H.265 packets: source %d, read back %d", len(want), len(have))
	}
	start := -1
	for i := range want {
		if want[i].Hash == have[0].Hash {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("first H.265 packet read back (size %d) is not in the source", have[0].Size)
	}
	for i := range have {
		if start+i >= len(want) || want[start+i].Hash != have[i].Hash {
			t.Fatalf("H.265 packet %d (size %d) differs from source packet %d", i, have[i].Size, start+i)
		}
		if i > 0 && have[i].DTS < have[i-1].DTS {
			t.Fatalf("H.265 packet %d: dts %d after %d", i, have[i].DTS, have[i-1].DTS)
		}
	}
	// gosrt drops its receive buffer when the caller shuts down, so the
	// clip's last ~0.3 s may be missing (see TestSRT2SplitTSPacketsFFmpeg).
	if frac := float64(len(have)) / float64(len(want)); frac < 0.8 {
		t.Fatalf("%d of %d H.265 packets", len(have), len(want))
	}
	stSameUnits(t, clip, out, "0:a", 0.8)
	t.Logf("H.265 (%s in /api/streams): %d access units identical to the source's %d..%d", codecName, len(have), start, start+len(have)-1)
	if codecName != "H265" && codecName != "h265" && codecName != "HEVC" && codecName != "hevc" {
		t.Errorf("stream video codec %q, want H.265", codecName)
	}
}

// st2IgnoredLine matches a publisher's close log: the programs and
// elementary streams it did not follow.
var st2IgnoredLine = regexp.MustCompile(`msg="srt connection closed".*role=publish.* path=(\S+) .*ignored_programs=(\d+) ignored_streams=(\d+)`)

// TestSRT2SeveralAudioStreamsAndPrograms: a TS with three audio streams,
// and a TS with two programs, are served without a crash: the first
// program's video and first audio stream read back identical, and the
// rest is counted and logged.
func TestSRT2SeveralAudioStreamsAndPrograms(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name             string
		args             []string
		programs, stream int
	}{
		// Three AAC streams: two ignored.
		{"audio3", []string{"-map", "0:v", "-map", "0:a", "-map", "0:a", "-map", "0:a"}, 0, 2},
		// Two programs (video+audio, then audio alone): the second ignored.
		{"programs2", []string{"-map", "0:v", "-map", "0:a", "-map", "0:a",
			"-program", "title=one:st=0:st=1", "-program", "title=two:st=2"}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(dir, tc.name+".ts")
			args := append([]string{"-hide_banner", "-loglevel", "error", "-i", clip}, tc.args...)
			args = append(args, "-c", "copy", "-f", "mpegts", "-y", src)
			if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
				t.Fatalf("ts: %v: %s", err, b)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			path := "live/" + tc.name
			out := filepath.Join(dir, tc.name+"-play.ts")
			wait := stRecord(t, ctx, ts.url("subscribe:/"+path, ""), out)
			time.Sleep(300 * time.Millisecond)
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// The file as it is (ffmpeg would remux only one stream of each
			// kind and one program).
			st2PushFile(t, ts.srt, "publish:/"+path, data, []int{1316})
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			stSameUnits(t, clip, out, "0:v", 0.95)
			stSameUnits(t, clip, out, "0:a", 0.95)
			deadline := time.Now().Add(5 * time.Second)
			for {
				var found []string
				for _, m := range st2IgnoredLine.FindAllStringSubmatch(ts.log.String(), -1) {
					if m[1] == path {
						found = m
					}
				}
				if found != nil {
					p, _ := strconv.Atoi(found[2])
					s, _ := strconv.Atoi(found[3])
					if p != tc.programs || s != tc.stream {
						t.Fatalf("ignored_programs=%d ignored_streams=%d, want %d and %d", p, s, tc.programs, tc.stream)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no close line for %s", path)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	if !regexp.MustCompile(`following the first program's first video and audio stream only`).MatchString(ts.log.String()) {
		t.Errorf("ignored streams not logged while publishing")
	}
}

// st2WaitCodecs waits until path has announced both its video and its
// audio configuration.
func st2WaitCodecs(t *testing.T, ts *stServer, path string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, info := range ts.Hub().Streams() {
			if info.Path == path && info.VideoCodec != "" && info.AudioCodec != "" {
				return
			}
		}
	}
	t.Fatalf("%s never announced both codecs", path)
}
