// Package rtph265 depacketizes and packetizes H.265 video carried over RTP
// (RFC 7798), without copying any payload byte. DONL (sprop-max-don-diff >
// 0) and PACI packets are not supported.
package rtph265

import (
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/limit"
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
		d.dts.SetDepth(s.ReorderDepth())
		return nil
	}
}

// WithReorderDepth fixes the reorder depth used for DTS, overriding any
// SPS (0 for streams known to have no B-frames).
func WithReorderDepth(n int) Option {
	return func(d *Depacketizer) error {
		d.dts.SetDepth(n)
		d.depthFixed = true
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
// Access units end at the marker bit or, for senders that omit it, when the
// timestamp changes (the previous unit is emitted first). A sequence gap, an
// FU without its start, an end without a start, or a start inside an
// unfinished FU drop the unit being built, discard the rest of the packets
// with that timestamp (the lost packets may have been its head) and resume
// at the next keyframe (an access unit with an IRAP picture, types 16-23);
// each broken unit
// is counted in Stats.Dropped, complete units skipped while waiting in
// Stats.Skipped. The stream also starts at its first keyframe.
//
// DTS is derived with rtp.DTSDeriver from the SPS's reorder depth (see
// codec.H265SPSInfo.ReorderDepth; DefaultReorderDepth when unknown).
type Depacketizer struct {
	alloc *pool.Allocator
	clock *rtp.Clock
	seq   rtp.Seq
	asm   *rtp.Assembler
	dts   rtp.DTSDeriver
	stats rtp.Stats

	has     bool   // an access unit with timestamp ts is open
	ts      uint32 // its RTP timestamp
	inFU    bool   // an FU NAL is open (its start seen, its end not)
	waitKey bool   // discard until a keyframe
	tainted bool   // discard every packet with timestamp taintTS
	taintTS uint32

	depthFixed bool   // WithReorderDepth: ignore SPSs
	sps        []byte // the last in-band SPS parsed (control copy)

	one    [1][]byte // Push's packet as Parts, without allocating
	pieces [][]byte  // scratch for Parts.Sub
}

var _ rtp.Depacketizer = (*Depacketizer)(nil)

// NewDepacketizer returns a depacketizer whose packets come from alloc
// (the connection's allocator) for a clockRate-Hz RTP clock (90000).
func NewDepacketizer(alloc *pool.Allocator, clockRate int, opts ...Option) (*Depacketizer, error) {
	if clockRate <= 0 {
		return nil, fmt.Errorf("rtph265: clock rate %d", clockRate)
	}
	d := &Depacketizer{alloc: alloc, clock: rtp.NewClock(clockRate), asm: rtp.NewAssembler(alloc), waitKey: true}
	d.dts.SetDepth(DefaultReorderDepth)
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Clock returns the track's clock, for anchoring it with sender reports.
func (d *Depacketizer) Clock() *rtp.Clock { return d.clock }

// Stats returns the counters.
func (d *Depacketizer) Stats() rtp.Stats {
	s := d.stats
	s.Lost = d.seq.Lost()
	return s
}

// Close frees the access unit being built. Owning goroutine only.
func (d *Depacketizer) Close() {
	d.asm.Drop()
	d.has, d.inFU = false, false
}

func (d *Depacketizer) free(p rtp.Parts, i, j int) {
	if j > i {
		d.stats.HeaderBytes += int64(j - i)
		p.Free(d.alloc, i, j)
	}
}

func (d *Depacketizer) reject(p rtp.Parts, err error) error {
	d.stats.Malformed++
	p.FreeAll(d.alloc)
	return fmt.Errorf("rtph265: %w", err)
}

// fail drops the unit being built and discards the rest of timestamp ts.
func (d *Depacketizer) fail(ts uint32) {
	if !d.asm.Empty() || d.inFU || (d.has && d.ts == ts) {
		d.stats.Dropped++
	}
	if !d.has || d.ts != ts {
		d.stats.Dropped++ // the unit of ts lost its head
	}
	d.asm.Drop()
	d.has, d.inFU = false, false
	d.tainted, d.taintTS = true, ts
	d.waitKey = true
}

// Push takes ownership of pkt (see rtp.Depacketizer).
func (d *Depacketizer) Push(pkt []byte, emit func(*rtp.AccessUnit) error) error {
	d.one[0] = pkt
	err := d.PushParts(d.one[:], emit)
	d.one[0] = nil
	return err
}

// PushParts takes ownership of a packet held in consecutive ranges (see
// rtp.Depacketizer): a NAL unit split across them is kept as one range
// per piece, and an FU's NAL header is rebuilt in whichever ranges hold
// PayloadHdr[1] and the FU header.
func (d *Depacketizer) PushParts(p rtp.Parts, emit func(*rtp.AccessUnit) error) error {
	d.stats.Packets++
	h, hdrLen, end, err := rtp.ParseParts(p)
	if err != nil {
		return d.reject(p, err)
	}
	if end == hdrLen {
		return d.reject(p, fmt.Errorf("empty payload: %w", rtp.ErrMalformed))
	}
	switch r, _ := d.seq.Update(h.SequenceNumber); r {
	case rtp.SeqLate, rtp.SeqDuplicate:
		d.stats.Late++
		p.FreeAll(d.alloc)
		return nil
	case rtp.SeqGap, rtp.SeqReset:
		d.fail(h.Timestamp)
	}
	if d.tainted {
		if h.Timestamp == d.taintTS {
			d.tainted = !h.Marker
			p.FreeAll(d.alloc)
			return nil
		}
		d.tainted = false
	}
	if d.has && h.Timestamp != d.ts {
		// the sender omitted the marker: the timestamp change ends the unit
		if err := d.flush(emit); err != nil {
			p.FreeAll(d.alloc)
			return err
		}
	}
	if !d.has {
		d.has, d.ts = true, h.Timestamp
		d.clock.Duration(h.Timestamp) // unwrap every unit, emitted or not
	}
	if end-hdrLen < 2 {
		d.fail(h.Timestamp)
		return d.reject(p, fmt.Errorf("payload of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
	}
	switch typ := p.At(hdrLen) >> 1 & 0x3f; {
	case typ < typeAP:
		if d.inFU {
			d.fail(h.Timestamp)
			p.FreeAll(d.alloc)
			return nil
		}
		if err := d.asm.Check(end-hdrLen, p.Pieces(hdrLen, end), 1); err != nil {
			d.fail(h.Timestamp)
			return d.reject(p, err)
		}
		d.free(p, 0, hdrLen)
		d.free(p, end, p.Len())
		d.pieces = p.Sub(d.pieces[:0], hdrLen, end)
		d.asm.AddUnitPieces(d.pieces)
	case typ == typeAP:
		if err := d.ap(p, hdrLen, end, h.Timestamp); err != nil {
			return err
		}
	case typ == typeFU:
		if err := d.fu(p, hdrLen, end, h.Timestamp); err != nil {
			return err
		}
	default: // PACI and the unspecified 51-63
		d.fail(h.Timestamp)
		return d.reject(p, fmt.Errorf("unsupported payload type %d: %w", typ, rtp.ErrMalformed))
	}
	clear(d.pieces)
	if h.Marker && d.has {
		if d.inFU { // the unit ended inside a NAL
			d.fail(h.Timestamp)
			d.tainted = false
			return nil
		}
		return d.flush(emit)
	}
	return nil
}

// ap takes the NAL units of an aggregation packet whose payload is
// [hdrLen, end).
func (d *Depacketizer) ap(p rtp.Parts, hdrLen, end int, ts uint32) error {
	if d.inFU {
		d.fail(ts)
		p.FreeAll(d.alloc)
		return nil
	}
	// validate the whole packet before taking anything from it
	n, size, ranges := 0, 0, 0
	for q := hdrLen + 2; q < end; {
		if q+2 > end {
			d.fail(ts)
			return d.reject(p, fmt.Errorf("AP size field cut short: %w", rtp.ErrMalformed))
		}
		l := int(p.Uint16(q))
		if l < 2 || q+2+l > end {
			d.fail(ts)
			return d.reject(p, fmt.Errorf("AP NAL of %d bytes with %d left: %w", l, end-q-2, rtp.ErrMalformed))
		}
		n++
		size += l
		ranges += p.Pieces(q+2, q+2+l)
		q += 2 + l
	}
	if n == 0 {
		d.fail(ts)
		return d.reject(p, fmt.Errorf("empty AP: %w", rtp.ErrMalformed))
	}
	if err := d.asm.Check(size, ranges, n); err != nil {
		d.fail(ts)
		return d.reject(p, err)
	}
	d.free(p, 0, hdrLen+2)
	d.free(p, end, p.Len())
	for q := hdrLen + 2; q < end; {
		l := int(p.Uint16(q))
		d.free(p, q, q+2)
		d.pieces = p.Sub(d.pieces[:0], q+2, q+2+l)
		d.asm.AddUnitPieces(d.pieces)
		q += 2 + l
	}
	return nil
}

// fu takes one FU fragment whose payload is [hdrLen, end).
func (d *Depacketizer) fu(p rtp.Parts, hdrLen, end int, ts uint32) error {
	if end-hdrLen < 4 {
		d.fail(ts)
		return d.reject(p, fmt.Errorf("FU of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
	}
	fu := p.At(hdrLen + 2)
	start, last := fu&0x80 != 0, fu&0x40 != 0
	switch {
	case start:
		if d.inFU { // the previous NAL never ended
			d.fail(ts)
			p.FreeAll(d.alloc)
			return nil
		}
		if err := d.asm.Check(end-hdrLen-1, p.Pieces(hdrLen+1, end), 1); err != nil {
			d.fail(ts)
			return d.reject(p, err)
		}
		// the 2-byte NAL header, rebuilt in place over PayloadHdr[1] and the FU header
		b0, b1 := p.At(hdrLen), p.At(hdrLen+1)
		p.Set(hdrLen+1, b0&0x81|(fu&0x3f)<<1)
		p.Set(hdrLen+2, b1)
		d.free(p, 0, hdrLen+1)
		d.free(p, end, p.Len())
		d.pieces = p.Sub(d.pieces[:0], hdrLen+1, end)
		d.asm.AddUnitPieces(d.pieces)
		d.inFU = !last
	case !d.inFU: // a fragment (or an end) without its start
		d.fail(ts)
		p.FreeAll(d.alloc)
	default:
		if err := d.asm.Check(end-hdrLen-3, p.Pieces(hdrLen+3, end), 0); err != nil {
			d.fail(ts)
			return d.reject(p, err)
		}
		d.free(p, 0, hdrLen+3)
		d.free(p, end, p.Len())
		d.pieces = p.Sub(d.pieces[:0], hdrLen+3, end)
		d.asm.ExtendUnitPieces(d.pieces)
		d.inFU = !last
	}
	return nil
}

// flush ends the open access unit: emits it, or drops it when broken or
// while waiting for a keyframe.
func (d *Depacketizer) flush(emit func(*rtp.AccessUnit) error) error {
	d.has = false
	if d.inFU {
		d.inFU = false
		d.asm.Drop()
		d.stats.Dropped++
		d.waitKey = true
		return nil
	}
	if d.asm.Empty() {
		return nil
	}
	au := d.asm.AccessUnit()
	key := false
	for _, u := range au.Units {
		switch t := codec.H265Type(codec.ByteAt(&au.Payload, u.Off)); {
		case t.IsIRAP():
			key = true
		case t == codec.H265SPS:
			d.learnSPS(&au.Payload, u)
		}
	}
	if d.waitKey && !key {
		d.asm.Drop()
		d.stats.Skipped++
		return nil
	}
	d.waitKey = false
	pts, dts, ok := d.dts.Next(d.clock.Peek(d.ts))
	if !ok {
		d.asm.Drop()
		d.stats.Dropped++
		return nil
	}
	au.PTS, au.DTS, au.Keyframe = pts, dts, key
	d.stats.AccessUnits++
	return d.asm.Emit(emit)
}

// learnSPS parses an in-band SPS that differs from the last one, for the
// reorder depth. The SPS is control data: it is copied (and counted) only
// when it changed.
func (d *Depacketizer) learnSPS(m *gomem.Memory, u codec.Span) {
	if d.depthFixed || limit.Check("MaxSPSSize", int64(u.Len), MaxSPSSize) != nil || spanEqual(m, u, d.sps) {
		return
	}
	d.sps = codec.AppendSpanBytes(d.sps[:0], m, u)
	d.stats.CopiedBytes += int64(u.Len)
	if s, err := codec.ParseH265SPS(d.sps); err == nil {
		d.dts.SetDepth(s.ReorderDepth())
	}
}
