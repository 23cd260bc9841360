// Package testclip generates, once per test binary, the short H.264+AAC
// clip the integration tests share, with Debian's ffmpeg. Import it from
// _test.go files only.
//
// The clip is written into a temporary directory the first time FLV is
// called and reused by every later call in the same test binary. Call
// Cleanup from TestMain (after m.Run) to remove the directory.
package testclip

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GenerateTimeout bounds one ffmpeg or ffprobe run.
const GenerateTimeout = 2 * time.Minute

var (
	once    sync.Once
	dir     string
	flvPath string
	genErr  error
)

// Available reports whether ffmpeg and ffprobe are on PATH.
func Available() bool {
	_, err1 := exec.LookPath("ffmpeg")
	_, err2 := exec.LookPath("ffprobe")
	return err1 == nil && err2 == nil
}

// H264AACFlvArgs returns the ffmpeg arguments that encode the shared clip:
// 2 s of 320x240 testsrc at 25 fps (libx264 ultrafast, a keyframe every 25
// frames) and a 440 Hz sine at 44.1 kHz (AAC 64 kb/s), muxed as FLV. The
// output path is not included: append it.
func H264AACFlvArgs() []string {
	return []string{
		"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k",
		"-f", "flv",
	}
}

// FLV returns the path of the shared H.264+AAC FLV clip, generating it on
// the first call. It skips the test when ffmpeg is not installed and fails
// it when generation failed. The file is shared: do not modify it.
func FLV(t testing.TB) string {
	t.Helper()
	if !Available() {
		t.Skip("testclip: ffmpeg/ffprobe not found on PATH; install ffmpeg (apt-get install ffmpeg) to run this test")
	}
	once.Do(generate)
	if genErr != nil {
		t.Fatalf("testclip: %v", genErr)
	}
	return flvPath
}

func generate() {
	dir, genErr = os.MkdirTemp("", "zerocopy-testclip-")
	if genErr != nil {
		return
	}
	out := filepath.Join(dir, "h264aac.flv")
	if _, genErr = run("ffmpeg", append(H264AACFlvArgs(), out)...); genErr == nil {
		flvPath = out
	}
}

// Cleanup removes the generated clip, if any. Call it from TestMain after
// m.Run.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// PacketCounts returns the number of packets ffprobe reads per stream type
// ("video", "audio") in the file at path.
func PacketCounts(t testing.TB, path string) map[string]int {
	t.Helper()
	out, err := run("ffprobe", "-v", "error", "-count_packets",
		"-show_entries", "stream=codec_type,nb_read_packets", "-of", "csv=p=0", path)
	if err != nil {
		t.Fatalf("testclip: %v", err)
	}
	counts := map[string]int{}
	for line := range strings.Lines(strings.TrimSpace(out)) {
		typ, n, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			t.Fatalf("testclip: unexpected ffprobe line %q", line)
		}
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("testclip: unexpected ffprobe line %q", line)
		}
		counts[typ] += v
	}
	return counts
}

func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), GenerateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
