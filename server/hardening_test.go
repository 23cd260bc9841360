package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/server"
)

// shPlugin is a test plugin: it listens on TCP with the given caps (each
// connection is greeted with "hi\n" and held until the peer closes) and
// installs an authorizer when one is set.
type shPlugin struct {
	opts     host.ListenOptions
	auth     host.Authorizer
	fail     error
	addr     net.Addr
	disposed atomic.Bool
}

func (p *shPlugin) Start(s host.Services) error {
	if p.fail != nil {
		return p.fail
	}
	if p.auth != nil {
		s.SetAuthorizer(p.auth)
	}
	var err error
	p.addr, err = s.ListenTCP("capped", "127.0.0.1:0", p.opts, func(c net.Conn, _ *slog.Logger) {
		_, _ = io.WriteString(c, "hi\n")
		_, _ = io.Copy(io.Discard, c)
	})
	return err
}
func (p *shPlugin) Dispose() { p.disposed.Store(true) }

// shStart starts a server from yaml (global section defaults applied)
// with the given plugins ahead of the installed ones the yaml enables.
func shStart(t *testing.T, yaml string, environ []string, plugins ...host.Plugin) (*harness, error) {
	t.Helper()
	h := &harness{t: t, log: &testLog{}, base: runtime.NumGoroutine()}
	environ = append(environ, testutil.LoopbackEnv...) // the plugin's other protocols off their fixed ports
	cfg, err := server.LoadConfig(writeConfig(t, yaml), environ)
	if err != nil {
		return nil, err
	}
	var pre []server.PluginInstance
	for i, p := range plugins {
		pre = append(pre, server.PluginInstance{Meta: host.PluginMeta{Name: fmt.Sprintf("shtest%d", i)}, Plugin: p})
	}
	cfg.Plugins = append(pre, cfg.Plugins...)
	cfg.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.srv, err = server.Start(cfg)
	if err != nil {
		t.Cleanup(func() {
			checkGoroutinesBack(t, h.base)
			if t.Failed() {
				t.Logf("server log:\n%s", h.log)
			}
		})
		return h, err
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
	return h, nil
}

// shGreeted dials addr and reports whether the handler greeted it (true)
// or the host closed it at once (false).
func shGreeted(t *testing.T, addr net.Addr) (net.Conn, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line == "hi\n" {
		return c, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection neither served nor closed")
	}
	c.Close()
	return nil, false
}

// TestListenCapsPerIPAndListener: item 4. With a per-IP cap of 2 the
// third connection from 127.0.0.1 is closed at once, logged and counted;
// once one closes a new one is served again (no rate ban). The refusal is
// in zerocopy_connections_refused_total; the egress copy counter that
// nothing incremented is gone (item 5).
func TestListenCapsPerIPAndListener(t *testing.T) {
	p := &shPlugin{opts: host.ListenOptions{MaxConnectionsPerIP: 2}}
	h, err := shStart(t, baseConfig, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	c1, ok1 := shGreeted(t, p.addr)
	c2, ok2 := shGreeted(t, p.addr)
	if !ok1 || !ok2 {
		t.Fatal("first two connections refused")
	}
	defer c2.Close()
	if _, ok := shGreeted(t, p.addr); ok {
		t.Fatal("third connection from the same IP served, want refused")
	}
	h.log.waitLine(t, 2*time.Second, "connection refused: cap reached", "listener=capped", "remote_ip=127.0.0.1", "cap=per_ip")
	c1.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, ok := shGreeted(t, p.addr)
		if ok {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not served again after a connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := scrape(t, h)
	if got := m[`zerocopy_connections_refused_total{listener="capped",reason="per_ip"}`]; got < 1 {
		t.Errorf("refused per_ip = %v, want >= 1", got)
	}
	if got := h.srv.Refused("capped", "per_ip"); got < 1 {
		t.Errorf("Refused = %d", got)
	}
	for name := range m {
		if strings.HasPrefix(name, "zerocopy_egress_bytes_copied_total") {
			t.Errorf("%s is still exported; nothing on the egress copies", name)
		}
	}
}

func TestListenCapPerListener(t *testing.T) {
	p := &shPlugin{opts: host.ListenOptions{MaxConnections: 1}}
	h, err := shStart(t, baseConfig, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	c1, ok := shGreeted(t, p.addr)
	if !ok {
		t.Fatal("first connection refused")
	}
	defer c1.Close()
	if _, ok := shGreeted(t, p.addr); ok {
		t.Fatal("second connection served past MaxConnections 1")
	}
	h.log.waitLine(t, 2*time.Second, "connection refused: cap reached", "listener=capped", "cap=listener")
	if h.srv.Refused("capped", "listener") != 1 {
		t.Errorf("Refused(capped, listener) = %d", h.srv.Refused("capped", "listener"))
	}
}

// TestStartFailsOnPluginError: item 2. A plugin whose listen address is
// bad stops start-up with an error naming the plugin and the key; the
// plugin started before it is disposed and its listener closed.
func TestStartFailsOnPluginError(t *testing.T) {
	yaml := strings.Replace(baseConfig, "zerocopy:\n  enable: false\n", "zerocopy:\n  rtmp:\n    listenaddr: 127.0.0.1:0\n", 1)
	first := &shPlugin{}
	h, err := shStart(t, yaml, []string{"ZEROCOPY_RTMP_LISTENADDR=999.1.1.1:1935"}, first)
	if err == nil {
		t.Fatal("Start succeeded with a bad zerocopy.rtmp.listenaddr")
	}
	for _, want := range []string{"plugin ZeroCopy", "zerocopy.rtmp.listenaddr", "999.1.1.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !first.disposed.Load() {
		t.Error("plugin started before the failure was not disposed")
	}
	if c, err := net.DialTimeout("tcp", first.addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("earlier plugin's listener still accepts")
	}
	_ = h
}

// TestPProfOnlyOnAdminListener: item 3. The media listener never serves
// pprof; global.admin.listenaddr does; the old key fails with a pointer to
// the new one.
func TestPProfOnlyOnAdminListener(t *testing.T) {
	yaml := strings.Replace(baseConfig, "  http:\n", "  admin:\n    listenaddr: 127.0.0.1:0\n  http:\n", 1)
	h, err := shStart(t, yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) int {
		resp, err := httpClient.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(h.url("/debug/pprof/")); code != http.StatusNotFound {
		t.Errorf("media listener /debug/pprof/: %d, want 404", code)
	}
	admin := "http://" + h.srv.AdminAddr().String()
	if code := get(admin + "/debug/pprof/"); code != 200 {
		t.Errorf("admin /debug/pprof/: %d", code)
	}
	if code := get(admin + "/metrics"); code != 200 {
		t.Errorf("admin /metrics: %d", code)
	}

	_, err = server.LoadConfig(writeConfig(t, strings.Replace(baseConfig, "  http:\n", "  http:\n    pprof: true\n", 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "global.http.pprof") || !strings.Contains(err.Error(), "global.admin.listenaddr") {
		t.Fatalf("pprof: true: %v, want an error pointing at global.admin.listenaddr", err)
	}
	if _, err := server.LoadConfig("", nil); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPConnectionCapAndIdleTimeout: item 3. Over global.http.maxconnections
// a connection is closed at once and counted; an idle keep-alive
// connection is closed after global.http.idletimeout.
func TestHTTPConnectionCapAndIdleTimeout(t *testing.T) {
	yaml := strings.Replace(baseConfig, "    listenaddr: 127.0.0.1:0\n", "    listenaddr: 127.0.0.1:0\n    maxconnections: 2\n    idletimeout: 300ms\n", 1)
	h, err := shStart(t, yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := h.srv.HTTPAddr().String()
	request := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /api/streams HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := request(c); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	over, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := request(over); err == nil {
		t.Error("third HTTP connection served past maxconnections 2")
	}
	over.Close()
	h.log.waitLine(t, 2*time.Second, "connection refused: cap reached", "listener=http", "cap=listener")
	// Idle timeout: both keep-alive connections are closed by the server.
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("idle keep-alive connection: read %v, want EOF", err)
		}
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for h.srv.Refused("http", "listener") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.srv.Refused("http", "listener"); n < 1 {
		t.Errorf("http refusals %d", n)
	}
}

// TestHTTPFLVAuthAndCORS: item 1. The plugin's auth section guards
// HTTP-FLV through the host hook: 401 without or with a wrong key, 200
// with the right one; the key is never logged; the deprecated
// zerocopy.rtmp.publishkey alias is used and warned about; 403 and 503
// come from ErrForbidden and a failure to decide; OPTIONS answers CORS.
func TestHTTPFLVAuthAndCORS(t *testing.T) {
	const playKey, pubKey = "Play-Secret-4711", "Pub-Secret-0815"
	yaml := strings.Replace(baseConfig, "zerocopy:\n  enable: false\n",
		"zerocopy:\n  auth:\n    playkey: "+playKey+"\n  rtmp:\n    listenaddr: 127.0.0.1:0\n    publishkey: "+pubKey+"\n", 1)
	h, err := shStart(t, yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done := publisher(t, h, ctx, "live/a", 0, flvpub.Options{Speed: 1, Loop: true})
	status := func(method, path string) (int, http.Header) {
		req, _ := http.NewRequest(method, h.url(path), nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, q := range []string{"", "?key=wrong", "?key=" + pubKey} {
		if code, hdr := status("GET", "/live/a.flv"+q); code != 401 || hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET /live/a.flv%s: %d (ACAO %q), want 401 with CORS", q, code, hdr.Get("Access-Control-Allow-Origin"))
		}
	}
	code, hdr := status("GET", "/live/a.flv?key="+playKey)
	if code != 200 || hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Content-Type") != "video/x-flv" {
		t.Errorf("right key: %d %v", code, hdr)
	}
	code, hdr = status("OPTIONS", "/live/a.flv")
	if code != http.StatusNoContent || hdr.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "GET") || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "OPTIONS") {
		t.Errorf("OPTIONS preflight: %d %v", code, hdr)
	}
	cancel()
	waitPub(t, done)
	h.log.waitLine(t, time.Second, "deprecated config key", "zerocopy.rtmp.publishkey")
	h.log.waitLine(t, time.Second, "http-flv player refused", "status=401")
	if out := h.log.String(); strings.Contains(out, playKey) || strings.Contains(out, pubKey) || strings.Contains(out, "key=wrong") {
		t.Errorf("a key or query reached the log:\n%s", out)
	}

	// 403 and 503 from the hook's error kinds.
	p := &shPlugin{auth: host.AuthorizerFunc(func(_ context.Context, r host.AuthRequest) error {
		if r.Protocol != "httpflv" || r.Action != host.ActionPlay || r.Remote == "" {
			return fmt.Errorf("bad request %+v: %w", r, host.ErrUnauthorized)
		}
		switch r.Path {
		case "live/forbidden":
			return fmt.Errorf("no: %w", host.ErrForbidden)
		case "live/down":
			return errors.New("auth service unreachable")
		}
		return nil
	})}
	h2, err := shStart(t, strings.Replace(baseConfig, "waittimeout: 5s", "waittimeout: 50ms", 1), nil, p)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/live/forbidden.flv": 403, "/live/down.flv": 503, "/live/none.flv": 404} {
		resp, err := httpClient.Get(h2.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestHTTPFLVHeaderAndMetadata: item 5. The FLV header announces only the
// tracks the stream has, and the stream's onMetaData goes out as a script
// tag before the first frame.
func TestHTTPFLVHeaderAndMetadata(t *testing.T) {
	s := clip(t)
	h, err := shStart(t, baseConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A video-only copy of the clip.
	var b []byte
	b = append(b, flv.FileHeader(true, false)...)
	for _, tg := range s.tags {
		if tg.Type != flv.TagVideo {
			continue
		}
		b = flv.PutTagHeader(b, tg.Type, len(tg.Payload), tg.Timestamp)
		b = append(b, tg.Payload...)
		b = flv.PutPreviousTagSize(b, uint32(11+len(tg.Payload)))
	}
	st, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/v", Protocol: "flv"})
	if err != nil {
		t.Fatal(err)
	}
	meta := []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
	if err := st.SetMetadata(meta); err != nil {
		t.Fatal(err)
	}
	pubDone := make(chan error, 1)
	go func() {
		for deadline := time.Now().Add(5 * time.Second); st.Info().Subscribers < 1 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		res, err := flvpub.Publish(context.Background(), st, b, flvpub.Options{Speed: 4})
		if err == nil {
			err = res.Err()
		}
		pubDone <- err
	}()
	resp, err := httpClient.Get(h.url("/live/v.flv"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	if len(body) < 13+11 || string(body[:3]) != "FLV" {
		t.Fatalf("not FLV: %q", body[:min(len(body), 16)])
	}
	if body[4] != 0x01 {
		t.Errorf("FLV header flags %#x, want 0x01 (video only)", body[4])
	}
	tag := body[13:]
	size := int(binary.BigEndian.Uint32(tag[0:4]) & 0xffffff)
	if tag[0] != flv.TagScript || size != len(meta) || string(tag[11:11+size]) != string(meta) {
		t.Fatalf("first tag type %d size %d, want the metadata script tag", tag[0], size)
	}
	next := tag[11+size+4:]
	if next[0] != flv.TagVideo {
		t.Errorf("tag after metadata is type %d, want video", next[0])
	}
}

// TestAuthKeysFromEnvironment: item 1. zerocopy.auth keys come through the
// usual environment mechanism, and a range tag refuses a bad timeout.
func TestAuthKeysFromEnvironment(t *testing.T) {
	cfg, err := loadYAML(t, "zerocopy:\n  auth:\n    publishkey: from-file\n", "ZEROCOPY_AUTH_PLAYKEY=from-env")
	if err != nil {
		t.Fatal(err)
	}
	zc := pluginConfig(t, cfg)
	if zc.Auth.PlayKey != "from-env" || zc.Auth.PublishKey != "from-file" || zc.Auth.Timeout != 2*time.Second || zc.Auth.CacheTTL != 10*time.Second {
		t.Fatalf("auth section %+v", zc.Auth)
	}
	_, err = loadYAML(t, "zerocopy:\n  auth:\n    timeout: -1s\n")
	if err == nil || !strings.Contains(err.Error(), "zerocopy.auth.timeout: -1s is below the minimum") {
		t.Fatalf("negative timeout: %v", err)
	}
	_, err = loadYAML(t, "global:\n  publish:\n    ringsize: 0\n")
	if err == nil || err.Error() != "global.publish.ringsize: 0 is below the minimum 1" {
		t.Fatalf("ringsize 0: %v", err)
	}
}
