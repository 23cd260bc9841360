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
	w rtp.PacketWriter
}

var _ rtp.Packetizer = (*Packetizer)(nil)

// NewPacketizer returns a packetizer for one track; clockRate is the sample
// rate, mtu the largest RTP packet written (at least MinMTU).
func NewPacketizer(payloadType uint8, ssrc uint32, clockRate int, mtu int) *Packetizer {
	return &Packetizer{w: rtp.NewPacketWriter(payloadType, ssrc, clockRate, mtu, MinMTU, 4)}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0.
func (p *Packetizer) SetInitial(seq uint16, ts uint32) { p.w.SetInitial(seq, ts) }

// NextSequence returns the sequence number of the next packet.
func (p *Packetizer) NextSequence() uint16 { return p.w.NextSequence() }

// Timestamp returns the RTP timestamp of a presentation time.
func (p *Packetizer) Timestamp(pts time.Duration) uint32 { return p.w.Timestamp(pts) }

// Packetize sends each of f's units (one raw AAC frame each, views of
// f.Payload) as one AU; the i-th unit is stamped PTS + i*1024 samples.
// send gets the header from the packetizer's scratch and views of
// f.Payload, valid only during the call.
func (p *Packetizer) Packetize(f *host.Frame, send func(pieces [][]byte) error) error {
	ts := p.w.Timestamp(f.PTS)
	if _, err := rtp.CheckUnits("rtpaac", f); err != nil {
		return err
	}
	for i, u := range f.Units {
		if u.Len > maxAUSize {
			return fmt.Errorf("rtpaac: AU of %d bytes exceeds the 13-bit AU-size", u.Len)
		}
		if u.Len == 0 {
			continue
		}
		room := p.w.Room(4)
		for off := u.Off; off < u.End(); {
			n := min(room, u.End()-off)
			p.w.Begin(ts+uint32(i*SamplesPerAU), off+n == u.End(), 0, 16, byte(u.Len>>5), byte(u.Len<<3))
			if err := p.w.Send(f, codec.Span{Off: off, Len: n}, send); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
