package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/zcingest/zerocopy" // installs the ZeroCopy plugin (its env overrides are tested)
	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/server"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

// baseConfig is a config file for tests: HTTP on a free loopback port,
// short waits, and the ZeroCopy plugin off (tests that need it turn it on).
const baseConfig = `
global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    publishtimeout: 5s
    closewait: 500ms
  subscribe:
    waittimeout: 5s
zerocopy:
  enable: false
`

// testLog is the shared log sink with a wait helper.
type testLog struct{ testutil.LogBuffer }

// waitLog waits until the log contains all of parts on one line.
func (l *testLog) waitLine(t *testing.T, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for line := range strings.Lines(l.String()) {
			ok := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", parts, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeConfig writes yaml into a temporary config file.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// harness is a running server and what the tests check after it.
type harness struct {
	t    *testing.T
	srv  *server.Server
	log  *testLog
	base int // goroutines before the start
	down bool
}

// startServer loads yaml (a config file's text) with environ and starts
// the server. Cleanup shuts it down (if the test did not) and checks that
// the goroutines are back to the baseline.
func startServer(t *testing.T, yaml string, environ ...string) *harness {
	t.Helper()
	h := &harness{t: t, log: &testLog{}, base: runtime.NumGoroutine()}
	// The ZeroCopy plugin is installed in this test binary: keep its other
	// protocols off their fixed default ports.
	environ = append(environ, testutil.LoopbackEnv...)
	cfg, err := server.LoadConfig(writeConfig(t, yaml), environ)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.srv, err = server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !h.down {
			h.shutdown()
		}
		checkGoroutinesBack(t, h.base)
		if t.Failed() {
			t.Logf("server log:\n%s", h.log)
		}
	})
	return h
}

func (h *harness) shutdown() {
	h.t.Helper()
	h.down = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
}

func (h *harness) url(path string) string { return "http://" + h.srv.HTTPAddr().String() + path }

// checkGoroutinesBack fails t unless the goroutine count falls back to
// base before a deadline.
func checkGoroutinesBack(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d, baseline %d; stacks:\n%s", n, base, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// source is the ffmpeg clip and what the host should forward of it.
type source struct {
	path      string
	data      []byte
	tags      []flvpub.Tag
	forwarded []flvpub.Tag // sequence headers, then frames, as HTTP-FLV sends them
	video     int          // video frames
}

var (
	srcOnce sync.Once
	src     *source
	srcErr  error
)

func clip(t testing.TB) *source {
	t.Helper()
	path := testclip.FLV(t)
	srcOnce.Do(func() {
		s := &source{path: path}
		if s.data, srcErr = os.ReadFile(path); srcErr != nil {
			return
		}
		if s.tags, srcErr = flvpub.ReadTags(s.data); srcErr != nil {
			return
		}
		for _, tg := range s.tags {
			if tg.Forwarded() {
				s.forwarded = append(s.forwarded, tg)
			}
			if tg.Media && tg.Kind == host.Video {
				s.video++
			}
		}
		src = s
	})
	if srcErr != nil {
		t.Fatal(srcErr)
	}
	return src
}

// pubDone is what a background publisher reports.
type pubDone struct {
	res    flvpub.Result
	runErr error
	worst  time.Duration // slowest single tag write
}

// publisher publishes the clip into the server's hub from its own
// goroutine. It starts writing once the stream has at least subs
// subscribers (so they see every frame), or at once for subs 0.
func publisher(t *testing.T, h *harness, ctx context.Context, path string, subs int, opts flvpub.Options) (*hub.Stream, <-chan pubDone) {
	t.Helper()
	s := clip(t)
	st, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: path, Protocol: "flv", Remote: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	done := make(chan pubDone, 1)
	go func() {
		for deadline := time.Now().Add(10 * time.Second); st.Info().Subscribers < subs && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		var d pubDone
		p, err := flvpub.New(st, s.data, opts)
		if err != nil {
			st.Close(err)
			d.runErr = err
			d.res = flvpub.Result{AllocatorFree: true, Balanced: true}
			done <- d
			return
		}
		d.runErr = runTimed(ctx, p, st.Context(), opts.Speed, &d.worst)
		d.res = p.Close(d.runErr)
		done <- d
	}()
	return st, done
}

// runTimed is flvpub.Run that also measures the slowest write; it paces
// by Speed like Run.
func runTimed(ctx context.Context, p *flvpub.Publisher, pubCtx context.Context, speed float64, worst *time.Duration) error {
	start := time.Now()
	for {
		if err := context.Cause(pubCtx); err != nil {
			return err
		}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		t0 := time.Now()
		tg, err := p.Step()
		*worst = max(*worst, time.Since(t0))
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if speed > 0 {
			due := start.Add(time.Duration(float64(tg.Timestamp) * float64(time.Millisecond) / speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-pubCtx.Done():
					return context.Cause(pubCtx)
				}
			}
		}
	}
}

// waitPub waits for a background publisher and checks its allocator ended
// balanced.
func waitPub(t *testing.T, done <-chan pubDone) pubDone {
	t.Helper()
	select {
	case d := <-done:
		if err := d.res.Err(); err != nil {
			t.Error(err)
		}
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("publisher did not finish")
	}
	return pubDone{}
}

// flvTag is one tag read back from an HTTP-FLV response.
type flvTag struct {
	Type      uint8
	Timestamp uint32
	Payload   []byte
}

// readFLV reads an FLV stream to its end with flv.Reader (over a
// bufreader with its own allocator), copying every tag out. It returns the
// tags and the error that ended the stream (nil for a clean end).
func readFLV(r io.Reader, max int) ([]flvTag, error) {
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(r, bufreader.Options{Allocator: a})
	defer func() {
		br.Recycle()
		if pool.Balanced(a) {
			pool.Recycle(a)
		}
	}()
	fr := flv.NewReader(br, flv.ReaderOptions{})
	h, err := fr.ReadHeader()
	if err != nil {
		return nil, fmt.Errorf("FLV header: %w", err)
	}
	if !h.HasVideo && !h.HasAudio {
		return nil, fmt.Errorf("FLV header %+v announces no track", h)
	}
	var out []flvTag
	var tag flv.Tag
	for max <= 0 || len(out) < max {
		err := fr.ReadTag(&tag)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		ft := flvTag{Type: tag.Type, Timestamp: tag.Timestamp, Payload: make([]byte, 0, tag.Payload.Size)}
		for _, b := range tag.Payload.Buffers {
			ft.Payload = append(ft.Payload, b...)
		}
		pool.FreeMemory(a, &tag.Payload)
		out = append(out, ft)
	}
	return out, nil
}

// compareTags checks HTTP-FLV output against the source's forwarded tags,
// tag by tag (type, timestamp, payload bytes).
func compareTags(got []flvTag, want []flvpub.Tag) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d tags, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Timestamp != w.Timestamp || !bytes.Equal(g.Payload, w.Payload) {
			return fmt.Errorf("tag %d: type %d ts %d %d bytes; want type %d ts %d %d bytes (payload equal: %v)",
				i, g.Type, g.Timestamp, len(g.Payload), w.Type, w.Timestamp, len(w.Payload), bytes.Equal(g.Payload, w.Payload))
		}
	}
	return nil
}

// httpClient never keeps idle connections, so no goroutine outlives a test.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// getFLV requests an HTTP-FLV stream and reads it to its end.
func getFLV(url string) ([]flvTag, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/x-flv" {
		return nil, fmt.Errorf("Content-Type %q", ct)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		return nil, fmt.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	return readFLV(resp.Body, 0)
}
