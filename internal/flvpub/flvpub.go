// Package flvpub is a test publisher for the host seam: it reads an FLV
// file (normally the ffmpeg clip of internal/testclip) with flv.Reader over
// its own bufreader and allocator, and publishes every tag into a
// host.Publisher through ingest.FLVPublisher, exactly as a protocol
// connection would: payload ranges move from the reader's blocks into the
// frames without a copy.
//
// It is ordinary (non-test) code so that tests and benchmarks of several
// packages can share it; nothing in production imports it.
//
// # Ownership
//
// A Publisher owns one allocator. New, Step, Run and Close must all be
// called on the same goroutine (the zcdebug build panics otherwise); frames
// released by subscribers on other goroutines come back to it through the
// host's FramePool and are freed there. Close ends the publish, waits
// (bounded by the host) for every frame to come back, recycles the reader
// and reports whether the allocator ended balanced.
package flvpub

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/ingest"
	"github.com/zcingest/zerocopy/pool"
)

// Options configures a Publisher.
type Options struct {
	// Speed paces Run: 1 publishes in real time (by tag timestamp), 4 four
	// times faster; 0 does not pace at all.
	Speed float64
	// Loop starts the clip over after its last tag, for ever (Run then
	// ends only through its context or the publish context). Timestamps
	// keep increasing by LoopSpan per pass, and the script, sequence
	// header and end-of-sequence tags are published only on the first
	// pass, so subscribers see one continuous stream.
	Loop bool
	// Passes, with Loop, ends the clip (io.EOF) after this many passes;
	// 0 loops for ever.
	Passes int
	// BlockSize is the bufreader block size (0: the bufreader default).
	// Small blocks make payloads span several buffers.
	BlockSize int
	// AllocatorSize is the first arena of the publisher's allocator
	// (0: 1 MiB).
	AllocatorSize int
}

// Result is what Close reports.
type Result struct {
	Tags   int64        // tags read and handed to the FLVPublisher
	Loops  int          // times the clip was started over (Options.Loop)
	Ingest ingest.Stats // the FLVPublisher's counters
	Reader bufreader.Stats
	// AllocatorFree is host.Publisher.Close's verdict: every frame came
	// back from the readers.
	AllocatorFree bool
	// Balanced: every byte Malloc'd from the allocator was freed.
	Balanced     bool
	Malloc, Free int64 // the allocator's totals at the end
}

// Err describes an unbalanced end, or returns nil.
func (r Result) Err() error {
	if !r.AllocatorFree {
		return errors.New("flvpub: host.Publisher.Close reported frames still held by readers")
	}
	if !r.Balanced {
		return fmt.Errorf("flvpub: allocator unbalanced at the end: malloc %d, free %d (%d bytes in use)",
			r.Malloc, r.Free, r.Malloc-r.Free)
	}
	return nil
}

// Publisher publishes one FLV clip into one host.Publisher.
type Publisher struct {
	pub   host.Publisher
	alloc *pool.Allocator
	clip  []byte
	opts  Options
	br    *bufreader.Reader
	r     *flv.Reader
	fp    *ingest.FLVPublisher
	rep   host.IngestReporter
	tag   flv.Tag

	perPass  int    // tags in one pass over the clip
	inPass   int    // tags read in the current pass
	loops    int    // completed passes
	span     uint32 // LoopSpan in ms
	offset   uint32 // added to every timestamp of the current pass
	tags     int64
	start    time.Time
	timer    *time.Timer
	closed   bool
	lastRead int64 // reader BytesRead of finished passes
	lastCopy int64 // and its BytesCopied
}

// New prepares a publisher of clip (a whole FLV file) into pub. It reads and
// checks the file header at once, so it must run on the goroutine that
// will call Step, Run and Close.
func New(pub host.Publisher, clip []byte, opts Options) (*Publisher, error) {
	perPass, span, err := scan(clip)
	if err != nil {
		return nil, err
	}
	size := opts.AllocatorSize
	if size <= 0 {
		size = 1 << 20
	}
	p := &Publisher{
		pub: pub, clip: clip, opts: opts, perPass: perPass, span: span,
		alloc: pool.NewAllocator(size),
	}
	p.rep, _ = pub.(host.IngestReporter)
	p.fp = ingest.NewFLVPublisher(pub, p.alloc)
	if err := p.open(); err != nil {
		p.br.Recycle()
		pool.Recycle(p.alloc)
		return nil, err
	}
	return p, nil
}

// open starts a pass: a reader over the whole clip, its header consumed.
func (p *Publisher) open() error {
	p.br = bufreader.New(bytes.NewReader(p.clip), bufreader.Options{Allocator: p.alloc, BlockSize: p.opts.BlockSize})
	p.r = flv.NewReader(p.br, flv.ReaderOptions{})
	_, err := p.r.ReadHeader()
	return err
}

// Scan walks the tag headers of clip and returns the number of tags and
// the loop span (see LoopSpan): the largest timestamp plus one video frame
// interval.
func Scan(clip []byte) (tags int, span uint32, err error) { return scan(clip) }

func scan(clip []byte) (tags int, span uint32, err error) {
	if len(clip) < flv.FileHeaderSize+flv.PreviousTagSizeSize || string(clip[:3]) != "FLV" {
		return 0, 0, errors.New("flvpub: not an FLV file")
	}
	off := int(binary.BigEndian.Uint32(clip[5:9])) + flv.PreviousTagSizeSize
	var maxTS, firstVideo, lastVideo uint32
	videos := 0
	for off+flv.TagHeaderSize <= len(clip) {
		h := clip[off:]
		size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		ts := uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]) | uint32(h[7])<<24
		end := off + flv.TagHeaderSize + size + flv.PreviousTagSizeSize
		if end > len(clip) {
			return 0, 0, fmt.Errorf("flvpub: tag %d at offset %d runs past the end of the file", tags, off)
		}
		maxTS = max(maxTS, ts)
		if h[0]&0x1f == flv.TagVideo {
			if videos == 0 {
				firstVideo = ts
			}
			lastVideo = ts
			videos++
		}
		tags++
		off = end
	}
	step := uint32(40)
	if videos > 1 && lastVideo > firstVideo {
		step = (lastVideo - firstVideo + uint32(videos-1)/2) / uint32(videos-1)
	}
	return tags, maxTS + step, nil
}

// LoopSpan is the timestamp distance between two passes (Options.Loop), in
// milliseconds: pass n publishes source timestamp t as t + n*LoopSpan.
func (p *Publisher) LoopSpan() uint32 { return p.span }

// TagsPerPass is the number of tags in the clip.
func (p *Publisher) TagsPerPass() int { return p.perPass }

// Allocator returns the publisher's allocator (for balance checks).
func (p *Publisher) Allocator() *pool.Allocator { return p.alloc }

// Step reads the next tag and hands it to the FLVPublisher. It returns the
// tag's header with the timestamp as published, or io.EOF after the last
// tag (never with Options.Loop). On repeated passes the control tags are
// read and freed without publishing; Step then returns the next media tag.
func (p *Publisher) Step() (flv.TagHeader, error) {
	if p.closed {
		return flv.TagHeader{}, errors.New("flvpub: Step after Close")
	}
	for {
		err := p.r.ReadTag(&p.tag)
		if errors.Is(err, io.EOF) && p.opts.Loop && p.inPass > 0 && (p.opts.Passes <= 0 || p.loops+1 < p.opts.Passes) {
			p.lastRead += p.br.Stats().BytesRead
			p.lastCopy += p.br.Stats().BytesCopied
			p.br.Recycle()
			p.loops++
			p.inPass = 0
			p.offset = uint32(p.loops) * p.span
			if err := p.open(); err != nil {
				return flv.TagHeader{}, err
			}
			continue
		}
		if err != nil {
			return flv.TagHeader{}, err
		}
		p.inPass++
		h := p.tag.TagHeader
		h.Timestamp += p.offset
		if p.loops > 0 && !isMedia(h.Type, &p.tag.Payload) {
			pool.FreeMemory(p.alloc, &p.tag.Payload)
			continue
		}
		p.tags++
		err = p.fp.WriteTag(h.Type, h.Timestamp, &p.tag.Payload)
		// WriteTag took the payload (moved into a frame or freed); free
		// whatever might be left so the allocator stays exact.
		pool.FreeMemory(p.alloc, &p.tag.Payload)
		p.report()
		return h, err
	}
}

// isMedia reports whether a tag body is an audio or video frame (not a
// script tag, a sequence header or an end of sequence).
func isMedia(tagType uint8, m *gomem.Memory) bool {
	switch tagType {
	case flv.TagVideo:
		v, err := flv.ParseVideo(m)
		return err == nil && v.PacketType == flv.PacketFrame
	case flv.TagAudio:
		a, err := flv.ParseAudio(m)
		return err == nil && a.PacketType == flv.AudioRaw
	}
	return false
}

func (p *Publisher) report() {
	if p.rep == nil {
		return
	}
	st := p.br.Stats()
	p.rep.ReportIngest(host.IngestStats{
		BytesRead:   p.lastRead + st.BytesRead,
		BytesCopied: p.lastCopy + st.BytesCopied,
		AllocMalloc: p.alloc.GetTotalMalloc(),
		AllocFree:   p.alloc.GetTotalFree(),
	})
}

// Run publishes tags until the clip ends (nil), ctx ends or the host ends
// the publish (context.Cause of either is returned), or a tag fails. It
// paces by timestamp when Options.Speed > 0.
func (p *Publisher) Run(ctx context.Context) error {
	pubCtx := p.pub.Context()
	for {
		if err := context.Cause(pubCtx); err != nil {
			return err
		}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		h, err := p.Step()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.pace(ctx, pubCtx, h.Timestamp); err != nil {
			return err
		}
	}
}

// pace waits until the wall clock catches up with timestamp ms.
func (p *Publisher) pace(ctx, pubCtx context.Context, ms uint32) error {
	if p.opts.Speed <= 0 {
		return nil
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	d := time.Until(p.start.Add(time.Duration(float64(ms) * float64(time.Millisecond) / p.opts.Speed)))
	if d <= 0 {
		return nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return context.Cause(ctx)
	case <-pubCtx.Done():
		p.timer.Stop()
		return context.Cause(pubCtx)
	}
}

// Close ends the publish with reason (nil: a normal unpublish), recycles
// the reader and, when the allocator is balanced, the allocator too. It
// reports what it found; Result.Err says whether anything leaked. Close is
// not idempotent: call it once.
func (p *Publisher) Close(reason error) Result {
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	pool.FreeMemory(p.alloc, &p.tag.Payload)
	res := Result{Tags: p.tags, Loops: p.loops, Ingest: p.fp.Stats()}
	res.AllocatorFree = p.pub.Close(reason)
	res.Reader = p.br.Stats()
	p.br.Recycle()
	res.Malloc, res.Free = p.alloc.GetTotalMalloc(), p.alloc.GetTotalFree()
	res.Balanced = pool.Balanced(p.alloc)
	p.report()
	if res.AllocatorFree && res.Balanced {
		pool.Recycle(p.alloc)
	}
	return res
}

// Publish is New, Run and Close(nil-or-the-run-error) in one call, on the
// calling goroutine. It returns the run's error (nil at the end of the
// clip) and the Result; check Result.Err for leaks.
func Publish(ctx context.Context, pub host.Publisher, clip []byte, opts Options) (Result, error) {
	p, err := New(pub, clip, opts)
	if err != nil {
		pub.Close(err)
		return Result{AllocatorFree: true, Balanced: true}, err
	}
	runErr := p.Run(ctx)
	return p.Close(runErr), runErr
}

// Tag is a source tag with its payload copied into ordinary memory, for
// comparisons in tests.
type Tag struct {
	Type      uint8
	Timestamp uint32
	Payload   []byte
	// Media: an audio or video frame (published as a host frame).
	// Config: a sequence header (published as a track configuration).
	// Keyframe: a video frame that is a keyframe.
	Media, Config, Keyframe bool
	Kind                    host.Kind // Video or Audio; 0 for script tags
}

// Forwarded reports whether a host forwards the tag to HTTP-FLV
// subscribers: sequence headers and frames of H.264/H.265 and AAC (script
// data and end-of-sequence tags are not forwarded).
func (t Tag) Forwarded() bool { return t.Media || t.Config }

// ReadTags reads every tag of clip through flv.Reader and copies it out.
func ReadTags(clip []byte) ([]Tag, error) {
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(bytes.NewReader(clip), bufreader.Options{Allocator: a})
	defer func() {
		br.Recycle()
		if pool.Balanced(a) {
			pool.Recycle(a)
		}
	}()
	r := flv.NewReader(br, flv.ReaderOptions{})
	if _, err := r.ReadHeader(); err != nil {
		return nil, err
	}
	var out []Tag
	var t flv.Tag
	for {
		err := r.ReadTag(&t)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		st := Tag{Type: t.Type, Timestamp: t.Timestamp, Payload: make([]byte, 0, t.Payload.Size)}
		for _, b := range t.Payload.Buffers {
			st.Payload = append(st.Payload, b...)
		}
		switch t.Type {
		case flv.TagVideo:
			st.Kind = host.Video
			if v, err := flv.ParseVideo(&t.Payload); err == nil && (v.Codec == codec.H264 || v.Codec == codec.H265) {
				st.Media = v.PacketType == flv.PacketFrame
				st.Config = v.PacketType == flv.PacketSequenceHeader
				st.Keyframe = st.Media && v.FrameType.IsKey()
			}
		case flv.TagAudio:
			st.Kind = host.Audio
			if a, err := flv.ParseAudio(&t.Payload); err == nil && a.Codec == codec.AAC {
				st.Media = a.PacketType == flv.AudioRaw
				st.Config = a.PacketType == flv.AudioSequenceHeader
			}
		}
		pool.FreeMemory(a, &t.Payload)
		out = append(out, st)
	}
}
