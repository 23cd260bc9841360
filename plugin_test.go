package zerocopy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy"
	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/handshake"
	"github.com/zcingest/zerocopy/server"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

type syncBuffer = testutil.LogBuffer

type testServer struct {
	*server.Server
	log  *syncBuffer
	rtmp string // host:port
	http string
	// smallChunks: the test's own client keeps RTMP's default 128-byte
	// chunks, below chunk.ZeroCopyMinChunkSize, so its media payload is
	// copied (and counted): the control-path copy bound does not apply.
	smallChunks bool
}

// startServer runs the embedded host with the plugin on loopback ports
// chosen by the kernel. extra is appended to the zerocopy.rtmp section.
// Cleanup shuts it down and checks allocators and goroutines.
func startServer(t *testing.T, rtmpExtra string) *testServer {
	t.Helper()
	return startServerWith(t, "    reconnectwait: 0s # players end with their publisher (TestRTMPEncoderReconnect covers the grace period)\n", rtmpExtra)
}

// startServerWith is startServer with publishExtra appended to the
// global.publish section.
func startServerWith(t *testing.T, publishExtra, rtmpExtra string) *testServer {
	t.Helper()
	base := runtime.NumGoroutine()
	yaml := fmt.Sprintf(`global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    closewait: 2s
%s  subscribe:
    waittimeout: 10s
zerocopy:
  rtmp:
    listenaddr: 127.0.0.1:0
%s%s`, publishExtra, rtmpExtra, testutil.LoopbackProtocols)
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
	ts := &testServer{Server: srv, log: logs, rtmp: srv.Addrs()["rtmp"].String(), http: srv.HTTPAddr().String()}
	t.Cleanup(func() {
		ts.waitBalanced(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		testutil.WaitGoroutines(t, base)
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// waitBalanced waits until every RTMP connection allocator has freed what
// it Malloc'd (connections tear down asynchronously after the peer leaves).
func (ts *testServer) waitBalanced(t *testing.T) {
	t.Helper()
	tot := ts.Hub().Totals("rtmp")
	deadline := time.Now().Add(5 * time.Second)
	for tot.AllocMalloc.Load() != tot.AllocFree.Load() {
		if time.Now().After(deadline) {
			t.Errorf("rtmp allocators unbalanced: malloc %d free %d", tot.AllocMalloc.Load(), tot.AllocFree.Load())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if read, copied := tot.BytesRead.Load(), tot.BytesCopied.Load(); !ts.smallChunks && read > 0 && copied*200 > read {
		t.Errorf("control path copied %d of %d socket bytes (> 0.5%%)", copied, read)
	}
}

func ffmpeg(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin"}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// push publishes the clip in real time (-re) and waits for ffmpeg.
func push(ctx context.Context, clip, url string) error {
	out, err := ffmpeg(ctx, "-re", "-i", clip, "-c", "copy", "-f", "flv", url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg push %s: %v: %s", url, err, out)
	}
	return nil
}

// record starts ffmpeg reading url into an FLV file; wait for it with the
// returned function.
func record(t *testing.T, ctx context.Context, url string) (path string, wait func() error) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "out.flv")
	cmd := ffmpeg(ctx, "-rw_timeout", "15000000", "-i", url, "-c", "copy", "-f", "flv", "-y", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return path, func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("ffmpeg read %s: %v: %s", url, err, out.String())
		}
		return nil
	}
}

// samePackets compares every video and audio packet (size and MD5) of got
// with the source, and checks that timestamps never go backwards.
func samePackets(t *testing.T, src, got string) {
	t.Helper()
	for _, spec := range []string{"0:v", "0:a"} {
		want, have := testclip.FrameMD5(t, src, spec), testclip.FrameMD5(t, got, spec)
		if len(want) != len(have) {
			t.Errorf("%s %s: %d packets, source has %d", got, spec, len(have), len(want))
		}
		for i := range min(len(want), len(have)) {
			if want[i].Hash != have[i].Hash || want[i].Size != have[i].Size {
				t.Errorf("%s %s packet %d: size %d md5 %s, source size %d md5 %s", got, spec, i, have[i].Size, have[i].Hash, want[i].Size, want[i].Hash)
				break
			}
			if i > 0 && have[i].DTS < have[i-1].DTS {
				t.Errorf("%s %s packet %d: dts %d after %d", got, spec, i, have[i].DTS, have[i-1].DTS)
				break
			}
		}
	}
}

// waitSubscribers waits until n players are attached to path... or until a
// short deadline, since readers that join slightly late still start at the
// first keyframe (the clip's GOP is one second and publishing is paced).
func settle() { time.Sleep(300 * time.Millisecond) }

func TestRTMPPublishReadBackHTTPFLVAndRTMP(t *testing.T) {
	clip := testclip.FLV(t)
	ts := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	flvOut, waitFLV := record(t, ctx, "http://"+ts.http+"/live/x.flv")
	rtmpOut, waitRTMP := record(t, ctx, "rtmp://"+ts.rtmp+"/live/x")
	settle()
	if err := push(ctx, clip, "rtmp://"+ts.rtmp+"/live/x"); err != nil {
		t.Fatal(err)
	}
	if err := waitFLV(); err != nil {
		t.Fatal(err)
	}
	if err := waitRTMP(); err != nil {
		t.Fatal(err)
	}
	samePackets(t, clip, flvOut)
	samePackets(t, clip, rtmpOut)
	if !strings.Contains(ts.log.String(), "rtmp connection closed") {
		t.Error("no close reason logged")
	}
}

func TestRTMPSeveralPublishersAtOnce(t *testing.T) {
	clip := testclip.FLV(t)
	ts := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 3
	outs := make([]string, n)
	waits := make([]func() error, n)
	for i := range n {
		outs[i], waits[i] = record(t, ctx, fmt.Sprintf("http://%s/live/s%d.flv", ts.http, i))
	}
	settle()
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- push(ctx, clip, fmt.Sprintf("rtmp://%s/live/s%d", ts.rtmp, i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if err := waits[i](); err != nil {
			t.Fatal(err)
		}
		samePackets(t, clip, outs[i])
	}
}

func TestRTMPRepublishAndSecondPublisherRefused(t *testing.T) {
	clip := testclip.FLV(t)
	ts := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := "rtmp://" + ts.rtmp + "/live/re"

	first := make(chan error, 1)
	go func() { first <- push(ctx, clip, url) }()
	// Wait for the first publish to be live, then try a second one.
	deadline := time.Now().Add(10 * time.Second)
	for ts.Hub().Stream("live/re") == nil {
		if time.Now().After(deadline) {
			t.Fatal("first publish never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := push(ctx, clip, url); err == nil {
		t.Fatal("a second publisher on a busy path was accepted")
	}
	if err := <-first; err != nil {
		t.Fatalf("first publisher disturbed by the second: %v", err)
	}
	// Republish on the now free path, and read it back.
	out, wait := record(t, ctx, "http://"+ts.http+"/live/re.flv")
	settle()
	if err := push(ctx, clip, url); err != nil {
		t.Fatalf("republish: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	samePackets(t, clip, out)
	if !strings.Contains(ts.log.String(), "already being published") {
		t.Error("the refused publish was not logged with its reason")
	}
}

func TestRTMPAuth(t *testing.T) {
	clip := testclip.FLV(t)
	const key = "s3cret-Key"
	ts := startServer(t, "    publishkey: "+key+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := push(ctx, clip, "rtmp://"+ts.rtmp+"/live/a?key=wrong-Guess"); err == nil {
		t.Fatal("publish with a wrong key was accepted")
	}
	if err := push(ctx, clip, "rtmp://"+ts.rtmp+"/live/a"); err == nil {
		t.Fatal("publish without a key was accepted")
	}
	out, wait := record(t, ctx, "http://"+ts.http+"/live/a.flv")
	settle()
	if err := push(ctx, clip, "rtmp://"+ts.rtmp+"/live/a?key="+key); err != nil {
		t.Fatalf("publish with the right key: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	samePackets(t, clip, out)
	logs := ts.log.String()
	for _, secret := range []string{key, "wrong-Guess"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the stream key %q", secret)
		}
	}
	if !strings.Contains(logs, "stream key rejected") {
		t.Error("the auth failure was not logged")
	}
}

// TestRTMPDisconnectMidChunk publishes by hand and hangs up in the middle
// of a large video message: the connection must close cleanly with its
// partial message freed.
func TestRTMPDisconnectMidChunk(t *testing.T) {
	ts := startServer(t, "")
	ts.smallChunks = true
	conn, err := net.Dial("tcp", ts.rtmp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := handshake.Client(conn, conn, handshake.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	w := chunk.NewWriter(&wire, 128)
	cmd := func(name string, txn float64, obj amf0.Value, args ...amf0.Value) {
		body, err := amf0.AppendCommand(nil, name, txn, obj, args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Queue(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0, StreamID: 0}, [][]byte{body}); err != nil {
			t.Fatal(err)
		}
	}
	cmd("connect", 1, amf0.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://" + ts.rtmp + "/live"}})
	cmd("createStream", 2, nil)
	body, _ := amf0.AppendCommand(nil, "publish", 3, nil, "cut", "live")
	if err := w.Queue(chunk.Header{CSID: 8, TypeID: chunk.TypeCommandAMF0, StreamID: 1}, [][]byte{body}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire.Bytes()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ts.Hub().Stream("live/cut") == nil {
		if time.Now().After(deadline) {
			t.Fatal("publish never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A 100 kB video message, of which only part of the chunks are sent.
	wire.Reset()
	payload := bytes.Repeat([]byte{0x17, 0x01, 0, 0, 0}, 20000)
	if err := w.Queue(chunk.Header{CSID: 6, TypeID: chunk.TypeVideo, StreamID: 1, Timestamp: 40}, [][]byte{payload}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire.Bytes()[:wire.Len()/2+7]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.log.String(), "rtmp connection closed") {
		if time.Now().After(deadline) {
			t.Fatal("connection close not logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logs := ts.log.String(); !strings.Contains(logs, "unexpected EOF") && !strings.Contains(logs, "connection reset") {
		t.Errorf("close reason does not name the cut message")
	}
}

// TestShippedConfigLoads keeps config.yaml in step with the config structs:
// every key it sets must exist, and it listens on loopback only.
func TestShippedConfigLoads(t *testing.T) {
	cfg, err := server.LoadConfig("config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.HTTP.ListenAddr != "127.0.0.1:8080" || len(cfg.Plugins) != 1 {
		t.Fatalf("global %+v, %d plugins", cfg.Global, len(cfg.Plugins))
	}
	zc, ok := cfg.Plugins[0].Config.(*zerocopy.Config)
	if !ok || !zc.RTMP.Enable || zc.RTMP.ListenAddr != "127.0.0.1:1935" {
		t.Fatalf("zerocopy config %+v", cfg.Plugins[0].Config)
	}
	off, err := server.LoadConfig("config.yaml", []string{"ZEROCOPY_ENABLE=false"})
	if err != nil || len(off.Plugins) != 0 {
		t.Fatalf("ZEROCOPY_ENABLE=false left %d plugins (%v)", len(off.Plugins), err)
	}
}
