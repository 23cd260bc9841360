package rtpaac

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// MinMTU is the smallest packet size a Packetizer accepts (smaller values
// are raised to it).
const MinMTU = 64

// maxAUSize is the largest AU a 13-bit AU-size field can announce.
const maxAUSize = 1<<13 - 1

// Packetizer writes AAC frames as mpeg4-generic RTP packets in the AAC-hbr
// mode (sizelength=13; indexlength=3; indexdeltalength=3): one AU per
// packet, behind a 4-byte AU header section written into the packetizer's
// scratch; an AU larger than the MTU is fragmented over packets that each
// repeat its AU header, the last one with the marker bit. It implements
// rtp.Packetizer.
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

// NewPacketizer returns a packetizer for one track; clockRate is the sample
// rate, mtu the largest RTP packet written (at least MinMTU).
func NewPacketizer(payloadType uint8, ssrc uint32, clockRate int, mtu int) *Packetizer {
	return &Packetizer{
		pt: payloadType, ssrc: ssrc, rate: max(clockRate, 1),
		mtu:    max(MinMTU, min(mtu, rtp.MaxPacketSize)),
		hdr:    make([]byte, 0, rtp.HeaderSize+4),
		pieces: make([][]byte, 0, 4),
	}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0.
func (p *Packetizer) SetInitial(seq uint16, ts uint32) { p.seq, p.tsBase = seq, ts }

// NextSequence returns the sequence number of the next packet.
func (p *Packetizer) NextSequence() uint16 { return p.seq }

// Timestamp returns the RTP timestamp of a presentation time.
func (p *Packetizer) Timestamp(pts time.Duration) uint32 {
	return p.tsBase + uint32(rtp.DurationToTicks(pts, p.rate))
}

// Packetize sends each of f's units (one raw AAC frame each, views of
// f.Payload) as one AU; the i-th unit is stamped PTS + i*1024 samples.
// send gets the header from the packetizer's scratch and views of
// f.Payload, valid only during the call.
func (p *Packetizer) Packetize(f *host.Frame, send func(pieces [][]byte) error) error {
	ts := p.Timestamp(f.PTS)
	for i, u := range f.Units {
		if u.Off < 0 || u.Len < 0 || u.End() > f.Payload.Size {
			return fmt.Errorf("rtpaac: unit %d [%d,+%d) outside a %d-byte payload", i, u.Off, u.Len, f.Payload.Size)
		}
		if u.Len > maxAUSize {
			return fmt.Errorf("rtpaac: AU of %d bytes exceeds the 13-bit AU-size", u.Len)
		}
		if u.Len == 0 {
			continue
		}
		room := p.mtu - rtp.HeaderSize - 4
		for off := u.Off; off < u.End(); {
			n := min(room, u.End()-off)
			h := rtp.Header{Marker: off+n == u.End(), PayloadType: p.pt, SequenceNumber: p.seq,
				Timestamp: ts + uint32(i*SamplesPerAU), SSRC: p.ssrc}
			p.seq++
			p.hdr = rtp.AppendHeader(p.hdr[:0], h)
			p.hdr = append(p.hdr, 0, 16, byte(u.Len>>5), byte(u.Len<<3))
			p.pieces = append(p.pieces[:0], p.hdr)
			p.pieces = codec.AppendSpan(p.pieces, &f.Payload, codec.Span{Off: off, Len: n})
			err := send(p.pieces)
			clear(p.pieces)
			if err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
