package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestHTTPFLVMatchesSource: two players subscribe before the stream is
// published (they wait in SubscribeWait), a Go client and ffprobe. The Go
// client reads back exactly the source's audio and video tags (sequence
// headers first, then every frame with its timestamp and payload bytes; the
// script tag is not forwarded), and ffprobe counts as many video frames as
// in the source file.
func TestHTTPFLVMatchesSource(t *testing.T) {
	s := clip(t)
	h := startServer(t, baseConfig)
	url := h.url("/live/m.flv")

	type result struct {
		tags []flvTag
		err  error
	}
	goClient := make(chan result, 1)
	go func() {
		tags, err := getFLV(url)
		goClient <- result{tags, err}
	}()
	// The Go client is waiting for the stream (SubscribeWait) before it is
	// published; ffprobe comes after the publish but before the first
	// frame (the publisher waits for both players).
	time.Sleep(50 * time.Millisecond)
	st, done := publisher(t, h, context.Background(), "live/m", 2, flvpub.Options{})
	probe := testclip.PacketCounts(t, url) // blocks until the stream ends
	d := waitPub(t, done)
	if d.runErr != nil {
		t.Fatal(d.runErr)
	}
	r := <-goClient
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := compareTags(r.tags, s.forwarded); err != nil {
		t.Fatal(err)
	}
	want := testclip.PacketCounts(t, s.path)
	if probe["video"] != want["video"] || probe["video"] != s.video {
		t.Fatalf("ffprobe on the HTTP-FLV URL counts %v, on the source %v (%d video frames)", probe, want, s.video)
	}
	if probe["audio"] != want["audio"] {
		t.Errorf("ffprobe audio packets %d over HTTP-FLV, %d in the source", probe["audio"], want["audio"])
	}
	if n := st.Info().Drops; n != 0 {
		t.Fatalf("%d drops", n)
	}

	// Egress counters: both players got every payload byte straight from
	// frame memory (egress_payload_bytes counts what writev sent from it).
	var payload int64
	for _, tg := range s.forwarded {
		if tg.Media {
			payload += int64(len(tg.Payload))
		}
	}
	e := h.srv.Egress()
	if got := e.PayloadBytes.Load(); got != 2*payload {
		t.Errorf("egress payload bytes %d, want %d (2 players x %d)", got, 2*payload, payload)
	}
	h.log.waitLine(t, 5*time.Second, "http-flv subscriber closed: stream ended", "path=live/m")
}

// TestHTTPFLVLateJoin: a player that arrives mid-stream gets the sequence
// headers, then frames from the newest keyframe, in order.
func TestHTTPFLVLateJoin(t *testing.T) {
	s := clip(t)
	h := startServer(t, baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, done := publisher(t, h, ctx, "live/late", 0, flvpub.Options{Speed: 4})
	// Wait until the second keyframe (1 s into the clip) is out.
	for st.Info().FramesIn < int64(len(s.forwarded))*3/5 {
		time.Sleep(5 * time.Millisecond)
	}
	tags, err := getFLV(h.url("/live/late.flv"))
	if err != nil {
		t.Fatal(err)
	}
	if d := waitPub(t, done); d.runErr != nil {
		t.Fatal(d.runErr)
	}
	if len(tags) < 4 {
		t.Fatalf("%d tags", len(tags))
	}
	// Sequence headers first.
	if err := compareTags(tags[:2], s.forwarded[:2]); err != nil {
		t.Fatalf("sequence headers: %v", err)
	}
	// Then a video keyframe, and from there on the source in order.
	first := tags[2]
	start := -1
	for i, tg := range s.forwarded {
		if tg.Media && tg.Type == first.Type && tg.Timestamp == first.Timestamp {
			start = i
		}
	}
	if start < 0 || !s.forwarded[start].Keyframe {
		t.Fatalf("late joiner started on a tag that is not a source keyframe (type %d at %d ms)", first.Type, first.Timestamp)
	}
	if start <= 2 {
		t.Fatalf("late joiner started at the first keyframe; the test meant to join later")
	}
	if err := compareTags(tags[2:], s.forwarded[start:]); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPFLVConfigsNotRepeated: a player that joins after the video
// sequence header but before the audio one gets each sequence header once.
func TestHTTPFLVConfigsNotRepeated(t *testing.T) {
	s := clip(t)
	h := startServer(t, baseConfig)
	st, err := h.srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/cfg", Protocol: "flv"})
	if err != nil {
		t.Fatal(err)
	}
	steps := make(chan int)
	done := make(chan pubDone, 1)
	go func() { // owns the publisher's allocator
		p, err := flvpub.New(st, s.data, flvpub.Options{})
		if err != nil {
			st.Close(err)
			done <- pubDone{runErr: err, res: flvpub.Result{AllocatorFree: true, Balanced: true}}
			return
		}
		var runErr error
		for n := range steps {
			for ; n != 0; n-- {
				if _, err := p.Step(); err != nil {
					if !errors.Is(err, io.EOF) {
						runErr = err
					}
					break
				}
			}
			steps <- 0
		}
		done <- pubDone{res: p.Close(runErr), runErr: runErr}
	}()
	step := func(n int) { steps <- n; <-steps }
	step(2) // the script tag and the video sequence header

	resp, err := httpClient.Get(h.url("/live/cfg.flv"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The file header and the video sequence header arrive before any
	// frame: the player has seen the configuration as it was at its join.
	head := make([]byte, flv.FileHeaderSize+flv.PreviousTagSizeSize+flv.TagHeaderSize+len(s.forwarded[0].Payload)+flv.PreviousTagSizeSize)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	// The header announces what the stream had at the join: video only
	// (the audio tags that follow are still sent; players add the track).
	if head[4] != 0x01 {
		t.Errorf("FLV header flags %#x, want 0x01 (video only at the join)", head[4])
	}
	step(-1) // the rest: audio sequence header and every frame
	close(steps)
	if d := waitPub(t, done); d.runErr != nil {
		t.Fatal(d.runErr)
	}
	tags, err := readFLV(io.MultiReader(strings.NewReader(string(head)), br), 0)
	if err != nil {
		t.Fatal(err)
	}
	var configs []string
	for _, tg := range tags {
		for _, src := range s.forwarded[:2] {
			if tg.Type == src.Type && string(tg.Payload) == string(src.Payload) {
				configs = append(configs, fmt.Sprintf("type %d at %d ms", tg.Type, tg.Timestamp))
			}
		}
	}
	if len(configs) != 2 {
		t.Fatalf("sequence headers sent: %v; want each once", configs)
	}
}

// TestHTTPFLVNotFound: unknown paths and streams that never come are 404s.
func TestHTTPFLVNotFound(t *testing.T) {
	h := startServer(t, strings.Replace(baseConfig, "waittimeout: 5s", "waittimeout: 100ms", 1))
	for _, path := range []string{"/live/none.flv", "/nothing", "/.flv"} {
		resp, err := httpClient.Get(h.url(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// TestAPIStreamsAndMetrics: /api/streams describes the live stream and
// /metrics carries the zerocopy_* series.
func TestAPIStreamsAndMetrics(t *testing.T) {
	h := startServer(t, baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, done := publisher(t, h, ctx, "live/api", 1, flvpub.Options{Speed: 1, Loop: true})
	player := make(chan error, 1)
	go func() {
		_, err := getFLV(h.url("/live/api.flv"))
		player <- err
	}()
	for st.Info().FramesIn < 20 {
		time.Sleep(5 * time.Millisecond)
	}

	var api struct {
		Streams []hub.StreamInfo `json:"streams"`
	}
	resp, err := httpClient.Get(h.url("/api/streams"))
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/api/streams Content-Type %q", ct)
	}
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(api.Streams) != 1 {
		t.Fatalf("/api/streams: %+v", api)
	}
	si := api.Streams[0]
	if si.Path != "live/api" || si.Protocol != "flv" || si.VideoCodec != "H264" || si.AudioCodec != "AAC" ||
		si.Subscribers != 1 || si.FramesIn < 20 || si.BytesIn == 0 || si.Drops != 0 {
		t.Fatalf("/api/streams entry %+v", si)
	}

	m := scrape(t, h)
	for _, name := range []string{
		`zerocopy_frames_in_total{protocol="flv"}`,
		`zerocopy_frames_out_total{protocol="flv"}`,
		`zerocopy_ingest_payload_bytes_total{protocol="flv"}`,
		`zerocopy_socket_bytes_read_total{protocol="flv"}`,
		`zerocopy_allocator_malloc_bytes_total{protocol="flv"}`,
		`zerocopy_egress_bytes_total`,
		`zerocopy_egress_payload_bytes_total`,
	} {
		if m[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, m[name])
		}
	}
	for name, want := range map[string]float64{
		`zerocopy_ingest_bytes_copied_total{protocol="flv"}`: 0,
		`zerocopy_subscriber_drops_total{protocol="flv"}`:    0,
		`zerocopy_publishes_total{protocol="flv"}`:           1,
		`zerocopy_egress_subscribers`:                        1,
		`zerocopy_streams`:                                   1,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := m["zerocopy_gc_cycles_total"]; !ok {
		t.Error("zerocopy_gc_cycles_total missing")
	}
	if _, ok := m[`zerocopy_allocator_in_use_bytes{protocol="flv"}`]; !ok {
		t.Error("zerocopy_allocator_in_use_bytes missing")
	}

	cancel()
	waitPub(t, done)
	if err := <-player; err != nil {
		t.Fatal(err)
	}
	// After the unpublish: the allocator is balanced, nothing is live.
	for deadline := time.Now().Add(5 * time.Second); ; {
		m = scrape(t, h)
		if m[`zerocopy_egress_subscribers`] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		`zerocopy_allocator_in_use_bytes{protocol="flv"}`: 0,
		`zerocopy_streams`:            0,
		`zerocopy_egress_subscribers`: 0,
	} {
		if got := m[name]; got != want {
			t.Errorf("after unpublish %s = %v, want %v", name, got, want)
		}
	}
	if m[`zerocopy_allocator_malloc_bytes_total{protocol="flv"}`] != m[`zerocopy_allocator_free_bytes_total{protocol="flv"}`] {
		t.Errorf("allocator malloc %v != free %v", m[`zerocopy_allocator_malloc_bytes_total{protocol="flv"}`], m[`zerocopy_allocator_free_bytes_total{protocol="flv"}`])
	}
}

// scrape reads /metrics into name{labels} -> value.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	resp, err := httpClient.Get(h.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dialSlow opens a TCP connection with a tiny receive buffer (set before
// connecting, so the advertised window stays small) and sends a GET for
// path. The caller decides whether to read.
func dialSlow(t *testing.T, addr net.Addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestHTTPFLVSlowAndVanishingSubscribers: a player that connects and never
// reads, and one that disconnects mid-stream, never stall the publisher; a
// healthy player alongside still gets a playable stream; the server logs
// why each one closed; everything is freed.
func TestHTTPFLVSlowAndVanishingSubscribers(t *testing.T) {
	s := clip(t)
	h := startServer(t, strings.Replace(baseConfig, "publish:\n", "publish:\n    ringsize: 128\n", 1))
	path := "/live/slow.flv"

	stalled := dialSlow(t, h.srv.HTTPAddr(), path)
	defer stalled.Close()
	vanishing := dialSlow(t, h.srv.HTTPAddr(), path)
	healthy := make(chan error, 1)
	go func() {
		tags, err := getFLV(h.url(path))
		if err == nil && len(tags) < 2+len(s.forwarded) {
			err = fmt.Errorf("healthy player got only %d tags", len(tags))
		}
		healthy <- err
	}()
	// 150 passes of the clip at 400x real time (about 0.75 s): 9 MB, far
	// more than the stalled player's socket buffers hold (loopback
	// sockets buffer about 4 MB), so its session ends up blocked in a
	// write holding a frame, and is dropped forward meanwhile.
	const passes = 150
	st, done := publisher(t, h, context.Background(), "live/slow", 3, flvpub.Options{Speed: 400, Loop: true, Passes: passes})
	// The vanishing player reads a little, then hangs up.
	buf := make([]byte, 32<<10)
	if _, err := io.ReadFull(vanishing, buf); err != nil {
		t.Fatal(err)
	}
	vanishing.Close()

	d := waitPub(t, done)
	if d.runErr != nil {
		t.Fatal(d.runErr)
	}
	t.Logf("published %d tags, slowest write %v, drops %d", d.res.Tags, d.worst, st.Info().Drops)
	if d.worst > time.Second {
		t.Errorf("a publisher write took %v: it was stalled by a subscriber", d.worst)
	}
	if got, want := d.res.Ingest.VideoFrames, int64(passes*s.video); got != want {
		t.Fatalf("published %d video frames, want %d", got, want)
	}
	if err := <-healthy; err != nil {
		t.Fatal(err)
	}
	// The server says why each player left.
	t.Log(h.log.waitLine(t, 5*time.Second, "http-flv subscriber closed", "remote="+vanishing.LocalAddr().String()))
	// The stalled player was blocked in a write when the stream ended; it
	// is cut off once the close wait is over, so its frame comes back in
	// time and the publisher's allocator ends balanced (checked by waitPub).
	t.Log(h.log.waitLine(t, 5*time.Second, "http-flv subscriber closed", "remote="+stalled.LocalAddr().String(),
		"stream ended before the client caught up"))
	if strings.Contains(h.log.String(), "leaking its allocator") {
		t.Error("the server leaked an allocator")
	}
	for deadline := time.Now().Add(5 * time.Second); h.srv.Egress().Subscribers.Load() > 1; {
		if time.Now().After(deadline) {
			t.Fatalf("%d HTTP-FLV sessions still open", h.srv.Egress().Subscribers.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
