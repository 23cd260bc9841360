// Package ingest turns FLV tag bodies (RTMP audio/video message bodies and
// FLV file tags) into host frames and track configurations, moving the
// payload ranges into the frame instead of copying them.
package ingest

import (
	"fmt"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// MaxSequenceHeader caps a sequence header, which is copied (it is control
// data kept by the track); real ones are well under 1 KiB.
const MaxSequenceHeader = 64 << 10

// Stats count what a FLVPublisher did.
type Stats struct {
	VideoFrames, AudioFrames int64
	ConfigBytesCopied        int64 // sequence headers copied into contiguous form
	Ignored                  int64 // tags carrying nothing to publish (metadata, end of sequence, unsupported codecs)
}

// FLVPublisher publishes FLV-format tag bodies into a host.Publisher. It
// runs on the publishing goroutine, which owns alloc.
type FLVPublisher struct {
	pub   host.Publisher
	w     host.FrameWriter
	alloc *pool.Allocator

	lengthSize int // AVCC NAL length prefix width from the sequence header
	scratch    []byte
	clock      wrapClock
	stats      Stats
}

// NewFLVPublisher binds pub to alloc (the connection's allocator, which
// every payload passed to WriteTag must come from).
func NewFLVPublisher(pub host.Publisher, alloc *pool.Allocator) *FLVPublisher {
	return &FLVPublisher{pub: pub, w: pub.Writer(alloc), alloc: alloc, lengthSize: 4}
}

// Stats returns the publisher's counters.
func (p *FLVPublisher) Stats() Stats { return p.stats }

// WriteTag publishes one tag body with its 32-bit millisecond timestamp
// (wraps are unwrapped here). It takes ownership of payload's ranges: on
// return payload is empty (its Buffers capacity kept for reuse), its ranges
// now belonging to a published frame or already freed. An error means the
// peer sent something malformed; the caller should close the connection.
func (p *FLVPublisher) WriteTag(tagType uint8, timestampMs uint32, payload *gomem.Memory) error {
	ts := p.clock.unwrap(timestampMs)
	switch tagType {
	case flv.TagVideo:
		return p.video(ts, payload)
	case flv.TagAudio:
		return p.audio(ts, payload)
	}
	p.stats.Ignored++
	pool.FreeMemory(p.alloc, payload)
	return nil
}

func (p *FLVPublisher) video(ts time.Duration, payload *gomem.Memory) error {
	v, err := flv.ParseVideo(payload)
	if err != nil {
		pool.FreeMemory(p.alloc, payload)
		return fmt.Errorf("video tag: %w", err)
	}
	switch {
	case v.PacketType == flv.PacketSequenceHeader && (v.Codec == codec.H264 || v.Codec == codec.H265):
		defer pool.FreeMemory(p.alloc, payload)
		body, err := p.contiguous(payload)
		if err != nil {
			return fmt.Errorf("video sequence header: %w", err)
		}
		vc := host.VideoConfig{Codec: v.Codec, SequenceHeader: body}
		if v.Codec == codec.H264 {
			cfg, err := codec.ParseAVCConfig(body[v.DataOffset:])
			if err != nil {
				return fmt.Errorf("AVC sequence header: %w", err)
			}
			p.lengthSize = cfg.LengthSize
			vc.SPS, vc.PPS = cfg.SPS, cfg.PPS
		} else {
			cfg, err := codec.ParseHEVCConfig(body[v.DataOffset:])
			if err != nil {
				return fmt.Errorf("HEVC sequence header: %w", err)
			}
			p.lengthSize = cfg.LengthSize
			vc.VPS, vc.SPS, vc.PPS = cfg.VPS, cfg.SPS, cfg.PPS
		}
		// The host copies the configuration; body and the parsed sets alias
		// our scratch buffer.
		return p.pub.SetVideoConfig(vc)
	case v.PacketType == flv.PacketFrame && (v.Codec == codec.H264 || v.Codec == codec.H265):
		f := p.w.Frame()
		host.MovePayload(f, payload)
		f.Codec, f.Format = v.Codec, host.FormatFLV
		f.DTS = ts
		f.PTS = ts + time.Duration(v.CTS)*time.Millisecond
		f.Keyframe = v.FrameType.IsKey()
		units, err := codec.SplitAVCC(&f.Payload, v.DataOffset, p.lengthSize, f.Units[:0])
		f.Units = units
		if err != nil {
			p.w.Drop()
			return fmt.Errorf("video frame at %v: %w", ts, err)
		}
		p.stats.VideoFrames++
		return p.w.NextVideo()
	}
	p.stats.Ignored++
	pool.FreeMemory(p.alloc, payload)
	return nil
}

func (p *FLVPublisher) audio(ts time.Duration, payload *gomem.Memory) error {
	a, err := flv.ParseAudio(payload)
	if err != nil {
		pool.FreeMemory(p.alloc, payload)
		return fmt.Errorf("audio tag: %w", err)
	}
	if a.Codec != codec.AAC {
		p.stats.Ignored++
		pool.FreeMemory(p.alloc, payload)
		return nil
	}
	switch a.PacketType {
	case flv.AudioSequenceHeader:
		defer pool.FreeMemory(p.alloc, payload)
		body, err := p.contiguous(payload)
		if err != nil {
			return fmt.Errorf("audio sequence header: %w", err)
		}
		asc := body[a.DataOffset:]
		cfg, err := codec.ParseAudioSpecificConfig(asc)
		if err != nil {
			return fmt.Errorf("AAC sequence header: %w", err)
		}
		return p.pub.SetAudioConfig(host.AudioConfig{Codec: codec.AAC, ASC: asc, SampleRate: cfg.SampleRate, Channels: cfg.Channels(), SequenceHeader: body})
	case flv.AudioRaw:
		f := p.w.Frame()
		host.MovePayload(f, payload)
		f.Codec, f.Format = codec.AAC, host.FormatFLV
		f.DTS, f.PTS = ts, ts
		f.Keyframe = true
		f.Units = append(f.Units[:0], codec.Span{Off: a.DataOffset, Len: f.Payload.Size - a.DataOffset})
		p.stats.AudioFrames++
		return p.w.NextAudio()
	}
	p.stats.Ignored++
	pool.FreeMemory(p.alloc, payload)
	return nil
}

// contiguous copies a small control payload into the reusable scratch.
func (p *FLVPublisher) contiguous(m *gomem.Memory) ([]byte, error) {
	if err := limit.Check("MaxSequenceHeader", int64(m.Size), MaxSequenceHeader); err != nil {
		return nil, err
	}
	p.scratch = p.scratch[:0]
	for _, b := range m.Buffers {
		p.scratch = append(p.scratch, b...)
	}
	p.stats.ConfigBytesCopied += int64(m.Size)
	return p.scratch, nil
}

// wrapClock turns 32-bit millisecond timestamps into a monotonic-ish
// 64-bit duration, following wraps at 2^32 ms (about 49.7 days) and
// tolerating small backward steps (B-frames' DTS never goes back, but
// audio/video interleaving can).
type wrapClock struct {
	last  uint32
	epoch int64
	begun bool
}

func (c *wrapClock) unwrap(ts uint32) time.Duration {
	if c.begun {
		// A jump "backwards" by more than half the range is a wrap forward.
		if ts < c.last && c.last-ts > 1<<31 {
			c.epoch += 1 << 32
		} else if ts > c.last && ts-c.last > 1<<31 && c.epoch > 0 {
			// A late timestamp from before the wrap.
			return time.Duration(c.epoch-(1<<32)+int64(ts)) * time.Millisecond
		}
	}
	c.last, c.begun = ts, true
	return time.Duration(c.epoch+int64(ts)) * time.Millisecond
}
