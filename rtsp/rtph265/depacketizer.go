// Package rtph265 depacketizes and packetizes H.265 video carried over RTP
// (RFC 7798), without copying any payload byte. DONL (sprop-max-don-diff >
// 0) and PACI packets are not supported.
package rtph265

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// Payload structure types (RFC 7798 section 4.4).
const (
	typeAP   = 48
	typeFU   = 49
	typePACI = 50
)

// DefaultReorderDepth is the reorder depth assumed for DTS when no SPS has
// been seen (none in the SDP, none before the first keyframe) and no
// WithReorderDepth was given: x265's depth with its default B-frames. A
// stream without B-frames then only gets DTS a little behind PTS.
const DefaultReorderDepth = 2

// Option configures a Depacketizer.
type Option func(*Depacketizer) error

// WithSPS gives the SPS from the SDP (sprop-sps), so the reorder
// depth is known before the first keyframe. An in-band SPS still updates it.
func WithSPS(sps []byte) Option {
	return func(d *Depacketizer) error {
		s, err := codec.ParseH265SPS(sps)
		if err != nil {
			return fmt.Errorf("rtph265: sprop SPS: %w", err)
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

// WithMaxDONDiff takes the SDP's sprop-max-don-diff. Only 0 (no DONL
// fields, decoding order = transmission order) is supported; a larger
// value is an error, since every packet would carry a DONL field this
// depacketizer would misread as payload.
func WithMaxDONDiff(n int) Option {
	return func(d *Depacketizer) error {
		if n != 0 {
			return fmt.Errorf("rtph265: sprop-max-don-diff %d: DONL is not supported", n)
		}
		return nil
	}
}

// Depacketizer turns one H.265 track's RTP packets into access units. It
// implements rtp.Depacketizer.
//
// Zero copy: a single NAL unit packet is kept as the range after the RTP
// header; each NAL of an aggregation packet (AP) is kept as its own range
// (the PayloadHdr and size fields are freed). An FU packet is
// PayloadHdr(2) FUHeader(1) fragment; the NAL header it stands for is 2
// bytes: byte 0 is PayloadHdr[0] with the type bits replaced by the FU
// header's type, byte 1 equals PayloadHdr[1] (layer id and TID). The first
// FU packet is ours, so the header is rebuilt in place in the 2 bytes just
// before the fragment: PayloadHdr[1] gets byte 0 and the FU header byte
// gets byte 1 (a copy of the old PayloadHdr[1]). The NAL is then the
// consecutive ranges [header+fragment 1][fragment 2]...; PayloadHdr[0] and
// the RTP header of the first packet, and the RTP header and all 3 FU bytes
// of the others, are freed.
//
// Access-unit boundaries, loss handling and the keyframe wait are
// rtp.NALDepacketizer's; a keyframe is an access unit with an IRAP picture, types 16-23.
//
// DTS is derived with rtp.DTSDeriver from the SPS's reorder depth (see
// codec.H265SPSInfo.ReorderDepth; DefaultReorderDepth when unknown).
type Depacketizer struct {
	*core
	c nalCodec
}

// core is rtp.NALDepacketizer under an unexported field name, so that
// embedding it adds only its Depacketizer methods to the API.
type core = rtp.NALDepacketizer

// nalCodec is the H.265-specific half of the depacketizer (rtp.NALCodec).
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
	nd, err := rtp.NewNALDepacketizer("rtph265", alloc, clockRate, d.c.depth, &d.c)
	if err != nil {
		return nil, err
	}
	d.core = nd
	return d, nil
}

// Payload takes one packet's payload [hdrLen, end) (rtp.NALCodec).
func (c *nalCodec) Payload(b *rtp.AUBuilder, p rtp.Parts, hdrLen, end int, ts uint32) error {
	if end-hdrLen < 2 {
		return b.FailReject(p, ts, fmt.Errorf("payload of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
	}
	switch typ := p.At(hdrLen) >> 1 & 0x3f; {
	case typ < typeAP:
		return b.Single(p, hdrLen, end, ts)
	case typ == typeAP:
		return b.Aggregate(p, hdrLen+2, end, 2, ts, "AP")
	case typ == typeFU:
		if end-hdrLen < 4 {
			return b.FailReject(p, ts, fmt.Errorf("FU of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
		}
		fu := p.At(hdrLen + 2)
		if fu&0x80 != 0 {
			return b.Fragment(p, hdrLen+1, end, true, fu&0x40 != 0, ts, rebuildFU)
		}
		return b.Fragment(p, hdrLen+3, end, false, fu&0x40 != 0, ts, nil)
	default: // PACI and the unspecified 51-63
		return b.FailReject(p, ts, fmt.Errorf("unsupported payload type %d: %w", typ, rtp.ErrMalformed))
	}
}

// rebuildFU writes the 2-byte NAL header of a first FU fragment in place
// over PayloadHdr[1] and the FU header (at first and first+1): byte 0 is
// PayloadHdr[0] with the FU header's type, byte 1 the old PayloadHdr[1].
func rebuildFU(p rtp.Parts, first int) {
	b0, b1, fu := p.At(first-1), p.At(first), p.At(first+1)
	p.Set(first, b0&0x81|(fu&0x3f)<<1)
	p.Set(first+1, b1)
}

// Scan reports whether au is a keyframe, and learns the reorder depth
// from an in-band SPS unless it was fixed (rtp.NALCodec).
func (c *nalCodec) Scan(b *rtp.AUBuilder, au *rtp.AccessUnit) bool {
	key := false
	for _, u := range au.Units {
		switch t := codec.H265Type(codec.ByteAt(&au.Payload, u.Off)); {
		case t.IsIRAP():
			key = true
		case t == codec.H265SPS:
			if !c.depthFixed {
				b.LearnSPS(&au.Payload, u, MaxSPSSize, reorderDepth)
			}
		}
	}
	return key
}

// reorderDepth parses an SPS for its reorder depth (for AUBuilder.LearnSPS).
func reorderDepth(sps []byte) (int, error) {
	s, err := codec.ParseH265SPS(sps)
	if err != nil {
		return 0, err
	}
	return s.ReorderDepth(), nil
}
