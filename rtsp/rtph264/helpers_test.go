package rtph264

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// pk is one test packet before it is Malloc'd.
type pk struct {
	seq    uint16
	ts     uint32
	marker bool
	body   []byte
}

func (p pk) bytes() []byte {
	return append(rtp.AppendHeader(nil, rtp.Header{Marker: p.marker, PayloadType: 96, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 1}), p.body...)
}

// malloc copies b into a range Malloc'd from a, as a socket read would
// have put it there.
func malloc(a *pool.Allocator, b []byte) []byte {
	m := pool.Malloc(a, len(b))
	copy(m, b)
	return m
}

// gotAU is an emitted access unit, copied out for comparison.
type gotAU struct {
	units    [][]byte
	pts, dts int64
	key      bool
}

// collector returns an emit func that records units (copied) and checks
// the zero-copy property: every payload byte lies inside one of the
// packets pushed (ranges of live[]). It frees the payload as a frame would.
type collector struct {
	t    testing.TB
	a    *pool.Allocator
	live [][2]uintptr
	aus  []gotAU
}

func (c *collector) track(pkt []byte) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(pkt)))
	c.live = append(c.live, [2]uintptr{p, p + uintptr(len(pkt))})
}

func (c *collector) inside(b []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, r := range c.live {
		if p >= r[0] && p+uintptr(len(b)) <= r[1] {
			return true
		}
	}
	return false
}

func (c *collector) emit(au *rtp.AccessUnit) error {
	g := gotAU{pts: int64(au.PTS), dts: int64(au.DTS), key: au.Keyframe}
	for _, b := range au.Payload.Buffers {
		if !c.inside(b) {
			c.t.Errorf("payload range %p+%d is not inside a pushed packet", unsafe.SliceData(b), len(b))
		}
	}
	for _, u := range au.Units {
		g.units = append(g.units, codec.AppendSpanBytes(nil, &au.Payload, u))
	}
	c.aus = append(c.aus, g)
	pool.FreeMemory(c.a, &au.Payload)
	return nil
}

func (c *collector) push(d *Depacketizer, p []byte) error {
	m := malloc(c.a, p)
	c.track(m)
	return d.Push(m, c.emit)
}

// frame builds a FormatUnits frame whose units are spread over several
// buffers (each unit split in two where possible) to exercise spans that
// cross buffers.
func frame(pts int64, units ...[]byte) *host.Frame {
	f := &host.Frame{Kind: host.Video, Codec: codec.H264, Format: host.FormatUnits, PTS: timeDur(pts)}
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: f.Payload.Size, Len: len(u)})
		h := len(u) / 2
		for _, b := range [][]byte{u[:h], u[h:]} {
			if len(b) > 0 {
				f.Payload.Buffers = append(f.Payload.Buffers, b)
				f.Payload.Size += len(b)
			}
		}
	}
	return f
}

func equalUnits(a, b [][]byte) bool {
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

var _ = gomem.Memory{}
