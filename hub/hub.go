// Package hub is the embedded host's stream hub: one publisher per path, a
// ring of shared frames per stream, and subscribers that read the ring on
// their own goroutines without ever blocking the publisher.
//
// Memory: frames belong to the publisher's FramePool. The ring holds one
// reference per slot; a subscriber holds one while it writes a frame out.
// Overwritten slots and finished subscribers release their references, and
// the last release queues the frame back to the publishing goroutine, which
// frees it. A subscriber that falls behind the ring's tail is moved forward
// to the latest keyframe when the publisher evicts the frames it missed,
// and those are counted as drops then.
//
// The ring is bounded three ways (Options.RingSize frames, RingBytes
// payload bytes, RingDuration of DTS); the publisher evicts the oldest
// frames as soon as any bound is exceeded. A joiner starts at the newest
// keyframe still in the ring, so it gets the latest complete GOP whenever
// that fits the bounds.
//
// With Options.ReconnectWait, the subscribers of a publish that ends wait
// for another publisher on the same path and carry on reading it from its
// first keyframe, its timestamps shifted to continue theirs.
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
	// RingSize is a hard cap on the frames each stream's ring keeps
	// (global.publish.ringsize, default DefaultRingSize).
	RingSize int
	// RingBytes bounds the payload bytes each stream's ring holds
	// (global.publish.ringbytes, default 32 MiB).
	RingBytes int64
	// RingDuration bounds the time span (by DTS) each stream's ring keeps
	// (global.publish.ringduration, default 12s).
	RingDuration time.Duration
	// ReconnectWait keeps a stream's subscribers after its publisher ends,
	// for a publisher that returns on the same path
	// (global.publish.reconnectwait, default 10s; 0 = off). Unlike the
	// other fields, zero is not replaced by the default: 0 (or a negative
	// value) turns waiting off, and the server passes the configured value
	// (DefaultReconnectWait is its config default). A kicked publisher
	// (KickExisting) and a hub Close never wait.
	ReconnectWait time.Duration
	// CloseWait bounds how long an unpublish waits for subscribers to
	// catch up and for readers to hand frames back.
	CloseWait time.Duration
	// SubscribeWait is how long a subscriber waits for its stream to be
	// published before it is refused.
	SubscribeWait time.Duration
	// OnDemand, when set, is called on a goroutine of its own when a
	// subscriber waits for a path that nothing publishes, at most once per
	// path while an attempt for it is pending (see host.Services.AddOnDemand).
	// It returns whether a publish may follow.
	OnDemand func(path string) bool
}

// Defaults for Options.
const (
	DefaultPublishTimeout = 10 * time.Second
	// DefaultRingSize is only a cap: RingDuration or RingBytes bound the
	// ring first. It holds 12 s of 60 fps video plus 48 kHz AAC (about 107
	// frames a second, 1290 frames); frames are made as the ring fills,
	// so the cap costs only its slot array (16 KiB per stream).
	DefaultRingSize = 2048
	// DefaultRingBytes bounds a publisher's ring memory (an 8 Mbit/s
	// stream fills it in 32 s, past RingDuration).
	DefaultRingBytes = 32 << 20
	// DefaultRingDuration holds a whole GOP of the 8-10 s keyframe
	// interval x264 and OBS use, so a joiner starts on a keyframe at once.
	DefaultRingDuration = 12 * time.Second
	// DefaultReconnectWait is the server's config default for
	// ReconnectWait (the hub itself treats 0 as off).
	DefaultReconnectWait = 10 * time.Second
	DefaultCloseWait     = 3 * time.Second
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
	// waiting holds, per path, the placeholder stream the subscribers of
	// an ended publish wait in for a returning publisher (ReconnectWait).
	waiting map[string]*Stream
	// demanding marks paths with an on-demand publish attempt pending,
	// by attempt number, so an ended attempt clears only its own mark.
	demanding map[string]uint64
	demandSeq uint64
	// closing holds the unpublished streams whose Close still runs.
	closing map[*Stream]struct{}
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
	// GOPOverflows counts GOPs whose keyframe was evicted (by RingBytes,
	// RingDuration or RingSize) before the next keyframe arrived.
	GOPOverflows atomic.Int64
	// Reconnects counts publishes that took over the subscribers of an
	// ended publish of the same path (ReconnectWait).
	Reconnects atomic.Int64
}

// New returns a hub; Close it to end every stream and its watchdog.
func New(opts Options, log *slog.Logger) *Hub {
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.RingBytes <= 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if opts.RingDuration <= 0 {
		opts.RingDuration = DefaultRingDuration
	}
	if opts.CloseWait <= 0 {
		opts.CloseWait = DefaultCloseWait
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Hub{opts: opts, log: log, streams: map[string]*Stream{}, waiting: map[string]*Stream{}, closing: map[*Stream]struct{}{}, totals: map[string]*ProtocolTotals{}, stop: make(chan struct{}), published: make(chan struct{})}
	h.watchers.Add(1)
	go h.watchdog()
	return h
}

// Close ends every publish (their contexts are cancelled with
// ErrHubClosed), cuts every subscriber (Cut fires and Next returns io.EOF,
// so writers blocked on slow peers let go of their frames at once), ends
// every wait for a reconnect and stops the watchdog. Publishers still
// close themselves on their own goroutines.
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
		s.mu.Lock()
		s.cutAllLocked()
		s.mu.Unlock()
	}
	for s := range h.closing {
		s.mu.Lock()
		s.cutAllLocked()
		s.mu.Unlock()
	}
	for path, p := range h.waiting {
		p.wait.timer.Stop()
		p.mu.Lock()
		p.cutAllLocked()
		p.mu.Unlock()
		delete(h.waiting, path)
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
				// A stream is silent since the first tick that saw its
				// current frame count (or since it started): never less
				// than the real silence, at most a tick more.
				if n := s.framesIn.Load(); n != s.idleFrames {
					s.idleFrames, s.idleSince = n, now
				} else if now.Sub(s.idleSince) > h.opts.PublishTimeout {
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
	if p := h.waiting[req.Path]; p != nil {
		// A publisher returns within ReconnectWait: it takes over the
		// subscribers waiting for it, on their timeline.
		delete(h.waiting, req.Path)
		p.wait.timer.Stop()
		s.rebase, s.rebaseTo = p.wait.hasBase, p.wait.base
		s.reconnects = p.reconnects + 1
		s.totals.Reconnects.Add(1)
		h.moveLocked(p, s)
		h.log.Info("publisher returned; waiting subscribers carried over", "path", req.Path, "remote", req.Remote, "reconnects", s.reconnects)
	}
	h.streams[req.Path] = s
	delete(h.demanding, req.Path) // the attempt (if any) has delivered
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
// ends) for a publisher to appear. While the path waits for a returning
// publisher (ReconnectWait), it joins that wait at once: Next then blocks
// until the publisher returns, or returns io.EOF when none does in time.
func (h *Hub) SubscribeWait(ctx context.Context, path string, wait time.Duration) (*Subscriber, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrHubClosed
		}
		s, published := h.streams[path], h.published
		if s == nil {
			s = h.waiting[path]
		}
		var (
			sub *Subscriber
			err error
		)
		if s != nil {
			sub, err = s.subscribe()
		} else {
			h.demandLocked(path)
		}
		h.mu.Unlock()
		if s != nil {
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

// demandLocked asks the OnDemand handler to publish path, unless an
// attempt is already pending. The attempt stays pending (no second call)
// for SubscribeWait, the time a player waits for it.
func (h *Hub) demandLocked(path string) {
	if h.opts.OnDemand == nil || h.demanding[path] != 0 {
		return
	}
	if h.demanding == nil {
		h.demanding = map[string]uint64{}
	}
	h.demandSeq++
	seq := h.demandSeq
	h.demanding[path] = seq
	wait := max(h.opts.SubscribeWait, time.Second)
	h.watchers.Add(1)
	go func() {
		defer h.watchers.Done()
		ok := h.opts.OnDemand(path)
		if ok {
			// Leave the attempt pending while a player could still be
			// waiting for it, so players joining meanwhile do not start a
			// second pull; the pull's publish ends it sooner (Publish
			// clears the mark), so once that publish is over the next
			// player starts a new attempt.
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-h.stop:
			}
		}
		h.mu.Lock()
		if h.demanding[path] == seq {
			delete(h.demanding, path)
		}
		h.mu.Unlock()
	}()
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

// unpublish takes s off its path as its Close begins. When its
// subscribers may wait for a returning publisher, it leaves a placeholder
// for the path that a new publish (or ReconnectWait running out) resolves.
func (h *Hub) unpublish(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	owner := h.streams[s.path] == s
	if owner {
		delete(h.streams, s.path)
	}
	cause := context.Cause(s.ctx)
	wait := owner && !h.closed && h.opts.ReconnectWait > 0 &&
		!errors.Is(cause, ErrKicked) && !errors.Is(cause, ErrHubClosed)
	s.mu.Lock()
	s.closed = true
	if wait {
		p := newPlaceholder(s)
		p.wait.timer = time.AfterFunc(h.opts.ReconnectWait, func() { h.expire(p) })
		h.waiting[s.path] = p
		s.awaiting, s.slot = true, p
	}
	s.wakeLocked()
	s.mu.Unlock()
	if !h.closed {
		h.closing[s] = struct{}{}
	}
	if wait {
		// Wake SubscribeWait callers: they join the wait.
		close(h.published)
		h.published = make(chan struct{})
	}
}

// finishClose runs when s's Close has its frames back (or gave up on
// them): the subscribers still waiting in s move on to the path's
// returning publisher, or to the placeholder that waits for one; the
// others (cut, or with nothing to wait for) reach io.EOF.
func (h *Hub) finishClose(s *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.closing, s)
	if p := s.slot; p != nil && p.wait.from == s {
		p.wait.from = nil
	}
	// awaiting changes only under h.mu, so it holds still here.
	s.mu.RLock()
	awaiting := s.awaiting
	s.mu.RUnlock()
	if awaiting {
		target := h.streams[s.path] // a publisher that returned meanwhile
		if target == nil {
			target = h.waiting[s.path]
		}
		if target != nil {
			// Before awaiting clears: a subscriber must never see its
			// stream ended while a move is due.
			h.moveLocked(s, target)
		}
	}
	s.mu.Lock()
	s.awaiting = false
	s.wakeLocked()
	s.mu.Unlock()
}

// expire ends p's wait when ReconnectWait runs out with no publisher back:
// its subscribers (and those of the ended stream, if its Close still runs)
// get io.EOF once they have read everything.
func (h *Hub) expire(p *Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiting[p.path] != p {
		return // a publisher returned, or the hub closed
	}
	delete(h.waiting, p.path)
	for _, s := range [...]*Stream{p, p.wait.from} {
		if s == nil {
			continue
		}
		s.mu.Lock()
		s.awaiting = false
		s.wakeLocked()
		s.mu.Unlock()
	}
}

// moveLocked hands every subscriber of from that was not cut to to. h.mu
// is held; from is closed, so no lock order between the two is reversed
// anywhere.
func (h *Hub) moveLocked(from, to *Stream) {
	from.mu.Lock()
	to.mu.Lock()
	hadVideo := from.hasVideo || (from.wait != nil && from.wait.video)
	for sub := range from.subs {
		if sub.cut || sub.cutSent {
			continue
		}
		delete(from.subs, sub)
		to.attachMovedLocked(sub, hadVideo)
	}
	if to.wait != nil {
		to.wait.video = to.wait.video || hadVideo
	}
	to.mu.Unlock()
	from.mu.Unlock()
}

// Idle reports whether no stream is live.
func (h *Hub) Idle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams) == 0
}
