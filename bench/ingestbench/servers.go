package ingestbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	_ "github.com/zcingest/zerocopy" // installs the ZeroCopy plugin into the embedded host
	"github.com/zcingest/zerocopy/server"
)

// Server names accepted by Options.Servers.
const (
	ServerFloor     = "floor"
	ServerGortmplib = "gortmplib"
	ServerOurs      = "ours"
)

// setupTimeout bounds the RTMP setup (handshake to publish) of the sink
// servers, like the handshake timeout of a real server.
const setupTimeout = 10 * time.Second

// sinkReadTimeout is the gortmplib server's per-read deadline (a real
// server has one; it is re-armed before every message, as gortmplib's own
// example server does).
const sinkReadTimeout = 15 * time.Second

// target is a server under test, running in this process.
type target interface {
	// rtmpAddr is the RTMP listen address (host:port).
	rtmpAddr() string
	// publishing is the number of connections that are publishing now.
	publishing() int
	// bytesRead is the total of socket bytes read from publishers.
	bytesRead() int64
	// bytesCopied is the total of bytes copied in user space on the ingest
	// path; ok is false when the server cannot say.
	bytesCopied() (n int64, ok bool)
	// check runs after the window, before the pushers are killed.
	check(endBytes int64) error
	shutdown(ctx context.Context) error
}

func startTarget(name string, o Options) (target, error) {
	switch name {
	case ServerOurs:
		return startOurs(o.Logger, o.OursEnv)
	case ServerGortmplib:
		return startSink(serveGortmplib, true)
	case ServerFloor:
		return startSink(serveFloor, false)
	}
	return nil, fmt.Errorf("unknown server %q (want %s, %s or %s)", name, ServerFloor, ServerGortmplib, ServerOurs)
}

// ---- ours: the embedded host with the zerocopy plugin ----

type oursTarget struct {
	srv *server.Server
}

// startOurs starts the embedded host with the zerocopy plugin: defaults,
// both listeners on 127.0.0.1 port 0, log level warn, then the extra
// environment-style overrides in env (e.g. GLOBAL_PUBLISH_RINGSIZE=64).
func startOurs(log *slog.Logger, env []string) (*oursTarget, error) {
	environ := append([]string{
		"GLOBAL_HTTP_LISTENADDR=127.0.0.1:0",
		"GLOBAL_LOGLEVEL=warn",
		"ZEROCOPY_RTMP_LISTENADDR=127.0.0.1:0",
	}, env...)
	cfg, err := server.LoadConfig("", environ)
	if err != nil {
		return nil, fmt.Errorf("ours: config: %w", err)
	}
	if log != nil {
		cfg.Logger = log
	}
	srv, err := server.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	t := &oursTarget{srv: srv}
	if _, ok := srv.Addrs()["rtmp"]; !ok {
		_ = t.shutdown(context.Background())
		return nil, fmt.Errorf("ours: no rtmp listener (is the plugin installed and enabled?): %v", srv.Addrs())
	}
	return t, nil
}

func (t *oursTarget) rtmpAddr() string { return t.srv.Addrs()["rtmp"].String() }
func (t *oursTarget) publishing() int  { return len(t.srv.Hub().Streams()) }
func (t *oursTarget) bytesRead() int64 { return t.srv.Hub().Totals("rtmp").BytesRead.Load() }
func (t *oursTarget) bytesCopied() (int64, bool) {
	return t.srv.Hub().Totals("rtmp").BytesCopied.Load(), true
}
func (t *oursTarget) shutdown(ctx context.Context) error { return t.srv.Shutdown(ctx) }

// check scrapes /metrics once (after the window, so the scrape is not
// measured) and makes sure the exported socket byte counter agrees with
// the hub totals the row used.
func (t *oursTarget) check(endBytes int64) error {
	url := "http://" + t.srv.HTTPAddr().String() + "/metrics"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Close = true // leave no idle connection behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ours: scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ours: /metrics: %s", resp.Status)
	}
	v, err := metricValue(resp.Body, `zerocopy_socket_bytes_read_total{protocol="rtmp"}`)
	if err != nil {
		return fmt.Errorf("ours: /metrics: %w", err)
	}
	if int64(v) < endBytes {
		return fmt.Errorf("ours: /metrics says %.0f socket bytes, below the %d the hub reported at the end of the window", v, endBytes)
	}
	return nil
}

// metricValue finds one sample in a Prometheus text exposition.
func metricValue(r io.Reader, series string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no sample %s", series)
}

// ---- sinks: gortmplib and the TCP floor ----

// sinkStats are shared by every connection of a sink server.
type sinkStats struct {
	bytes      atomic.Int64 // socket bytes read
	publishing atomic.Int64 // connections past the publish command
	frames     atomic.Int64 // frames delivered (gortmplib only)
	errs       atomic.Int64 // connections that ended with an unexpected error
	lastErr    atomic.Pointer[string]
}

// sinkTarget is a bare accept loop around a per-connection handler.
type sinkTarget struct {
	ln      net.Listener
	handler func(net.Conn, *sinkStats) error
	st      sinkStats
	frames  bool // the handler counts frames; none is a failure

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startSink(handler func(net.Conn, *sinkStats) error, countsFrames bool) (*sinkTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &sinkTarget{ln: ln, handler: handler, frames: countsFrames, conns: map[net.Conn]struct{}{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

func (t *sinkTarget) accept() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			return // closed by shutdown
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			conn.Close()
			return
		}
		t.conns[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			err := t.serve(conn)
			conn.Close()
			t.mu.Lock()
			delete(t.conns, conn)
			closing := t.closed
			t.mu.Unlock()
			if err != nil && !closing && !errors.Is(err, io.EOF) {
				t.st.errs.Add(1)
				msg := err.Error()
				t.st.lastErr.Store(&msg)
			}
		}()
	}
}

// serve runs the handler; a panic (peer input reaching a library bug)
// ends only this connection and is reported as its error.
func (t *sinkTarget) serve(conn net.Conn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return t.handler(conn, &t.st)
}

func (t *sinkTarget) rtmpAddr() string           { return t.ln.Addr().String() }
func (t *sinkTarget) publishing() int            { return int(t.st.publishing.Load()) }
func (t *sinkTarget) bytesRead() int64           { return t.st.bytes.Load() }
func (t *sinkTarget) bytesCopied() (int64, bool) { return 0, false }

func (t *sinkTarget) check(int64) error {
	if n := t.st.errs.Load(); n > 0 {
		return fmt.Errorf("%d connection(s) failed; last: %s", n, *t.st.lastErr.Load())
	}
	if t.frames && t.st.frames.Load() == 0 {
		return errors.New("no frame reached the callbacks")
	}
	return nil
}

func (t *sinkTarget) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.ln.Close()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sink shutdown: connections still running: %w", ctx.Err())
	}
}

// countingConn counts the bytes read through it (for gortmplib, which is
// handed this instead of the socket).
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// serveGortmplib is a minimal gortmplib publish server: it accepts the
// connection and the publish, reads the tracks, and delivers every H.264
// access unit and AAC frame to a callback that only counts it.
func serveGortmplib(conn net.Conn, st *sinkStats) error {
	sc := &gortmplib.ServerConn{RW: countingConn{Conn: conn, n: &st.bytes}}
	_ = conn.SetDeadline(time.Now().Add(setupTimeout))
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("gortmplib: initialize: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("gortmplib: accept connection: %w", err)
	}
	if !sc.Publish {
		return errors.New("gortmplib: only publishing is supported")
	}
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil { // accepts the publish and reads the tracks
		return fmt.Errorf("gortmplib: read tracks: %w", err)
	}
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(tr, func(time.Duration, time.Duration, [][]byte) { st.frames.Add(1) })
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(time.Duration, []byte) { st.frames.Add(1) })
		}
	}
	_ = conn.SetDeadline(time.Time{})
	st.publishing.Add(1)
	defer st.publishing.Add(-1)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(sinkReadTimeout))
		if err := r.Read(); err != nil {
			return err
		}
	}
}

// floorBufferSize is the floor's read buffer: one per connection, reused
// for every read.
const floorBufferSize = 64 << 10

// serveFloor performs the RTMP setup with gortmplib (before any
// measurement starts) and then only reads the socket into a reused buffer
// and discards the bytes.
func serveFloor(conn net.Conn, st *sinkStats) error {
	sc := &gortmplib.ServerConn{RW: conn}
	_ = conn.SetDeadline(time.Now().Add(setupTimeout))
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("floor: initialize: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("floor: accept connection: %w", err)
	}
	if !sc.Publish {
		return errors.New("floor: only publishing is supported")
	}
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("floor: accept publish: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	st.publishing.Add(1)
	defer st.publishing.Add(-1)
	buf := make([]byte, floorBufferSize)
	for {
		n, err := conn.Read(buf)
		st.bytes.Add(int64(n))
		if err != nil {
			return err
		}
	}
}
