package zerocopy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/handshake"
	"github.com/zcingest/zerocopy/server"
)

// rhServer is the embedded host with the plugin on loopback ports.
type rhServer struct {
	srv  *server.Server
	log  *testutil.LogBuffer
	rtmp string
}

// rhStart runs the embedded host; rtmpExtra is appended to the
// zerocopy.rtmp section. Cleanup shuts it down and checks goroutines.
func rhStart(t *testing.T, rtmpExtra string) *rhServer {
	t.Helper()
	base := runtime.NumGoroutine()
	yaml := fmt.Sprintf(`global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    closewait: 2s
  subscribe:
    waittimeout: 10s
zerocopy:
  rtmp:
    listenaddr: 127.0.0.1:0
%s%s`, rtmpExtra, testutil.LoopbackProtocols)
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
	rs := &rhServer{srv: srv, log: logs, rtmp: srv.Addrs()["rtmp"].String()}
	t.Cleanup(func() {
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
	return rs
}

// rhInUse sums, over every protocol, the allocator bytes Malloc'd and not
// yet freed as the hub's totals report them.
func (rs *rhServer) rhInUse() (inUse int64, detail string) {
	h := rs.srv.Hub()
	for _, p := range h.Protocols() {
		tot := h.Totals(p)
		m, f := tot.AllocMalloc.Load(), tot.AllocFree.Load()
		inUse += m - f
		detail += fmt.Sprintf(" %s: malloc %d free %d;", p, m, f)
	}
	return inUse, detail
}

// rhPlayer dials the server, handshakes and asks to play path, then reads
// nothing more: a frozen player. Its receive buffer is small so the
// server's writes block soon.
func rhPlayer(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := handshake.Client(c, c, handshake.ClientOptions{}); err != nil {
		c.Close()
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := chunk.NewWriter(&buf, chunk.DefaultChunkSize)
	app, name, _ := strings.Cut(path, "/")
	for i, cmd := range []struct {
		streamID uint32
		name     string
		obj      amf0.Value
		args     []amf0.Value
	}{
		{0, "connect", amf0.Object{{Key: "app", Value: app}, {Key: "tcUrl", Value: "rtmp://" + addr + "/" + app}}, nil},
		{0, "createStream", nil, nil},
		{1, "play", nil, []amf0.Value{name}},
	} {
		body, err := amf0.AppendCommand(nil, cmd.name, float64(i+1), cmd.obj, cmd.args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Queue(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0, StreamID: cmd.streamID}, [][]byte{body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRTMPFrozenPlayerAtUnpublish: an RTMP player that joins about 3 s
// before the publisher ends and then never reads must not keep the
// publisher's frames (and allocator) past the unpublish: the host cuts it,
// its blocked write fails at once and its frame is released.
func TestRTMPFrozenPlayerAtUnpublish(t *testing.T) {
	testclip.NeedFFmpeg(t)
	rs := rhStart(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// 2 s of noise, lossless: ~24 Mbit/s, so the ~3 s the player is fed
	// are far more than the socket buffers (4 MiB + 4 KiB) hold and the
	// server's write to it blocks.
	clip := filepath.Join(t.TempDir(), "noise.flv")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "nullsrc=s=320x240:r=25,geq=lum='random(1)*255':cb=128:cr=128", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "25", "-pix_fmt", "yuv420p", "-f", "flv", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg encode: %v: %s", err, out)
	}
	// The clip three times over, paced: about 6 s of publishing.
	push := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-stream_loop", "2", "-i", clip, "-c", "copy", "-f", "flv", "rtmp://"+rs.rtmp+"/live/frozen")
	push.WaitDelay = 5 * time.Second
	var pushOut bytes.Buffer
	push.Stdout, push.Stderr = &pushOut, &pushOut
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- push.Wait() }()
	for rs.srv.Hub().Stream("live/frozen") == nil {
		select {
		case err := <-pushed:
			t.Fatalf("ffmpeg ended before publishing: %v: %s", err, pushOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(2500 * time.Millisecond) // about 3 s before the end
	player := rhPlayer(t, rs.rtmp, "live/frozen")
	defer player.Close()
	if err := <-pushed; err != nil {
		t.Fatalf("ffmpeg push: %v: %s", err, pushOut.String())
	}
	unpublished := time.Now()
	for {
		inUse, detail := rs.rhInUse()
		// The publisher's last report comes from its teardown, after its
		// frames are back; until then its ring (and arena pin) are in use.
		if inUse == 0 {
			t.Logf("allocators balanced %v after the unpublish, frozen player still connected:%s", time.Since(unpublished).Round(time.Millisecond), detail)
			break
		}
		if time.Since(unpublished) > 20*time.Second {
			t.Fatalf("20 s after the unpublish, with a frozen player connected, allocator bytes in use %d:%s", inUse, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs := rs.log.String()
	for _, bad := range []string{"leak", "abandon", "still held"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log reports frames kept past the unpublish (%q)", bad)
		}
	}
	// The frozen player was cut (and its connection closed by the server).
	if !strings.Contains(logs, "cut off by the host") {
		t.Error("the frozen player was not cut off at the unpublish")
	}
}

// TestRTMPConnectionCaps: maxconnectionsperip is passed to the host, which
// refuses a connection over the cap; setuptimeout closes a connection that
// handshakes and then says nothing.
func TestRTMPConnectionCaps(t *testing.T) {
	rs := rhStart(t, "    maxconnectionsperip: 2\n    setuptimeout: 500ms\n")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", rs.rtmp)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Both are served: they handshake, then the setup deadline closes them.
	for i, c := range conns {
		if _, err := handshake.Client(c, c, handshake.ClientOptions{}); err != nil {
			t.Fatalf("connection %d under the cap: %v", i, err)
		}
	}
	over, err := net.Dial("tcp", rs.rtmp)
	if err == nil {
		defer over.Close()
		_ = over.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := handshake.Client(over, over, handshake.ClientOptions{}); err == nil {
			t.Error("a third connection from one IP was served with maxconnectionsperip: 2")
		}
	}
	start := time.Now()
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("connection %d: %v; want the server to close it at the setup deadline", i, err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("idle connections were closed %v after their handshake; setuptimeout is 500ms", took)
	}
	if !strings.Contains(rs.log.String(), "no publish or play within") {
		t.Error("the setup timeout was not logged as the reason for the close")
	}
}

// TestRTMPConfigRanges: the min/max tags on zerocopy.rtmp refuse values a
// session cannot work with.
func TestRTMPConfigRanges(t *testing.T) {
	for _, kv := range []string{"allocatorsize: 1024", "maxmessagelength: 16777217", "handshaketimeout: -1s", "maxconnections: -1"} {
		yaml := "zerocopy:\n  rtmp:\n    " + kv + "\n" + testutil.LoopbackProtocols
		file, err := config.Parse("test.yaml", []byte(yaml))
		if err == nil {
			_, err = server.BuildConfig(file, nil)
		}
		key := "zerocopy.rtmp." + strings.SplitN(kv, ":", 2)[0]
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: got %v, want an out-of-range error naming %s", kv, err, key)
		}
	}
}
