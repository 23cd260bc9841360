// Package rtph264 depacketizes and packetizes H.264 video carried over RTP
// (RFC 6184), without copying any payload byte.
package rtph264

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// NAL unit types of the RTP payload structures (RFC 6184 section 5.2).
const (
	typeSTAPA  = 24
	typeSTAPB  = 25
	typeMTAP16 = 26
	typeMTAP24 = 27
	typeFUA    = 28
	typeFUB    = 29
)

// DefaultReorderDepth is the reorder depth assumed for DTS when no SPS has
// been seen (none in the SDP, none before the first keyframe) and no
// WithReorderDepth was given: libx264's depth with B-pyramids. A stream
// without B-frames then only gets DTS a little behind PTS.
const DefaultReorderDepth = 2

// Option configures a Depacketizer.
type Option func(*Depacketizer) error

// WithSPS gives the SPS from the SDP (sprop-parameter-sets), so the reorder
// depth is known before the first keyframe. An in-band SPS still updates it.
func WithSPS(sps []byte) Option {
	return func(d *Depacketizer) error {
		s, err := codec.ParseH264SPS(sps)
		if err != nil {
			return fmt.Errorf("rtph264: sprop SPS: %w", err)
		}
		d.c.depth = s.ReorderDepth()
		return nil
	}
}

// WithReorderDepth fixes the reorder depth used for DTS, overriding any
// SPS (0 for streams known to have no B-frames).
func WithReorderDepth(n int) Option {
	return func(d *Depacketizer) error {
		d.c.depth = n
		d.c.depthFixed = true
		return nil
	}
}

// WithPacketizationMode takes the SDP's packetization-mode: 0 (single NAL
// units) and 1 (non-interleaved: STAP-A, FU-A) are supported; mode 1's
// structures are accepted in mode 0 as well. Mode 2 (interleaved) is not.
func WithPacketizationMode(m int) Option {
	return func(d *Depacketizer) error {
		if m != 0 && m != 1 {
			return fmt.Errorf("rtph264: packetization-mode %d is not supported", m)
		}
		return nil
	}
}

// Depacketizer turns one H.264 track's RTP packets into access units. It
// implements rtp.Depacketizer.
//
// Zero copy: a single NAL unit packet is kept as the range after the RTP
// header; each NAL of a STAP-A is kept as its own range (the STAP header
// and size fields are freed); an FU-A NAL is rebuilt in place: its NAL
// header byte is written over the first fragment's FU header byte (the
// packet is ours), so the NAL is the consecutive ranges [header+fragment 1]
// [fragment 2]...; the RTP header and FU indicator of the first packet, and
// the RTP header, FU indicator and FU header of the others, are freed.
//
// Access-unit boundaries, loss handling and the keyframe wait are
// rtp.NALDepacketizer's; a keyframe is an access unit with an IDR slice.
//
// DTS is derived with rtp.DTSDeriver from the SPS's reorder depth (see
// codec.H264SPSInfo.ReorderDepth; DefaultReorderDepth when unknown).
type Depacketizer struct {
	*core
	c nalCodec
}

// core is rtp.NALDepacketizer under an unexported field name, so that
// embedding it adds only its Depacketizer methods to the API.
type core = rtp.NALDepacketizer

// nalCodec is the H.264-specific half of the depacketizer (rtp.NALCodec).
type nalCodec struct {
	depth      int  // the reorder depth the options ask for
	depthFixed bool // WithReorderDepth: ignore SPSs
}

var _ rtp.Depacketizer = (*Depacketizer)(nil)

// NewDepacketizer returns a depacketizer whose packets come from alloc
// (the connection's allocator) for a clockRate-Hz RTP clock (90000).
func NewDepacketizer(alloc *pool.Allocator, clockRate int, opts ...Option) (*Depacketizer, error) {
	d := &Depacketizer{c: nalCodec{depth: DefaultReorderDepth}}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	nd, err := rtp.NewNALDepacketizer("rtph264", alloc, clockRate, d.c.depth, &d.c)
	if err != nil {
		return nil, err
	}
	d.core = nd
	return d, nil
}

// Payload takes one packet's payload [hdrLen, end) (rtp.NALCodec).
func (c *nalCodec) Payload(b *rtp.AUBuilder, p rtp.Parts, hdrLen, end int, ts uint32) error {
	switch typ := p.At(hdrLen) & 0x1f; {
	case typ >= 1 && typ <= 23:
		return b.Single(p, hdrLen, end, ts)
	case typ == typeSTAPA:
		return b.Aggregate(p, hdrLen+1, end, 1, ts, "STAP-A")
	case typ == typeFUA:
		if end-hdrLen < 3 {
			return b.FailReject(p, ts, fmt.Errorf("FU-A of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
		}
		fu := p.At(hdrLen + 1)
		if fu&0x80 != 0 {
			return b.Fragment(p, hdrLen+1, end, true, fu&0x40 != 0, ts, rebuildFUA)
		}
		return b.Fragment(p, hdrLen+2, end, false, fu&0x40 != 0, ts, nil)
	default: // 0, 30, 31 reserved; STAP-B, MTAP16, MTAP24 and FU-B belong to the interleaved mode
		return b.FailReject(p, ts, fmt.Errorf("unsupported NAL unit type %d: %w", typ, rtp.ErrMalformed))
	}
}

// rebuildFUA writes the NAL header over the FU header of a first FU-A
// fragment (at first, behind the FU indicator): the indicator's F and NRI
// bits with the FU header's type.
func rebuildFUA(p rtp.Parts, first int) {
	p.Set(first, p.At(first-1)&0xe0|p.At(first)&0x1f)
}

// Scan reports whether au is a keyframe, and learns the reorder depth
// from an in-band SPS unless it was fixed (rtp.NALCodec).
func (c *nalCodec) Scan(b *rtp.AUBuilder, au *rtp.AccessUnit) bool {
	key := false
	for _, u := range au.Units {
		switch codec.H264Type(codec.ByteAt(&au.Payload, u.Off)) {
		case codec.H264IDR:
			key = true
		case codec.H264SPS:
			if !c.depthFixed {
				b.LearnSPS(&au.Payload, u, MaxSPSSize, reorderDepth)
			}
		}
	}
	return key
}

// reorderDepth parses an SPS for its reorder depth (for AUBuilder.LearnSPS).
func reorderDepth(sps []byte) (int, error) {
	s, err := codec.ParseH264SPS(sps)
	if err != nil {
		return 0, err
	}
	return s.ReorderDepth(), nil
}
