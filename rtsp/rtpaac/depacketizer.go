// Package rtpaac depacketizes and packetizes AAC audio carried over RTP as
// mpeg4-generic (RFC 3640, AAC-hbr and AAC-lbr), without copying any
// payload byte.
package rtpaac

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// SamplesPerAU is the samples one AAC access unit codes (AAC-LC, HE-AAC
// core); it sets the timestamp step between the AUs of one packet.
const SamplesPerAU = 1024

// Option configures a Depacketizer.
type Option func(*Depacketizer) error

// WithAUHeader takes the SDP fmtp's sizelength, indexlength and
// indexdeltalength (the defaults are AAC-hbr's 13, 3, 3; AAC-lbr is 6, 2,
// 2). CTS/DTS deltas, RAP flags and auxiliary data are not supported (their
// fmtp lengths must be absent).
func WithAUHeader(sizeLength, indexLength, indexDeltaLength int) Option {
	return func(d *Depacketizer) error {
		if sizeLength < 1 || sizeLength > 16 || indexLength < 0 || indexLength > 8 || indexDeltaLength < 0 || indexDeltaLength > 8 {
			return fmt.Errorf("rtpaac: unsupported AU header lengths size %d index %d delta %d", sizeLength, indexLength, indexDeltaLength)
		}
		d.sizeLen, d.indexLen, d.deltaLen = sizeLength, indexLength, indexDeltaLength
		return nil
	}
}

// WithSamplesPerAU sets the samples per access unit when it is not 1024
// (AAC-LD/ELD use 512 or 480).
func WithSamplesPerAU(n int) Option {
	return func(d *Depacketizer) error {
		if n <= 0 || n > 8192 {
			return fmt.Errorf("rtpaac: %d samples per AU", n)
		}
		d.spa = n
		return nil
	}
}

// Depacketizer turns one AAC track's RTP packets into access units, one
// per AAC frame. It implements rtp.Depacketizer.
//
// Zero copy: the RTP header, the AU-headers-length field and the AU header
// section are freed at once; each AU is a sub-range of its packet. An AU
// fragmented over several packets (one AU header each, carrying the whole
// AU's size) is the consecutive ranges of its fragments. The i-th AU of a
// packet is stamped timestamp + i*SamplesPerAU. Every AU is a keyframe and
// DTS = PTS; an AU whose time is behind the previous one is dropped, so
// times never go backward. A sequence gap or a broken fragment chain drops
// only the AU being reassembled: AAC frames decode independently.
type Depacketizer struct {
	alloc *pool.Allocator
	clock *rtp.Clock
	seq   rtp.Seq
	asm   *rtp.Assembler
	stats rtp.Stats

	sizeLen, indexLen, deltaLen int
	spa                         int

	frag     bool   // an AU is being reassembled
	fragTS   uint32 // its timestamp
	fragSize int    // its announced size

	emitted bool
	prev    time.Duration
	sizes   [MaxAUsPerPacket]int // AU sizes of the packet being split (its header section is freed first)

	one    [1][]byte // Push's packet as Parts, without allocating
	pieces [][]byte  // scratch for Parts.Sub
	secBuf []byte    // an AU header section split across ranges, copied (control data)
}

var _ rtp.Depacketizer = (*Depacketizer)(nil)

// NewDepacketizer returns a depacketizer whose packets come from alloc for
// a clockRate-Hz RTP clock (the sample rate).
func NewDepacketizer(alloc *pool.Allocator, clockRate int, opts ...Option) (*Depacketizer, error) {
	if clockRate <= 0 {
		return nil, fmt.Errorf("rtpaac: clock rate %d", clockRate)
	}
	d := &Depacketizer{alloc: alloc, clock: rtp.NewClock(clockRate), asm: rtp.NewAssembler(alloc),
		sizeLen: 13, indexLen: 3, deltaLen: 3, spa: SamplesPerAU}
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

// Close frees the AU being reassembled. Owning goroutine only.
func (d *Depacketizer) Close() {
	d.asm.Drop()
	d.frag = false
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
	return fmt.Errorf("rtpaac: %w", err)
}

func (d *Depacketizer) dropFrag() {
	if d.frag {
		d.asm.Drop()
		d.frag = false
		d.stats.Dropped++
	}
}

// auHeaders walks the AU header section, calling fn with each AU's index
// and size.
func (d *Depacketizer) auHeaders(sec []byte, bits int, fn func(i, size int)) (n int, err error) {
	pos := 0
	read := func(w int) int {
		v := 0
		for range w {
			v = v<<1 | int(sec[pos>>3]>>(7-pos&7)&1)
			pos++
		}
		return v
	}
	for {
		idx := d.indexLen
		if n > 0 {
			idx = d.deltaLen
		}
		if pos+d.sizeLen+idx > bits {
			break
		}
		if n >= MaxAUsPerPacket {
			return n, &limit.LimitError{Name: "MaxAUsPerPacket", Limit: MaxAUsPerPacket, Got: int64(n + 1)}
		}
		size := read(d.sizeLen)
		if read(idx) != 0 {
			return n, fmt.Errorf("interleaved AUs (index %d) are not supported: %w", n, rtp.ErrMalformed)
		}
		fn(n, size)
		n++
	}
	if pos != bits {
		return n, fmt.Errorf("AU header section of %d bits has %d left over: %w", bits, bits-pos, rtp.ErrMalformed)
	}
	return n, nil
}

// Push takes ownership of pkt (see rtp.Depacketizer).
func (d *Depacketizer) Push(pkt []byte, emit func(*rtp.AccessUnit) error) error {
	d.one[0] = pkt
	err := d.PushParts(d.one[:], emit)
	d.one[0] = nil
	return err
}

// PushParts takes ownership of a packet held in consecutive ranges (see
// rtp.Depacketizer): an AU split across them is kept as one range per
// piece. An AU header section split across them is read from a copy in
// the depacketizer's scratch (control data, counted in CopiedBytes).
func (d *Depacketizer) PushParts(p rtp.Parts, emit func(*rtp.AccessUnit) error) error {
	d.stats.Packets++
	h, hdrLen, end, err := rtp.ParseParts(p)
	if err != nil {
		return d.reject(p, err)
	}
	switch r, _ := d.seq.Update(h.SequenceNumber); r {
	case rtp.SeqLate, rtp.SeqDuplicate:
		d.stats.Late++
		p.FreeAll(d.alloc)
		return nil
	case rtp.SeqGap, rtp.SeqReset:
		d.dropFrag()
	}
	base := d.clock.Duration(h.Timestamp) // every packet, so the first one is time 0
	if end-hdrLen < 2 {
		d.dropFrag()
		return d.reject(p, fmt.Errorf("payload of %d bytes: %w", end-hdrLen, rtp.ErrMalformed))
	}
	bits := int(p.Uint16(hdrLen))
	secLen := (bits + 7) / 8
	dataOff := hdrLen + 2 + secLen
	if dataOff > end {
		d.dropFrag()
		return d.reject(p, fmt.Errorf("AU header section of %d bits in %d bytes: %w", bits, end-hdrLen-2, rtp.ErrMalformed))
	}
	sec, copied := p.Bytes(d.secBuf, hdrLen+2, dataOff)
	if copied > 0 {
		d.secBuf = sec[:0]
		d.stats.CopiedBytes += int64(copied)
	}
	dataLen := end - dataOff
	total, first := 0, -1
	n, err := d.auHeaders(sec, bits, func(i, size int) {
		d.sizes[i] = size
		total += size
		if first < 0 {
			first = size
		}
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("no AU header: %w", rtp.ErrMalformed)
	}
	if err == nil && n > 1 && total > dataLen {
		err = fmt.Errorf("AUs of %d bytes with %d bytes of data: %w", total, dataLen, rtp.ErrMalformed)
	}
	if err != nil {
		d.dropFrag()
		return d.reject(p, err)
	}
	tail := dataOff + min(total, dataLen) // unused data and padding from here
	if d.frag && (n != 1 || h.Timestamp != d.fragTS || first != d.fragSize) {
		d.dropFrag() // the rest of that AU never came
	}
	if n == 1 && (d.frag || first > dataLen) { // a fragment
		if !d.frag {
			d.frag, d.fragTS, d.fragSize = true, h.Timestamp, first
		}
		if d.asm.Size()+dataLen > d.fragSize {
			d.dropFrag()
			return d.reject(p, fmt.Errorf("fragments exceed the AU size %d: %w", first, rtp.ErrMalformed))
		}
		if err := d.asm.Check(dataLen, p.Pieces(dataOff, end), 1); err != nil {
			d.dropFrag()
			return d.reject(p, err)
		}
		d.free(p, 0, dataOff)
		d.free(p, tail, p.Len())
		d.pieces = p.Sub(d.pieces[:0], dataOff, end)
		d.asm.ExtendUnitPieces(d.pieces)
		clear(d.pieces)
		if d.asm.Size() < d.fragSize {
			return nil
		}
		d.frag = false
		return d.emit(base, emit)
	}
	d.free(p, 0, dataOff)
	d.free(p, tail, p.Len())
	// sec may be freed (and poisoned under zcdebug): the sizes come from d.sizes
	off := dataOff
	for i, size := range d.sizes[:n] {
		if err != nil { // emit failed: free the rest
			p.Free(d.alloc, off, off+size)
		} else {
			d.pieces = p.Sub(d.pieces[:0], off, off+size)
			d.asm.AddUnitPieces(d.pieces)
			clear(d.pieces)
			pts := base
			if i > 0 {
				pts = d.clock.Peek(h.Timestamp + uint32(i*d.spa))
			}
			err = d.emit(pts, emit)
		}
		off += size
	}
	return err
}

func (d *Depacketizer) emit(pts time.Duration, emit func(*rtp.AccessUnit) error) error {
	if d.asm.Empty() { // a zero-size AU
		return nil
	}
	if d.emitted && pts < d.prev {
		d.asm.Drop()
		d.stats.Dropped++
		return nil
	}
	d.emitted, d.prev = true, pts
	au := d.asm.AccessUnit()
	au.PTS, au.DTS, au.Keyframe = pts, pts, true
	d.stats.AccessUnits++
	return d.asm.Emit(emit)
}
