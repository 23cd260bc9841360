package rtph264

import (
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// MinMTU is the smallest packet size a Packetizer accepts (smaller values
// are raised to it): an RTP header, an FU indicator and header, and a
// useful fragment.
const MinMTU = 64

// Packetizer writes H.264 frames as RTP packets (packetization-mode 1): a
// NAL unit that fits the MTU goes out as a single NAL unit packet, a larger
// one as FU-A fragments. It implements rtp.Packetizer. Headers are written
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
	return &Packetizer{w: rtp.NewPacketWriter(payloadType, ssrc, clockRate, mtu, MinMTU, 2)}
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
	last, err := rtp.CheckUnits("rtph264", f)
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
		nal := codec.ByteAt(&f.Payload, u.Off)
		ind, typ := nal&0xe0|typeFUA, nal&0x1f
		frag := p.w.Room(2)
		for off, end, first := u.Off+1, u.End(), true; off < end; first = false {
			n := min(frag, end-off)
			fu := typ
			if first {
				fu |= 0x80
			}
			if off+n == end {
				fu |= 0x40
			}
			p.w.Begin(ts, marker && off+n == end, ind, fu)
			if err := p.w.Send(f, codec.Span{Off: off, Len: n}, send); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
