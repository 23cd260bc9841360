package rtp

import (
	"encoding/binary"
	"fmt"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// Parts is one RTP packet held as the consecutive ranges it arrived in: a
// packet read over TCP interleaved may straddle two of the reader's
// blocks, and is taken as is rather than copied into one range. Each range
// is owned (Malloc'd from, or taken by a bufreader of, one allocator); the
// slice itself is the caller's and is only read during a call. A packet in
// one range is Parts{pkt}.
//
// Offsets are logical: byte i of the packet is in whichever range holds
// it. The methods read and free by offset, so a depacketizer never needs
// the packet contiguous: header fields are read byte by byte, payload
// pieces are appended as sub-ranges, and everything else is freed.
type Parts [][]byte

// Len is the packet's size.
func (p Parts) Len() int {
	n := 0
	for _, b := range p {
		n += len(b)
	}
	return n
}

// At returns byte i (0 <= i < Len()).
func (p Parts) At(i int) byte {
	for _, b := range p {
		if i < len(b) {
			return b[i]
		}
		i -= len(b)
	}
	panic("rtp: Parts.At past the end")
}

// Set writes byte i in place (the packet is owned: used to rebuild an
// FU's NAL header where its FU header was).
func (p Parts) Set(i int, v byte) {
	for _, b := range p {
		if i < len(b) {
			b[i] = v
			return
		}
		i -= len(b)
	}
	panic("rtp: Parts.Set past the end")
}

// Uint16 returns the big-endian 16-bit value at i.
func (p Parts) Uint16(i int) uint16 { return uint16(p.At(i))<<8 | uint16(p.At(i+1)) }

// Uint32 returns the big-endian 32-bit value at i.
func (p Parts) Uint32(i int) uint32 { return uint32(p.Uint16(i))<<16 | uint32(p.Uint16(i+2)) }

// Sub appends to dst the non-empty pieces of bytes [i, j), views of the
// packet's ranges, and returns it (one piece per range they touch).
func (p Parts) Sub(dst [][]byte, i, j int) [][]byte {
	for _, b := range p {
		if j <= 0 {
			break
		}
		lo, hi := max(i, 0), min(j, len(b))
		if lo < hi {
			dst = append(dst, b[lo:hi:hi])
		}
		i -= len(b)
		j -= len(b)
	}
	return dst
}

// Pieces is how many ranges bytes [i, j) touch.
func (p Parts) Pieces(i, j int) int {
	n := 0
	for _, b := range p {
		if j <= 0 {
			break
		}
		if max(i, 0) < min(j, len(b)) {
			n++
		}
		i -= len(b)
		j -= len(b)
	}
	return n
}

// Free frees bytes [i, j) with pool.Free, piece by piece.
func (p Parts) Free(alloc *pool.Allocator, i, j int) {
	for _, b := range p {
		if j <= 0 {
			return
		}
		lo, hi := max(i, 0), min(j, len(b))
		if lo < hi {
			pool.Free(alloc, b[lo:hi])
		}
		i -= len(b)
		j -= len(b)
	}
}

// FreeAll frees the whole packet.
func (p Parts) FreeAll(alloc *pool.Allocator) {
	for _, b := range p {
		if len(b) > 0 {
			pool.Free(alloc, b)
		}
	}
}

// Bytes returns bytes [i, j) contiguous: a view when one range holds them
// (valid while the packet is), else a copy appended to scratch[:0]
// (control data only: callers count it). copied is the bytes copied.
func (p Parts) Bytes(scratch []byte, i, j int) (b []byte, copied int) {
	for _, r := range p {
		if i >= len(r) {
			i -= len(r)
			j -= len(r)
			continue
		}
		if j <= len(r) {
			return r[i:j:j], 0
		}
		break
	}
	scratch = scratch[:0]
	for _, piece := range p.Sub(nil, i, j) {
		scratch = append(scratch, piece...)
	}
	return scratch, len(scratch)
}

// ParseParts is Parse over a packet in ranges: it returns the header and
// the payload's logical bounds [hdrLen, end) (padding, CSRCs and the
// header extension excluded). Nothing is copied.
func ParseParts(p Parts) (h Header, hdrLen, end int, err error) {
	if len(p) == 1 {
		h, payload, hdrLen, err := Parse(p[0])
		return h, hdrLen, hdrLen + len(payload), err
	}
	end = p.Len()
	if end < HeaderSize {
		return h, 0, 0, fmt.Errorf("rtp: packet of %d bytes is shorter than the %d-byte header: %w", end, HeaderSize, ErrMalformed)
	}
	if err := limit.Check("MaxPacketSize", int64(end), MaxPacketSize); err != nil {
		return h, 0, 0, fmt.Errorf("rtp: %w: %w", ErrMalformed, err)
	}
	var fixed [HeaderSize]byte
	for i := range fixed {
		fixed[i] = p.At(i)
	}
	b0 := fixed[0]
	if v := b0 >> 6; v != 2 {
		return h, 0, 0, fmt.Errorf("rtp: version %d, want 2: %w", v, ErrMalformed)
	}
	hdrLen = HeaderSize + 4*int(b0&0x0f)
	if hdrLen > end {
		return h, 0, 0, fmt.Errorf("rtp: %d CSRCs run past the end of a %d-byte packet: %w", b0&0x0f, end, ErrMalformed)
	}
	if b0&0x10 != 0 {
		if hdrLen+4 > end {
			return h, 0, 0, fmt.Errorf("rtp: header extension header runs past the end: %w", ErrMalformed)
		}
		ext := 4 + 4*int(p.Uint16(hdrLen+2))
		if hdrLen+ext > end {
			return h, 0, 0, fmt.Errorf("rtp: header extension of %d bytes runs past the end: %w", ext, ErrMalformed)
		}
		hdrLen += ext
	}
	if b0&0x20 != 0 {
		n := int(p.At(end - 1))
		if n == 0 || n > end-hdrLen {
			return h, 0, 0, fmt.Errorf("rtp: padding of %d bytes with %d bytes after the header: %w", n, end-hdrLen, ErrMalformed)
		}
		end -= n
	}
	h = Header{
		Marker:         fixed[1]&0x80 != 0,
		PayloadType:    fixed[1] & 0x7f,
		SequenceNumber: binary.BigEndian.Uint16(fixed[2:]),
		Timestamp:      binary.BigEndian.Uint32(fixed[4:]),
		SSRC:           binary.BigEndian.Uint32(fixed[8:]),
	}
	return h, hdrLen, end, nil
}
