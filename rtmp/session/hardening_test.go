package session_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/handshake"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// wire builds a client's side of an RTMP conversation.
type wire struct {
	t   testing.TB
	buf bytes.Buffer
	w   *chunk.Writer
}

func newWire(t testing.TB, chunkSize int) *wire {
	x := &wire{t: t}
	x.w = chunk.NewWriter(&x.buf, chunk.DefaultChunkSize)
	if chunkSize != chunk.DefaultChunkSize {
		x.must(x.w.QueueSetChunkSize(uint32(chunkSize)))
	}
	return x
}

func (x *wire) must(err error) {
	if err != nil {
		x.t.Fatal(err)
	}
}

func (x *wire) msg(h chunk.Header, body []byte) *wire {
	x.must(x.w.Queue(h, [][]byte{body}))
	return x
}

func (x *wire) cmd(streamID uint32, name string, txn float64, obj amf0.Value, args ...amf0.Value) *wire {
	b, err := amf0.AppendCommand(nil, name, txn, obj, args...)
	x.must(err)
	return x.msg(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0, StreamID: streamID}, b)
}

func (x *wire) connect() *wire {
	return x.cmd(0, "connect", 1, amf0.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}})
}

// publish opens a stream (createStream) and publishes name on it.
func (x *wire) publish(streamID uint32, name string) *wire {
	return x.cmd(0, "createStream", 2, nil).cmd(streamID, "publish", 3, nil, name, "live")
}

func (x *wire) unpublish(streamID uint32, name string) *wire {
	return x.cmd(streamID, "FCUnpublish", 4, nil, name).cmd(streamID, "deleteStream", 5, nil, float64(streamID))
}

func (x *wire) video(streamID, ts uint32, body []byte) *wire {
	return x.msg(chunk.Header{CSID: 6, TypeID: chunk.TypeVideo, StreamID: streamID, Timestamp: ts}, body)
}

func (x *wire) bytes() []byte {
	x.must(x.w.Flush())
	return x.buf.Bytes()
}

// AVC bodies: a sequence header, and a frame of n bytes made of one NALU.
var avcSeqHeader = []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xeb}

func avcFrameBody(key bool, n int) []byte {
	b := make([]byte, 9+n)
	b[0] = 0x27
	if key {
		b[0] = 0x17
	}
	b[1] = 1
	b[5], b[6], b[7], b[8] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	b[9] = 0x41
	if key {
		b[9] = 0x65
	}
	for i := 10; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// serve runs one session over a fixed byte stream (handshake included).
func serve(t testing.TB, h *hub.Hub, cfg session.Config, data []byte) (session.Stats, error) {
	t.Helper()
	conn := &memConn{r: bytes.NewReader(append(clientHello(t), data...))}
	return session.Serve(conn, cfg, hubHost{h}, slog.New(slog.DiscardHandler))
}

// loopback returns a listener on 127.0.0.1 closed at cleanup.
func loopback(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

type served struct {
	st  session.Stats
	err error
	at  time.Duration // since accept
}

// serveOne accepts one connection and serves it; the result arrives on
// the returned channel once the session ends.
func serveOne(t testing.TB, ln net.Listener, cfg session.Config, h session.Host, log *slog.Logger) <-chan served {
	done := make(chan served, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- served{err: err}
			return
		}
		start := time.Now()
		st, err := session.Serve(c, cfg, h, log)
		c.Close()
		done <- served{st, err, time.Since(start)}
	}()
	return done
}

// TestHandshakeDeadlineIsFixed: a peer that sends C0 and then one byte of
// C1 every 100 ms must not keep the handshake alive past HandshakeTimeout
// (the reader's per-fill idle timeout used to push the deadline back).
func TestHandshakeDeadlineIsFixed(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{}, slog.New(slog.DiscardHandler))
	defer h.Close()
	ln := loopback(t)
	done := serveOne(t, ln, session.Config{HandshakeTimeout: 300 * time.Millisecond, ReadTimeout: 15 * time.Second}, hubHost{h}, slog.New(slog.DiscardHandler))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		_, _ = c.Write([]byte{3})
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 30 { // at most 3 s
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.at > time.Second || !strings.Contains(r.err.Error(), "handshake not finished") {
			t.Fatalf("session ended after %v with %v; want a handshake timeout within ~300ms", r.at, r.err)
		}
	case <-time.After(1500 * time.Millisecond):
		t.Error("a trickling peer kept the handshake open past its 300ms deadline")
		c.Close()
		<-done
	}
	close(stop)
	<-trickled
	c.Close()
	h.Close()
	testutil.WaitGoroutines(t, base)
}

// TestSetupDeadline: a peer that completes the handshake and then trickles
// a connect command a byte every 100 ms is closed once SetupTimeout (from
// accept) runs out, although every read succeeds within ReadTimeout.
func TestSetupDeadline(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{}, slog.New(slog.DiscardHandler))
	defer h.Close()
	ln := loopback(t)
	cfg := session.Config{HandshakeTimeout: time.Second, SetupTimeout: 700 * time.Millisecond, ReadTimeout: 15 * time.Second}
	done := serveOne(t, ln, cfg, hubHost{h}, slog.New(slog.DiscardHandler))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := handshake.Client(c, c, handshake.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	cmds := newWire(t, chunk.DefaultChunkSize).connect().publish(1, "x").bytes()
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		go func() { _, _ = io.Copy(io.Discard, c) }()
		for _, b := range cmds[:30] {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.at > 1200*time.Millisecond || !strings.Contains(r.err.Error(), "no publish or play within") {
			t.Fatalf("session ended after %v with %v; want the setup deadline at ~700ms", r.at, r.err)
		}
		if r.st.AllocMalloc != r.st.AllocFree {
			t.Fatalf("allocator unbalanced: %d/%d", r.st.AllocMalloc, r.st.AllocFree)
		}
	case <-time.After(2 * time.Second):
		t.Error("a trickling peer outlived the setup deadline")
		c.Close()
		<-done
	}
	close(stop)
	<-trickled
	c.Close()
	h.Close()
	testutil.WaitGoroutines(t, base)
}

// TestIdleConnectionsAreSmall: 100 accepted connections that each sent one
// byte must not cost the publisher's 4 MiB arena each.
func TestIdleConnectionsAreSmall(t *testing.T) {
	const conns = 100
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{}, slog.New(slog.DiscardHandler))
	defer h.Close()
	ln := loopback(t)
	var wg sync.WaitGroup
	var readOne sync.WaitGroup
	readOne.Add(conns)
	cfg := session.Config{HandshakeTimeout: 20 * time.Second, SetupTimeout: 20 * time.Second}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range conns {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = session.Serve(&firstReadConn{Conn: c, first: readOne.Done}, cfg, hubHost{h}, slog.New(slog.DiscardHandler))
			}()
		}
	}()
	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
		h.Close()
		testutil.WaitGoroutines(t, base)
	}()
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if _, err := c.Write([]byte{3}); err != nil {
			t.Fatal(err)
		}
	}
	waitOrFail(t, &readOne, 10*time.Second, "every session to read its byte")
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	grew := int64(ms1.HeapInuse) - int64(ms0.HeapInuse)
	t.Logf("%d connections that sent one byte: heap in use grew by %.1f MiB", conns, float64(grew)/(1<<20))
	if grew > 20<<20 {
		t.Errorf("%d idle connections grew the heap by %.1f MiB (> 20 MiB): each is paying for a publisher's arena", conns, float64(grew)/(1<<20))
	}
}

// firstReadConn calls first once, after its first successful Read.
type firstReadConn struct {
	net.Conn
	once  sync.Once
	first func()
}

func (c *firstReadConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.once.Do(c.first)
	}
	return n, err
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// arenaHost wraps hub publishers so the test can watch the connection
// allocator's arenas from the connection goroutine (after every frame).
type arenaHost struct {
	hubHost
	mu      sync.Mutex
	samples [][2]int // arenas, arena bytes
}

type arenaPub struct {
	*hub.Stream
	h *arenaHost
}

type arenaWriter struct {
	host.FrameWriter
	alloc *pool.Allocator
	h     *arenaHost
}

func (x *arenaHost) Publish(req host.PublishRequest) (host.Publisher, error) {
	s, err := x.h.Publish(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return arenaPub{s, x}, nil
}

func (p arenaPub) Writer(alloc *pool.Allocator) host.FrameWriter {
	return arenaWriter{p.Stream.Writer(alloc), alloc, p.h}
}

func (w arenaWriter) NextVideo() error {
	err := w.FrameWriter.NextVideo()
	n, size := 0, 0
	for _, c := range w.alloc.GetChildren() {
		n++
		size += c.Size
	}
	w.h.mu.Lock()
	w.h.samples = append(w.h.samples, [2]int{n, size})
	w.h.mu.Unlock()
	return err
}

// TestPublisherArenaUnderFullRing: a publisher still gets its 4 MiB arena
// (the connection started with InitialAllocatorSize), and with the ring
// full of ~2.4 Mbit/s video (256 frames of 12 KB, 40 ms apart) gomem
// neither adds nor drops arenas.
func TestPublisherArenaUnderFullRing(t *testing.T) {
	const frames, frameBytes = 700, 12000
	for _, cs := range []int{chunk.DefaultChunkSize, 4096} {
		h := hub.New(hub.Options{RingSize: 256, CloseWait: time.Second}, slog.New(slog.DiscardHandler))
		x := newWire(t, cs).connect().publish(1, "big")
		x.video(1, 0, avcSeqHeader)
		for i := range frames {
			x.video(1, uint32(i*40), avcFrameBody(i%25 == 0, frameBytes))
		}
		x.unpublish(1, "big")
		ah := &arenaHost{hubHost: hubHost{h}}
		conn := &memConn{r: bytes.NewReader(append(clientHello(t), x.bytes()...))}
		st, err := session.Serve(conn, session.Config{}, ah, slog.New(slog.DiscardHandler))
		h.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("chunk size %d: %v", cs, err)
		}
		if st.Ingest.VideoFrames != frames || st.AllocMalloc != st.AllocFree {
			t.Fatalf("chunk size %d: %d frames, alloc %d/%d", cs, st.Ingest.VideoFrames, st.AllocMalloc, st.AllocFree)
		}
		s := ah.samples
		if len(s) != frames {
			t.Fatalf("%d samples", len(s))
		}
		if s[0][1] < session.DefaultAllocatorSize {
			t.Errorf("chunk size %d: publisher arenas total %d bytes, want at least %d", cs, s[0][1], session.DefaultAllocatorSize)
		}
		changes := 0
		for i := 300; i < len(s); i++ { // the ring is full from frame 256 on
			if s[i] != s[i-1] {
				changes++
			}
		}
		t.Logf("chunk size %d: arenas at publish %v, at the end %v, changes under a full ring %d", cs, s[0], s[len(s)-1], changes)
		if changes != 0 {
			t.Errorf("chunk size %d: gomem's arenas changed %d times under a full ring", cs, changes)
		}
	}
}

// TestChunkCopiesCounted: at the default chunk size of 128 every payload
// byte is copied into pooled segments, and BytesCopied must say so.
func TestChunkCopiesCounted(t *testing.T) {
	h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer h.Close()
	x := newWire(t, chunk.DefaultChunkSize).connect().publish(1, "copy")
	x.video(1, 0, avcSeqHeader)
	payload := 0
	for i := range 100 {
		b := avcFrameBody(i == 0, 10000)
		payload += len(b)
		x.video(1, uint32(i*40), b)
	}
	st, err := serve(t, h, session.Config{}, x.unpublish(1, "copy").bytes())
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	t.Logf("%d media payload bytes at chunk size 128: %d bytes copied", payload, st.BytesCopied)
	if st.BytesCopied < int64(payload) || st.BytesCopied > int64(payload)+4096 {
		t.Fatalf("BytesCopied %d, want about the %d payload bytes copied at chunk size 128", st.BytesCopied, payload)
	}
}

// TestRepublishCountsOnce: publish, unpublish and republish on one
// connection; the host's totals must count each socket byte once.
func TestRepublishCountsOnce(t *testing.T) {
	h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer h.Close()
	x := newWire(t, 4096).connect().publish(1, "a")
	x.video(1, 0, avcSeqHeader)
	for i := range 20 {
		x.video(1, uint32(i*40), avcFrameBody(i == 0, 5000))
	}
	x.unpublish(1, "a").publish(2, "a")
	x.video(2, 0, avcSeqHeader)
	for i := range 20 {
		x.video(2, uint32(i*40), avcFrameBody(i == 0, 5000))
	}
	st, err := serve(t, h, session.Config{}, x.unpublish(2, "a").bytes())
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	tot := h.Totals("rtmp")
	if st.Ingest.VideoFrames != 40 {
		t.Fatalf("%d frames", st.Ingest.VideoFrames)
	}
	if got := tot.BytesRead.Load(); got != st.BytesRead {
		t.Errorf("hub counted %d bytes read, the connection read %d", got, st.BytesRead)
	}
	if got := tot.BytesCopied.Load(); got != st.BytesCopied {
		t.Errorf("hub counted %d bytes copied, the connection copied %d", got, st.BytesCopied)
	}
	if m, f := tot.AllocMalloc.Load(), tot.AllocFree.Load(); m != st.AllocMalloc || f != st.AllocFree {
		t.Errorf("hub alloc totals %d/%d, connection %d/%d", m, f, st.AllocMalloc, st.AllocFree)
	}
}

// authRecorder allows or refuses and remembers what it was asked.
type authRecorder struct {
	mu   sync.Mutex
	reqs []host.AuthRequest
	err  error
}

func (a *authRecorder) Authorize(_ context.Context, req host.AuthRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, req)
	return a.err
}

// TestAuthHook: publish and play go through Config.Auth with the path and
// the raw query split off the stream name; a refusal ends the session with
// an error naming the reason and never the key.
func TestAuthHook(t *testing.T) {
	h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer h.Close()
	const secret = "s3cret-Key"
	x := newWire(t, 4096).connect().publish(1, "cam?key="+secret+"&x=1").unpublish(1, "cam")
	ok := &authRecorder{}
	if _, err := serve(t, h, session.Config{Auth: ok}, x.bytes()); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("allowed publish: %v", err)
	}
	if len(ok.reqs) != 1 {
		t.Fatalf("%d auth calls", len(ok.reqs))
	}
	r := ok.reqs[0]
	if r.Action != host.ActionPublish || r.Protocol != "rtmp" || r.Path != "live/cam" || r.Query != "key="+secret+"&x=1" || r.Remote != "127.0.0.1:50000" {
		t.Fatalf("auth request %+v", r)
	}

	for _, tc := range []struct {
		name   string
		stream []byte
		refuse error
		want   error
		action host.Action
	}{
		{"publish unauthorized", newWire(t, 4096).connect().publish(1, "cam?key=wrong").bytes(), host.ErrUnauthorized, session.ErrUnauthorized, host.ActionPublish},
		{"publish forbidden", newWire(t, 4096).connect().publish(1, "cam?key=wrong").bytes(), host.ErrForbidden, session.ErrForbidden, host.ActionPublish},
		{"play unauthorized", newWire(t, 4096).connect().cmd(0, "createStream", 2, nil).cmd(1, "play", 3, nil, "cam?key=wrong").bytes(), host.ErrUnauthorized, session.ErrUnauthorized, host.ActionPlay},
		{"play undecided", newWire(t, 4096).connect().cmd(0, "createStream", 2, nil).cmd(1, "play", 3, nil, "cam?key=wrong").bytes(), errors.New("callback down: key=wrong"), session.ErrAuthFailed, host.ActionPlay},
	} {
		a := &authRecorder{err: tc.refuse}
		_, err := serve(t, h, session.Config{Auth: a}, tc.stream)
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.refuse) {
			t.Errorf("%s: session ended with %v; want %v wrapping %v", tc.name, err, tc.want, tc.refuse)
		}
		if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("%s: the error %q shows the key", tc.name, err)
		}
		if len(a.reqs) != 1 || a.reqs[0].Action != tc.action || a.reqs[0].Query != "key=wrong" {
			t.Errorf("%s: auth requests %+v", tc.name, a.reqs)
		}
	}
}

// readMessages reads chunk messages from a client connection until fn
// returns true; each payload is copied and freed.
func readMessages(t testing.TB, c net.Conn, fn func(typeID uint8, body []byte) bool) {
	t.Helper()
	alloc := pool.NewAllocator(1 << 20)
	br := bufreader.New(c, bufreader.Options{Allocator: alloc})
	cr := chunk.NewReader(br, chunk.Options{})
	defer func() {
		cr.Close()
		br.Recycle()
		pool.Recycle(alloc)
	}()
	var m chunk.Message
	for {
		if err := cr.ReadMessage(&m); err != nil {
			t.Fatalf("client read: %v", err)
		}
		body := bytes.Clone(chunk.Contiguous(&m, nil))
		typeID := m.TypeID
		m.Free(alloc)
		if fn(typeID, body) {
			return
		}
	}
}

// TestAggregateAndMetadata: an aggregate message's sub-messages are
// published with their own timestamps, @setDataFrame/onMetaData reaches
// the host as an FLV script body, and an RTMP player gets it before the
// sequence headers.
func TestAggregateAndMetadata(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: time.Second, SubscribeWait: 5 * time.Second}, slog.New(slog.DiscardHandler))
	defer h.Close()
	meta, err := amf0.AppendAll(nil, "onMetaData", amf0.ECMAArray{{Key: "width", Value: float64(640)}, {Key: "height", Value: float64(360)}})
	if err != nil {
		t.Fatal(err)
	}
	setDataFrame, _ := amf0.Append(nil, "@setDataFrame")
	key, delta := avcFrameBody(true, 3000), avcFrameBody(false, 500)
	agg := chunk.AggregateTag(nil, chunk.TypeVideo, 5000, avcSeqHeader)
	agg = chunk.AggregateTag(agg, chunk.TypeVideo, 5000, key)
	agg = chunk.AggregateTag(agg, chunk.TypeVideo, 5040, delta)
	commands, rest := newWire(t, 4096).connect().publish(1, "agg").bytes(), newWire(t, 4096)
	rest.msg(chunk.Header{CSID: 4, TypeID: chunk.TypeDataAMF0, StreamID: 1}, append(setDataFrame, meta...))
	rest.msg(chunk.Header{CSID: 6, TypeID: chunk.TypeAggregate, StreamID: 1, Timestamp: 1000}, agg)

	// The publisher: commands, then (once a player is attached) the media.
	pr, pw := io.Pipe()
	pubDone := make(chan served, 1)
	go func() {
		st, err := session.Serve(&memConn{r: pr}, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
		pubDone <- served{st: st, err: err}
	}()
	if _, err := pw.Write(append(clientHello(t), commands...)); err != nil {
		t.Fatal(err)
	}

	// The player, over TCP.
	ln := loopback(t)
	playDone := serveOne(t, ln, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := handshake.Client(c, c, handshake.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(newWire(t, 4096).connect().cmd(0, "createStream", 2, nil).cmd(1, "play", 3, nil, "agg").bytes()); err != nil {
		t.Fatal(err)
	}
	for h.Stream("live/agg") == nil || h.Stream("live/agg").Info().Subscribers == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	go func() {
		_, _ = pw.Write(rest.bytes())
	}()
	var got []string
	readMessages(t, c, func(typeID uint8, body []byte) bool {
		switch typeID {
		case chunk.TypeDataAMF0:
			if bytes.Equal(body, meta) {
				got = append(got, "meta")
			}
		case chunk.TypeVideo:
			if len(body) > 1 && body[1] == 0 {
				got = append(got, "seq")
			} else if bytes.Equal(body, key) {
				got = append(got, "key")
			} else if bytes.Equal(body, delta) {
				got = append(got, "delta")
			}
		}
		return len(got) == 4
	})
	if strings.Join(got, ",") != "meta,seq,key,delta" {
		t.Fatalf("player got %v, want meta,seq,key,delta", got)
	}
	sub, err := h.Subscribe("live/agg")
	if err != nil {
		t.Fatal(err)
	}
	if md := sub.Metadata(); !bytes.Equal(md, meta) {
		t.Errorf("host metadata %q, want the onMetaData body %q", md, meta)
	}
	sub.Close()
	pw.Close()
	r := <-pubDone
	if r.st.Ingest.VideoFrames != 2 || r.st.AllocMalloc != r.st.AllocFree {
		t.Fatalf("publisher: %d video frames, alloc %d/%d, err %v", r.st.Ingest.VideoFrames, r.st.AllocMalloc, r.st.AllocFree, r.err)
	}
	c.Close()
	<-playDone
	h.Close()
	testutil.WaitGoroutines(t, base)
}

// aggregateSeed is a publish whose media arrive as metadata and one
// aggregate message (a fuzz seed for the session's aggregate and data paths).
func aggregateSeed(t testing.TB) []byte {
	meta, err := amf0.AppendAll(nil, "@setDataFrame", "onMetaData", amf0.ECMAArray{{Key: "width", Value: float64(640)}})
	if err != nil {
		t.Fatal(err)
	}
	agg := chunk.AggregateTag(nil, chunk.TypeVideo, 0, avcSeqHeader)
	agg = chunk.AggregateTag(agg, chunk.TypeVideo, 40, avcFrameBody(true, 200))
	agg = chunk.AggregateTag(agg, chunk.TypeAudio, 41, []byte{0xaf, 1, 0x21})
	x := newWire(t, 4096).connect().publish(1, "fuzz")
	x.msg(chunk.Header{CSID: 4, TypeID: chunk.TypeDataAMF0, StreamID: 1}, meta)
	x.msg(chunk.Header{CSID: 6, TypeID: chunk.TypeAggregate, StreamID: 1, Timestamp: 100}, agg)
	return x.unpublish(1, "fuzz").bytes()
}
