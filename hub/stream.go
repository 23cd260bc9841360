package hub

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// Stream is one published path. It implements host.Publisher; the methods
// of that interface run on the publishing goroutine.
//
// A Stream is also what a path's subscribers wait in while no publisher
// holds it during ReconnectWait (a placeholder: no publisher, no ring, see
// Hub.unpublish); the hub never hands a placeholder out as a Publisher.
type Stream struct {
	hub    *Hub
	path   string
	req    host.PublishRequest
	ctx    context.Context
	cancel context.CancelCauseFunc
	totals *ProtocolTotals
	start  time.Time
	// reconnects is how many publishes of this path in a row handed their
	// subscribers on to the next one; set before the stream is shared.
	reconnects int64

	// Publishing goroutine only.
	frames   *host.FramePool
	current  *host.Frame
	ingest   host.IngestStats
	evicted  []*host.Frame // frames the last publish took out of the ring, released after unlocking
	rebase   bool          // shift timestamps onto the predecessor's timeline
	rebaseTo time.Duration // the DTS the first frame is moved to
	offset   time.Duration // added to every DTS and PTS once the first frame set it
	based    bool          // offset is set
	lastDTS  time.Duration // newest DTS published (rebased)
	anyDTS   bool          // lastDTS is set
	interval [host.Audio + 1]frameClock
	overflow gopOverflow // the first GOP overflow, logged once after unlocking

	// done is ctx.Done(), kept so each publish checks for a cancel with
	// one non-blocking receive rather than context.Cause, which locks.
	done <-chan struct{}
	// The watchdog's own (under hub.mu): the frame count it saw last and
	// when that count was first seen. A publish only counts its frame
	// (framesIn), so the per-frame path reads no clock.
	idleFrames int64
	idleSince  time.Time

	mu sync.RWMutex
	// ring holds the frames with sequence numbers [tail, seq) at index
	// seq % len(ring); each slot holds one reference.
	ring        []*host.Frame
	tail        uint64
	seq         uint64 // sequence number the next frame gets
	ringBytes   int64  // payload bytes of the frames in the ring
	lastKey     uint64 // sequence number of the newest video keyframe
	hasKey      bool
	firstKey    uint64 // sequence number of the stream's first video keyframe
	hasFirstKey bool
	keyDTS      [2]time.Duration // DTS of the newest two keyframes, newest first
	keys        int64
	hasVideo    bool
	video       host.VideoConfig
	audio       host.AudioConfig
	metadata    []byte // latest onMetaData body; replaced, never written into
	configVer   uint64
	subs        map[*Subscriber]struct{}
	closed      bool
	// awaiting: the stream is closed and its subscribers wait for a
	// publisher to return to the path (ReconnectWait) instead of ending.
	// Written only with hub.mu held too.
	awaiting     bool
	gopOverflows int64

	// slot is the placeholder this stream's unpublish left for a returning
	// publisher (guarded by hub.mu), and wait is set on that placeholder.
	slot *Stream
	wait *reconnectSlot

	bytesIn, framesIn, drops atomic.Int64
	extra                    atomic.Pointer[map[string]float64] // latest IngestStats.Extra
	videoCodec, audioCodec   atomic.Uint32
	videoSize                atomic.Uint64 // width<<32 | height from the SPS, 0 when unknown
}

// reconnectSlot is what a placeholder knows about the publish that ended.
// Guarded by hub.mu.
type reconnectSlot struct {
	from  *Stream // the unpublished stream while its Close runs, then nil
	timer *time.Timer
	// base is the DTS the next publisher's first frame is rebased to: the
	// ended stream's newest DTS plus one frame interval.
	base    time.Duration
	hasBase bool
	video   bool // the ended stream had video: carried subscribers wait for a keyframe
}

// frameClock tracks one track's last two DTS, for the frame interval.
type frameClock struct {
	last, prev time.Duration
	n          int
}

// gopOverflow describes a GOP whose keyframe left the ring before the next
// keyframe arrived.
type gopOverflow struct {
	pending  bool
	gopBytes int64
	gopSpan  time.Duration
	bound    ringBound
}

// ringBound names the bound that made the publisher evict a frame.
type ringBound uint8

const (
	boundFrames ringBound = iota + 1
	boundBytes
	boundDuration
)

func (b ringBound) String() string {
	switch b {
	case boundFrames:
		return "ringsize"
	case boundBytes:
		return "ringbytes"
	case boundDuration:
		return "ringduration"
	}
	return "none"
}

// initialReserve is how many frames a stream's pool makes when the
// publisher binds it (the FramePool then grows in batches as the ring
// fills): a 300 kbit/s stream must not cost the frame cap up front.
const initialReserve = 64

// fallbackInterval is the frame interval assumed when a stream ends before
// two frames of one track told it.
const fallbackInterval = 40 * time.Millisecond

func newStream(h *Hub, parent context.Context, req host.PublishRequest) *Stream {
	ctx, cancel := context.WithCancelCause(parent)
	s := &Stream{
		hub: h, path: req.Path, req: req, ctx: ctx, cancel: cancel,
		totals: h.totalsLocked(req.Protocol),
		start:  time.Now(),
		ring:   make([]*host.Frame, h.opts.RingSize),
		subs:   map[*Subscriber]struct{}{},
	}
	s.done = ctx.Done()
	s.idleSince = s.start // a publisher that never sends a frame times out too
	return s
}

// newPlaceholder returns the stream the subscribers of ended wait in for a
// returning publisher. It is closed and has no ring.
func newPlaceholder(ended *Stream) *Stream {
	p := &Stream{
		hub: ended.hub, path: ended.path, req: ended.req, ctx: ended.ctx, cancel: func(error) {},
		totals: ended.totals, start: time.Now(), reconnects: ended.reconnects,
		subs: map[*Subscriber]struct{}{}, closed: true, awaiting: true,
		wait: &reconnectSlot{from: ended, video: ended.hasVideo},
	}
	if ended.anyDTS {
		p.wait.base, p.wait.hasBase = ended.lastDTS+ended.frameInterval(), true
	}
	return p
}

// frameInterval is the publisher's last video frame interval (audio when
// there is no video), for placing the next publisher's first frame.
func (s *Stream) frameInterval() time.Duration {
	for _, k := range [...]host.Kind{host.Video, host.Audio} {
		if c := s.interval[k]; c.n >= 2 && c.last > c.prev && c.last-c.prev <= time.Second {
			return c.last - c.prev
		}
	}
	return fallbackInterval
}

// Path implements host.Publisher.
func (s *Stream) Path() string { return s.path }

// Context implements host.Publisher.
func (s *Stream) Context() context.Context { return s.ctx }

// SetVideoConfig implements host.Publisher; the configuration is copied.
// The picture size is parsed from the SPS here, once per configuration,
// so that Info (polled by the status page) never parses.
func (s *Stream) SetVideoConfig(c host.VideoConfig) error {
	c = c.Clone()
	var size uint64 // stays 0 (unknown) when no SPS parses
	for _, sps := range c.SPS {
		var w, h int
		switch c.Codec {
		case codec.H264:
			if i, err := codec.ParseH264SPS(sps); err == nil {
				w, h = i.Width, i.Height
			}
		case codec.H265:
			if i, err := codec.ParseH265SPS(sps); err == nil {
				w, h = i.Width, i.Height
			}
		}
		if w > 0 && h > 0 {
			size = uint64(w)<<32 | uint64(h) // each side is at most 1<<20
			break
		}
	}
	s.mu.Lock()
	s.video = c
	s.hasVideo = true
	s.configVer++
	s.mu.Unlock()
	s.videoCodec.Store(uint32(c.Codec))
	s.videoSize.Store(size)
	return nil
}

// SetAudioConfig implements host.Publisher; the configuration is copied.
func (s *Stream) SetAudioConfig(c host.AudioConfig) error {
	c = c.Clone()
	s.mu.Lock()
	s.audio = c
	s.configVer++
	s.mu.Unlock()
	s.audioCodec.Store(uint32(c.Codec))
	return nil
}

// Subscribers implements host.SubscriberCounter.
func (s *Stream) Subscribers() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.subs)
}

// SetMetadata implements host.MetadataSetter; data is copied.
func (s *Stream) SetMetadata(data []byte) error {
	data = bytes.Clone(data)
	s.mu.Lock()
	s.metadata = data
	s.configVer++
	s.mu.Unlock()
	return nil
}

// ReportIngest implements host.IngestReporter.
func (s *Stream) ReportIngest(st host.IngestStats) {
	// The totals are shared by every stream of the protocol, so each add
	// may pull the line from another core: most reports change only the
	// bytes read, and only what changed is added.
	t := s.totals
	addDelta(&t.BytesRead, st.BytesRead-s.ingest.BytesRead)
	addDelta(&t.BytesCopied, st.BytesCopied-s.ingest.BytesCopied)
	addDelta(&t.AllocMalloc, st.AllocMalloc-s.ingest.AllocMalloc)
	addDelta(&t.AllocFree, st.AllocFree-s.ingest.AllocFree)
	if st.Extra != nil {
		m := maps.Clone(st.Extra)
		s.extra.Store(&m)
		st.Extra = nil // the caller may reuse its map
	}
	s.ingest = st
}

func addDelta(c *atomic.Int64, d int64) {
	if d != 0 {
		c.Add(d)
	}
}

// Writer implements host.Publisher.
func (s *Stream) Writer(alloc *pool.Allocator) host.FrameWriter {
	if s.frames == nil {
		s.frames = host.NewFramePool(alloc)
		// A first batch now; FramePool.Get grows the pool in batches as
		// the ring fills, so a slow stream never costs the frame cap and a
		// fast one stops allocating once its ring is full.
		s.frames.Reserve(min(len(s.ring), initialReserve) + 16)
	}
	return (*streamWriter)(s)
}

type streamWriter Stream

func (w *streamWriter) Frame() *host.Frame {
	if w.current == nil {
		w.current = w.frames.Get()
	}
	return w.current
}

func (w *streamWriter) NextVideo() error { return (*Stream)(w).publish(host.Video) }
func (w *streamWriter) NextAudio() error { return (*Stream)(w).publish(host.Audio) }

func (w *streamWriter) Drop() {
	if w.current != nil {
		w.frames.Discard(w.current)
		w.current = nil
	}
}

var errNoFrame = errors.New("hub: Next without a filled Frame")

func (s *Stream) publish(kind host.Kind) error {
	f := s.current
	if f == nil {
		return errNoFrame
	}
	s.current = nil
	select {
	case <-s.done:
		s.frames.Discard(f)
		return context.Cause(s.ctx)
	default:
	}
	f.Kind = kind
	if s.rebase {
		// Still unshared: move the returning publisher's clock (which
		// restarts near 0) onto the timeline its subscribers have seen.
		if !s.based {
			s.offset, s.based = s.rebaseTo-f.DTS, true
		}
		f.DTS += s.offset
		f.PTS += s.offset
	}
	size, dts := int64(f.Payload.Size), f.DTS
	key := kind == host.Video && f.Keyframe
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.frames.Discard(f)
		return io.ErrClosedPipe
	}
	ringLen := uint64(len(s.ring))
	if s.seq-s.tail == ringLen {
		s.evictLocked(boundFrames)
	}
	s.ring[s.seq%ringLen] = f // the ring takes over the frame's first reference
	s.ringBytes += size
	if key {
		s.lastKey, s.hasKey = s.seq, true
		if !s.hasFirstKey {
			s.firstKey, s.hasFirstKey = s.seq, true
		}
		s.keyDTS[1], s.keyDTS[0] = s.keyDTS[0], dts
		s.keys++
	}
	s.seq++
	for s.seq-s.tail > 1 {
		b := s.overBoundLocked()
		if b == 0 {
			break
		}
		s.evictLocked(b)
	}
	for sub := range s.subs {
		if sub.next.Load() < s.tail {
			sub.overrunLocked(s)
		}
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	for i, old := range s.evicted {
		old.Release()
		s.evicted[i] = nil
	}
	s.evicted = s.evicted[:0]
	if s.overflow.pending {
		s.overflow.pending = false
		o := s.hub.opts
		s.hub.log.Warn("stream GOP larger than its ring: its keyframe was evicted before the next one, so joiners wait for the next keyframe (logged once per stream)",
			"path", s.path, "gopBytes", s.overflow.gopBytes, "gopSpan", s.overflow.gopSpan, "bound", s.overflow.bound.String(),
			"ringBytes", o.RingBytes, "ringDuration", o.RingDuration, "ringSize", len(s.ring))
	}
	if !s.anyDTS || dts > s.lastDTS {
		s.lastDTS, s.anyDTS = dts, true
	}
	c := &s.interval[kind]
	c.prev, c.last, c.n = c.last, dts, c.n+1
	s.bytesIn.Add(size)
	s.framesIn.Add(1)
	s.totals.BytesIn.Add(size)
	s.totals.FramesIn.Add(1)
	return nil
}

// overBoundLocked reports which byte or duration bound the ring exceeds,
// or 0.
func (s *Stream) overBoundLocked() ringBound {
	if s.ringBytes > s.hub.opts.RingBytes {
		return boundBytes
	}
	ringLen := uint64(len(s.ring))
	newest, oldest := s.ring[(s.seq-1)%ringLen], s.ring[s.tail%ringLen]
	if newest.DTS-oldest.DTS > s.hub.opts.RingDuration {
		return boundDuration
	}
	return 0
}

// evictLocked takes the oldest frame out of the ring (its reference is
// released after unlocking). Evicting the newest keyframe means the current
// GOP does not fit the ring: that is counted, and the first time logged.
func (s *Stream) evictLocked(b ringBound) {
	i := s.tail % uint64(len(s.ring))
	f := s.ring[i]
	s.ring[i] = nil
	if s.hasKey && s.lastKey == s.tail {
		s.gopOverflows++
		s.totals.GOPOverflows.Add(1)
		if s.gopOverflows == 1 {
			newest := s.ring[(s.seq-1)%uint64(len(s.ring))]
			s.overflow = gopOverflow{pending: true, gopBytes: s.ringBytes, gopSpan: newest.DTS - f.DTS, bound: b}
		}
	}
	s.ringBytes -= int64(f.Payload.Size)
	s.tail++
	s.evicted = append(s.evicted, f)
}

// Close implements host.Publisher. It lets subscribers catch up (bounded by
// CloseWait), drops the ring's references, waits for readers to hand every
// frame back and frees them. It reports whether the allocator is balanced
// and may be recycled; when it is not, frames are still held by readers and
// the caller must abandon the allocator (pool.Abandon), not recycle it.
// It runs BeginClose's steps (Closing), sleeping between them.
//
// With ReconnectWait, subscribers that caught up are then handed to the
// path's next publisher (or wait for one); their references to this
// stream's frames are back before they move.
func (s *Stream) Close(reason error) bool {
	c := s.beginClose(reason)
	for {
		if done, free := c.Step(); done {
			return free
		}
		c.wait()
	}
}

func (s *Stream) wakeLocked() {
	for sub := range s.subs {
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
}

// cutAllLocked ends every subscriber at once (host shutdown).
func (s *Stream) cutAllLocked() {
	s.awaiting = false
	for sub := range s.subs {
		sub.cut = true
		sub.signalCutLocked()
	}
	s.wakeLocked()
}

func (s *Stream) subscribersDone() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for sub := range s.subs {
		if !sub.cut && sub.next.Load() < s.seq {
			return false
		}
	}
	return true
}

// StreamInfo is the JSON shape of /api/streams.
type StreamInfo struct {
	Path        string  `json:"path"`
	Protocol    string  `json:"protocol"`
	Remote      string  `json:"remote"`
	VideoCodec  string  `json:"videoCodec,omitempty"`
	AudioCodec  string  `json:"audioCodec,omitempty"`
	Subscribers int     `json:"subscribers"`
	BytesIn     int64   `json:"bytesIn"`
	FramesIn    int64   `json:"framesIn"`
	Drops       int64   `json:"drops"`
	Seconds     float64 `json:"seconds"`
	// BitrateKbps is the payload bit rate over the newest bitrateWindow of
	// media in the ring (by DTS, so it is the stream's rate even when the
	// publisher sends faster than real time); 0 until two frames.
	BitrateKbps float64 `json:"bitrateKbps"`
	// KeyframeInterval is the DTS distance of the newest two video
	// keyframes, in seconds; 0 until the second keyframe.
	KeyframeInterval float64 `json:"keyframeInterval"`
	RingBytes        int64   `json:"ringBytes"`  // payload bytes the ring holds now
	RingFrames       int     `json:"ringFrames"` // frames the ring holds now
	// GOPOverflows counts GOPs whose keyframe left the ring before the
	// next keyframe arrived (a joiner then waits for the next keyframe).
	GOPOverflows int64 `json:"gopOverflows"`
	// Reconnects is how many times in a row this path's publisher ended
	// and another took its subscribers over within ReconnectWait.
	Reconnects int64 `json:"reconnects"`
	// Extra is the publishing protocol's own gauges (SRT: loss,
	// retransmits, RTT, buffer), as it last reported them.
	Extra map[string]float64 `json:"extra,omitempty"`
	// Players are the subscribers whose protocol reports its own gauges
	// per connection (SRT players: loss, retransmits, RTT, send buffer),
	// as each last reported them.
	Players []PlayerInfo `json:"players,omitempty"`
	// Width and Height are the video's picture size in pixels after
	// cropping, from the latest SPS; absent until an SPS that parses.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// PlayerInfo is one playing connection's report (host.EgressStats).
type PlayerInfo struct {
	Protocol string             `json:"protocol"`
	Remote   string             `json:"remote"`
	Extra    map[string]float64 `json:"extra,omitempty"`
}

// bitrateWindow is the span of media BitrateKbps averages over.
const bitrateWindow = 5 * time.Second

// Info returns a snapshot for the API. It walks at most bitrateWindow of
// the ring's frames.
func (s *Stream) Info() StreamInfo {
	info := StreamInfo{
		Path: s.path, Protocol: s.req.Protocol, Remote: s.req.Remote,
		BytesIn: s.bytesIn.Load(), FramesIn: s.framesIn.Load(), Drops: s.drops.Load(),
		Seconds: time.Since(s.start).Seconds(), Reconnects: s.reconnects,
	}
	if m := s.extra.Load(); m != nil {
		info.Extra = *m // replaced whole, never written into
	}
	s.mu.RLock()
	info.Subscribers = len(s.subs)
	for sub := range s.subs {
		if e := sub.egress.Load(); e != nil {
			info.Players = append(info.Players, PlayerInfo{Protocol: e.Protocol, Remote: e.Remote, Extra: e.Extra})
		}
	}
	// Map order is random; the API and /metrics list players stably.
	slices.SortFunc(info.Players, func(a, b PlayerInfo) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Remote, b.Remote))
	})
	info.RingBytes, info.RingFrames = s.ringBytes, int(s.seq-s.tail)
	info.GOPOverflows = s.gopOverflows
	if s.keys >= 2 {
		info.KeyframeInterval = (s.keyDTS[0] - s.keyDTS[1]).Seconds()
	}
	if s.seq-s.tail >= 2 {
		ringLen := uint64(len(s.ring))
		newest := s.ring[(s.seq-1)%ringLen].DTS
		var sum, last int64
		oldest := newest
		for i := s.seq - 1; i+1 > s.tail; i-- {
			f := s.ring[i%ringLen]
			if newest-f.DTS > bitrateWindow {
				break
			}
			sum += int64(f.Payload.Size)
			last, oldest = int64(f.Payload.Size), f.DTS
		}
		// n frames span n-1 intervals: leave the oldest frame's bytes out.
		if span := newest - oldest; span > 0 {
			info.BitrateKbps = float64(sum-last) * 8 / span.Seconds() / 1000
		}
	}
	s.mu.RUnlock()
	if c := s.videoCodec.Load(); c != 0 {
		info.VideoCodec = codec.Codec(c).String()
	}
	if v := s.videoSize.Load(); v != 0 {
		info.Width, info.Height = int(v>>32), int(uint32(v))
	}
	if c := s.audioCodec.Load(); c != 0 {
		info.AudioCodec = codec.Codec(c).String()
	}
	return info
}
