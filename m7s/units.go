package zerocopym7s

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deepch/vdk/codec/h264parser"
	"github.com/deepch/vdk/codec/h265parser"
	"github.com/langhuihui/gomem"
	"m7s.live/v5"
	m7spkg "m7s.live/v5/pkg"
	m7scodec "m7s.live/v5/pkg/codec"
	"m7s.live/v5/pkg/format"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// m7sAllocatorSize is the arena of the private allocator each RTSP or SRT
// publish hands m7s. m7s allocates only small headers in it (the RTMP or
// other conversion headers of a frame, a few bytes each), never media.
const m7sAllocatorSize = 64 << 10

// unitPublisher maps a host.Publisher whose frames are host.FormatUnits
// (RTSP and SRT ingest: NAL units, AAC frames) onto an m7s publisher with
// m7s's generic codec-unit frames, format.H26xFrame and format.RawAudio.
// Each NAL unit becomes one entry of the frame's Nalus, made of views of
// the payload ranges: nothing is copied. m7s's own egress converts them
// (HTTP-FLV: to RTMP frames, with headers it allocates itself).
//
// Ownership differs from RTMP (publisher.go) in two ways:
//   - m7s gets a private allocator per publish (m7sAlloc), not the
//     connection's. What m7s allocates in its frames (conversion headers)
//     it frees with it, on whatever goroutine it likes, including its
//     dispose on the streams goroutine; the payload allocator is never
//     touched by m7s. That matters for RTSP over UDP, where the payload
//     allocator is shared by every UDP publisher and owned by one
//     goroutine.
//   - The frames lent to m7s are host.Frames of a FramePool on the payload
//     allocator: giving one back (Discard) frees its payload through pool,
//     or releases the foreign memory it holds (SRT: packet slots,
//     host.Holder), on the publishing goroutine.
//
// Close stops the m7s publisher and waits (bounded) for its dispose, then
// gives back every lent frame, on the publishing goroutine: the caller's
// allocator is free once Close returns true.
//
// Every method but Path and Context runs on the publishing goroutine.
type unitPublisher struct {
	plugin   *ZeroCopyPlugin
	proto    string
	mp       *m7s.Publisher
	m7sAlloc *pool.Allocator // m7s's own allocations in this publish's frames
	disposed chan struct{}   // closed once m7s has disposed mp

	alloc  *pool.Allocator // the payload allocator (Writer's)
	frames *host.FramePool
	cur    *host.Frame // the frame Frame() handed out, not yet published
	lent   lentFrames

	video    *m7s.PublishVideoWriter[*format.H26xFrame]
	audio    *m7s.PublishAudioWriter[*format.RawAudio]
	videoCtx m7scodec.ICodecCtx // from SetVideoConfig; set on the next frame when videoNew
	audioCtx m7scodec.ICodecCtx
	videoNew bool
	audioNew bool

	reportedRead, reportedCopied int64
	closed                       bool
}

// newUnitPublisher claims path in m7s for an RTSP or SRT publisher. The
// publish's parent context is the plugin (as m7s's own SRT plugin does):
// the connection ends it with Close.
func (p *ZeroCopyPlugin) newUnitPublisher(req host.PublishRequest) (*unitPublisher, error) {
	if err := p.Context.Err(); err != nil {
		return nil, fmt.Errorf("m7s publish %s: plugin stopping: %w", req.Path, err)
	}
	mp, err := p.Publish(p.Context, req.Path)
	if err != nil {
		if errors.Is(err, m7spkg.ErrStreamExist) {
			return nil, fmt.Errorf("m7s publish %s: %w", req.Path, host.ErrStreamExists)
		}
		return nil, fmt.Errorf("m7s publish %s: %w", req.Path, err)
	}
	mp.RemoteAddr = req.Remote
	p.totals.Publishes.Add(1)
	u := &unitPublisher{plugin: p, proto: req.Protocol, mp: mp,
		m7sAlloc: pool.NewAllocator(m7sAllocatorSize), disposed: make(chan struct{})}
	go u.awaitDispose()
	return u, nil
}

// awaitDispose waits until m7s has disposed the publisher (its ring and
// every conversion are gone), then recycles m7s's private allocator: no
// one uses it any more.
func (u *unitPublisher) awaitDispose() {
	_ = u.mp.WaitStopped()
	if pool.Balanced(u.m7sAlloc) {
		pool.Recycle(u.m7sAlloc)
	} else {
		// m7s kept some of its own headers (a conversion still in flight
		// at dispose); the garbage collector takes them.
		pool.Abandon(u.m7sAlloc)
	}
	close(u.disposed)
}

func (u *unitPublisher) Path() string { return u.mp.StreamPath }

// Context ends when m7s ends the publish (kick, publish timeout, API stop,
// shutdown); context.Cause gives m7s's reason.
func (u *unitPublisher) Context() context.Context { return u.mp }

// Writer binds the publish to the payload allocator: frames come from a
// FramePool on it, so a frame given back frees its payload there (or
// releases the foreign memory it holds).
func (u *unitPublisher) Writer(alloc *pool.Allocator) host.FrameWriter {
	u.alloc = alloc
	u.frames = host.NewFramePool(alloc)
	return (*unitWriter)(u)
}

// SetVideoConfig builds m7s's codec context from the parameter sets. It
// goes on the next video frame; the sets stay in the frames as the peer
// sent them (m7s re-reads in-band ones itself).
func (u *unitPublisher) SetVideoConfig(c host.VideoConfig) error {
	if u.closed {
		return errClosed
	}
	if len(c.SPS) == 0 || len(c.PPS) == 0 {
		return nil // nothing m7s can build a context from yet
	}
	switch c.Codec {
	case codec.H264:
		cd, err := h264parser.NewCodecDataFromSPSAndPPS(c.SPS[0], c.PPS[0])
		if err != nil {
			return fmt.Errorf("m7s h264 context: %w", err)
		}
		u.videoCtx = &m7scodec.H264Ctx{CodecData: cd}
	case codec.H265:
		if len(c.VPS) == 0 {
			return nil
		}
		cd, err := h265parser.NewCodecDataFromVPSAndSPSAndPPS(c.VPS[0], c.SPS[0], c.PPS[0])
		if err != nil {
			return fmt.Errorf("m7s h265 context: %w", err)
		}
		u.videoCtx = &m7scodec.H265Ctx{CodecData: cd}
	default:
		return fmt.Errorf("m7s: video codec %v is not carried by the adapter", c.Codec)
	}
	u.videoNew = true
	return nil
}

// SetAudioConfig builds m7s's AAC context from the AudioSpecificConfig.
func (u *unitPublisher) SetAudioConfig(c host.AudioConfig) error {
	if u.closed {
		return errClosed
	}
	if c.Codec != codec.AAC {
		return fmt.Errorf("m7s: audio codec %v is not carried by the adapter", c.Codec)
	}
	if len(c.ASC) == 0 {
		return nil
	}
	ctx, err := m7scodec.NewAACCtxFromRecord(c.ASC)
	if err != nil {
		return fmt.Errorf("m7s aac context: %w", err)
	}
	u.audioCtx, u.audioNew = ctx, true
	return nil
}

// ReportIngest adds the growth of the connection's counters to the
// plugin's totals.
func (u *unitPublisher) ReportIngest(st host.IngestStats) {
	t := &u.plugin.totals
	if d := st.BytesRead - u.reportedRead; d > 0 {
		t.BytesRead.Add(d)
	}
	if d := st.BytesCopied - u.reportedCopied; d > 0 {
		t.BytesCopied.Add(d)
	}
	u.reportedRead, u.reportedCopied = st.BytesRead, st.BytesCopied
}

// Close stops the m7s publisher, waits up to zerocopy.rtmp.closewait for
// its dispose, and gives back every frame lent to it, on this goroutine.
// It returns false when m7s did not dispose in time: the lent frames are
// then left to the garbage collector (never freed while m7s may read
// them), and the caller abandons its allocator.
func (u *unitPublisher) Close(reason error) bool {
	if u.closed {
		return true
	}
	u.closed = true
	(*unitWriter)(u).Drop()
	if reason == nil {
		reason = errUnpublished
	}
	u.mp.Stop(reason)
	wait := u.plugin.RTMP.CloseWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-u.disposed:
	case <-t.C:
		u.plugin.Error("m7s did not dispose the publisher in time; its frames are left to the garbage collector",
			"protocol", u.proto, "path", u.Path(), "wait", wait)
		u.lent.forget()
		return false
	}
	u.lent.giveBackAll(u.frames)
	return u.frames == nil || u.frames.Outstanding() == 0
}

// unitWriter is the publisher seen as a host.FrameWriter.
type unitWriter unitPublisher

// Frame returns a frame of the pool: its payload is empty.
func (w *unitWriter) Frame() *host.Frame {
	if w.cur == nil {
		w.cur = w.frames.Get()
	}
	return w.cur
}

// Drop gives the filled frame back instead of publishing it.
func (w *unitWriter) Drop() {
	if w.cur != nil {
		w.frames.Discard(w.cur)
		w.cur = nil
	}
}

func (w *unitWriter) drop() {
	w.plugin.totals.FramesDrop.Add(1)
	w.Drop()
}

// writable says why frames can no longer go into m7s.
func (u *unitPublisher) writable() error {
	if u.closed {
		return errClosed
	}
	if u.frames == nil {
		return errNoWriter
	}
	if u.mp.Err() != nil {
		return context.Cause(u.mp)
	}
	return nil
}

// NextVideo lends the filled frame's NAL units to the current m7s ring
// slot, as views, and publishes it. Access unit delimiters are left out
// (FLV has no use for them, as in flv.AppendFrameBody).
func (w *unitWriter) NextVideo() error {
	u := (*unitPublisher)(w)
	if err := u.writable(); err != nil {
		w.Drop()
		return err
	}
	f := w.cur
	if f == nil || f.Format != host.FormatUnits {
		w.drop()
		return nil
	}
	if u.video == nil && u.mp.PubVideo {
		u.video = m7s.NewPublishVideoWriter[*format.H26xFrame](u.mp, u.m7sAlloc)
	}
	if u.video == nil || u.videoCtx == nil {
		w.drop() // muted, or no codec context yet: m7s would refuse it
		return nil
	}
	vf := u.video.VideoFrame
	e := u.lent.reclaim(u.frames, &vf.RecyclableMemory)
	vf.InitRecycleIndexes(0) // m7s's Recycle frees only what it allocates itself
	// Every unit's views go into e.pieces, the slot's own piece list,
	// reused from one lend to the next; each Nalus entry is a capped
	// window of it. m7s clears its Nalus entries on every ring reset
	// (util.ReuseArray.Reset), so pushing into them would allocate a new
	// piece list per NAL unit per frame.
	nalus := vf.GetNalus()
	for _, s := range f.Units {
		if s.Len <= 0 || s.End() > f.Payload.Size || isAUD(f.Codec, codec.ByteAt(&f.Payload, s.Off)) {
			continue
		}
		from := len(e.pieces)
		e.pieces = appendSpan(e.pieces, &f.Payload, s)
		to := len(e.pieces)
		nalu := nalus.GetNextPointer()
		nalu.Buffers, nalu.Size = e.pieces[from:to:to], s.Len
		for _, b := range e.pieces[from:to] {
			vf.PushOne(b)
		}
	}
	if nalus.Count() == 0 {
		w.drop()
		return nil
	}
	if u.videoNew {
		vf.ICodecCtx = u.videoCtx
		u.videoNew = false
	}
	vf.Timestamp, vf.CTS = f.DTS, f.PTS-f.DTS
	vf.IDR = f.Keyframe
	e.frame = f
	u.lent.lent(u.frames)
	w.cur = nil
	u.plugin.totals.FramesIn.Add(1)
	return u.video.NextVideo()
}

// NextAudio lends the filled frame's AAC frame(s) to the current m7s ring
// slot and publishes it.
func (w *unitWriter) NextAudio() error {
	u := (*unitPublisher)(w)
	if err := u.writable(); err != nil {
		w.Drop()
		return err
	}
	f := w.cur
	if f == nil || f.Format != host.FormatUnits {
		w.drop()
		return nil
	}
	if u.audio == nil && u.mp.PubAudio {
		u.audio = m7s.NewPublishAudioWriter[*format.RawAudio](u.mp, u.m7sAlloc)
	}
	if u.audio == nil || u.audioCtx == nil {
		w.drop()
		return nil
	}
	af := u.audio.AudioFrame
	e := u.lent.reclaim(u.frames, &af.RecyclableMemory)
	af.InitRecycleIndexes(0)
	for _, s := range f.Units {
		if s.Len > 0 && s.End() <= f.Payload.Size {
			from := len(e.pieces)
			e.pieces = appendSpan(e.pieces, &f.Payload, s)
			for _, b := range e.pieces[from:] {
				af.PushOne(b)
			}
		}
	}
	if af.Size == 0 {
		w.drop()
		return nil
	}
	if u.audioNew {
		af.ICodecCtx = u.audioCtx
		u.audioNew = false
	}
	af.Timestamp, af.CTS = f.DTS, 0
	e.frame = f
	u.lent.lent(u.frames)
	w.cur = nil
	u.plugin.totals.FramesIn.Add(1)
	return u.audio.NextAudio()
}

// appendSpan appends the pieces of span s of m to dst: views of m's
// buffers, capped at their ends, never copies.
func appendSpan(dst [][]byte, m *gomem.Memory, s codec.Span) [][]byte {
	off, n := s.Off, s.Len
	for _, b := range m.Buffers {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		k := min(len(b)-off, n)
		dst = append(dst, b[off:off+k:off+k])
		if n -= k; n == 0 {
			break
		}
		off = 0
	}
	return dst
}

// isAUD reports whether a NAL unit whose first byte is header is an access
// unit delimiter.
func isAUD(c codec.Codec, header byte) bool {
	if c == codec.H265 {
		return codec.H265Type(header) == codec.H265AUD
	}
	return codec.H264Type(header) == codec.H264AUD
}

// lentFrames tracks the host frames whose payload is lent to m7s ring
// frames, by the m7s frame's memory. A lent frame is given back to its
// pool (payload freed, or its holders released) when m7s hands the same
// ring slot back for writing (m7s has reset it), in a sweep once m7s has
// emptied a slot it dropped, or all at once after the publisher's dispose;
// always on the publishing goroutine. It is lentRanges (lent.go) with
// whole frames instead of ranges, so foreign memory is released too.
type lentFrames struct {
	bySlot map[*gomem.RecyclableMemory]*lentSlot
	spare  []*lentSlot
	frames int
}

// lentSlot is what one m7s ring slot holds of ours: the frame lent to it
// and the slot's piece list (the views its NAL units are made of), kept
// for the slot's next lend.
type lentSlot struct {
	frame  *host.Frame
	pieces [][]byte
}

// reclaim gives back the frame lent to rm, the current write slot's
// memory (m7s has reset it, since it hands it out for writing again), and
// returns rm's entry, emptied, for the next lend: set its frame once the
// slot holds the new frame's views, then call lent.
func (l *lentFrames) reclaim(fp *host.FramePool, rm *gomem.RecyclableMemory) *lentSlot {
	if l.bySlot == nil {
		l.bySlot = make(map[*gomem.RecyclableMemory]*lentSlot)
	}
	e := l.bySlot[rm]
	if e == nil {
		if n := len(l.spare); n > 0 {
			e, l.spare = l.spare[n-1], l.spare[:n-1]
		} else {
			e = new(lentSlot)
		}
		l.bySlot[rm] = e
	}
	e.release(fp)
	return e
}

func (e *lentSlot) release(fp *host.FramePool) {
	if e.frame != nil {
		fp.Discard(e.frame)
		e.frame = nil
	}
	clear(e.pieces)
	e.pieces = e.pieces[:0]
}

// lent counts a lend and sweeps every sweepEvery of them.
func (l *lentFrames) lent(fp *host.FramePool) {
	if l.frames++; l.frames >= sweepEvery {
		l.frames = 0
		l.sweep(fp)
	}
}

// sweep gives back the frames of slots m7s has emptied (Recycle, Discard)
// without handing them back for writing.
func (l *lentFrames) sweep(fp *host.FramePool) {
	for rm, e := range l.bySlot {
		if rm.Size == 0 {
			e.release(fp)
			delete(l.bySlot, rm)
			l.spare = append(l.spare, e)
		}
	}
}

// giveBackAll gives back every lent frame. Call it only once m7s no longer
// reads them: after the publisher's dispose.
func (l *lentFrames) giveBackAll(fp *host.FramePool) {
	for rm, e := range l.bySlot {
		e.release(fp)
		delete(l.bySlot, rm)
	}
	l.spare = nil
}

// forget drops every lent frame without giving it back: m7s may still
// read them, so their memory is left to the garbage collector.
func (l *lentFrames) forget() {
	clear(l.bySlot)
	l.spare = nil
}
