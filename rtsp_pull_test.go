package zerocopy

// Camera pulls (zerocopy.rtsp.pull) against GStreamer's RTSP server, read
// back through HTTP-FLV with ffmpeg. This file is an internal test so its
// cleanup can stop the pulls of plugins whose Dispose does not (yet) call
// stopRTSPPulls (see rpStartServer).

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/internal/testcam"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/server"
)

type rpServer struct {
	*server.Server
	log  *testutil.LogBuffer
	http string
}

// rpStartServer runs the embedded host with every protocol on loopback
// port 0 and rtsp holding extra (pull settings); reconnectwait keeps
// players across a camera restart. Cleanup shuts down, stops the pulls,
// and checks the pull allocators and the goroutines.
func rpStartServer(t *testing.T, extra string, reconnectWait time.Duration) *rpServer {
	t.Helper()
	base := runtime.NumGoroutine()
	yaml := fmt.Sprintf(`global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    closewait: 2s
    reconnectwait: %s
  subscribe:
    waittimeout: 10s
zerocopy:
  rtmp:
    listenaddr: 127.0.0.1:0
  rtsp:
    listenaddr: 127.0.0.1:0
    rtpaddress: 127.0.0.1:0
    rtcpaddress: 127.0.0.1:0
%s%s`, reconnectWait, extra, testutil.LoopbackProtocolsExcept("rtsp"))
	file, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.BuildConfig(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &rpServer{Server: srv, log: logs, http: srv.HTTPAddr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// Dispose stops the pulls once plugin.go calls stopRTSPPulls;
		// until then the test does.
		pullSets.Range(func(k, _ any) bool {
			k.(*ZeroCopy).stopRTSPPulls()
			return true
		})
		tot := ts.Hub().Totals("rtsp-pull")
		if tot.AllocMalloc.Load() != tot.AllocFree.Load() {
			t.Errorf("pull allocators unbalanced: malloc %d free %d", tot.AllocMalloc.Load(), tot.AllocFree.Load())
		}
		if strings.Contains(logs.String(), "unbalanced") || strings.Contains(logs.String(), "balanced=false") {
			t.Errorf("an allocator ended unbalanced (see log)")
		}
		testutil.WaitGoroutines(t, base)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

func rpPullConfig(path, url, transport string, more string) string {
	return fmt.Sprintf("    pull:\n      - %s=%s\n    pulltransport: %s\n    pulltimeout: 3s\n%s", path, url, transport, more)
}

// rpReadFLV reads seconds of path over HTTP-FLV with ffmpeg into a file
// and returns its video packets.
func rpReadFLV(t *testing.T, ts *rpServer, path string, seconds int) []testclip.Packet {
	t.Helper()
	v, _ := rpReadFLVAV(t, ts, path, seconds)
	return v
}

// rpReadFLVAV is rpReadFLV returning the audio packets too.
func rpReadFLVAV(t *testing.T, ts *rpServer, path string, seconds int) (video, audio []testclip.Packet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+40)*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "pull.nut")
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rw_timeout", "20000000", "-analyzeduration", "1000000",
		"-i", "http://"+ts.http+"/"+path+".flv", "-t", fmt.Sprint(seconds), "-map", "0", "-c", "copy", "-f", "nut", "-y", out)
	cmd.WaitDelay = 5 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg HTTP-FLV read: %v: %s", err, b)
	}
	video = testclip.FrameMD5(t, out, "0:v")
	if strings.Contains(rpProbe(out), "audio") {
		audio = testclip.FrameMD5(t, out, "0:a")
	}
	return video, audio
}

// rpProbe lists the codec types of a file's streams.
func rpProbe(file string) string {
	out, _ := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", file).Output()
	return string(out)
}

// rpCheckVideo wants at least min video packets with monotonic DTS.
func rpCheckVideo(t *testing.T, pkts []testclip.Packet, min int) {
	t.Helper()
	if len(pkts) < min {
		t.Fatalf("%d video packets, want at least %d", len(pkts), min)
	}
	for i := 1; i < len(pkts); i++ {
		if pkts[i].DTS < pkts[i-1].DTS {
			t.Fatalf("video packet %d: dts %d after %d", i, pkts[i].DTS, pkts[i-1].DTS)
		}
	}
}

func rpWaitLog(t *testing.T, ts *rpServer, what string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(ts.log.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not logged %d times within %v", what, n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRTSPPullFromCamera: the plugin pulls GStreamer's RTSP server over
// TCP and UDP, with and without Digest auth, and HTTP-FLV players get the
// video with monotonic timestamps; the password never reaches the log.
func TestRTSPPullFromCamera(t *testing.T) {
	testclip.NeedFFmpeg(t)
	for _, tc := range []struct{ transport, user string }{{"tcp", ""}, {"udp", ""}, {"tcp", "admin"}, {"udp", "admin"}} {
		t.Run(tc.transport+"-"+map[bool]string{true: "digest", false: "open"}[tc.user != ""], func(t *testing.T) {
			cam := testcam.Start(t, testcam.Options{User: tc.user, Password: "s3cret"})
			ts := rpStartServer(t, rpPullConfig("live/cam", cam.URL(tc.user, "s3cret"), tc.transport, ""), 0)
			t0 := time.Now()
			pkts, audio := rpReadFLVAV(t, ts, "live/cam", 3)
			t.Logf("read took %v", time.Since(t0))
			rpCheckVideo(t, pkts, 50)
			// The camera's AAC track (RFC 3640) is depacketized too.
			if len(audio) < 50 {
				t.Fatalf("%d audio packets from the camera, want at least 50", len(audio))
			}
			for i := 1; i < len(audio); i++ {
				if audio[i].DTS < audio[i-1].DTS {
					t.Fatalf("audio packet %d: dts %d after %d", i, audio[i].DTS, audio[i-1].DTS)
				}
			}
			if !strings.Contains(ts.log.String(), "transport="+tc.transport) {
				t.Errorf("no %s pull logged", tc.transport)
			}
			if strings.Contains(ts.log.String(), "s3cret") {
				t.Error("the camera password reached the log")
			}
			t.Logf("%d video packets, %d audio packets", len(pkts), len(audio))
		})
	}
}

// TestRTSPPullWrongPassword: a camera refusing the password is retried
// with backoff, each refusal logged without the password.
func TestRTSPPullWrongPassword(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{User: "admin", Password: "s3cret"})
	ts := rpStartServer(t, rpPullConfig("live/cam", cam.URL("admin", "wr0ngpass"), "tcp", "    pullretry: 200ms\n"), 0)
	rpWaitLog(t, ts, "camera refused the credentials", 2, 10*time.Second)
	if s := ts.log.String(); strings.Contains(s, "wr0ngpass") || strings.Contains(s, "s3cret") {
		t.Error("a password reached the log")
	}
	if ts.Hub().Stream("live/cam") != nil {
		t.Error("a refused pull published")
	}
}

// TestRTSPPullCameraRestart: one HTTP-FLV player keeps reading while the
// camera is killed and started again on the same port; the pull
// reconnects and the player's video resumes, timestamps monotonic.
func TestRTSPPullCameraRestart(t *testing.T) {
	testclip.NeedFFmpeg(t)
	cam := testcam.Start(t, testcam.Options{})
	ts := rpStartServer(t, rpPullConfig("live/cam", cam.URL("", ""), "tcp", "    pullretry: 200ms\n"), 20*time.Second)
	done := make(chan []testclip.Packet, 1)
	go func() {
		// FrameMD5 may Fatalf: only from the test goroutine, so read raw.
		done <- rpReadFLVNoFatal(ts, "live/cam", 8)
	}()
	rpWaitLog(t, ts, "rtsp pull playing", 1, 15*time.Second)
	time.Sleep(2 * time.Second)
	cam.Restart()
	rpWaitLog(t, ts, "rtsp pull playing", 2, 20*time.Second)
	var pkts []testclip.Packet
	select {
	case pkts = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("player did not finish")
	}
	if pkts == nil {
		t.Fatal("player failed")
	}
	rpCheckVideo(t, pkts, 8*25*3/4)
	if !strings.Contains(ts.log.String(), "rtsp pull reconnecting") {
		t.Error("no reconnection logged")
	}
}

func rpReadFLVNoFatal(ts *rpServer, path string, seconds int) []testclip.Packet {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+40)*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "rppull")
	if err != nil {
		return nil
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "pull.nut")
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rw_timeout", "20000000", "-analyzeduration", "1000000",
		"-i", "http://"+ts.http+"/"+path+".flv", "-t", fmt.Sprint(seconds), "-map", "0:v", "-c", "copy", "-f", "nut", "-y", out)
	cmd.WaitDelay = 5 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		ts.log.Write([]byte(fmt.Sprintf("ffmpeg HTTP-FLV read: %v: %s\n", err, b)))
		return nil
	}
	var pkts []testclip.Packet
	b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", out, "-map", "0:v", "-c", "copy", "-f", "framemd5", "-").Output()
	if err != nil {
		return nil
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 6 {
			continue
		}
		var p testclip.Packet
		fmt.Sscan(strings.TrimSpace(f[1]), &p.DTS)
		fmt.Sscan(strings.TrimSpace(f[2]), &p.PTS)
		fmt.Sscan(strings.TrimSpace(f[4]), &p.Size)
		p.Hash = strings.TrimSpace(f[5])
		pkts = append(pkts, p)
	}
	return pkts
}

// TestRTSPPullOnDemand: with pullondemand nothing is pulled until an
// HTTP-FLV player asks for the path; the pull then starts, the player gets
// video, and the pull stops pullstopdelay after the player leaves.
func TestRTSPPullOnDemand(t *testing.T) {
	testclip.NeedFFmpeg(t)
	cam := testcam.Start(t, testcam.Options{})
	ts := rpStartServer(t, rpPullConfig("live/cam", cam.URL("", ""), "udp", "    pullondemand: true\n    pullstopdelay: 2s\n"), 0)
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(ts.log.String(), "rtsp pull started") {
		t.Fatal("an on-demand pull started without a player")
	}
	asked := time.Now()
	pkts := rpReadFLV(t, ts, "live/cam", 2)
	rpCheckVideo(t, pkts, 25)
	rpWaitLog(t, ts, "rtsp pull stopped: no player", 1, 10*time.Second)
	if ts.Hub().Stream("live/cam") != nil {
		t.Error("the stream outlived its on-demand pull")
	}
	// A second player starts it again. The hub asks once per path per
	// subscribe wait (10s here) even when the pull it started has ended,
	// so the second player comes after that window.
	time.Sleep(time.Until(asked.Add(11 * time.Second)))
	rpCheckVideo(t, rpReadFLV(t, ts, "live/cam", 1), 10)
	if n := strings.Count(ts.log.String(), "rtsp pull started"); n != 2 {
		t.Errorf("%d pulls started, want 2", n)
	}
}
