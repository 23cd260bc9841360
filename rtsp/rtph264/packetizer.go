package rtph264

import (
	"fmt"
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
	pt     uint8
	ssrc   uint32
	rate   int
	mtu    int
	seq    uint16
	tsBase uint32
	hdr    []byte
	pieces [][]byte
}

var _ rtp.Packetizer = (*Packetizer)(nil)

// NewPacketizer returns a packetizer for one track. mtu is the largest RTP
// packet (header included) it writes, at least MinMTU.
func NewPacketizer(payloadType uint8, ssrc uint32, clockRate int, mtu int) *Packetizer {
	return &Packetizer{
		pt: payloadType, ssrc: ssrc, rate: max(clockRate, 1),
		mtu:    max(MinMTU, min(mtu, rtp.MaxPacketSize)),
		hdr:    make([]byte, 0, rtp.HeaderSize+2),
		pieces: make([][]byte, 0, 8),
	}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0
// (RTSP senders start both at random values and announce them in RTP-Info).
func (p *Packetizer) SetInitial(seq uint16, ts uint32) { p.seq, p.tsBase = seq, ts }

// NextSequence returns the sequence number of the next packet.
func (p *Packetizer) NextSequence() uint16 { return p.seq }

// Timestamp returns the RTP timestamp of a presentation time.
func (p *Packetizer) Timestamp(pts time.Duration) uint32 {
	return p.tsBase + uint32(rtp.DurationToTicks(pts, p.rate))
}

// Packetize sends f's NAL units (f.Units, views of f.Payload) as packets,
// calling send once per packet with its pieces: the header from the
// packetizer's scratch, then views of f.Payload. The pieces are valid only
// during send. The last packet of the frame carries the marker bit.
func (p *Packetizer) Packetize(f *host.Frame, send func(pieces [][]byte) error) error {
	ts := p.Timestamp(f.PTS)
	last := -1
	for i, u := range f.Units {
		if u.Off < 0 || u.Len < 0 || u.End() > f.Payload.Size {
			return fmt.Errorf("rtph264: unit %d [%d,+%d) outside a %d-byte payload", i, u.Off, u.Len, f.Payload.Size)
		}
		if u.Len > 0 {
			last = i
		}
	}
	for i, u := range f.Units {
		if u.Len == 0 {
			continue
		}
		marker := i == last
		if u.Len <= p.mtu-rtp.HeaderSize {
			p.hdr = rtp.AppendHeader(p.hdr[:0], p.header(ts, marker))
			if err := p.send(f, u, send); err != nil {
				return err
			}
			continue
		}
		nal := codec.ByteAt(&f.Payload, u.Off)
		ind, typ := nal&0xe0|typeFUA, nal&0x1f
		frag := p.mtu - rtp.HeaderSize - 2
		for off, end, first := u.Off+1, u.End(), true; off < end; first = false {
			n := min(frag, end-off)
			fu := typ
			if first {
				fu |= 0x80
			}
			if off+n == end {
				fu |= 0x40
			}
			p.hdr = rtp.AppendHeader(p.hdr[:0], p.header(ts, marker && off+n == end))
			p.hdr = append(p.hdr, ind, fu)
			if err := p.send(f, codec.Span{Off: off, Len: n}, send); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}

func (p *Packetizer) header(ts uint32, marker bool) rtp.Header {
	h := rtp.Header{Marker: marker, PayloadType: p.pt, SequenceNumber: p.seq, Timestamp: ts, SSRC: p.ssrc}
	p.seq++
	return h
}

func (p *Packetizer) send(f *host.Frame, s codec.Span, send func([][]byte) error) error {
	p.pieces = append(p.pieces[:0], p.hdr)
	p.pieces = codec.AppendSpan(p.pieces, &f.Payload, s)
	err := send(p.pieces)
	clear(p.pieces)
	return err
}
