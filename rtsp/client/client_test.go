package client

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testcam"
	"github.com/zcingest/zerocopy/internal/testutil"
)

type hubHost struct{ h *hub.Hub }

func (x hubHost) Publish(req host.PublishRequest) (host.Publisher, error) {
	return x.h.Publish(context.Background(), req)
}

func newTestHub(t *testing.T) (*hub.Hub, *testutil.LogBuffer, *slog.Logger) {
	t.Helper()
	logs := &testutil.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := hub.New(hub.Options{SubscribeWait: 10 * time.Second, CloseWait: 2 * time.Second}, log)
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return h, logs, log
}

// readVideo subscribes to path and reads n video frames, checking that
// their DTS never goes back.
func readVideo(t *testing.T, h *hub.Hub, path string, n int) {
	t.Helper()
	sub, err := h.Subscribe(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last time.Duration = -1
	video := 0
	for video < n {
		f, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d video frames: %v", video, err)
		}
		if f.Kind == host.Video {
			if f.DTS < last {
				t.Errorf("video DTS %v after %v", f.DTS, last)
			}
			last = f.DTS
			video++
		}
		f.Release()
	}
}

// TestSessionPullsAndFreesEverything: a session pulls from GStreamer's
// RTSP server over TCP and UDP, with and without Digest auth; frames
// arrive with monotonic video DTS; when the camera is killed the session
// ends on its own and its allocator got every byte back; no goroutine
// outlives it.
func TestSessionPullsAndFreesEverything(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport Transport
		user      string
	}{{"tcp", TCP, ""}, {"udp", UDP, ""}, {"tcp-digest", TCP, "admin"}, {"udp-digest", UDP, "admin"}} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			cam := testcam.Start(t, testcam.Options{User: tc.user, Password: "s3cret"})
			h, logs, log := newTestHub(t)
			cfg := Config{URL: cam.URL(tc.user, "s3cret"), Path: "live/cam", Transport: tc.transport, ReadTimeout: 3 * time.Second}.withDefaults()
			type result struct {
				st  Stats
				err error
			}
			done := make(chan result, 1)
			go func() {
				st, _, err := runSession(context.Background(), cfg, hubHost{h}, log, time.Now())
				done <- result{st, err}
			}()
			readVideo(t, h, "live/cam", 50)
			cam.Stop()
			var r result
			select {
			case r = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("session did not end after the camera died")
			}
			if r.err == nil {
				t.Error("session ended without a reason after the camera died")
			}
			if !r.st.Played || r.st.VideoFrames < 50 || r.st.Transport != tc.transport {
				t.Errorf("stats %+v", r.st)
			}
			if !r.st.Balanced || r.st.AllocMalloc != r.st.AllocFree {
				t.Errorf("allocator not balanced after the camera died: %+v", r.st)
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Error("the password reached the log")
			}
			t.Logf("%s: %v; %d video, %d audio frames, %d bytes read, %d copied", tc.name, r.err, r.st.VideoFrames, r.st.AudioFrames, r.st.BytesRead, r.st.BytesCopied)
			h.Close()
			testutil.WaitGoroutines(t, base)
		})
	}
}

// TestSessionWrongPassword: a wrong password is refused with
// ErrUnauthorized, and neither password is logged.
func TestSessionWrongPassword(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{User: "admin", Password: "s3cret"})
	h, logs, log := newTestHub(t)
	for _, u := range []string{cam.URL("admin", "wr0ng"), cam.URL("", "")} {
		cfg := Config{URL: u, Path: "live/cam", Transport: TCP}.withDefaults()
		st, _, err := runSession(context.Background(), cfg, hubHost{h}, log, time.Now())
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%s: %v, want ErrUnauthorized", Redact(u), err)
		}
		if !st.Balanced {
			t.Errorf("allocator not balanced: %+v", st)
		}
		if strings.Contains(err.Error(), "wr0ng") {
			t.Error("the password is in the error")
		}
	}
	if strings.Contains(logs.String(), "wr0ng") || strings.Contains(logs.String(), "s3cret") {
		t.Error("a password reached the log")
	}
}

// TestRunStopsOnCancel: Run reconnects in the background and returns
// nil when its context ends, sending TEARDOWN and freeing everything.
func TestRunStopsOnCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	cam := testcam.Start(t, testcam.Options{})
	h, logs, log := newTestHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{URL: cam.URL("", ""), Path: "live/run", Transport: Auto}, hubHost{h}, log)
	}()
	readVideo(t, h, "live/run", 10)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(logs.String(), "balanced=true") {
		t.Error("no balanced session end logged")
	}
	cam.Stop()
	h.Close()
	testutil.WaitGoroutines(t, base)
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://u:p@h:554/a/b?token=x": "rtsp://h:554/a/b",
		"rtsp://h/a":                   "rtsp://h/a",
		"rtsp://u:p%zz@h/a?x":          "rtsp://h/a",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
