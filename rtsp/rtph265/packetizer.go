package rtph265

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// MinMTU is the smallest packet size a Packetizer accepts (smaller values
// are raised to it): an RTP header, the 3 FU bytes and a useful fragment.
const MinMTU = 64

// Packetizer writes H.265 frames as RTP packets: a NAL unit that fits the
// MTU goes out as a single NAL unit packet, a larger one as FU fragments
// (without DONL). It implements rtp.Packetizer. Headers are written
// into the packetizer's scratch; payload pieces are views of the frame's
// payload. Sequence numbers continue across frames. A Packetizer is used on
// one goroutine.
type Packetizer struct {
	w rtp.PacketWriter
}

var _ rtp.Packetizer = (*Packetizer)(nil)

// NewPacketizer returns a packetizer for one track. mtu is the largest RTP
// packet (header included) it writes, at least MinMTU.
func NewPacketizer(payloadType uint8, ssrc uint32, clockRate int, mtu int) *Packetizer {
	return &Packetizer{w: rtp.NewPacketWriter(payloadType, ssrc, clockRate, mtu, MinMTU, 3)}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0.
func (p *Packetizer) SetInitial(seq uint16, ts uint32) { p.w.SetInitial(seq, ts) }

// NextSequence returns the sequence number of the next packet.
func (p *Packetizer) NextSequence() uint16 { return p.w.NextSequence() }

// Timestamp returns the RTP timestamp of a presentation time.
func (p *Packetizer) Timestamp(pts time.Duration) uint32 { return p.w.Timestamp(pts) }

// Packetize sends f's NAL units (f.Units, views of f.Payload) as packets,
// calling send once per packet with its pieces: the header from the
// packetizer's scratch, then views of f.Payload. The pieces are valid only
// during send. The last packet of the frame carries the marker bit.
func (p *Packetizer) Packetize(f *host.Frame, send func(pieces [][]byte) error) error {
	ts := p.w.Timestamp(f.PTS)
	last, err := rtp.CheckUnits("rtph265", f)
	if err != nil {
		return err
	}
	for i, u := range f.Units {
		if u.Len == 0 {
			continue
		}
		marker := i == last
		if u.Len <= p.w.Room(0) {
			p.w.Begin(ts, marker)
			if err := p.w.Send(f, u, send); err != nil {
				return err
			}
			continue
		}
		if u.Len < 3 {
			return fmt.Errorf("rtph265: unit %d of %d bytes cannot be fragmented", i, u.Len)
		}
		h0, h1 := codec.ByteAt(&f.Payload, u.Off), codec.ByteAt(&f.Payload, u.Off+1)
		ph0, typ := h0&0x81|typeFU<<1, h0>>1&0x3f
		frag := p.w.Room(3)
		for off, end, first := u.Off+2, u.End(), true; off < end; first = false {
			n := min(frag, end-off)
			fu := typ
			if first {
				fu |= 0x80
			}
			if off+n == end {
				fu |= 0x40
			}
			p.w.Begin(ts, marker && off+n == end, ph0, h1, fu)
			if err := p.w.Send(f, codec.Span{Off: off, Len: n}, send); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
