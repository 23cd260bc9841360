// Package hub is the embedded host's stream hub: one publisher per path, a
// ring of shared frames per stream, and subscribers that read the ring on
// their own goroutines without ever blocking the publisher.
//
// Memory: frames belong to the publisher's FramePool. The ring holds one
// reference per slot; a subscriber holds one while it writes a frame out.
// Overwritten slots and finished subscribers release their references, and
// the last release queues the frame back to the publishing goroutine, which
// frees it. A subscriber that falls a full ring behind is moved forward to
// the latest keyframe and the skipped frames are counted as drops.
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Options configures a Hub.
type Options struct {
	// KickExisting lets a new publisher take over a path (m7s kickexist).
	KickExisting bool
	// PublishTimeout ends a publisher that wrote no frame for this long.
	PublishTimeout time.Duration
	// RingSize is the number of frames each stream keeps for subscribers.
	RingSize int
	// CloseWait bounds how long an unpublish waits for subscribers to
	// catch up and for readers to hand frames back.
	CloseWait time.Duration
	// SubscribeWait is how long a subscriber waits for its stream to be
	// published before it is refused.
	SubscribeWait time.Duration
}

// Defaults for Options.
const (
	DefaultPublishTimeout = 10 * time.Second
	// DefaultRingSize holds a 3 s GOP of 30 fps video plus 44.1/48 kHz
	// AAC (about 75 frames a second), so a joining subscriber finds a
	// keyframe; longer GOPs need a larger ring (global.publish.ringsize).
	DefaultRingSize  = 256
	DefaultCloseWait = 3 * time.Second
)

// Errors a publish can end with (as its context's cause).
var (
	ErrKicked         = errors.New("kicked by a newer publisher on the same path")
	ErrPublishTimeout = errors.New("publisher silent past the publish timeout")
	ErrHubClosed      = errors.New("host shutting down")
	ErrNoStream       = host.ErrNoStream
)

// Hub holds the live streams.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	streams map[string]*Stream
	closed  bool
	// published is closed and replaced whenever a publish starts, waking
	// subscribers that wait for their stream to appear.
	published chan struct{}

	totals   map[string]*ProtocolTotals // per protocol; guarded by mu
	stop     chan struct{}
	watchers sync.WaitGroup
}

// ProtocolTotals accumulate over every stream of one protocol.
type ProtocolTotals struct {
	BytesIn, FramesIn, FramesOut, Drops atomic.Int64
	BytesRead, BytesCopied              atomic.Int64
	AllocMalloc, AllocFree              atomic.Int64
	Publishes                           atomic.Int64
}

// New returns a hub; Close it to end every stream and its watchdog.
func New(opts Options, log *slog.Logger) *Hub {
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.CloseWait <= 0 {
		opts.CloseWait = DefaultCloseWait
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Hub{opts: opts, log: log, streams: map[string]*Stream{}, totals: map[string]*ProtocolTotals{}, stop: make(chan struct{}), published: make(chan struct{})}
	h.watchers.Add(1)
	go h.watchdog()
	return h
}

// Close ends every publish (their contexts are cancelled with
// ErrHubClosed) and stops the watchdog. Publishers still close themselves
// on their own goroutines.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.published)
	for _, s := range h.streams {
		s.cancel(ErrHubClosed)
	}
	h.mu.Unlock()
	close(h.stop)
	h.watchers.Wait()
}

func (h *Hub) watchdog() {
	defer h.watchers.Done()
	tick := time.NewTicker(min(time.Second, h.opts.PublishTimeout/4))
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-tick.C:
			h.mu.Lock()
			for _, s := range h.streams {
				if now.Sub(time.Unix(0, s.lastWrite.Load())) > h.opts.PublishTimeout {
					s.cancel(ErrPublishTimeout)
				}
			}
			h.mu.Unlock()
		}
	}
}

// Totals returns the counters for protocol, creating them on first use.
func (h *Hub) Totals(protocol string) *ProtocolTotals {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.totalsLocked(protocol)
}

func (h *Hub) totalsLocked(protocol string) *ProtocolTotals {
	t := h.totals[protocol]
	if t == nil {
		t = &ProtocolTotals{}
		h.totals[protocol] = t
	}
	return t
}

// Protocols lists the protocols that have totals, sorted.
func (h *Hub) Protocols() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.totals))
	for p := range h.totals {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Publish claims req.Path. ctx is the connection's context: when it ends,
// so does the publish context.
func (h *Hub) Publish(ctx context.Context, req host.PublishRequest) (*Stream, error) {
	if req.Path == "" {
		return nil, errors.New("hub: empty stream path")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if old := h.streams[req.Path]; old != nil {
		if !h.opts.KickExisting {
			return nil, fmt.Errorf("publish %q: %w", req.Path, host.ErrStreamExists)
		}
		old.cancel(ErrKicked)
	}
	s := newStream(h, ctx, req)
	h.streams[req.Path] = s
	close(h.published)
	h.published = make(chan struct{})
	s.totals.Publishes.Add(1)
	return s, nil
}

// Subscribe joins the stream at path, waiting up to the configured
// SubscribeWait for it to be published (as m7s's subscribe waittimeout).
func (h *Hub) Subscribe(path string) (*Subscriber, error) {
	return h.SubscribeWait(context.Background(), path, h.opts.SubscribeWait)
}

// SubscribeWait joins the stream at path, waiting up to wait (or until ctx
// ends) for a publisher to appear.
func (h *Hub) SubscribeWait(ctx context.Context, path string, wait time.Duration) (*Subscriber, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		s, published, closed := h.streams[path], h.published, h.closed
		h.mu.Unlock()
		if closed {
			return nil, ErrHubClosed
		}
		if s != nil {
			sub, err := s.subscribe()
			if err == nil || !errors.Is(err, io.EOF) {
				return sub, err
			}
			// The stream is ending; a republish may follow within the wait.
		}
		select {
		case <-published:
		case <-timer.C:
			return nil, fmt.Errorf("subscribe %q: %w", path, ErrNoStream)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stream returns the live stream at path, or nil.
func (h *Hub) Stream(path string) *Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[path]
}

// Streams returns a snapshot of every live stream.
func (h *Hub) Streams() []StreamInfo {
	h.mu.Lock()
	list := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		list = append(list, s)
	}
	h.mu.Unlock()
	out := make([]StreamInfo, 0, len(list))
	for _, s := range list {
		out = append(out, s.Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.streams[s.path] == s {
		delete(h.streams, s.path)
	}
	h.mu.Unlock()
}

// Idle reports whether no stream is live.
func (h *Hub) Idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams) == 0
}
