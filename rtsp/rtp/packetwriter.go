package rtp

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// PacketWriter is the codec-independent half of a Packetizer: payload
// type, SSRC, sequence numbers, RTP timestamps, the MTU, and the reused
// scratch the headers of one packet are written into. Payload packages
// hold one and write only their payload headers (FU, AU headers). Steady
// state allocates nothing. Used on one goroutine.
type PacketWriter struct {
	pt     uint8
	ssrc   uint32
	rate   int
	mtu    int
	seq    uint16
	tsBase uint32
	hdr    []byte
	pieces [][]byte
}

// NewPacketWriter returns a writer of packets of at most mtu bytes (header
// included; raised to minMTU, capped at MaxPacketSize) whose scratch holds
// an RTP header and extra payload header bytes.
func NewPacketWriter(payloadType uint8, ssrc uint32, clockRate, mtu, minMTU, extra int) PacketWriter {
	return PacketWriter{
		pt: payloadType, ssrc: ssrc, rate: max(clockRate, 1),
		mtu:    max(minMTU, min(mtu, MaxPacketSize)),
		hdr:    make([]byte, 0, HeaderSize+extra),
		pieces: make([][]byte, 0, 8),
	}
}

// SetInitial sets the next sequence number and the RTP timestamp of PTS 0
// (RTSP senders start both at random values and announce them in RTP-Info).
func (w *PacketWriter) SetInitial(seq uint16, ts uint32) { w.seq, w.tsBase = seq, ts }

// NextSequence returns the sequence number of the next packet.
func (w *PacketWriter) NextSequence() uint16 { return w.seq }

// Timestamp returns the RTP timestamp of a presentation time.
func (w *PacketWriter) Timestamp(pts time.Duration) uint32 {
	return w.tsBase + uint32(DurationToTicks(pts, w.rate))
}

// Room is the payload bytes a packet holds after the RTP header and
// extra payload header bytes.
func (w *PacketWriter) Room(extra int) int { return w.mtu - HeaderSize - extra }

// Begin starts the next packet's headers in the scratch: the RTP header
// (taking the next sequence number) followed by payload header bytes ph.
func (w *PacketWriter) Begin(ts uint32, marker bool, ph ...byte) {
	h := Header{Marker: marker, PayloadType: w.pt, SequenceNumber: w.seq, Timestamp: ts, SSRC: w.ssrc}
	w.seq++
	w.hdr = append(AppendHeader(w.hdr[:0], h), ph...)
}

// Send calls send with the headers Begin wrote followed by views of the
// span s of f.Payload; the pieces are valid only during send.
func (w *PacketWriter) Send(f *host.Frame, s codec.Span, send func([][]byte) error) error {
	w.pieces = append(w.pieces[:0], w.hdr)
	w.pieces = codec.AppendSpan(w.pieces, &f.Payload, s)
	err := send(w.pieces)
	clear(w.pieces)
	return err
}

// CheckUnits checks that f's units lie inside its payload and returns
// the index of the last non-empty one (-1 if none). name prefixes the
// error.
func CheckUnits(name string, f *host.Frame) (last int, err error) {
	last = -1
	for i, u := range f.Units {
		if u.Off < 0 || u.Len < 0 || u.End() > f.Payload.Size {
			return -1, fmt.Errorf("%s: unit %d [%d,+%d) outside a %d-byte payload", name, i, u.Off, u.Len, f.Payload.Size)
		}
		if u.Len > 0 {
			last = i
		}
	}
	return last, nil
}
