package zerocopym7s

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	task "github.com/langhuihui/gotask"
	m7spkg "m7s.live/v5/pkg"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// rtmpConn is one accepted RTMP connection: an m7s task whose Go runs
// zerocopy's session on the connection's own goroutine, and the session's
// Host (publish into m7s; play is m7s's business).
type rtmpConn struct {
	task.Task
	plugin *ZeroCopyPlugin
	conn   net.Conn
	ip     string // the remote IP the connection caps counted
	lease  allocLease
	// lent holds the payload ranges lent to m7s ring frames. Connection
	// goroutine only, until the last allocator holder frees what is left.
	lent lentRanges

	// Connection goroutine only: publishers the session closed during its
	// teardown. They are stopped once the session hands the allocator over.
	pending []*publisher
	// Connection goroutine only: the byte counts already added to the
	// plugin's totals.
	read, copied int64
}

// addIngest adds byte counts to the plugin's totals and to what this
// connection has reported so far.
func (c *rtmpConn) addIngest(read, copied int64) {
	t := &c.plugin.totals
	if read > 0 {
		t.BytesRead.Add(read)
		c.read += read
	}
	if copied > 0 {
		t.BytesCopied.Add(copied)
		c.copied += copied
	}
}

// reportIngest adds what the connection's final figures (cumulative over
// the whole connection) hold beyond what its publishers already reported.
func (c *rtmpConn) reportIngest(read, copied int64) {
	c.addIngest(read-c.read, copied-c.copied)
}

// Go serves the connection until it ends. The session closes nothing; the
// task's Dispose closes conn (also when m7s stops the task first, which
// ends the session's read).
func (c *rtmpConn) Go() error {
	c.plugin.totals.Connections.Add(1)
	cfg := c.plugin.sessionConfig()
	cfg.ReleaseAllocator = c.releaseAllocator
	st, err := session.Serve(c.conn, cfg, c, c.Logger)
	_ = c.conn.Close()
	c.reportIngest(st.BytesRead, st.BytesCopied)
	c.Info("rtmp connection closed", "reason", closeReason(err), "role", st.Role, "path", st.Path,
		"bytes_read", st.BytesRead, "control_bytes_copied", st.BytesCopied,
		"video_frames", st.Ingest.VideoFrames, "audio_frames", st.Ingest.AudioFrames)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// Dispose closes the socket, so a session still reading returns, and
// gives the connection's place under the caps back.
func (c *rtmpConn) Dispose() {
	_ = c.conn.Close()
	c.plugin.conns.release(c.ip)
}

func closeReason(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "peer closed the connection"
	}
	return err.Error()
}

// Publish implements session.Host: it claims the path in m7s with the
// connection task as the publisher's parent context, so the publish ends
// when the connection does.
func (c *rtmpConn) Publish(req host.PublishRequest) (host.Publisher, error) {
	mp, err := c.plugin.Publish(c.Context, req.Path)
	if err != nil {
		if errors.Is(err, m7spkg.ErrStreamExist) {
			return nil, fmt.Errorf("m7s publish %s: %w", req.Path, host.ErrStreamExists)
		}
		return nil, fmt.Errorf("m7s publish %s: %w", req.Path, err)
	}
	mp.RemoteAddr = req.Remote
	c.plugin.totals.Publishes.Add(1)
	p := &publisher{conn: c, mp: mp, disposed: make(chan struct{})}
	c.lease.hold()
	// Wait for the end of m7s's dispose rather than registering OnDispose:
	// m7s can dispose a publisher before Publish returns (a kick-exist
	// retry, an immediate stop), and a listener added after that never runs.
	go p.awaitDispose()
	return p, nil
}

// Subscribe implements session.Host. m7s's own egress (HTTP-FLV, HLS …)
// serves playback; the stock RTMP plugin must be disabled (README).
func (c *rtmpConn) Subscribe(string) (host.Subscriber, error) {
	return nil, host.ErrSubscribeUnsupported
}

// releaseAllocator is the session's ReleaseAllocator hook: the session has
// freed everything it owned. Publishers it closed during teardown are
// stopped now; each one drops its hold once m7s has disposed it, and the
// last holder frees the lent ranges and recycles the allocator.
func (c *rtmpConn) releaseAllocator(a *pool.Allocator) {
	c.lease.set(a)
	for _, p := range c.pending {
		p.mp.Stop(p.reason)
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	c.lease.release(c.Logger, &c.plugin.totals, false)
}

// allocLease counts who still uses a connection allocator: the session
// (until its teardown ends) and each m7s publisher it fed (until m7s has
// disposed that publisher). Whoever lets go last frees what is still lent
// and recycles it, after every other user is done, so the allocator is
// never used by two goroutines at once on these paths.
type allocLease struct {
	mu      sync.Mutex
	alloc   *pool.Allocator
	holders int
	// last runs before the recycle, in the last holder: it frees what is
	// still lent to m7s frames (m7s has disposed them by then).
	last func(*pool.Allocator)
}

func (l *allocLease) set(a *pool.Allocator) {
	l.mu.Lock()
	l.alloc = a
	l.mu.Unlock()
}

func (l *allocLease) hold() {
	l.mu.Lock()
	l.holders++
	l.mu.Unlock()
}

func (l *allocLease) release(log *slog.Logger, t *Totals, inDispose bool) {
	l.mu.Lock()
	l.holders--
	last := l.holders == 0
	a := l.alloc
	if last {
		l.alloc = nil
	}
	l.mu.Unlock()
	if !last || a == nil {
		return
	}
	if l.last != nil {
		l.last(a)
	}
	t.AllocMalloc.Add(a.GetTotalMalloc())
	t.AllocFree.Add(a.GetTotalFree())
	if !pool.Balanced(a) {
		t.Unbalanced.Add(1)
		log.Error("connection allocator unbalanced after the session and m7s let go; not recycling it",
			"in_use", pool.InUse(a))
		return
	}
	pool.Recycle(a)
	if inDispose {
		t.RecycledInDispose.Add(1)
	} else {
		t.RecycledAtTeardown.Add(1)
	}
}
