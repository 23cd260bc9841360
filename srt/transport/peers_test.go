package transport

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testcam"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
)

// peerCmd runs a real peer in its own process group, killed with it when
// ctx ends.
func peerCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// tsClip encodes the shared test clip (2 s of H.264+AAC, see testclip) into
// dir and returns its path and the size of the same clip muxed as TS by
// ffmpeg, for comparison with what arrives over SRT.
func tsClip(t *testing.T) (string, int64) {
	t.Helper()
	testclip.NeedFFmpeg(t)
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.flv")
	if out, err := exec.Command("ffmpeg", append(testclip.H264AACFlvArgs(), clip)...).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, out)
	}
	ts := filepath.Join(dir, "clip.ts")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "mpegts", ts).CombinedOutput(); err != nil {
		t.Fatalf("ts: %v: %s", err, out)
	}
	fi, err := os.Stat(ts)
	if err != nil {
		t.Fatal(err)
	}
	return clip, fi.Size()
}

// checkTS checks that every message is whole TS packets (sync byte every
// 188 bytes) and returns the bytes received.
func checkTS(t *testing.T, msgs [][]byte) int64 {
	t.Helper()
	var n int64
	for k, m := range msgs {
		if len(m) == 0 || len(m)%188 != 0 {
			t.Fatalf("message %d: %d bytes, not whole TS packets", k, len(m))
		}
		for i := 0; i < len(m); i += 188 {
			if m[i] != 0x47 {
				t.Fatalf("message %d: no sync byte at %d", k, i)
			}
		}
		n += int64(len(m))
	}
	return n
}

// TestFFmpegPush: ffmpeg (libsrt caller) pushes the clip in real time, in
// the clear and encrypted: valid TS of about the clip's TS size arrives,
// and ffmpeg's exit ends the conn with io.EOF.
func TestFFmpegPush(t *testing.T) {
	clip, tsSize := tsClip(t)
	for _, tc := range []struct{ name, url string }{
		{"plain", ""},
		{"aes", "&passphrase=" + ltPass + "&pbkeylen=16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			s := startLT(t, Config{}, acceptWith(ltPass))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			url := fmt.Sprintf("srt://%s?streamid=publish:/live/x&pkt_size=1316%s", s.addr(), tc.url)
			out, err := peerCmd(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "mpegts", url).CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			errs := s.waitEnd(1, 5*time.Second)
			if errs[0] != io.EOF {
				t.Errorf("conn ended with %v, want io.EOF", errs[0])
			}
			n := checkTS(t, s.received())
			st := s.conn[0].Stats()
			t.Logf("%d TS bytes received (file mux: %d); stats %+v", n, tsSize, st)
			if n < tsSize*9/10 || n > tsSize*11/10 {
				t.Errorf("received %d bytes, the clip muxed to a file is %d", n, tsSize)
			}
			if st.PktRecvDrop != 0 {
				t.Errorf("packets dropped on loopback: %+v", st)
			}
			s.close()
			testutil.WaitGoroutines(t, base)
		})
	}
}

// TestFFmpegWrongPassphrase: ffmpeg with a wrong passphrase is refused and
// exits with an error.
func TestFFmpegWrongPassphrase(t *testing.T) {
	clip, _ := tsClip(t)
	base := runtime.NumGoroutine()
	s := startLT(t, Config{}, acceptWith(ltPass))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fmt.Sprintf("srt://%s?streamid=publish:/live/x&pkt_size=1316&passphrase=wrong-passphrase-x", s.addr())
	out, err := peerCmd(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "mpegts", url).CombinedOutput()
	if err == nil {
		t.Fatalf("ffmpeg with a wrong passphrase succeeded: %s", out)
	}
	if ls := s.l.Stats(); ls.Rejected == 0 || ls.Accepted != 0 {
		t.Errorf("listener stats %+v; ffmpeg said %s", ls, out)
	}
	s.close()
	testutil.WaitGoroutines(t, base)
}

// TestGStreamerPush: GStreamer's srtsink (caller) publishes a TS stream:
// valid TS arrives and the end of the pipeline ends the conn with io.EOF.
func TestGStreamerPush(t *testing.T) {
	testcam.NeedGStreamer(t, "videotestsrc", "x264enc", "mpegtsmux", "srtsink")
	for _, tc := range []struct{ name, props string }{
		{"plain", ""},
		{"aes", "passphrase=" + ltPass + " pbkeylen=16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			s := startLT(t, Config{}, acceptWith(ltPass))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pipeline := "videotestsrc num-buffers=50 is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! " +
				"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse config-interval=-1 ! mpegtsmux ! " +
				fmt.Sprintf("srtsink uri=\"srt://%s?streamid=publish:/live/gs\" mode=caller auto-reconnect=false %s", s.addr(), tc.props)
			out, err := peerCmd(ctx, testcam.GstLaunch, strings.Fields(pipeline)...).CombinedOutput()
			if err != nil {
				t.Fatalf("gst-launch-1.0: %v: %s", err, out)
			}
			errs := s.waitEnd(1, 5*time.Second)
			if !slices.Contains(errs, io.EOF) {
				t.Errorf("conn ended with %v, want io.EOF", errs)
			}
			n := checkTS(t, s.received())
			t.Logf("%d TS bytes from GStreamer; stats %+v", n, s.conn[0].Stats())
			if n < 20*188 {
				t.Errorf("only %d bytes arrived", n)
			}
			s.close()
			testutil.WaitGoroutines(t, base)
		})
	}
}
