package ingestbench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestSmoke runs each server for a 2-second window with one paced pusher
// (a short clip, a 1 s warm-up) and checks that every row measured
// something and that no ffmpeg is left behind. It needs ffmpeg.
func TestSmoke(t *testing.T) {
	testclip.NeedFFmpeg(t) // skips, or fails under CI=true / ZC_REQUIRE_FFMPEG=1
	if testing.Short() {
		t.Skip("-short: the smoke test pushes real ffmpeg streams for about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clip := DefaultClip
	clip.Seconds = 4
	rep, err := Run(ctx, Options{
		Ns:       []int{1},
		Window:   2 * time.Second,
		Warmup:   time.Second,
		Servers:  []string{ServerFloor, ServerGortmplib, ServerOurs},
		Modes:    []string{"paced"},
		Clip:     clip,
		Progress: testWriter{t},
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("got %d rows, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		// One paced ~2.2 Mbit/s pusher moves roughly 0.5 MB in 2 s; demand
		// a tenth of that so a loaded machine does not fail the test.
		if r.Bytes < 50_000 {
			t.Errorf("%s: only %d bytes ingested in %v", r.Server, r.Bytes, r.Window)
		}
		if r.Window < 2*time.Second {
			t.Errorf("%s: window %v shorter than asked", r.Server, r.Window)
		}
		if r.Server == ServerOurs && !r.CopiedKnown {
			t.Errorf("ours: bytes copied not reported")
		}
	}
	if left := childPIDs(); len(left) > 0 {
		t.Errorf("child processes left: %v", left)
	}
	md := rep.Markdown()
	for _, want := range []string{"| floor | 1 | paced |", "| gortmplib | 1 | paced |", "| ours | 1 | paced |", "÷ floor"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	t.Log("\n" + rep.Table())
}

// TestPusherArgs pins the ffmpeg command lines the method section describes.
func TestPusherArgs(t *testing.T) {
	paced := strings.Join(pusherArgs("c.flv", "rtmp://127.0.0.1:1/live/s0", true), " ")
	if !strings.Contains(paced, "-re -stream_loop -1 -i c.flv -c copy -f flv rtmp://127.0.0.1:1/live/s0") {
		t.Errorf("paced args: %s", paced)
	}
	unpaced := strings.Join(pusherArgs("c.flv", "rtmp://x/live/s0", false), " ")
	if strings.Contains(unpaced, "-re") || !strings.Contains(unpaced, "-stream_loop -1") {
		t.Errorf("unpaced args: %s", unpaced)
	}
}

// TestReportRatiosAndTargets checks the derived figures on fixed numbers.
func TestReportRatiosAndTargets(t *testing.T) {
	rep := &Report{Results: []Result{
		{Server: ServerFloor, N: 32, Paced: true, Window: 20 * time.Second, Bytes: 1e9, User: 3 * time.Second},
		{Server: ServerOurs, N: 32, Paced: true, Window: 20 * time.Second, Bytes: 1e9, User: 3 * time.Second, Sys: 300 * time.Millisecond, CopiedKnown: true},
		{Server: ServerOurs, N: 8, Paced: true, Window: 20 * time.Second, Bytes: 1e9, AllocBytes: 2e9, Mallocs: 5000, GCs: 3, User: time.Second},
	}}
	if got := rep.VsFloor(rep.Results[1]); got < 1.099 || got > 1.101 {
		t.Errorf("VsFloor = %v, want 1.1", got)
	}
	if m := rep.Misses(rep.Results[1]); len(m) != 0 {
		t.Errorf("misses for a row within targets: %v", m)
	}
	if m := rep.Misses(rep.Results[2]); len(m) != 3 { // no floor row for N=8: CPU not judged
		t.Errorf("misses = %v, want alloc, mallocs and GC", m)
	}
	if got := rep.Results[2].MallocsPerMB(); got != 5 {
		t.Errorf("MallocsPerMB = %v, want 5", got)
	}
	if got := rep.Results[0].CPUPerGB(); got != 3 {
		t.Errorf("CPUPerGB = %v, want 3", got)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
