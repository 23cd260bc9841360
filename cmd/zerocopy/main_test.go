package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testutil"
)

// TestRunServesAndDrainsOnSignal runs the main job on kernel-chosen ports,
// checks the banner and the API, and stops it with SIGTERM.
func TestRunServesAndDrainsOnSignal(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "global:\n  loglevel: warn\n  http:\n    listenaddr: 127.0.0.1:0\nzerocopy:\n  rtmp:\n    listenaddr: 127.0.0.1:0\n" + testutil.LoopbackProtocols
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testutil.LogBuffer{}
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- run(cfg, out, stop) }()

	var httpAddr string
	deadline := time.Now().Add(10 * time.Second)
	for httpAddr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %q", out.String())
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "http" {
				httpAddr = f[1]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "rtmp") || !strings.Contains(out.String(), "ffmpeg -re") {
		t.Fatalf("banner lacks the RTMP listener or the ffmpeg command:\n%s", out.String())
	}
	resp, err := http.Get("http://" + httpAddr + "/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"streams"`) {
		t.Fatalf("/api/streams: %d %s", resp.StatusCode, body)
	}
	stop <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful exit after SIGTERM")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("zerocopy:\n  rtmp:\n    listenadr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(cfg, io.Discard, make(chan os.Signal))
	if err == nil || !strings.Contains(err.Error(), "zerocopy.rtmp.listenadr") {
		t.Fatalf("error %v does not name the bad key", err)
	}
}

// TestRunFailsWhenAPluginCannotStart: a plugin whose Start fails (here a
// bad listen address from the environment) stops the run with an error
// naming the plugin and the key, instead of running on with HTTP only.
func TestRunFailsWhenAPluginCannotStart(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "global:\n  loglevel: error\n  http:\n    listenaddr: 127.0.0.1:0\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZEROCOPY_RTMP_LISTENADDR", "999.1.1.1:1935")
	done := make(chan error, 1)
	go func() { done <- run(cfg, io.Discard, make(chan os.Signal)) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "ZeroCopy") || !strings.Contains(err.Error(), "zerocopy.rtmp.listenaddr") {
			t.Fatalf("run: %v, want an error naming the plugin and zerocopy.rtmp.listenaddr", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run kept serving after the plugin failed to start")
	}
}

// TestMainExitsNonZero runs main in a child process: a failed start exits
// with status 1 and prints the error.
func TestMainExitsNonZero(t *testing.T) {
	if os.Getenv("SH_ZEROCOPY_RUN_MAIN") == "1" {
		os.Args = []string{"zerocopy", "-c", ""}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainExitsNonZero$")
	cmd.Env = append(os.Environ(), "SH_ZEROCOPY_RUN_MAIN=1", "ZEROCOPY_RTMP_LISTENADDR=999.1.1.1:1935",
		"GLOBAL_HTTP_LISTENADDR=127.0.0.1:0", "GLOBAL_LOGLEVEL=error")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "zerocopy: plugin ZeroCopy: zerocopy.rtmp.listenaddr") {
		t.Fatalf("output lacks the error:\n%s", out)
	}
}
