// Package rtp parses RTP and RTCP packets (RFC 3550), converts RTP
// timestamps into durations and defines the contract between the RTSP
// session and the per-codec payload packages (rtph264, rtph265, rtpaac).
//
// # Memory
//
// Parse works in place: the payload it returns aliases the packet. The
// payload packages take ownership of each packet a session pushes (a range
// Malloc'd from, or taken by a bufreader of, the connection's allocator),
// keep the payload bytes as the ranges of the access units they build, and
// free every other byte (RTP headers, padding, FU and aggregation headers)
// with pool.Free at once. No payload byte is copied, not even when a
// packet arrives in two ranges (one read over TCP interleaved that
// straddles two reader blocks): see Parts and Depacketizer.PushParts.
package rtp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
)

// HeaderSize is the size of the RTP fixed header without CSRCs.
const HeaderSize = 12

// ErrMalformed marks a packet that breaks RTP or its payload format (or a
// limit in limits.go). Depacketizers free such a packet, count it and return
// an error wrapping ErrMalformed; a session reading UDP may log and go on,
// while any other error from Push (emit's) should end the session.
var ErrMalformed = errors.New("rtp: malformed packet")

// Header is a parsed RTP fixed header.
type Header struct {
	Marker         bool
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
}

// Parse parses one RTP packet in place. payload aliases pkt (padding, CSRCs
// and the header extension removed); hdrLen is the number of leading bytes
// before payload. Malformed input is an error, never a panic. Only version 2
// is accepted.
func Parse(pkt []byte) (h Header, payload []byte, hdrLen int, err error) {
	if len(pkt) < HeaderSize {
		return h, nil, 0, fmt.Errorf("rtp: packet of %d bytes is shorter than the %d-byte header: %w", len(pkt), HeaderSize, ErrMalformed)
	}
	if err := limit.Check("MaxPacketSize", int64(len(pkt)), MaxPacketSize); err != nil {
		return h, nil, 0, fmt.Errorf("rtp: %w: %w", ErrMalformed, err)
	}
	b0, b1 := pkt[0], pkt[1]
	if v := b0 >> 6; v != 2 {
		return h, nil, 0, fmt.Errorf("rtp: version %d, want 2: %w", v, ErrMalformed)
	}
	end := len(pkt)
	hdrLen = HeaderSize + 4*int(b0&0x0f)
	if hdrLen > end {
		return h, nil, 0, fmt.Errorf("rtp: %d CSRCs run past the end of a %d-byte packet: %w", b0&0x0f, end, ErrMalformed)
	}
	if b0&0x10 != 0 {
		if hdrLen+4 > end {
			return h, nil, 0, fmt.Errorf("rtp: header extension header runs past the end: %w", ErrMalformed)
		}
		ext := 4 + 4*int(binary.BigEndian.Uint16(pkt[hdrLen+2:]))
		if hdrLen+ext > end {
			return h, nil, 0, fmt.Errorf("rtp: header extension of %d bytes runs past the end: %w", ext, ErrMalformed)
		}
		hdrLen += ext
	}
	if b0&0x20 != 0 { // padding: the last byte counts the padding bytes, itself included
		n := int(pkt[end-1])
		if n == 0 || n > end-hdrLen {
			return h, nil, 0, fmt.Errorf("rtp: padding of %d bytes with %d bytes after the header: %w", n, end-hdrLen, ErrMalformed)
		}
		end -= n
	}
	h = Header{
		Marker:         b1&0x80 != 0,
		PayloadType:    b1 & 0x7f,
		SequenceNumber: binary.BigEndian.Uint16(pkt[2:]),
		Timestamp:      binary.BigEndian.Uint32(pkt[4:]),
		SSRC:           binary.BigEndian.Uint32(pkt[8:]),
	}
	return h, pkt[hdrLen:end:end], hdrLen, nil
}

// AppendHeader appends the 12-byte fixed header for h (version 2, no
// padding, extension or CSRCs) to dst.
func AppendHeader(dst []byte, h Header) []byte {
	b1 := h.PayloadType & 0x7f
	if h.Marker {
		b1 |= 0x80
	}
	dst = append(dst, 0x80, b1)
	dst = binary.BigEndian.AppendUint16(dst, h.SequenceNumber)
	dst = binary.BigEndian.AppendUint32(dst, h.Timestamp)
	return binary.BigEndian.AppendUint32(dst, h.SSRC)
}

// AccessUnit is one complete depacketized frame. Payload's ranges are owned
// by whoever receives it: the codec units back to back (no start codes, no
// length prefixes), exactly the host.FormatUnits layout.
type AccessUnit struct {
	Payload  gomem.Memory
	Units    []codec.Span
	PTS, DTS time.Duration // from the stream's first packet; DTS <= PTS, DTS monotonic
	Keyframe bool
}

// Depacketizer turns one track's RTP packets into access units on the
// connection's goroutine.
type Depacketizer interface {
	// Push takes ownership of pkt: one whole RTP packet, a range Malloc'd
	// from (or taken by a bufreader of) the allocator the depacketizer was
	// built with. Bytes it does not keep (RTP headers, padding, FU headers)
	// it frees with pool.Free at once. Each completed access unit is passed
	// to emit, which must move au.Payload out (e.g. host.MovePayload into a
	// frame) before returning; emit's error is returned. Ranges emit leaves
	// in au.Payload are freed when it returns.
	// Sequence gaps drop the broken access unit (counted) and resume at the
	// next keyframe. A malformed packet is freed, counted and reported as an
	// error wrapping ErrMalformed; the depacketizer stays usable.
	Push(pkt []byte, emit func(*AccessUnit) error) error
	// PushParts is Push for a packet held in several consecutive ranges
	// (one straddling two reader blocks): it takes ownership of every
	// range, never copies a payload byte, and keeps each payload piece as
	// its own range of the access unit. The slice p is only read during
	// the call.
	PushParts(p Parts, emit func(*AccessUnit) error) error
	// Stats: packets, access units, lost packets, dropped units, bytes freed
	// as headers.
	Stats() Stats
	// Close frees everything still held. Owning goroutine only.
	Close()
}

// Packetizer writes one track of host frames (FormatUnits, or FormatFLV
// whose Units are views into the FLV body) as RTP packets for RTSP PLAY:
// headers (RTP, FU-A/FU, AU-headers) are written into the packetizer's own
// reused scratch buffer; payload pieces are views of f.Payload, never
// copies. send gets the pieces of one packet, in order (writev-ready; for
// TCP interleaved the caller prepends its own 4-byte '$' header). Pieces are
// valid only during send.
type Packetizer interface {
	Packetize(f *host.Frame, send func(pieces [][]byte) error) error
}

// Stats counts what a depacketizer did.
type Stats struct {
	Packets     int64 // RTP packets pushed
	AccessUnits int64 // access units emitted
	Lost        int64 // packets missing by sequence number (net of late arrivals)
	Late        int64 // packets that arrived behind a later one, or twice (freed unused)
	Dropped     int64 // access units dropped because they were broken (loss, FU without start, limits, unorderable DTS)
	Skipped     int64 // complete access units discarded while waiting for a keyframe
	Malformed   int64 // packets rejected as malformed or of an unsupported payload structure
	HeaderBytes int64 // bytes freed at once as headers: RTP headers, padding, FU/STAP/AP/AU headers
	CopiedBytes int64 // control bytes copied (parameter sets parsed for the reorder depth); never payload
}
