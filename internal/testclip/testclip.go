// Package testclip generates, once per test binary, the short H.264+AAC
// clip the integration tests share, with Debian's ffmpeg. Import it from
// _test.go files only.
//
// Tests that need ffmpeg call FLV or NeedFFmpeg. Where ffmpeg or ffprobe is
// missing they skip, except under CI (CI=true) or with ZC_REQUIRE_FFMPEG=1,
// where they fail: a CI run must not go green with its real peers absent.
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

// Environment variables that turn a missing ffmpeg from a skip into a
// failure. RequireEnv is ours; CIEnv is set to "true" by most CI systems.
const (
	RequireEnv = "ZC_REQUIRE_FFMPEG"
	CIEnv      = "CI"
)

// Available reports whether ffmpeg and ffprobe are on PATH.
func Available() bool {
	return missing() == ""
}

// missing names the tools not found on PATH ("" when both are there).
func missing() string {
	var m []string
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			m = append(m, tool)
		}
	}
	return strings.Join(m, " and ")
}

// Required reports whether a missing ffmpeg must fail tests rather than
// skip them: ZC_REQUIRE_FFMPEG is set to a true value (1, true, yes) or CI
// is "true" (or "1").
func Required() bool {
	return truthy(os.Getenv(RequireEnv)) || truthy(os.Getenv(CIEnv))
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// NeedFFmpeg stops the test unless ffmpeg and ffprobe are on PATH: it
// skips, or, when Required, fails with the tools' names and how to install
// them. Call it first in any test that runs ffmpeg or ffprobe itself; FLV
// calls it.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	m := missing()
	if m == "" {
		return
	}
	if Required() {
		t.Fatalf("testclip: %s not found on PATH, and %s=%q %s=%q require them: install Debian's ffmpeg (apt-get install ffmpeg; .ci/run does) or unset both to skip",
			m, RequireEnv, os.Getenv(RequireEnv), CIEnv, os.Getenv(CIEnv))
	}
	t.Skipf("testclip: %s not found on PATH; install ffmpeg (apt-get install ffmpeg) to run this test (with %s=1 or CI=true this is a failure)", m, RequireEnv)
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
// the first call. When ffmpeg is not installed it skips the test, or fails
// it when Required (see NeedFFmpeg); it fails the test when generation
// failed. The file is shared: do not modify it.
func FLV(t testing.TB) string {
	t.Helper()
	NeedFFmpeg(t)
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
