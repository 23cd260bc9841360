package ingestbench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestSmoke runs each RTMP server (floor, gortmplib, ours) and our RTSP
// (TCP) and SRT servers for a 2-second window with one paced pusher (a
// short clip, a 1 s warm-up) and checks that every row measured something
// and that no ffmpeg is left behind. It needs ffmpeg. A protocol missing
// from this build is reported as skipped in the log, never silently.
func TestSmoke(t *testing.T) {
	testclip.NeedFFmpeg(t) // skips, or fails under CI=true / ZC_REQUIRE_FFMPEG=1
	if testing.Short() {
		t.Skip("-short: the smoke test pushes real ffmpeg streams for about 25 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clip := DefaultClip
	clip.Seconds = 4
	base := Options{
		Ns:       []int{1},
		Window:   2 * time.Second,
		Warmup:   time.Second,
		Modes:    []string{"paced"},
		Clips:    []ClipSpec{clip},
		ClipDir:  t.TempDir(),
		Progress: testWriter{t},
	}
	o := base
	o.Protocols = []string{ProtoRTMP}
	o.Servers = []string{ServerFloor, ServerGortmplib, ServerOurs}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("rtmp run: %v", err)
	}
	o = base
	o.Protocols = []string{ProtoRTSP, ProtoSRT}
	o.Transports = []string{"tcp"}
	o.Servers = []string{ServerOurs}
	rep2, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("rtsp/srt run: %v", err)
	}
	for _, s := range rep2.Skipped {
		t.Logf("SKIPPED ROW (not in this build): %s", s)
	}
	want := 5 - len(rep2.Skipped)
	rep.Results = append(rep.Results, rep2.Results...)
	if len(rep.Results) != want {
		t.Fatalf("got %d rows, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		// One paced ~2.2 Mbit/s pusher moves roughly 0.5 MB in 2 s; demand
		// a tenth of that so a loaded machine does not fail the test.
		if r.Bytes < 50_000 {
			t.Errorf("%s %s: only %d bytes ingested in %v", r.Protocol, r.Server, r.Bytes, r.Window)
		}
		if r.Window < 2*time.Second {
			t.Errorf("%s %s: window %v shorter than asked", r.Protocol, r.Server, r.Window)
		}
		if r.Server == ServerOurs && !r.CopiedKnown {
			t.Errorf("%s ours: bytes copied not reported", r.Protocol)
		}
		if !r.ProcKnown || r.RSSEndKB <= 0 {
			t.Errorf("%s %s: /proc counters not read", r.Protocol, r.Server)
		}
		if r.Transport == "tcp" && r.ReadSyscalls <= 0 {
			t.Errorf("%s %s: no read syscalls counted over TCP", r.Protocol, r.Server)
		}
		if r.Whole.Bytes < r.Bytes || r.Whole.Window < r.Window {
			t.Errorf("%s %s: whole run %+v smaller than its window", r.Protocol, r.Server, r.Whole)
		}
	}
	if left := childPIDs(); len(left) > 0 {
		t.Errorf("child processes left: %v", left)
	}
	md := rep.Markdown()
	for _, want := range []string{"| floor | rtmp | tcp paced | 1 |", "| gortmplib | rtmp |", "| ours | rtmp |", "| ours | rtsp | tcp paced |", "÷ floor", "÷ retaining floor"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if _, err := rep.JSON(); err != nil {
		t.Errorf("JSON: %v", err)
	}
	t.Log("\n" + rep.Table())
}

// TestPusherArgs pins the ffmpeg command lines the method section describes.
func TestPusherArgs(t *testing.T) {
	paced := strings.Join(pusherArgs("c.flv", rtmpOutput("127.0.0.1:1", 0), true), " ")
	if !strings.Contains(paced, "-re -stream_loop -1 -i c.flv -c copy -f flv rtmp://127.0.0.1:1/live/s0") {
		t.Errorf("paced args: %s", paced)
	}
	if got := strings.Join(rtspOutput("h:1", "udp", 3), " "); got != "-f rtsp -rtsp_transport udp rtsp://h:1/live/s3" {
		t.Errorf("rtsp output: %s", got)
	}
	if got := strings.Join(srtOutput("h:1", 2), " "); got != "-f mpegts srt://h:1?streamid=publish:/live/s2&pkt_size=1316" {
		t.Errorf("srt output: %s", got)
	}
	unpaced := strings.Join(pusherArgs("c.flv", rtmpOutput("x", 0), false), " ")
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
