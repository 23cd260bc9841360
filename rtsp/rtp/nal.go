package rtp

import (
	"bytes"
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// NALCodec is the codec-specific half of a NAL-unit video depacketizer
// (H.264, H.265): the payload structures (single NAL unit, aggregation,
// fragmentation) and the keyframe predicate. Everything else - sequence
// tracking, access-unit boundaries, loss handling, the keyframe wait, DTS
// and the counters - is NALDepacketizer's, so both codecs behave alike.
type NALCodec interface {
	// Payload takes the RTP payload [hdrLen, end) of p (end > hdrLen) into
	// the access unit b is building, with the AUBuilder methods. It owns p:
	// every byte is either added to the unit or freed before it returns.
	// ts is the packet's timestamp.
	Payload(b *AUBuilder, p Parts, hdrLen, end int, ts uint32) error
	// Scan reports whether the complete access unit au is a keyframe. It
	// may learn the reorder depth from an SPS in au (AUBuilder.LearnSPS)
	// but must not keep or change its payload.
	Scan(b *AUBuilder, au *AccessUnit) bool
}

// NALDepacketizer is a Depacketizer for codecs whose access units are NAL
// units, driven by a NALCodec. Payload packages embed it for Push,
// PushParts, Stats, Close, Clock and ReorderDepth.
//
// Access units end at the marker bit or, for senders that omit it, when the
// timestamp changes (the previous unit is emitted first). A sequence gap,
// a fragment without its start, an end without a start, or a start inside
// an unfinished fragmented NAL drop the unit being built, discard the rest
// of the packets with that timestamp (the lost packets may have been its
// head) and resume at the next keyframe; each broken unit is counted in
// Stats.Dropped, complete units skipped while waiting in Stats.Skipped. The
// stream also starts at its first keyframe. DTS comes from a DTSDeriver.
type NALDepacketizer struct {
	b AUBuilder
}

// AUBuilder is the state of a NALDepacketizer as its NALCodec sees it: the
// access unit being built and the operations that take a packet's NAL
// units into it (Single, Aggregate, Fragment) or reject the packet.
type AUBuilder struct {
	name  string // error prefix: the payload package
	codec NALCodec
	alloc *pool.Allocator
	clock *Clock
	seq   Seq
	asm   *Assembler
	dts   DTSDeriver
	stats Stats

	has     bool   // an access unit with timestamp ts is open
	ts      uint32 // its RTP timestamp
	inFrag  bool   // a fragmented NAL is open (its start seen, its end not)
	waitKey bool   // discard until a keyframe
	tainted bool   // discard every packet with timestamp taintTS
	taintTS uint32

	one    [1][]byte // Push's packet as Parts, without allocating
	pieces [][]byte  // scratch for Parts.Sub
	sps    []byte    // the last in-band SPS parsed (control copy)
}

var _ Depacketizer = (*NALDepacketizer)(nil)

// NewNALDepacketizer returns a depacketizer whose packets come from alloc
// (the connection's allocator) for a clockRate-Hz RTP clock, with DTS
// derived at reorder depth depth until c changes it. name prefixes its
// errors.
func NewNALDepacketizer(name string, alloc *pool.Allocator, clockRate, depth int, c NALCodec) (*NALDepacketizer, error) {
	if clockRate <= 0 {
		return nil, fmt.Errorf("%s: clock rate %d", name, clockRate)
	}
	d := &NALDepacketizer{b: AUBuilder{name: name, codec: c, alloc: alloc, clock: NewClock(clockRate), asm: NewAssembler(alloc), waitKey: true}}
	d.b.dts.SetDepth(depth)
	return d, nil
}

// Clock returns the track's clock, for anchoring it with sender reports.
func (d *NALDepacketizer) Clock() *Clock { return d.b.clock }

// ReorderDepth is the reorder depth DTS is currently derived with.
func (d *NALDepacketizer) ReorderDepth() int { return d.b.dts.Depth() }

// Stats returns the counters.
func (d *NALDepacketizer) Stats() Stats {
	s := d.b.stats
	s.Lost = d.b.seq.Lost()
	return s
}

// Close frees the access unit being built. Owning goroutine only.
func (d *NALDepacketizer) Close() {
	d.b.asm.Drop()
	d.b.has, d.b.inFrag = false, false
}

// Push takes ownership of pkt (see Depacketizer).
func (d *NALDepacketizer) Push(pkt []byte, emit func(*AccessUnit) error) error {
	b := &d.b
	b.one[0] = pkt
	err := d.PushParts(b.one[:], emit)
	b.one[0] = nil
	return err
}

// PushParts takes ownership of a packet held in consecutive ranges (see
// Depacketizer): a NAL unit split across them is kept as one range per
// piece, and a fragmented NAL's header is rebuilt in whichever ranges hold
// the fragmentation header.
func (d *NALDepacketizer) PushParts(p Parts, emit func(*AccessUnit) error) error {
	b := &d.b
	b.stats.Packets++
	h, hdrLen, end, err := ParseParts(p)
	if err != nil {
		return b.reject(p, err)
	}
	if end == hdrLen {
		return b.reject(p, fmt.Errorf("empty payload: %w", ErrMalformed))
	}
	switch r, _ := b.seq.Update(h.SequenceNumber); r {
	case SeqLate, SeqDuplicate:
		b.stats.Late++
		p.FreeAll(b.alloc)
		return nil
	case SeqGap, SeqReset:
		b.fail(h.Timestamp)
	}
	if b.tainted {
		if h.Timestamp == b.taintTS {
			b.tainted = !h.Marker
			p.FreeAll(b.alloc)
			return nil
		}
		b.tainted = false
	}
	if b.has && h.Timestamp != b.ts {
		// the sender omitted the marker: the timestamp change ends the unit
		if err := b.flush(emit); err != nil {
			p.FreeAll(b.alloc)
			return err
		}
	}
	if !b.has {
		b.has, b.ts = true, h.Timestamp
		b.clock.Duration(h.Timestamp) // unwrap every unit, emitted or not
	}
	if err := b.codec.Payload(b, p, hdrLen, end, h.Timestamp); err != nil {
		return err
	}
	clear(b.pieces)
	if h.Marker && b.has {
		if b.inFrag { // the unit ended inside a NAL
			b.fail(h.Timestamp)
			b.tainted = false
			return nil
		}
		return b.flush(emit)
	}
	return nil
}

// Single takes a packet whose payload [hdrLen, end) is one NAL unit.
func (b *AUBuilder) Single(p Parts, hdrLen, end int, ts uint32) error {
	if b.inFrag {
		b.failDiscard(p, ts)
		return nil
	}
	if err := b.asm.Check(end-hdrLen, p.Pieces(hdrLen, end), 1); err != nil {
		return b.FailReject(p, ts, err)
	}
	b.free(p, 0, hdrLen)
	b.free(p, end, p.Len())
	b.addUnit(p, hdrLen, end)
	return nil
}

// Aggregate takes the NAL units of an aggregation packet (STAP-A, AP):
// [first, end) of p is a run of 16-bit sizes, each followed by a NAL of
// at least minNAL bytes; what names the structure in errors. The whole
// packet is validated before anything is taken from it; the headers and
// size fields are freed.
func (b *AUBuilder) Aggregate(p Parts, first, end, minNAL int, ts uint32, what string) error {
	if b.inFrag {
		b.failDiscard(p, ts)
		return nil
	}
	n, size, ranges := 0, 0, 0
	for q := first; q < end; {
		if q+2 > end {
			return b.FailReject(p, ts, fmt.Errorf("%s size field cut short: %w", what, ErrMalformed))
		}
		l := int(p.Uint16(q))
		if l < minNAL || q+2+l > end {
			return b.FailReject(p, ts, fmt.Errorf("%s NAL of %d bytes with %d left: %w", what, l, end-q-2, ErrMalformed))
		}
		n++
		size += l
		ranges += p.Pieces(q+2, q+2+l)
		q += 2 + l
	}
	if n == 0 {
		return b.FailReject(p, ts, fmt.Errorf("empty %s: %w", what, ErrMalformed))
	}
	if err := b.asm.Check(size, ranges, n); err != nil {
		return b.FailReject(p, ts, err)
	}
	b.free(p, 0, first)
	b.free(p, end, p.Len())
	for q := first; q < end; {
		l := int(p.Uint16(q))
		b.free(p, q, q+2)
		b.addUnit(p, q+2, q+2+l)
		q += 2 + l
	}
	return nil
}

// Fragment takes one fragment of a fragmented NAL (FU-A, FU) whose bytes
// to keep are [first, end) of p; start and last are the FU header's S and
// E bits. A start is accepted only outside an open NAL, the rest only
// inside one; once a start is accepted, rebuild writes the NAL header in
// place at first (the packet is ours) so that the NAL is the kept ranges
// back to back. Everything before first is freed.
func (b *AUBuilder) Fragment(p Parts, first, end int, start, last bool, ts uint32, rebuild func(p Parts, first int)) error {
	units := 0
	switch {
	case start && b.inFrag: // the previous NAL never ended
		b.failDiscard(p, ts)
		return nil
	case start:
		units = 1
	case !b.inFrag: // a fragment (or an end) without its start
		b.failDiscard(p, ts)
		return nil
	}
	if err := b.asm.Check(end-first, p.Pieces(first, end), units); err != nil {
		return b.FailReject(p, ts, err)
	}
	if start {
		rebuild(p, first)
	}
	b.free(p, 0, first)
	b.free(p, end, p.Len())
	b.pieces = p.Sub(b.pieces[:0], first, end)
	if start {
		b.asm.AddUnitPieces(b.pieces)
	} else {
		b.asm.ExtendUnitPieces(b.pieces)
	}
	b.inFrag = !last
	return nil
}

// free frees [i, j) of p as header bytes (counted in Stats.HeaderBytes).
func (b *AUBuilder) free(p Parts, i, j int) {
	if j > i {
		b.stats.HeaderBytes += int64(j - i)
		p.Free(b.alloc, i, j)
	}
}

// addUnit takes [i, j) of p as a new codec unit (one range per piece of
// p). It must have passed the assembler's Check.
func (b *AUBuilder) addUnit(p Parts, i, j int) {
	b.pieces = p.Sub(b.pieces[:0], i, j)
	b.asm.AddUnitPieces(b.pieces)
}

// reject counts p as malformed, frees it and returns err with the
// package's prefix.
func (b *AUBuilder) reject(p Parts, err error) error {
	b.stats.Malformed++
	p.FreeAll(b.alloc)
	return fmt.Errorf("%s: %w", b.name, err)
}

// fail drops the unit being built and discards the rest of timestamp ts;
// the stream resumes at the next keyframe.
func (b *AUBuilder) fail(ts uint32) {
	if !b.asm.Empty() || b.inFrag || (b.has && b.ts == ts) {
		b.stats.Dropped++
	}
	if !b.has || b.ts != ts {
		b.stats.Dropped++ // the unit of ts lost its head
	}
	b.asm.Drop()
	b.has, b.inFrag = false, false
	b.tainted, b.taintTS = true, ts
	b.waitKey = true
}

// LearnSPS takes the reorder depth from the in-band SPS at span u of m
// when it differs from the last one: an SPS of at most maxSize bytes is
// copied (control data, counted in Stats.CopiedBytes) only when it
// changed, and parsed with depth. An SPS that does not parse leaves the
// depth as it was.
func (b *AUBuilder) LearnSPS(m *gomem.Memory, u codec.Span, maxSize int, depth func(sps []byte) (int, error)) {
	if limit.Check("MaxSPSSize", int64(u.Len), int64(maxSize)) != nil || spanEqual(m, u, b.sps) {
		return
	}
	b.sps = codec.AppendSpanBytes(b.sps[:0], m, u)
	b.stats.CopiedBytes += int64(u.Len)
	if n, err := depth(b.sps); err == nil {
		b.dts.SetDepth(n)
	}
}

// spanEqual reports whether span u of m holds exactly b, without copying.
func spanEqual(m *gomem.Memory, u codec.Span, b []byte) bool {
	if u.Len != len(b) {
		return false
	}
	eq := true
	codec.RangeSpan(m, u, func(p []byte) bool {
		eq = bytes.Equal(p, b[:len(p)])
		b = b[len(p):]
		return eq
	})
	return eq
}

// flush ends the open access unit: emits it, or drops it when broken or
// while waiting for a keyframe.
func (b *AUBuilder) flush(emit func(*AccessUnit) error) error {
	b.has = false
	if b.inFrag {
		b.inFrag = false
		b.asm.Drop()
		b.stats.Dropped++
		b.waitKey = true
		return nil
	}
	if b.asm.Empty() {
		return nil
	}
	au := b.asm.AccessUnit()
	key := b.codec.Scan(b, au)
	if b.waitKey && !key {
		b.asm.Drop()
		b.stats.Skipped++
		return nil
	}
	b.waitKey = false
	pts, dts, ok := b.dts.Next(b.clock.Peek(b.ts))
	if !ok {
		b.asm.Drop()
		b.stats.Dropped++
		return nil
	}
	au.PTS, au.DTS, au.Keyframe = pts, dts, key
	b.stats.AccessUnits++
	return b.asm.Emit(emit)
}

// FailReject rejects p as malformed (counted, freed, err returned with the
// package's prefix) and, since it broke the unit of timestamp ts, drops
// that unit: the stream resumes at the next keyframe.
func (b *AUBuilder) FailReject(p Parts, ts uint32, err error) error {
	b.fail(ts)
	return b.reject(p, err)
}

// failDiscard frees p unused and drops the unit of timestamp ts: a
// well-formed packet that cannot continue the unit (a fragment without its
// start, a start inside an open fragment) breaks it.
func (b *AUBuilder) failDiscard(p Parts, ts uint32) {
	b.fail(ts)
	p.FreeAll(b.alloc)
}
