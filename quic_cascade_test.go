package zerocopy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy"
	"github.com/zcingest/zerocopy/cascade"
	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/server"
)

// qcNode is one embedded host of a cascade test.
type qcNode struct {
	*testServer
	zc   *zerocopy.ZeroCopy
	quic string // the parent listener's UDP address, when it has one
}

func (n *qcNode) parentStats() *cascade.ParentStats { p, _ := n.zc.QUICStats(); return p }
func (n *qcNode) childStats() *cascade.ChildStats   { _, c := n.zc.QUICStats(); return c }

// qcStart runs an embedded host whose zerocopy.quic section is quic (at
// the section's indentation, without the "quic:" line). Players end with
// their publisher (reconnectwait 0s). stop shuts it down and checks that
// every allocator balanced; tests call it (or Cleanup does).
func qcStart(t *testing.T, quic string) (n *qcNode, stop func()) {
	t.Helper()
	return qcStartWait(t, "0s", quic)
}

// qcStartWait is qcStart with global.publish.reconnectwait set to wait.
func qcStartWait(t *testing.T, wait, quic string) (n *qcNode, stop func()) {
	t.Helper()
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
  quic:
    enable: true
    insecure: true
    idletimeout: 5s
%s%s`, wait, quic, testutil.LoopbackProtocolsExcept("quic"))
	file, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.BuildConfig(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	zc := cfg.Plugins[0].Plugin.(*zerocopy.ZeroCopy)
	n = &qcNode{testServer: &testServer{Server: srv, log: logs, rtmp: srv.Addrs()["rtmp"].String(), http: srv.HTTPAddr().String()}, zc: zc}
	if a := srv.Addrs()["quic"]; a != nil {
		n.quic = a.String()
	}
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		n.waitBalanced(t)
		qcWaitBalanced(t, n, "quic")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}
	t.Cleanup(stop)
	return n, stop
}

// qcWaitBalanced waits until the allocators of protocol's publishers
// (the child's pulls are "quic") freed what they Malloc'd.
func qcWaitBalanced(t *testing.T, n *qcNode, protocol string) {
	t.Helper()
	tot := n.Hub().Totals(protocol)
	deadline := time.Now().Add(5 * time.Second)
	for tot.AllocMalloc.Load() != tot.AllocFree.Load() {
		if time.Now().After(deadline) {
			t.Errorf("%s allocators unbalanced: malloc %d free %d", protocol, tot.AllocMalloc.Load(), tot.AllocFree.Load())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// qcFreeUDP returns a loopback UDP address free right now.
func qcFreeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// qcPair starts a parent on parentQUIC and a child of it.
func qcPair(t *testing.T, parentQUIC, parentExtra, childExtra string) (parent, child *qcNode, stopParent func()) {
	t.Helper()
	parent, stopParent = qcStart(t, "    listenaddr: "+parentQUIC+"\n"+parentExtra)
	child, _ = qcStart(t, "    listenaddr: \"\"\n    parent: "+parent.quic+"\n    stopdelay: 1s\n"+childExtra)
	return parent, child, stopParent
}

// qcWait polls cond every 20 ms for up to d.
func qcWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// qcPushLoop publishes the clip in a loop until ctx ends or kill is called.
func qcPushLoop(ctx context.Context, clip, url string) (kill func()) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := ffmpeg(ctx, "-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", url)
	_ = cmd.Start()
	return func() { cancel(); _ = cmd.Wait() }
}

func qcBaseline(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { testutil.WaitGoroutines(t, base) })
}

// A player reads HTTP-FLV from the child, which pulled the stream from the
// parent over QUIC on demand: every packet identical to the source.
func TestQUICCascadePullIdentical(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	parent, child, _ := qcPair(t, "127.0.0.1:0", "", "")
	qcWait(t, 5*time.Second, "registration", func() bool { return child.childStats().Registrations.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, wait := record(t, ctx, "http://"+child.http+"/live/x.flv")
	settle()
	if err := push(ctx, clip, "rtmp://"+parent.rtmp+"/live/x"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	qcSamePacketsFromKey(t, clip, out)
	ps, cs := parent.parentStats(), child.childStats()
	if ps.Pulls.Load() != 1 || cs.Pulls.Load() != 1 || ps.PayloadBytes.Load() == 0 {
		t.Errorf("parent pulls %d payload %d, child pulls %d", ps.Pulls.Load(), ps.PayloadBytes.Load(), cs.Pulls.Load())
	}
	// Control copies only: script tags, sequence headers, straddling headers.
	if read, copied := cs.BytesRead.Load(), cs.BytesCopied.Load(); read == 0 || copied*100 > read {
		t.Errorf("child copied %d of %d bytes read", copied, read)
	}
	t.Logf("parent: out %d B (frame memory %d B); child: read %d B, copied %d B", ps.BytesOut.Load(), ps.PayloadBytes.Load(), cs.BytesRead.Load(), cs.BytesCopied.Load())
}

func TestQUICCascadeWrongSecretRefused(t *testing.T) {
	qcBaseline(t)
	parent, child, _ := qcPair(t, "127.0.0.1:0", "    secret: right-secret\n", "    secret: wrong-secret\n")
	qcWait(t, 5*time.Second, "refusal", func() bool { return child.childStats().Refused.Load() >= 1 })
	if parent.parentStats().Refused.Load() < 1 || parent.parentStats().Registered.Load() != 0 {
		t.Fatalf("parent refused %d registered %d", parent.parentStats().Refused.Load(), parent.parentStats().Registered.Load())
	}
	for _, l := range []string{parent.log.String(), child.log.String()} {
		if strings.Contains(l, "right-secret") || strings.Contains(l, "wrong-secret") {
			t.Fatal("a secret was logged")
		}
	}
	// A player on the child gets no stream (nothing was pulled).
	if child.childStats().Pulls.Load() != 0 {
		t.Fatal("refused child pulled")
	}
}

// Killing the parent mid-stream ends the child's stream cleanly; when the
// parent comes back on the same address, the child registers again and
// the stream plays from it once more.
func TestQUICCascadeParentRestart(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	addr := qcFreeUDP(t)
	parent, child, stopParent := qcPair(t, addr, "", "")
	qcWait(t, 5*time.Second, "registration", func() bool { return child.childStats().Registrations.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kill := qcPushLoop(ctx, clip, "rtmp://"+parent.rtmp+"/live/x")
	qcWait(t, 10*time.Second, "parent stream", func() bool { return parent.Hub().Stream("live/x") != nil })
	cmd := ffmpeg(ctx, "-rw_timeout", "15000000", "-i", "http://"+child.http+"/live/x.flv", "-c", "copy", "-f", "null", "-")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	qcWait(t, 10*time.Second, "child pull", func() bool { return child.childStats().ActivePulls.Load() == 1 })
	time.Sleep(time.Second)
	kill()
	stopParent()
	// The child's player ends cleanly (ffmpeg exits 0 at the end of the
	// chunked stream) and the pull ends.
	if err := cmd.Wait(); err != nil {
		t.Errorf("player on the child: %v", err)
	}
	qcWait(t, 10*time.Second, "pull end", func() bool { return child.childStats().ActivePulls.Load() == 0 })
	qcWait(t, 5*time.Second, "child unpublished", func() bool { return child.Hub().Stream("live/x") == nil })

	parent2, _ := qcStart(t, "    listenaddr: "+addr+"\n")
	qcWait(t, 20*time.Second, "re-registration", func() bool { return child.childStats().Registrations.Load() >= 2 })
	out, wait := record(t, ctx, "http://"+child.http+"/live/x.flv")
	settle()
	if err := push(ctx, clip, "rtmp://"+parent2.rtmp+"/live/x"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	qcSamePacketsFromKey(t, clip, out)
}

// The last player leaving ends the pull: STOPFLV reaches the parent and the
// child's publisher is gone after stopdelay.
func TestQUICCascadeLastPlayerStops(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	parent, child, _ := qcPair(t, "127.0.0.1:0", "", "")
	qcWait(t, 5*time.Second, "registration", func() bool { return child.childStats().Registrations.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kill := qcPushLoop(ctx, clip, "rtmp://"+parent.rtmp+"/live/x")
	defer kill()
	qcWait(t, 10*time.Second, "parent stream", func() bool { return parent.Hub().Stream("live/x") != nil })
	// The player is an HTTP client the test closes itself, so that "left"
	// is taken before the child can see the connection go: with ffmpeg, its
	// exit after closing the socket made "left" late by over 100 ms on a
	// loaded machine, and STOPFLV looked early.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+child.http+"/live/x.flv", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("player: %v", err)
	}
	buf := make([]byte, 32<<10)
	got := 0
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; {
		n, err := resp.Body.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("player: %d bytes, then %v", got, err)
		}
	}
	left := time.Now()
	resp.Body.Close()
	if got < 1000 {
		t.Fatalf("player got %d bytes in 1.5 s", got)
	}
	qcWait(t, 10*time.Second, "STOPFLV at the parent", func() bool { return parent.parentStats().Stops.Load() == 1 })
	if d := time.Since(left); d < 900*time.Millisecond {
		t.Errorf("STOPFLV %v after the player left, before stopdelay", d)
	}
	qcWait(t, 5*time.Second, "child unpublished", func() bool { return child.Hub().Stream("live/x") == nil })
	qcWait(t, 5*time.Second, "parent pull ended", func() bool { return parent.parentStats().ActivePulls.Load() == 0 })
	if child.childStats().Stops.Load() != 1 {
		t.Errorf("child stops %d", child.childStats().Stops.Load())
	}
	time.Sleep(1500 * time.Millisecond) // no retry follows a STOPFLV
	if n := child.childStats().Pulls.Load(); n != 1 {
		t.Errorf("child pulled %d times", n)
	}
}

var _ = exec.Command

// qcSamePacketsFromKey compares got with the source from the first video
// keyframe on: every video packet, and the source's audio from the packet
// the output starts with (the hub starts a joiner at a keyframe, so audio
// before it may be skipped), contiguous to the end.
func qcSamePacketsFromKey(t *testing.T, src, got string) {
	t.Helper()
	wantV, haveV := testclip.FrameMD5(t, src, "0:v"), testclip.FrameMD5(t, got, "0:v")
	if len(wantV) != len(haveV) {
		t.Errorf("video: %d packets, source has %d", len(haveV), len(wantV))
	}
	for i := range min(len(wantV), len(haveV)) {
		if wantV[i].Hash != haveV[i].Hash || wantV[i].Size != haveV[i].Size {
			t.Fatalf("video packet %d differs", i)
		}
	}
	wantA, haveA := testclip.FrameMD5(t, src, "0:a"), testclip.FrameMD5(t, got, "0:a")
	if len(haveA) == 0 || len(wantV) == 0 {
		t.Fatalf("audio: %d packets", len(haveA))
	}
	start := -1
	for i, p := range wantA {
		if p.Hash == haveA[0].Hash {
			start = i
			break
		}
	}
	if start < 0 || wantA[start].DTS > wantV[0].DTS+50 {
		t.Fatalf("audio starts at source packet %d, after the first keyframe", start)
	}
	if len(wantA)-start != len(haveA) {
		t.Errorf("audio: %d packets, source has %d from packet %d", len(haveA), len(wantA)-start, start)
	}
	for i := range min(len(haveA), len(wantA)-start) {
		if wantA[start+i].Hash != haveA[i].Hash {
			t.Fatalf("audio packet %d differs from source packet %d", i, start+i)
		}
		if i > 0 && haveA[i].DTS < haveA[i-1].DTS {
			t.Fatalf("audio dts goes back at %d", i)
		}
	}
}
