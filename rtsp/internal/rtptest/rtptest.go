// Package rtptest holds the test support shared by the RTP payload packages
// (rtph264, rtph265, rtpaac): test packets, an access-unit collector that
// checks the zero-copy property, and the table-driven split, fuzz,
// allocation and round-trip checks that every depacketizer must pass. It is
// imported by tests only.
package rtptest

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
	"unsafe"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// Pkt is one test packet before it is Malloc'd. Payload packages define
// their table type on it (type pk rtptest.Pkt) to write unkeyed literals.
type Pkt struct {
	Seq    uint16
	TS     uint32
	Marker bool
	Body   []byte
}

// Bytes returns the whole RTP packet (see Packet).
func (p Pkt) Bytes() []byte { return Packet(p.Seq, p.TS, p.Marker, p.Body) }

// Packets returns the bytes of each of pkts.
func Packets[P ~struct {
	Seq    uint16
	TS     uint32
	Marker bool
	Body   []byte
}](pkts []P) [][]byte {
	var b [][]byte
	for _, p := range pkts {
		b = append(b, Pkt(p).Bytes())
	}
	return b
}

// Packet returns a whole RTP packet (payload type 96, SSRC 1) with body
// as its payload.
func Packet(seq uint16, ts uint32, marker bool, body []byte) []byte {
	return append(rtp.AppendHeader(nil, rtp.Header{Marker: marker, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 1}), body...)
}

// Malloc copies b into a range Malloc'd from a, as a socket read would
// have put it there.
func Malloc(a *pool.Allocator, b []byte) []byte {
	m := pool.Malloc(a, len(b))
	copy(m, b)
	return m
}

// GotAU is an emitted access unit, copied out for comparison.
type GotAU struct {
	Units    [][]byte
	PTS, DTS int64
	Key      bool
}

// Collector records emitted units (copied) and checks the zero-copy
// property: every payload byte lies inside one of the packets pushed
// (ranges given to Track). Its Emit frees the payload as a frame would.
type Collector struct {
	T    testing.TB
	A    *pool.Allocator
	live [][2]uintptr
	AUs  []GotAU
}

// Track records pkt as a range payload bytes may lie in.
func (c *Collector) Track(pkt []byte) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(pkt)))
	c.live = append(c.live, [2]uintptr{p, p + uintptr(len(pkt))})
}

// Inside reports whether b lies inside one tracked range.
func (c *Collector) Inside(b []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, r := range c.live {
		if p >= r[0] && p+uintptr(len(b)) <= r[1] {
			return true
		}
	}
	return false
}

// Emit is a depacketizer's emit func: it checks and records au, then frees
// its payload.
func (c *Collector) Emit(au *rtp.AccessUnit) error {
	g := GotAU{PTS: int64(au.PTS), DTS: int64(au.DTS), Key: au.Keyframe}
	for _, b := range au.Payload.Buffers {
		if !c.Inside(b) {
			c.T.Errorf("payload range %p+%d is not inside a pushed packet", unsafe.SliceData(b), len(b))
		}
	}
	for _, u := range au.Units {
		g.Units = append(g.Units, codec.AppendSpanBytes(nil, &au.Payload, u))
	}
	c.AUs = append(c.AUs, g)
	pool.FreeMemory(c.A, &au.Payload)
	return nil
}

// Push Mallocs p, tracks it and pushes it into d.
func (c *Collector) Push(d rtp.Depacketizer, p []byte) error {
	m := Malloc(c.A, p)
	c.Track(m)
	return d.Push(m, c.Emit)
}

// Frame builds a FormatUnits frame whose units are spread over several
// buffers (each unit split at len/div where possible) to exercise spans
// that cross buffers.
func Frame(kind host.Kind, c codec.Codec, div int, pts int64, units ...[]byte) *host.Frame {
	f := &host.Frame{Kind: kind, Codec: c, Format: host.FormatUnits, PTS: time.Duration(pts)}
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: f.Payload.Size, Len: len(u)})
		h := len(u) / div
		for _, b := range [][]byte{u[:h], u[h:]} {
			if len(b) > 0 {
				f.Payload.Buffers = append(f.Payload.Buffers, b)
				f.Payload.Size += len(b)
			}
		}
	}
	return f
}

// EqualUnits reports whether a and b hold the same units.
func EqualUnits(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// EncodeRecords joins packets as [2-byte length][packet] records, the
// fuzz input format.
func EncodeRecords(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}
