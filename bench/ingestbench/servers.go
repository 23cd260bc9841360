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

// Server names accepted by Options.Servers. Not every server speaks every
// protocol: see ProtocolServers.
const (
	ServerFloor        = "floor"         // reads each socket into one reused buffer
	ServerFloorRetain  = "floor-retain"  // reads into a ring of blocks kept as long as our ring keeps frames
	ServerGortmplib    = "gortmplib"     // RTMP peer, no GOP cache
	ServerGortmplibGOP = "gortmplib-gop" // RTMP peer keeping its frames as long as our ring does
	ServerGortsplib    = "gortsplib"     // RTSP peer
	ServerGosrt        = "gosrt"         // SRT peer
	ServerGosrtRetain  = "gosrt-retain"  // SRT peer keeping its packets as long as our ring keeps frames
	ServerOurs         = "ours"
)

// Protocols the harness measures.
const (
	ProtoRTMP = "rtmp"
	ProtoRTSP = "rtsp"
	ProtoSRT  = "srt"
)

// ProtocolServers lists, per protocol, the servers in report order.
var ProtocolServers = map[string][]string{
	ProtoRTMP: {ServerFloor, ServerFloorRetain, ServerGortmplib, ServerGortmplibGOP, ServerOurs},
	ProtoRTSP: {ServerFloor, ServerFloorRetain, ServerGortsplib, ServerOurs},
	ProtoSRT:  {ServerFloor, ServerFloorRetain, ServerGosrt, ServerGosrtRetain, ServerOurs},
}

// setupTimeout bounds the protocol setup (handshake to publish) of the
// sink servers, like the handshake timeout of a real server.
const setupTimeout = 10 * time.Second

// sinkReadTimeout is the gortmplib server's per-read deadline (a real
// server has one; it is re-armed before every message, as gortmplib's own
// example server does).
const sinkReadTimeout = 15 * time.Second

// target is a server under test, running in this process.
type target interface {
	// pushOutput is the ffmpeg output part of pusher i's command line
	// (format, options, URL).
	pushOutput(i int) []string
	// publishing is the number of publishers sending now.
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

// rowTarget says which server to start for which protocol and transport.
type rowTarget struct {
	protocol, transport, server string
	n                           int
}

func startTarget(rt rowTarget, o Options) (target, error) {
	ret := retention{maxAge: o.RetainDuration, maxBytes: o.RetainBytes, blockSize: o.RetainBlock}
	switch rt.protocol {
	case ProtoRTMP:
		switch rt.server {
		case ServerOurs:
			return startOurs(o.Logger, rt, o.OursEnv)
		case ServerGortmplib:
			return startSink(serveGortmplib(nil), true)
		case ServerGortmplibGOP:
			return startSink(serveGortmplib(&ret), true)
		case ServerFloor:
			return startSink(serveFloor(nil), false)
		case ServerFloorRetain:
			return startSink(serveFloor(&ret), false)
		}
	case ProtoRTSP:
		switch rt.server {
		case ServerOurs:
			return startOurs(o.Logger, rt, o.OursEnv)
		case ServerGortsplib:
			return startGortsplib(rt.transport)
		case ServerFloor:
			return startRTSPFloor(rt.transport, nil, rt.n)
		case ServerFloorRetain:
			return startRTSPFloor(rt.transport, &ret, rt.n)
		}
	case ProtoSRT:
		switch rt.server {
		case ServerOurs:
			return startOurs(o.Logger, rt, o.OursEnv)
		case ServerGosrt:
			return startGosrt(nil)
		case ServerGosrtRetain:
			return startGosrt(&ret)
		case ServerFloor:
			return startUDPFloor(nil, rt.n)
		case ServerFloorRetain:
			return startUDPFloor(&ret, rt.n)
		}
	}
	return nil, fmt.Errorf("no server %q for protocol %s", rt.server, rt.protocol)
}

// rtmpOutput is an ffmpeg RTMP publish to addr.
func rtmpOutput(addr string, i int) []string {
	return []string{"-f", "flv", fmt.Sprintf("rtmp://%s/live/s%d", addr, i)}
}

// rtspOutput is an ffmpeg RTSP publish (ANNOUNCE/RECORD) over transport.
func rtspOutput(addr, transport string, i int) []string {
	return []string{"-f", "rtsp", "-rtsp_transport", transport, fmt.Sprintf("rtsp://%s/live/s%d", addr, i)}
}

// srtOutput is an ffmpeg MPEG-TS over SRT publish, 7 TS packets per SRT
// packet as every SRT encoder sends.
func srtOutput(addr string, i int) []string {
	return []string{"-f", "mpegts", fmt.Sprintf("srt://%s?streamid=publish:/live/s%d&pkt_size=1316", addr, i)}
}

// ---- ours: the embedded host with the zerocopy plugin ----

type oursTarget struct {
	srv       *server.Server
	rt        rowTarget
	addr      string // listen address of the protocol under test
	protoName string // the hub's totals name
}

// freeUDPPort finds a free UDP port on loopback (for the SRT listener,
// which the host does not list in Addrs). The port is closed again before
// the server binds it; on a busy machine that can race, and the start then
// fails loudly.
func freeUDPPort() (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr, nil
}

// startOurs starts the embedded host with the zerocopy plugin: defaults,
// only the protocol under test enabled, its listeners on 127.0.0.1 port 0
// (RTSP's UDP pair too), HTTP on port 0, log level warn, then the extra
// environment-style overrides in env (e.g. GLOBAL_PUBLISH_RINGSIZE=64).
func startOurs(log *slog.Logger, rt rowTarget, env []string) (*oursTarget, error) {
	environ := []string{"GLOBAL_HTTP_LISTENADDR=127.0.0.1:0", "GLOBAL_LOGLEVEL=warn"}
	for _, p := range []string{ProtoRTMP, ProtoRTSP, ProtoSRT, "quic"} {
		environ = append(environ, fmt.Sprintf("ZEROCOPY_%s_ENABLE=%t", strings.ToUpper(p), p == rt.protocol))
	}
	var srtAddr string
	switch rt.protocol {
	case ProtoRTMP:
		environ = append(environ, "ZEROCOPY_RTMP_LISTENADDR=127.0.0.1:0")
	case ProtoRTSP:
		environ = append(environ, "ZEROCOPY_RTSP_LISTENADDR=127.0.0.1:0",
			"ZEROCOPY_RTSP_RTPADDRESS=127.0.0.1:0", "ZEROCOPY_RTSP_RTCPADDRESS=127.0.0.1:0")
	case ProtoSRT:
		a, err := freeUDPPort()
		if err != nil {
			return nil, err
		}
		srtAddr = a
		environ = append(environ, "ZEROCOPY_SRT_LISTENADDR="+a)
	}
	cfg, err := server.LoadConfig("", mergeEnv(append(environ, env...)))
	if err != nil {
		if rt.protocol == ProtoSRT && strings.Contains(err.Error(), "srt") {
			return nil, fmt.Errorf("%w: ours: config: %v", ErrNotAvailable, err)
		}
		return nil, fmt.Errorf("ours: config: %w", err)
	}
	if log != nil {
		cfg.Logger = log
	}
	srv, err := server.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	t := &oursTarget{srv: srv, rt: rt, protoName: rt.protocol, addr: srtAddr}
	if rt.protocol != ProtoSRT {
		a, ok := srv.Addrs()[rt.protocol]
		if !ok {
			_ = t.shutdown(context.Background())
			return nil, fmt.Errorf("ours: no %s listener (is the plugin installed and enabled?): %v", rt.protocol, srv.Addrs())
		}
		t.addr = a.String()
	}
	return t, nil
}

func (t *oursTarget) pushOutput(i int) []string {
	switch t.rt.protocol {
	case ProtoRTSP:
		return rtspOutput(t.addr, t.rt.transport, i)
	case ProtoSRT:
		return srtOutput(t.addr, i)
	}
	return rtmpOutput(t.addr, i)
}
func (t *oursTarget) publishing() int  { return len(t.srv.Hub().Streams()) }
func (t *oursTarget) bytesRead() int64 { return t.srv.Hub().Totals(t.protoName).BytesRead.Load() }
func (t *oursTarget) bytesCopied() (int64, bool) {
	return t.srv.Hub().Totals(t.protoName).BytesCopied.Load(), true
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
	v, err := metricValue(resp.Body, `zerocopy_socket_bytes_read_total{protocol="`+t.protoName+`"}`)
	if err != nil {
		return fmt.Errorf("ours: /metrics: %w", err)
	}
	if int64(v) < endBytes {
		return fmt.Errorf("ours: /metrics says %.0f socket bytes, below the %d the hub reported at the end of the window", v, endBytes)
	}
	return nil
}

// mergeEnv keeps the last value of each KEY=value (the overrides come
// last).
func mergeEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
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

func (t *sinkTarget) pushOutput(i int) []string  { return rtmpOutput(t.ln.Addr().String(), i) }
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

// serveGortmplib returns a minimal gortmplib publish server: it accepts
// the connection and the publish, reads the tracks, and delivers every
// H.264 access unit and AAC frame to a callback that counts it. With ret,
// the callbacks also keep every frame (gortmplib hands each message its
// own body, so keeping is not copying) in a GOP cache bounded like our
// ring: frames older than ret.maxAge behind the newest, or beyond
// ret.maxBytes, are dropped in order.
func serveGortmplib(ret *retention) func(net.Conn, *sinkStats) error {
	return func(conn net.Conn, st *sinkStats) error { return gortmplibConn(conn, st, ret) }
}

func gortmplibConn(conn net.Conn, st *sinkStats, ret *retention) error {
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
	var gop *gopCache
	if ret != nil {
		gop = newGOPCache(*ret)
	}
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(tr, func(pts, _ time.Duration, au [][]byte) {
				st.frames.Add(1)
				if gop != nil {
					gop.keep(pts, au, nil)
				}
			})
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(tr, func(pts time.Duration, au []byte) {
				st.frames.Add(1)
				if gop != nil {
					gop.keep(pts, nil, au)
				}
			})
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

// serveFloor returns a server that performs the RTMP setup with gortmplib
// (before any measurement starts) and then only reads the socket: into a
// reused buffer whose bytes it discards, or, with ret, into a retaining
// ring (see retainRing).
func serveFloor(ret *retention) func(net.Conn, *sinkStats) error {
	return func(conn net.Conn, st *sinkStats) error { return floorConn(conn, st, ret) }
}

func floorConn(conn net.Conn, st *sinkStats, ret *retention) error {
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
	return readFloor(conn, st, ret)
}

// readFloor reads conn until it fails: into one reused buffer (ret nil)
// or into a retaining ring.
func readFloor(conn net.Conn, st *sinkStats, ret *retention) error {
	if ret != nil {
		ring := newRetainRing(*ret, 0)
		for {
			n, err := conn.Read(ring.room())
			ring.commit(n)
			st.bytes.Add(int64(n))
			if err != nil {
				return err
			}
		}
	}
	buf := make([]byte, floorBufferSize)
	for {
		n, err := conn.Read(buf)
		st.bytes.Add(int64(n))
		if err != nil {
			return err
		}
	}
}
