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

// maxStampSlip is how far (in samples) a frame's PTS may sit from the end
// of the previous frame and still be stamped on the sample grid. Container
// clocks round AAC frame times (FLV to the millisecond: 23 or 24 ms for
// 1024 samples at 44.1 kHz, 1014 or 1058 ticks), which is well under half
// an AU; a larger step is a real gap or overlap (lost frames, a splice, a
// looped file) and the timestamp follows the PTS again.
const maxStampSlip = SamplesPerAU / 2

// Packetizer writes AAC frames as mpeg4-generic RTP packets in the AAC-hbr
// mode (sizelength=13; indexlength=3; indexdeltalength=3): one AU per
// packet, behind a 4-byte AU header section written into the packetizer's
// scratch; an AU larger than the MTU is fragmented over packets that each
// repeat its AU header, the last one with the marker bit. It implements
// rtp.Packetizer.
//
// Timestamps run on the sample clock: a frame that continues the previous
// one (its PTS within maxStampSlip samples of where the previous frame
// ended) is stamped exactly SamplesPerAU per AU after it, whatever the
// rounding of its PTS. RFC 3640 receivers count AUs from timestamp steps:
// GStreamer's rtpmp4gdepay takes the first step as the AU duration, and
// with steps of 1014 and 1015 ticks (FLV's 23 ms) it sees AU indexes stand
// still and falls back to its broken-stream path.
type Packetizer struct {
	w    rtp.PacketWriter
	rate int
	// next is the timestamp the AU after the last one sent starts at; slip
	// is the last packet's timestamp minus its frame's PTS, in ticks.
	next    uint32
	slip    int64
	started bool
}

var _ rtp.Packetizer = (*Packetizer)(nil)

// NewPacketizer returns a packetizer for one track; clockRate is the sample
// rate, mtu the largest RTP packet written (at least MinMTU).
func NewPacketizer(payloadType uint8, ssrc uint32, clockRate int, mtu int) *Packetizer {
	return &Packetizer{w: rtp.NewPacketWriter(payloadType, ssrc, clockRate, mtu, MinMTU, 4), rate: max(clockRate, 1)}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0.
func (p *Packetizer) SetInitial(seq uint16, ts uint32) { p.w.SetInitial(seq, ts) }

// NextSequence returns the sequence number of the next packet.
func (p *Packetizer) NextSequence() uint16 { return p.w.NextSequence() }

// Timestamp returns the RTP timestamp a frame of presentation time pts
// gets when it is the next one packetized: on the sample grid after the
// previous frame when it continues it, else pts on the track clock.
func (p *Packetizer) Timestamp(pts time.Duration) uint32 {
	ts := p.w.Timestamp(pts)
	if d := int32(ts - p.next); p.started && d >= -maxStampSlip && d <= maxStampSlip {
		return p.next
	}
	return ts
}

// Slip returns how far the last packet's timestamp lies from the PTS of
// the frame it belongs to (the grid's rounding, plus i AUs for a frame's
// i-th unit): a sender report pairs that timestamp with PTS + Slip.
func (p *Packetizer) Slip() time.Duration { return rtp.TicksToDuration(p.slip, p.rate) }

// Packetize sends each of f's units (one raw AAC frame each, views of
// f.Payload) as one AU; the i-th unit is stamped Timestamp(f.PTS) + i*1024
// samples. send gets the header from the packetizer's scratch and views of
// f.Payload, valid only during the call.
func (p *Packetizer) Packetize(f *host.Frame, send func(pieces [][]byte) error) error {
	ts := p.Timestamp(f.PTS)
	if _, err := rtp.CheckUnits("rtpaac", f); err != nil {
		return err
	}
	for _, u := range f.Units {
		if u.Len > maxAUSize {
			return fmt.Errorf("rtpaac: AU of %d bytes exceeds the 13-bit AU-size", u.Len)
		}
	}
	p.started, p.next = true, ts+uint32(len(f.Units)*SamplesPerAU)
	raw := p.w.Timestamp(f.PTS)
	for i, u := range f.Units {
		if u.Len == 0 {
			continue
		}
		at := ts + uint32(i*SamplesPerAU)
		p.slip = int64(int32(at - raw))
		room := p.w.Room(4)
		for off := u.Off; off < u.End(); {
			n := min(room, u.End()-off)
			p.w.Begin(at, off+n == u.End(), 0, 16, byte(u.Len>>5), byte(u.Len<<3))
			if err := p.w.Send(f, codec.Span{Off: off, Len: n}, send); err != nil {
				return err
			}
			off += n
		}
	}
	return nil
}
