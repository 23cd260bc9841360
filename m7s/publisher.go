package zerocopym7s

import (
	"context"
	"errors"
	"time"

	"m7s.live/v5"
	m7srtmp "m7s.live/v5/plugin/rtmp/pkg"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtmp/session"
)

var (
	errUnpublished = errors.New("zerocopy: unpublished")
	errClosed      = errors.New("zerocopy: publisher closed")
	errNoWriter    = errors.New("zerocopy: frame written before Writer")
)

// publisher maps host.Publisher onto an m7s publisher and its RTMP track
// writers. Every method but Path and Context runs on the connection
// goroutine, the only one that touches the allocator while the publish is
// live.
type publisher struct {
	conn  *rtmpConn
	mp    *m7s.Publisher
	alloc *pool.Allocator

	video *m7s.PublishVideoWriter[*m7srtmp.VideoFrame]
	audio *m7s.PublishAudioWriter[*m7srtmp.AudioFrame]
	// videoOK and audioOK: a sequence header went in, so m7s has a codec
	// context and frames can follow (before it m7s rejects them with
	// ErrUnsupportCodec, which would end the connection).
	videoOK, audioOK     bool
	lastVideo, lastAudio time.Duration

	frame host.Frame // the frame the session fills next
	// What this publisher already added to the plugin's totals.
	reportedRead, reportedCopied int64
	closed                       bool
	reason                       error
	disposed                     chan struct{} // closed once m7s has disposed mp
}

func (p *publisher) Path() string { return p.mp.StreamPath }

// Context is the m7s publisher's own context: it ends when m7s ends the
// publish (kicked, timed out, stopped from the API, server shutdown) and
// context.Cause gives m7s's reason.
func (p *publisher) Context() context.Context { return p.mp }

// Writer binds the publish to the connection's allocator. The m7s writers
// are created on the first frame of each kind, as m7s's RTMP plugin does, so
// an audio-only or video-only stream gets one track.
func (p *publisher) Writer(alloc *pool.Allocator) host.FrameWriter {
	p.alloc = alloc
	p.conn.lease.set(alloc)
	return (*frameWriter)(p)
}

func (p *publisher) videoWriter() *m7s.PublishVideoWriter[*m7srtmp.VideoFrame] {
	if p.video == nil && p.mp.PubVideo {
		p.video = m7s.NewPublishVideoWriter[*m7srtmp.VideoFrame](p.mp, p.alloc)
	}
	return p.video
}

func (p *publisher) audioWriter() *m7s.PublishAudioWriter[*m7srtmp.AudioFrame] {
	if p.audio == nil && p.mp.PubAudio {
		p.audio = m7s.NewPublishAudioWriter[*m7srtmp.AudioFrame](p.mp, p.alloc)
	}
	return p.audio
}

// SetVideoConfig writes the FLV sequence header in-band, as an RTMP video
// frame: m7s sets the track's codec context from it (and keeps its own
// copy). The header is copied into allocator memory, since m7s frees the
// frame's bytes with that allocator. It is control data, not media.
func (p *publisher) SetVideoConfig(c host.VideoConfig) error {
	if p.closed {
		return errClosed
	}
	if p.alloc == nil {
		return errNoWriter
	}
	w := p.videoWriter()
	if w == nil {
		return nil // video is muted by m7s's publish config
	}
	f := w.VideoFrame
	p.conn.lent.reclaim(p.alloc, &f.RecyclableMemory)
	copy(f.NextN(len(c.SequenceHeader)), c.SequenceHeader)
	f.Timestamp, f.CTS = p.lastVideo, 0
	if err := w.NextVideo(); err != nil {
		return err
	}
	p.videoOK = true
	return nil
}

// SetAudioConfig is SetVideoConfig for the AAC sequence header.
func (p *publisher) SetAudioConfig(c host.AudioConfig) error {
	if p.closed {
		return errClosed
	}
	if p.alloc == nil {
		return errNoWriter
	}
	w := p.audioWriter()
	if w == nil {
		return nil
	}
	f := w.AudioFrame
	p.conn.lent.reclaim(p.alloc, &f.RecyclableMemory)
	copy(f.NextN(len(c.SequenceHeader)), c.SequenceHeader)
	f.Timestamp, f.CTS = p.lastAudio, 0
	if err := w.NextAudio(); err != nil {
		return err
	}
	p.audioOK = true
	return nil
}

// ReportIngest implements host.IngestReporter: the connection's running
// totals, whose growth goes to the plugin's totals (two atomic adds).
//
// The session reports to each publisher what happened since the previous
// publisher's last report on the connection, so the figures restart with
// every publish: only their growth is added.
func (p *publisher) ReportIngest(st host.IngestStats) {
	p.conn.addIngest(st.BytesRead-p.reportedRead, st.BytesCopied-p.reportedCopied)
	p.reportedRead, p.reportedCopied = st.BytesRead, st.BytesCopied
}

// Close ends the publish with reason. When the peer unpublished and keeps
// the connection (session.ErrUnpublished), the m7s publisher is stopped now
// and Close waits (up to rtmp.closewait) for its dispose, which frees what
// m7s allocated in its frames with the connection allocator on m7s's
// goroutine while this one waits; the lent ranges are freed here after it.
// Otherwise the session is tearing down and still frees its own memory with
// the allocator, so the m7s publisher is stopped only when the session hands
// the allocator over (rtmpConn.releaseAllocator), and the last holder frees
// the lent ranges; Close then returns false, meaning they are not yet freed.
func (p *publisher) Close(reason error) bool {
	if p.closed {
		return true
	}
	p.closed = true
	(*frameWriter)(p).Drop()
	if reason == nil {
		reason = errUnpublished
	}
	p.reason = reason
	if !errors.Is(reason, session.ErrUnpublished) {
		p.conn.pending = append(p.conn.pending, p)
		return false
	}
	p.mp.Stop(reason)
	wait := p.conn.plugin.RTMP.CloseWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.disposed:
		p.conn.lent.freeAll(p.alloc) // m7s no longer reads the frames
		return true
	case <-t.C:
		p.conn.Error("m7s did not dispose the publisher in time; its frames may be freed late", "path", p.Path(), "wait", wait)
		return false
	}
}

// awaitDispose waits until m7s has disposed the publisher (its tracks are
// gone, so nothing reads the lent ranges any more), then drops the
// publisher's hold on the connection allocator.
func (p *publisher) awaitDispose() {
	_ = p.mp.WaitStopped()
	close(p.disposed)
	p.conn.lease.release(p.conn.Logger, &p.conn.plugin.totals, true)
}

// frameWriter is the publisher seen as a host.FrameWriter.
type frameWriter publisher

func (w *frameWriter) Frame() *host.Frame { return &w.frame }

// NextVideo moves the filled frame's payload ranges into the current m7s
// ring slot (w.VideoFrame) and publishes it. No byte is copied. The ranges
// stay lent to the slot until m7s hands it back for writing (see
// lentRanges), and are then freed on this goroutine.
func (w *frameWriter) NextVideo() error {
	p := (*publisher)(w)
	f := &p.frame
	if err := p.writable(); err != nil {
		w.Drop()
		return err
	}
	vw := p.videoWriter()
	if vw == nil || !p.videoOK {
		w.drop()
		return nil
	}
	vf := vw.VideoFrame
	p.conn.lent.lend(p.alloc, &vf.RecyclableMemory, &f.Payload)
	vf.Timestamp, vf.CTS = f.DTS, f.PTS-f.DTS
	p.lastVideo = f.DTS
	resetFrame(f)
	p.conn.plugin.totals.FramesIn.Add(1)
	return vw.NextVideo()
}

// NextAudio is NextVideo for an audio frame.
func (w *frameWriter) NextAudio() error {
	p := (*publisher)(w)
	f := &p.frame
	if err := p.writable(); err != nil {
		w.Drop()
		return err
	}
	aw := p.audioWriter()
	if aw == nil || !p.audioOK {
		w.drop()
		return nil
	}
	af := aw.AudioFrame
	p.conn.lent.lend(p.alloc, &af.RecyclableMemory, &f.Payload)
	af.Timestamp, af.CTS = f.DTS, 0
	p.lastAudio = f.DTS
	resetFrame(f)
	p.conn.plugin.totals.FramesIn.Add(1)
	return aw.NextAudio()
}

// writable says why frames can no longer go into m7s: closed by the
// session, or m7s has ended the publish (its dispose runs on another
// goroutine, so nothing more goes into its frames).
func (p *publisher) writable() error {
	if p.closed {
		return errClosed
	}
	if p.alloc == nil {
		return errNoWriter
	}
	if p.mp.Err() != nil {
		return context.Cause(p.mp)
	}
	return nil
}

// Drop frees the filled frame's payload instead of publishing it.
func (w *frameWriter) Drop() {
	f := &w.frame
	if f.Payload.Size > 0 || len(f.Payload.Buffers) > 0 {
		pool.FreeMemory(w.alloc, &f.Payload)
	}
	resetFrame(f)
}

// drop is Drop for a frame m7s cannot take yet (no codec context, track
// muted); it is counted.
func (w *frameWriter) drop() {
	w.conn.plugin.totals.FramesDrop.Add(1)
	w.Drop()
}

func resetFrame(f *host.Frame) {
	clear(f.Units)
	f.Units = f.Units[:0]
	f.Kind, f.Codec, f.Format, f.DTS, f.PTS, f.Keyframe = 0, 0, 0, 0, 0, false
}
