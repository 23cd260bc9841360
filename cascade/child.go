package cascade

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/ingest"
)

// ChildStats count what a Child did.
type ChildStats struct {
	Registrations atomic.Int64 // accepted registrations, ever
	Refused       atomic.Int64 // registrations the parent refused
	Pulls         atomic.Int64 // pull attempts that published
	ActivePulls   atomic.Int64
	Stops         atomic.Int64 // STOPFLV sent because the last player left
	Relayed       atomic.Int64 // relayed HTTP requests answered
	BytesRead     atomic.Int64 // FLV bytes read from pull streams
	BytesCopied   atomic.Int64 // control bytes copied (script tags, sequence headers, straddling headers)
}

// ErrRefused is returned when the parent answers a registration with {1,0}.
var ErrRefused = errors.New("cascade: parent refused the registration")

// Child is an edge node (m7s: the cascade client plugin): it keeps one QUIC
// connection to its parent, pulls paths on demand and a static list, and
// answers the HTTP requests the parent relays.
type Child struct {
	cfg    Config
	host   Host
	parent string
	static []string
	log    *slog.Logger
	tls    *tls.Config
	qconf  *quic.Config

	udp *net.UDPConn
	tr  *quic.Transport

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conn   *quic.Conn
	connCh chan struct{} // closed (and replaced) whenever conn changes
	pulls  map[string]struct{}
	stats  ChildStats
}

// NewChild returns a child of the parent at parentAddr (host:port) that
// publishes into h. Start runs it.
func NewChild(cfg Config, parentAddr string, static []string, h Host, log *slog.Logger) *Child {
	cfg = cfg.withDefaults()
	c := &Child{
		cfg: cfg, host: h, parent: parentAddr, static: static, log: log.With("parent", parentAddr),
		tls: &tls.Config{
			InsecureSkipVerify: cfg.Insecure, // the operator's choice: the shipped loopback config trusts the parent's self-signed cert
			NextProtos:         []string{wire.ALPN},
			MinVersion:         tls.VersionTLS13,
		},
		qconf: &quic.Config{
			HandshakeIdleTimeout:  cfg.HandshakeTimeout,
			MaxIdleTimeout:        cfg.IdleTimeout,
			KeepAlivePeriod:       cfg.IdleTimeout / 3,
			MaxIncomingStreams:    int64(cfg.MaxStreams),
			MaxIncomingUniStreams: -1,
		},
		connCh: make(chan struct{}),
		pulls:  map[string]struct{}{},
	}
	if host, _, err := net.SplitHostPort(parentAddr); err == nil && net.ParseIP(host) == nil {
		c.tls.ServerName = host
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Stats returns the child's counters.
func (c *Child) Stats() *ChildStats { return &c.stats }

// Start opens the child's UDP socket and starts dialling the parent and
// the static pulls.
func (c *Child) Start() error {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return fmt.Errorf("cascade child socket: %w", err)
	}
	c.udp, c.tr = udp, &quic.Transport{Conn: udp}
	c.wg.Go(c.run)
	for _, p := range c.static {
		c.startPull(p, true)
	}
	return nil
}

// Close stops everything: pulls end (their local publishers close and
// free their frames), the connection closes, and Close waits for every
// goroutine before it closes the socket.
func (c *Child) Close() {
	c.cancel()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.CloseWithError(codeOK, "child shutting down")
	}
	c.wg.Wait()
	if c.tr != nil {
		_ = c.tr.Close()
		_ = c.udp.Close()
	}
}

// Registered reports whether the child has a registered connection now.
func (c *Child) Registered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Demand is the host.OnDemand handler: it starts pulling path from the
// parent when the child is registered, and reports whether it did (or a
// pull of path is already running).
func (c *Child) Demand(path string) bool {
	if c.ctx.Err() != nil || !c.Registered() {
		return false
	}
	return c.startPull(path, false)
}

func (c *Child) startPull(path string, static bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pulls[path]; ok {
		return true
	}
	if c.ctx.Err() != nil {
		return false
	}
	c.pulls[path] = struct{}{}
	c.wg.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.pulls, path)
			c.mu.Unlock()
		}()
		c.puller(path, static)
	})
	return true
}

func (c *Child) setConn(conn *quic.Conn) {
	c.mu.Lock()
	c.conn = conn
	close(c.connCh)
	c.connCh = make(chan struct{})
	c.mu.Unlock()
}

// waitConn returns the registered connection, waiting for one until
// deadline (zero: no deadline) or the child closes.
func (c *Child) waitConn(deadline time.Time) *quic.Conn {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for {
		c.mu.Lock()
		conn, ch := c.conn, c.connCh
		c.mu.Unlock()
		if conn != nil && conn.Context().Err() == nil {
			return conn
		}
		select {
		case <-ch:
		case <-timeout:
			return nil
		case <-c.ctx.Done():
			return nil
		}
	}
}

// run keeps the connection to the parent: dial, register, serve relayed
// requests until it ends, then dial again with backoff.
func (c *Child) run() {
	backoff := minBackoff
	for c.ctx.Err() == nil {
		conn, err := c.connect()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.log.Warn("cascade: cannot register with the parent", "reason", err, "retry_in", backoff)
			sleepCtx(c.ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		c.stats.Registrations.Add(1)
		c.log.Info("cascade: registered with the parent")
		c.setConn(conn)
		c.serveRelays(conn)
		c.setConn(nil)
		conn.CloseWithError(codeOK, "done")
		c.log.Info("cascade: connection to the parent ended", "reason", context.Cause(conn.Context()))
	}
}

// connect dials the parent and registers.
func (c *Child) connect() (*quic.Conn, error) {
	raddr, err := net.ResolveUDPAddr("udp", c.parent)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := c.tr.Dial(ctx, raddr, c.tls, c.qconf)
	if err != nil {
		return nil, err
	}
	if err := c.register(ctx, conn); err != nil {
		conn.CloseWithError(codeRefused, "registration failed")
		return nil, err
	}
	return conn, nil
}

func (c *Child) register(ctx context.Context, conn *quic.Conn) error {
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)
	msg, err := wire.AppendSecret(nil, c.cfg.Secret)
	if err != nil {
		return err
	}
	if _, err := st.Write(msg); err != nil {
		return err
	}
	var res [2]byte
	if _, err := io.ReadFull(st, res[:]); err != nil {
		return fmt.Errorf("registration answer: %w", err)
	}
	_ = st.Close()
	st.CancelRead(codeOK)
	if res[0] != 0 {
		c.stats.Refused.Add(1)
		return ErrRefused
	}
	return nil
}

// puller keeps one path pulled: static paths for as long as the child
// runs; on-demand ones until STOPFLV, or until no local player wanted them
// for StopDelay while the parent was away.
func (c *Child) puller(path string, static bool) {
	log := c.log.With("path", path)
	wanted := time.Now() // when a local player last wanted the path
	backoff := minBackoff
	for c.ctx.Err() == nil {
		var deadline time.Time
		if !static {
			deadline = wanted.Add(c.cfg.StopDelay)
		}
		conn := c.waitConn(deadline)
		if conn == nil {
			return
		}
		res := c.pullOnce(conn, path, static, log)
		if res.wanted.After(wanted) {
			wanted = res.wanted
		}
		if res.stopped || res.exists {
			return
		}
		if !static && time.Since(wanted) >= c.cfg.StopDelay {
			return
		}
		if res.published {
			backoff = minBackoff
		}
		log.Info("cascade pull ended; retrying", "reason", res.err, "retry_in", backoff)
		if !sleepCtx(c.ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

type pullResult struct {
	published bool      // the attempt published locally
	stopped   bool      // it ended with STOPFLV: nobody watched for StopDelay
	exists    bool      // something else publishes the path locally
	wanted    time.Time // when a local player last watched it
	err       error
}

// pullOnce runs one PULLFLV stream: request, FLV header, local publish,
// tags until the stream ends; then the local publisher closes and every
// byte is freed on this goroutine.
func (c *Child) pullOnce(conn *quic.Conn, path string, static bool, log *slog.Logger) (res pullResult) {
	octx, cancel := context.WithTimeout(c.ctx, c.cfg.HandshakeTimeout)
	st, err := conn.OpenStreamSync(octx)
	cancel()
	if err != nil {
		res.err = err
		return res
	}
	var stopOnce sync.Once
	// sendStop ends the pull politely (as m7s's puller does on dispose):
	// STOPFLV, FIN; the parent then ends the stream, and if it does not
	// within stopGrace the read side is reset.
	sendStop := func() {
		stopOnce.Do(func() {
			_ = st.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			_, _ = st.Write(wire.AppendRequestLine(nil, wire.MethodStop, path, ""))
			_ = st.Close()
			time.AfterFunc(stopGrace, func() { st.CancelRead(codeStopped) })
		})
	}
	_ = st.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if _, err := st.Write(wire.AppendRequestLine(nil, wire.MethodPull, path, "")); err != nil {
		st.CancelRead(codeStopped)
		st.CancelWrite(codeStopped)
		res.err = err
		return res
	}
	// The child's own end (shutdown) stops the read at once.
	stopChild := context.AfterFunc(c.ctx, func() { st.CancelRead(codeStopped) })
	defer stopChild()

	r := newPullReader(st, c.cfg.ReadTimeout)
	allocatorFree := true
	var report func()
	defer func() {
		sendStop()
		st.CancelRead(codeStopped)
		r.release()
		if report != nil {
			report() // the final totals, balanced
		}
		if !r.end(allocatorFree) {
			log.Error("cascade pull allocator not balanced at teardown; abandoned to the garbage collector")
		}
	}()
	if _, err := r.fr.ReadHeader(); err != nil {
		res.err = fmt.Errorf("FLV header: %w", err)
		return res
	}
	pub, err := c.host.Publish(host.PublishRequest{Path: path, Protocol: "quic", Remote: c.parent})
	if err != nil {
		res.err, res.exists = err, errors.Is(err, host.ErrStreamExists)
		return res
	}
	res.published = true
	c.stats.Pulls.Add(1)
	c.stats.ActivePulls.Add(1)
	defer c.stats.ActivePulls.Add(-1)
	r.grow(c.cfg.AllocatorSize)
	fp := ingest.NewFLVPublisher(pub, r.alloc)
	stopPub := context.AfterFunc(pub.Context(), func() { st.CancelRead(codeStopped) })
	log.Info("cascade pull publishing")

	var wantedAt atomic.Int64
	wantedAt.Store(time.Now().UnixNano())
	var stopped atomic.Bool
	monitorDone := make(chan struct{})
	monitorStop := make(chan struct{})
	go func() {
		defer close(monitorDone)
		c.monitor(pub, static, &wantedAt, monitorStop, func() {
			stopped.Store(true)
			c.stats.Stops.Add(1)
			log.Info("cascade pull: last local player left; STOPFLV", "after", c.cfg.StopDelay)
			sendStop()
		})
	}()

	reporter, _ := pub.(host.IngestReporter)
	report = func() {
		if reporter == nil {
			return
		}
		reporter.ReportIngest(host.IngestStats{
			BytesRead:   r.br.Stats().BytesRead,
			BytesCopied: r.br.Stats().BytesCopied + r.copied + fp.Stats().ConfigBytesCopied,
			AllocMalloc: r.alloc.GetTotalMalloc(),
			AllocFree:   r.alloc.GetTotalFree(),
		})
	}
	var meta func([]byte) error
	if ms, ok := pub.(host.MetadataSetter); ok {
		meta = ms.SetMetadata
	}
	err = r.pump(fp, meta, report)
	close(monitorStop)
	<-monitorDone
	stopPub()
	reason := err
	if cause := context.Cause(pub.Context()); cause != nil {
		reason = cause
	} else if stopped.Load() || errors.Is(err, io.EOF) {
		reason = nil // STOPFLV answered, or the parent's stream ended: a normal unpublish
	}
	if !pub.Close(reason) {
		allocatorFree = false
	}
	report()
	c.stats.BytesRead.Add(r.br.Stats().BytesRead)
	c.stats.BytesCopied.Add(r.br.Stats().BytesCopied + r.copied + fp.Stats().ConfigBytesCopied)
	res.stopped, res.err = stopped.Load(), err
	res.wanted = time.Unix(0, wantedAt.Load())
	log.Info("cascade pull ended", "reason", reasonText(err, stopped.Load()), "bytes_read", r.br.Stats().BytesRead,
		"video_frames", fp.Stats().VideoFrames, "audio_frames", fp.Stats().AudioFrames)
	return res
}

func reasonText(err error, stopped bool) string {
	switch {
	case stopped:
		return "STOPFLV: no local player"
	case err == nil || errors.Is(err, io.EOF):
		return "parent ended the stream"
	}
	return err.Error()
}

// monitor watches the local publisher's players. A static pull never
// stops; an on-demand one calls stop once no player has watched for
// StopDelay.
func (c *Child) monitor(pub host.Publisher, static bool, wantedAt *atomic.Int64, done <-chan struct{}, stop func()) {
	counter, ok := pub.(host.SubscriberCounter)
	if !ok {
		return
	}
	tick := time.NewTicker(max(min(c.cfg.StopDelay/4, time.Second), 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now := time.Now()
		if counter.Subscribers() > 0 {
			wantedAt.Store(now.UnixNano())
			continue
		}
		if !static && now.Sub(time.Unix(0, wantedAt.Load())) >= c.cfg.StopDelay {
			stop()
			return
		}
	}
}
