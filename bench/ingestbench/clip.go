package ingestbench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClipGenerateTimeout bounds the one ffmpeg run that encodes the clip.
const ClipGenerateTimeout = 3 * time.Minute

// ClipSpec describes the pre-encoded clip every pusher sends.
type ClipSpec struct {
	Name         string // short label in the report (low, high, legacy)
	Seconds      int    // length; pushers loop it
	Width        int
	Height       int
	FPS          int
	VideoBitrate string // x264 -b:v (with -maxrate equal and a 1 s -bufsize)
	GOP          int    // frames between keyframes
	AudioBitrate string
}

// DefaultClip is the first harness's clip: 640x360 at 30 fps, about
// 2 Mbit/s of x264 ultrafast with a keyframe every 60 frames, plus
// 128 kbit/s AAC, 20 s long. It is the "legacy" clip (docs before issue 12).
var DefaultClip = ClipSpec{Name: "legacy", Seconds: 20, Width: 640, Height: 360, FPS: 30, VideoBitrate: "2M", GOP: 60, AudioBitrate: "128k"}

// The two 720p clips of issue 12: about 2 Mbit/s and about 4.6 Mbit/s
// (video plus 128 kbit/s AAC), 30 s long, a keyframe every 2 s.
var (
	ClipLow  = ClipSpec{Name: "low", Seconds: 30, Width: 1280, Height: 720, FPS: 30, VideoBitrate: "1900k", GOP: 60, AudioBitrate: "128k"}
	ClipHigh = ClipSpec{Name: "high", Seconds: 30, Width: 1280, Height: 720, FPS: 30, VideoBitrate: "4500k", GOP: 60, AudioBitrate: "128k"}
)

// Clips are the clips -clips can name.
var Clips = map[string]ClipSpec{"low": ClipLow, "high": ClipHigh, "legacy": DefaultClip}

func (c ClipSpec) String() string {
	return fmt.Sprintf("%ds %dx%d@%dfps H.264 (x264 ultrafast, %s, -g %d) + AAC %s, FLV",
		c.Seconds, c.Width, c.Height, c.FPS, c.VideoBitrate, c.GOP, c.AudioBitrate)
}

// Args returns the ffmpeg arguments that encode the clip into out. The
// test pattern carries temporal noise so x264 actually spends the bitrate
// (a clean testsrc would compress far below it).
func (c ClipSpec) Args(out string) []string {
	return []string{
		"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", c.Width, c.Height, c.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(c.Seconds),
		"-vf", "noise=alls=12:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-b:v", c.VideoBitrate, "-maxrate", c.VideoBitrate, "-bufsize", c.VideoBitrate,
		"-g", strconv.Itoa(c.GOP), "-keyint_min", strconv.Itoa(c.GOP), "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", c.AudioBitrate, "-ac", "2",
		"-f", "flv", out,
	}
}

// CachedClip returns the clip from cacheDir, encoding it there first when
// it is not cached yet (the name is a hash of the ffmpeg arguments, so a
// changed spec is a new file). An empty cacheDir encodes into tmpDir.
func CachedClip(ctx context.Context, cacheDir, tmpDir string, c ClipSpec) (path string, bitrate float64, err error) {
	if cacheDir == "" {
		return GenerateClip(ctx, tmpDir, c)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", 0, fmt.Errorf("clip cache: %w", err)
	}
	sum := sha256.Sum256([]byte(strings.Join(c.Args("OUT"), "\x00")))
	path = filepath.Join(cacheDir, fmt.Sprintf("clip-%s-%s.flv", c.Name, hex.EncodeToString(sum[:6])))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, float64(st.Size()) * 8 / float64(c.Seconds), nil
	}
	// Encode into a private directory, then rename: two runs never see a
	// half-written clip.
	work, err := os.MkdirTemp(cacheDir, "encode-")
	if err != nil {
		return "", 0, fmt.Errorf("clip cache: %w", err)
	}
	defer os.RemoveAll(work)
	tmp, bitrate, err := GenerateClip(ctx, work, c)
	if err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, fmt.Errorf("clip cache: %w", err)
	}
	return path, bitrate, nil
}

// GenerateClip encodes the clip into dir and returns its path and its
// average bitrate in bit/s (from the file size).
func GenerateClip(ctx context.Context, dir string, c ClipSpec) (path string, bitrate float64, err error) {
	if c.Seconds <= 0 {
		return "", 0, fmt.Errorf("clip: length %ds must be positive", c.Seconds)
	}
	path = filepath.Join(dir, "clip.flv")
	ctx, cancel := context.WithTimeout(ctx, ClipGenerateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", c.Args(path)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("clip: ffmpeg %s: %v: %s", strings.Join(c.Args(path), " "), err, strings.TrimSpace(stderr.String()))
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", 0, fmt.Errorf("clip: %w", err)
	}
	if st.Size() == 0 {
		return "", 0, fmt.Errorf("clip: ffmpeg wrote an empty %s", path)
	}
	return path, float64(st.Size()) * 8 / float64(c.Seconds), nil
}
