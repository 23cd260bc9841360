package hub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// Stream is one published path. It implements host.Publisher; the methods
// of that interface run on the publishing goroutine.
type Stream struct {
	hub    *Hub
	path   string
	req    host.PublishRequest
	ctx    context.Context
	cancel context.CancelCauseFunc
	totals *ProtocolTotals
	start  time.Time

	// Publishing goroutine only.
	frames  *host.FramePool
	current *host.Frame
	ingest  host.IngestStats

	lastWrite atomic.Int64 // unix nanos of the last frame (or of the publish)

	mu        sync.RWMutex
	ring      []*host.Frame
	seq       uint64 // sequence number the next frame gets
	lastKey   uint64 // sequence number of the newest video keyframe
	hasKey    bool
	hasVideo  bool
	video     host.VideoConfig
	audio     host.AudioConfig
	metadata  []byte // latest onMetaData body; replaced, never written into
	configVer uint64
	subs      map[*Subscriber]struct{}
	closed    bool

	bytesIn, framesIn, drops atomic.Int64
	videoCodec, audioCodec   atomic.Uint32
}

func newStream(h *Hub, parent context.Context, req host.PublishRequest) *Stream {
	ctx, cancel := context.WithCancelCause(parent)
	s := &Stream{
		hub: h, path: req.Path, req: req, ctx: ctx, cancel: cancel,
		totals: h.totalsLocked(req.Protocol),
		start:  time.Now(),
		ring:   make([]*host.Frame, h.opts.RingSize),
		subs:   map[*Subscriber]struct{}{},
	}
	s.lastWrite.Store(time.Now().UnixNano())
	return s
}

// Path implements host.Publisher.
func (s *Stream) Path() string { return s.path }

// Context implements host.Publisher.
func (s *Stream) Context() context.Context { return s.ctx }

// SetVideoConfig implements host.Publisher; the configuration is copied.
func (s *Stream) SetVideoConfig(c host.VideoConfig) error {
	c = c.Clone()
	s.mu.Lock()
	s.video = c
	s.hasVideo = true
	s.configVer++
	s.mu.Unlock()
	s.videoCodec.Store(uint32(c.Codec))
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
	t := s.totals
	t.BytesRead.Add(st.BytesRead - s.ingest.BytesRead)
	t.BytesCopied.Add(st.BytesCopied - s.ingest.BytesCopied)
	t.AllocMalloc.Add(st.AllocMalloc - s.ingest.AllocMalloc)
	t.AllocFree.Add(st.AllocFree - s.ingest.AllocFree)
	s.ingest = st
}

// Writer implements host.Publisher.
func (s *Stream) Writer(alloc *pool.Allocator) host.FrameWriter {
	if s.frames == nil {
		s.frames = host.NewFramePool(alloc)
		// The ring plus a frame per subscriber in flight and the one being
		// filled: allocated now, not during the first ring's worth of frames.
		s.frames.Reserve(len(s.ring) + 16)
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
	if err := context.Cause(s.ctx); err != nil {
		s.frames.Discard(f)
		return err
	}
	f.Kind = kind
	size := int64(f.Payload.Size)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.frames.Discard(f)
		return io.ErrClosedPipe
	}
	slot := s.seq % uint64(len(s.ring))
	old := s.ring[slot]
	s.ring[slot] = f // the ring takes over the frame's first reference
	if kind == host.Video && f.Keyframe {
		s.lastKey, s.hasKey = s.seq, true
	}
	s.seq++
	for sub := range s.subs {
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	if old != nil {
		old.Release()
	}
	s.lastWrite.Store(time.Now().UnixNano())
	s.bytesIn.Add(size)
	s.framesIn.Add(1)
	s.totals.BytesIn.Add(size)
	s.totals.FramesIn.Add(1)
	return nil
}

// Close implements host.Publisher. It lets subscribers catch up (bounded by
// CloseWait), drops the ring's references, waits for readers to hand every
// frame back and frees them. It reports whether the allocator is balanced
// and may be recycled.
func (s *Stream) Close(reason error) bool {
	s.cancel(reason)
	if s.current != nil {
		s.frames.Discard(s.current)
		s.current = nil
	}
	s.mu.Lock()
	s.closed = true
	s.wakeLocked()
	s.mu.Unlock()
	s.hub.remove(s)

	deadline := time.Now().Add(s.hub.opts.CloseWait)
	for time.Now().Before(deadline) && !s.subscribersDone() {
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	held := make([]*host.Frame, 0, len(s.ring))
	for i, f := range s.ring {
		if f != nil {
			held = append(held, f)
			s.ring[i] = nil
		}
	}
	for sub := range s.subs {
		sub.cut = true
		if sub.next.Load() < s.seq {
			sub.signalCutLocked() // fell behind: its writer should give up now
		}
	}
	s.wakeLocked()
	s.mu.Unlock()
	for _, f := range held {
		f.Release()
	}
	if s.frames == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.hub.opts.CloseWait)
	defer cancel()
	grace, cancelGrace := context.WithTimeout(ctx, s.hub.opts.CloseWait/2)
	err := s.frames.Close(grace)
	cancelGrace()
	if err != nil {
		// Frames are still held half-way through the wait: cut off every
		// subscriber still attached, such as one that had caught up but is
		// blocked writing its last frame to a stalled peer.
		s.mu.Lock()
		for sub := range s.subs {
			sub.signalCutLocked()
		}
		s.mu.Unlock()
		err = s.frames.Close(ctx)
	}
	if err != nil {
		s.hub.log.Error("stream closed with frames still held; leaking its allocator", "path", s.path, "err", err)
		return false
	}
	return true
}

func (s *Stream) wakeLocked() {
	for sub := range s.subs {
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
}

func (s *Stream) subscribersDone() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for sub := range s.subs {
		if sub.next.Load() < s.seq {
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
}

// Info returns a snapshot for the API.
func (s *Stream) Info() StreamInfo {
	s.mu.RLock()
	n := len(s.subs)
	s.mu.RUnlock()
	info := StreamInfo{
		Path: s.path, Protocol: s.req.Protocol, Remote: s.req.Remote, Subscribers: n,
		BytesIn: s.bytesIn.Load(), FramesIn: s.framesIn.Load(), Drops: s.drops.Load(),
		Seconds: time.Since(s.start).Seconds(),
	}
	if c := s.videoCodec.Load(); c != 0 {
		info.VideoCodec = codec.Codec(c).String()
	}
	if c := s.audioCodec.Load(); c != 0 {
		info.AudioCodec = codec.Codec(c).String()
	}
	return info
}
