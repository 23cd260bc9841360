package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/server"
)

// statusPluginConfig runs the ZeroCopy plugin with RTMP and RTSP (TCP only) on
// free loopback ports.
const statusPluginConfig = `
global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    publishtimeout: 5s
    closewait: 500ms
    reconnectwait: 0s
  subscribe:
    waittimeout: 0s
zerocopy:
  rtmp:
    listenaddr: 127.0.0.1:0
  rtsp:
    listenaddr: 127.0.0.1:0
    rtpaddress: ""
    rtcpaddress: ""
`

// statusJSON is the part of /status.json the tests read.
type statusJSON struct {
	Streams []struct {
		Path             string  `json:"path"`
		Protocol         string  `json:"protocol"`
		VideoCodec       string  `json:"videoCodec"`
		AudioCodec       string  `json:"audioCodec"`
		BitrateKbps      float64 `json:"bitrateKbps"`
		KeyframeInterval float64 `json:"keyframeInterval"`
		Width            int     `json:"width"`
		Height           int     `json:"height"`
		Play             []struct {
			Protocol, Name, URL string
		} `json:"play"`
	} `json:"streams"`
	Totals struct {
		Streams     int   `json:"streams"`
		SocketBytes int64 `json:"socketBytes"`
		CopiedBytes int64 `json:"copiedBytes"`
		AllocInUse  int64 `json:"allocInUse"`
	} `json:"totals"`
	TestSource string `json:"testSource"`
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func getStatus(t *testing.T, h *harness) statusJSON {
	t.Helper()
	resp, body := get(t, h.url("/status.json"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/status.json: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status.json: %v: %s", err, body)
	}
	return st
}

// TestStatusPageServerRendered: with JavaScript off the page is complete:
// the stream row with codecs and play URLs, the counters; the assets and
// /status.json are served, and every other path still reaches HTTP-FLV.
func TestStatusPageServerRendered(t *testing.T) {
	h := startServer(t, baseConfig, "GLOBAL_SUBSCRIBE_WAITTIMEOUT=0s")
	ctx, cancel := context.WithCancel(context.Background())
	_, done := publisher(t, h, ctx, "live/page", 0, flvpub.Options{Speed: 4, Loop: true})
	defer func() { cancel(); waitPub(t, done) }()

	deadline := time.Now().Add(10 * time.Second)
	var st statusJSON
	for {
		st = getStatus(t, h)
		if len(st.Streams) == 1 && st.Streams[0].BitrateKbps > 0 && st.Streams[0].AudioCodec != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream never showed a bitrate: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := st.Streams[0]
	addr := h.srv.HTTPAddr().String()
	if s.Path != "live/page" || s.VideoCodec != "H264" || s.AudioCodec != "AAC" || s.Width != 320 || s.Height != 240 || // testclip's size
		len(s.Play) != 1 || s.Play[0].URL != "http://"+addr+"/live/page.flv" {
		t.Fatalf("status stream: %+v", s)
	}
	if st.Totals.Streams != 1 || st.TestSource != "" {
		t.Fatalf("status totals: %+v, test source %q", st.Totals, st.TestSource)
	}

	resp, page := get(t, h.url("/"))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<tr data-path="live/page"`, `value="http://` + addr + `/live/page.flv"`, "H264 / AAC",
		`<th>resolution</th>`, `<td class="num">320&times;240</td>`,
		`data-k="copiedBytes"`, `data-k="allocInUse"`, `data-k="gcCycles"`, `<canvas id="chart"`,
		`<script src="/status.js" defer>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?i)<(script|link)[^>]+(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("page loads something from another origin")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for path, ctype := range map[string]string{"/status.js": "text/javascript", "/status.css": "text/css"} {
		resp, body := get(t, h.url(path))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}

	// HTTP-FLV is untouched: a .flv path plays, an unknown one is 404.
	resp, err := httpClient.Get(h.url("/live/page.flv"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 3)
	_, err = io.ReadFull(resp.Body, head)
	resp.Body.Close()
	if err != nil || string(head) != "FLV" {
		t.Fatalf("/live/page.flv: %d %q %v", resp.StatusCode, head, err)
	}
	if resp, _ := get(t, h.url("/nothing")); resp.StatusCode != 404 {
		t.Errorf("/nothing: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, h.url("/live/none.flv")); resp.StatusCode != 404 {
		t.Errorf("/live/none.flv: %d, want 404", resp.StatusCode)
	}
}

// TestStatusNeverShowsKey: with publish and play keys set, the page, the
// JSON and the banner carry the ?key=<key> placeholder and never a key.
func TestStatusNeverShowsKey(t *testing.T) {
	const pub, play = "pub-sekrit-41", "play-sekrit-97"
	h := startServer(t, statusPluginConfig, "ZEROCOPY_AUTH_PUBLISHKEY="+pub, "ZEROCOPY_AUTH_PLAYKEY="+play)

	st := getStatus(t, h)
	rtmp := h.srv.Addrs()["rtmp"].String()
	if want := server.TestSourceCommand("rtmp://" + rtmp + "/live/test?key=<key>"); st.TestSource != want {
		t.Fatalf("empty page test source:\n%q\nwant\n%q", st.TestSource, want)
	}

	stream, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/k", Protocol: "rtmp", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close(nil)
	st = getStatus(t, h)
	if len(st.Streams) != 1 || len(st.Streams[0].Play) < 2 {
		t.Fatalf("streams: %+v", st.Streams)
	}
	for _, u := range st.Streams[0].Play {
		if !strings.HasSuffix(u.URL, "/live/k.flv?key=<key>") && !strings.HasSuffix(u.URL, "/live/k?key=<key>") {
			t.Errorf("%s URL %q lacks the placeholder", u.Name, u.URL)
		}
	}
	_, page := get(t, h.url("/"))
	_, js := get(t, h.url("/status.json"))
	banner := server.Banner(h.srv)
	for name, text := range map[string]string{"page": page, "json": js, "banner": banner} {
		if strings.Contains(text, "sekrit") {
			t.Errorf("%s shows a key", name)
		}
	}
	if !strings.Contains(page, "live/k.flv?key=&lt;key&gt;") {
		t.Error("page lacks the HTTP-FLV placeholder URL")
	}
	if !strings.Contains(banner, "/live/test?key=<key>") || !strings.Contains(banner, "replace ?key=<key>") {
		t.Errorf("banner lacks the placeholder:\n%s", banner)
	}
}

// rtspStub is a plugin that only opens a listener named "rtsp", standing in
// for the RTSP protocol in banner and page tests.
type rtspStub struct{}

func (rtspStub) Start(s host.Services) error {
	_, err := s.ListenTCP("rtsp", "127.0.0.1:0", host.ListenOptions{}, func(net.Conn, *slog.Logger) {})
	return err
}
func (rtspStub) Dispose() {}

// TestStatusRTSPWhenListening: an "rtsp" listener adds the RTSP publish
// command to the banner and an RTSP URL to each stream; without one
// neither shows.
func TestStatusRTSPWhenListening(t *testing.T) {
	h := startServer(t, statusPluginConfig, "ZEROCOPY_RTSP_ENABLE=false")
	if b := server.Banner(h.srv); strings.Contains(b, "rtsp") {
		t.Fatalf("banner mentions RTSP without a listener:\n%s", b)
	}
	h2, err := shStart(t, statusPluginConfig, []string{"ZEROCOPY_RTSP_ENABLE=false", "ZEROCOPY_SRT_ENABLE=false"}, rtspStub{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := h2.srv.Addrs()
	if _, ok := addrs["rtsp"]; !ok {
		t.Fatalf("no rtsp listener: %v", addrs)
	}
	rtsp := addrs["rtsp"].String()
	b := server.Banner(h2.srv)
	want := server.TestSourceCommand("rtsp://" + rtsp + "/live/test")
	if !strings.Contains(b, "  "+want+"\n") || !strings.HasSuffix(want, " -f rtsp -rtsp_transport tcp rtsp://"+rtsp+"/live/test") {
		t.Errorf("banner lacks %q:\n%s", want, b)
	}
	if !strings.Contains(b, "ffplay -rtsp_transport tcp rtsp://"+rtsp+"/live/test\n") {
		t.Errorf("banner lacks the RTSP play command:\n%s", b)
	}
	stream, err := h2.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/r", Protocol: "rtmp", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close(nil)
	st := getStatus(t, h2)
	if len(st.Streams) != 1 || len(st.Streams[0].Play) != 3 || st.Streams[0].Play[2].URL != "rtsp://"+rtsp+"/live/r" {
		t.Fatalf("play URLs: %+v", st.Streams)
	}
}

// TestStatusSRTEndpoint: gosrt binds its own socket, which the SRT plugin
// advertises through the seam: with SRT enabled the banner lists it, shows
// its publish and play URLs (quoted: '?' is a shell glob), and each
// stream on the page and in /status.json gets an SRT play URL; with SRT
// disabled none of that shows.
func TestStatusSRTEndpoint(t *testing.T) {
	h := startServer(t, statusPluginConfig)
	a, ok := h.srv.Addrs()["srt"]
	if !ok {
		t.Fatalf("no srt in the listeners: %v", h.srv.Addrs())
	}
	srt := a.String()
	b := server.Banner(h.srv)
	for _, want := range []string{
		fmt.Sprintf("  %-6s %s\n", "srt", srt),
		"or over SRT:\n",
		" -f mpegts 'srt://" + srt + "?streamid=publish:/live/test'\n",
		"  ffplay 'srt://" + srt + "?streamid=subscribe:/live/test'\n",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	stream, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/s", Protocol: "rtmp", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close(nil)
	playURL := "srt://" + srt + "?streamid=subscribe:/live/s"
	st := getStatus(t, h)
	if len(st.Streams) != 1 {
		t.Fatalf("streams: %+v", st.Streams)
	}
	var found bool
	for _, u := range st.Streams[0].Play {
		found = found || u.Protocol == "srt" && u.Name == "SRT" && u.URL == playURL
	}
	if !found {
		t.Errorf("/status.json play URLs lack %s: %+v", playURL, st.Streams[0].Play)
	}
	if _, page := get(t, h.url("/")); !strings.Contains(page, `value="`+playURL+`"`) {
		t.Errorf("page lacks the SRT play URL %s", playURL)
	}

	off := startServer(t, statusPluginConfig, "ZEROCOPY_SRT_ENABLE=false")
	if _, ok := off.srv.Addrs()["srt"]; ok {
		t.Errorf("srt listed while disabled: %v", off.srv.Addrs())
	}
	if b := server.Banner(off.srv); strings.Contains(b, "srt") || strings.Contains(b, "SRT") {
		t.Errorf("banner mentions SRT while it is disabled:\n%s", b)
	}
	stream2, err := off.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/s", Protocol: "rtmp", Remote: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer stream2.Close(nil)
	if _, js := get(t, off.url("/status.json")); strings.Contains(js, "srt") {
		t.Errorf("/status.json shows SRT while it is disabled: %s", js)
	}
}

// bannerPublishCommands returns the publish commands the banner shows,
// one per protocol, as argument lists. The lines need nothing of a shell
// beyond single quotes around a whole word: splitting on spaces and
// dropping those quotes is then exactly what any shell does with them.
func bannerPublishCommands(t *testing.T, banner string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(banner))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "ffmpeg ") {
			continue
		}
		args := strings.Fields(line)
		for i, a := range args {
			// One single-quoted word (an SRT URL's query) means its
			// contents to every shell; nothing else may need a shell.
			if len(a) > 2 && a[0] == '\'' && a[len(a)-1] == '\'' && !strings.Contains(a[1:len(a)-1], "'") {
				args[i] = a[1 : len(a)-1]
			} else if strings.ContainsAny(a, "'\"\\$`;&|<>(){}*?!#~") {
				t.Fatalf("banner command needs shell quoting: %s", line)
			}
		}
		url := args[len(args)-1]
		scheme, _, _ := strings.Cut(url, "://")
		out[scheme] = args
	}
	if len(out) == 0 {
		t.Fatalf("no ffmpeg command in the banner:\n%s", banner)
	}
	return out
}

// TestStatusBannerTestSource runs the banner's exact test-source command
// (every protocol it shows) against a live server, checks the stream's
// codecs, bitrate and 2 s GOP, and then loads the status page in headless
// Chromium (subtest Browser).
func TestStatusBannerTestSource(t *testing.T) {
	testclip.NeedFFmpeg(t)
	h := startServer(t, statusPluginConfig)
	banner := server.Banner(h.srv)
	cmds := bannerPublishCommands(t, banner)
	if _, ok := cmds["rtmp"]; !ok {
		t.Fatalf("banner has no RTMP publish command:\n%s", banner)
	}
	checkREADME(t, banner, h.srv.Addrs())

	if _, ok := cmds["srt"]; !ok {
		t.Fatalf("banner has no SRT publish command:\n%s", banner)
	}
	for _, scheme := range []string{"rtsp", "srt", "rtmp"} { // RTMP last: the browser looks at it
		args, ok := cmds[scheme]
		if !ok {
			continue
		}
		ffmpeg, stop := startCommand(t, args)
		s := waitLive(t, h, scheme, ffmpeg)
		t.Logf("%s test source: %s %s %dx%d, %.0f kbit/s, keyframe every %.2f s", scheme, s.VideoCodec, s.AudioCodec, s.Width, s.Height, s.BitrateKbps, s.KeyframeInterval)
		if s.VideoCodec != "H264" || s.AudioCodec != "AAC" || s.KeyframeInterval < 1.9 || s.KeyframeInterval > 2.1 {
			t.Errorf("%s test source: %+v (want H264, AAC, keyframe interval 2 s)", scheme, s)
		}
		if s.Width != 640 || s.Height != 360 { // the banner's testsrc2=size=640x360
			t.Errorf("%s test source resolution %dx%d, want 640x360", scheme, s.Width, s.Height)
		}
		if scheme == "rtmp" {
			t.Run("Browser", func(t *testing.T) { browserCheck(t, h) })
		}
		stop()
		waitGone(t, h)
	}
}

// checkREADME: once the README shows the test source, it must show the
// banner's command for the default RTMP address verbatim.
func checkREADME(t *testing.T, banner string, addrs map[string]net.Addr) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil || !bytes.Contains(readme, []byte("testsrc2")) {
		t.Log("README.md does not show the test source yet; not compared")
		return
	}
	want := server.TestSourceCommand("rtmp://127.0.0.1:1935/live/test")
	if !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md does not show the banner's test source command:\n%s", want)
	}
}

// startCommand starts args (the banner's command line, unchanged) with a
// bounded lifetime; stop ends it with SIGINT, as a user's Ctrl-C would.
func startCommand(t *testing.T, args []string) (*exec.Cmd, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		if t.Failed() {
			tail := out.String()
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			t.Logf("ffmpeg output (tail):\n%s", tail)
		}
	}
	t.Cleanup(stop)
	return cmd, stop
}

type liveStream struct {
	Path, Protocol, VideoCodec, AudioCodec string
	BitrateKbps, KeyframeInterval          float64
	Width, Height                          int
}

// waitLive waits until live/test is published over protocol with a
// bitrate and a measured keyframe interval.
func waitLive(t *testing.T, h *harness, protocol string, cmd *exec.Cmd) liveStream {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, in := range h.srv.Hub().Streams() {
			if in.Path == server.TestSourcePath && in.BitrateKbps > 0 && in.KeyframeInterval > 0 && in.AudioCodec != "" {
				if in.Protocol != protocol {
					t.Fatalf("live/test published over %s, want %s", in.Protocol, protocol)
				}
				return liveStream{in.Path, in.Protocol, in.VideoCodec, in.AudioCodec, in.BitrateKbps, in.KeyframeInterval, in.Width, in.Height}
			}
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("the banner's %s command did not publish live/test with a bitrate and two keyframes: %+v", protocol, h.srv.Hub().Streams())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitGone(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(h.srv.Hub().Streams()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stream did not end: %+v", h.srv.Hub().Streams())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshotEnv asks TestStatusBannerTestSource/Browser to save the page
// as docs/status.png (the README's screenshot).
const screenshotEnv = "ZC_WRITE_SCREENSHOT"

// chromiumPath finds Debian's chromium, or fails (CI=true or
// ZC_REQUIRE_FFMPEG=1: .ci/run installs it) or skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testclip.Required() {
		t.Fatalf("chromium not found on PATH, and %s or %s require it: install Debian's chromium (apt-get install chromium; .ci/run does) or unset both to skip",
			testclip.RequireEnv, testclip.CIEnv)
	}
	t.Skip("chromium not found on PATH; install it (apt-get install chromium) to run the browser test")
	return ""
}

// chromium runs headless Chromium with args and the URL and returns its
// standard output. Virtual time lets the page's polls run without
// waiting for them in real time.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(dir, "profile")}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tail(stderr.String(), 3000))
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var (
	liveRowRE  = regexp.MustCompile(`<tr data-path="live/test" data-bitrate="([0-9.e+-]+)" data-js="1">`)
	updatesRE  = regexp.MustCompile(`<body[^>]* data-updates="([0-9]+)"`)
	liveBadge  = `<span id="live" class="badge live"`
	flvURLText = "/live/test.flv"
	// resText is the resolution cell the script renders for the test
	// source (the server renders &times;, the script the character).
	resText = "<td class=\"num\">640\u00d7360</td>"
)

// browserCheck loads the status page in headless Chromium and checks that
// its script polled /status.json and rendered the live stream with a
// non-zero bitrate (attributes only the script sets).
func browserCheck(t *testing.T, h *harness) {
	bin := chromiumPath(t)
	dom := string(chromium(t, bin, "--virtual-time-budget=7000", "--dump-dom", h.url("/")))
	m := liveRowRE.FindStringSubmatch(dom)
	u := updatesRE.FindStringSubmatch(dom)
	if m == nil || u == nil || !strings.Contains(dom, liveBadge) || !strings.Contains(dom, flvURLText) {
		t.Fatalf("the page's script did not render the live stream:\n%s", tail(dom, 6000))
	}
	if kbps, err := strconv.ParseFloat(m[1], 64); err != nil || kbps <= 0 {
		t.Fatalf("live/test bitrate in the page: %q", m[1])
	}
	// in the script's row (data-js), not a left-over server-rendered one
	row := dom[liveRowRE.FindStringIndex(dom)[0]:]
	if end := strings.Index(row, "</tr>"); end >= 0 {
		row = row[:end]
	}
	if !strings.Contains(row, resText) {
		t.Errorf("the page's script did not render the resolution %s:\n%s", resText, row)
	}
	if n, _ := strconv.Atoi(u[1]); n < 2 {
		t.Errorf("the page updated %s times, want at least 2 polls", u[1])
	}
	if os.Getenv(screenshotEnv) != "1" {
		return
	}
	// The screenshot: a few more seconds of stream, and enough virtual
	// time for the chart to draw a line.
	time.Sleep(5 * time.Second)
	png := filepath.Join(t.TempDir(), "status.png")
	chromium(t, bin, "--virtual-time-budget=20000", "--window-size=1360,760", "--hide-scrollbars", "--screenshot="+png, h.url("/"))
	data, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(data))
	}
	dst := filepath.Join("..", "docs", "status.png")
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", dst, len(data))
}
