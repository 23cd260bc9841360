package rtp

import (
	"encoding/binary"
	"fmt"

	"github.com/zcingest/zerocopy/limit"
)

// RTCP packet types (RFC 3550 section 12.1).
const (
	RTCPSenderReport   = 200
	RTCPReceiverReport = 201
	RTCPSourceDesc     = 202
	RTCPBye            = 203
	RTCPApp            = 204
)

// maxRTCPCount is the largest value of the 5-bit count field; it sizes the
// fixed arrays RTCPPacket reuses, so parsing never allocates.
const maxRTCPCount = 31

// SenderInfo is the sender section of a sender report.
type SenderInfo struct {
	NTPTime     uint64 // wall clock, NTP format
	RTPTime     uint32 // the RTP timestamp of the same instant
	PacketCount uint32
	OctetCount  uint32
}

// ReceptionReport is one report block of an SR or RR.
type ReceptionReport struct {
	SSRC           uint32
	FractionLost   uint8
	CumulativeLost int32 // 24-bit signed on the wire
	ExtendedMax    uint32
	Jitter         uint32
	LSR, DLSR      uint32
}

// SDESChunk is one chunk of a source description: the SSRC and its CNAME
// item (the only item a session needs; others are skipped).
type SDESChunk struct {
	SSRC  uint32
	CNAME []byte // aliases the parsed datagram; empty when absent
}

// RTCPPacket is one packet of a compound RTCP datagram. ParseRTCP reuses
// one value for every packet; its slices alias the datagram or the value's
// own arrays and stop being valid when the callback returns.
type RTCPPacket struct {
	Type    uint8
	SSRC    uint32            // SR/RR: the reporter's SSRC
	Sender  SenderInfo        // SR only
	Reports []ReceptionReport // SR and RR
	Chunks  []SDESChunk       // SDES
	SSRCs   []uint32          // BYE: the sources leaving
	Reason  []byte            // BYE: the optional reason
	Body    []byte            // every type: the packet after its 4-byte header, padding removed

	reports [maxRTCPCount]ReceptionReport
	chunks  [maxRTCPCount]SDESChunk
	ssrcs   [maxRTCPCount]uint32
}

// ParseRTCP parses a compound RTCP datagram and calls fn with each packet in
// order; fn's error stops the walk and is returned. Packets of types it
// does not know (APP, XR, feedback) are passed with Type and Body only.
// Every length is checked against the datagram; a malformed packet is an
// error wrapping ErrMalformed. p is reused and its slices alias b: they stop
// being valid when fn returns. ParseRTCP does not allocate.
func ParseRTCP(b []byte, p *RTCPPacket, fn func(p *RTCPPacket) error) error {
	if err := limit.Check("MaxPacketSize", int64(len(b)), MaxPacketSize); err != nil {
		return fmt.Errorf("rtcp: %w: %w", ErrMalformed, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("rtcp: empty datagram: %w", ErrMalformed)
	}
	for i := 0; len(b) > 0; i++ {
		if i >= MaxRTCPPackets {
			return fmt.Errorf("rtcp: %w: %w", ErrMalformed, &limit.LimitError{Name: "MaxRTCPPackets", Limit: MaxRTCPPackets, Got: int64(i + 1)})
		}
		if len(b) < 4 {
			return fmt.Errorf("rtcp: %d trailing bytes: %w", len(b), ErrMalformed)
		}
		if v := b[0] >> 6; v != 2 {
			return fmt.Errorf("rtcp: version %d: %w", v, ErrMalformed)
		}
		n := 4 + 4*int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b) {
			return fmt.Errorf("rtcp: packet of %d bytes in %d: %w", n, len(b), ErrMalformed)
		}
		pkt := b[:n]
		b = b[n:]
		body := pkt[4:]
		if pkt[0]&0x20 != 0 { // padding, only legal in the last packet
			if len(b) != 0 {
				return fmt.Errorf("rtcp: padding before the last packet: %w", ErrMalformed)
			}
			pad := int(pkt[n-1])
			if pad == 0 || pad > len(body) {
				return fmt.Errorf("rtcp: padding of %d bytes in %d: %w", pad, len(body), ErrMalformed)
			}
			body = body[:len(body)-pad]
		}
		if err := p.parse(pkt[1], int(pkt[0]&0x1f), body); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (p *RTCPPacket) parse(typ uint8, count int, body []byte) error {
	p.Type, p.SSRC, p.Sender, p.Body = typ, 0, SenderInfo{}, body
	p.Reports, p.Chunks, p.SSRCs, p.Reason = p.reports[:0], p.chunks[:0], p.ssrcs[:0], nil
	switch typ {
	case RTCPSenderReport, RTCPReceiverReport:
		need := 4 + 24*count
		if typ == RTCPSenderReport {
			need += 20
		}
		if len(body) < need {
			return fmt.Errorf("rtcp: type %d with %d reports needs %d bytes, has %d: %w", typ, count, need, len(body), ErrMalformed)
		}
		p.SSRC = binary.BigEndian.Uint32(body)
		body = body[4:]
		if typ == RTCPSenderReport {
			p.Sender = SenderInfo{
				NTPTime:     binary.BigEndian.Uint64(body),
				RTPTime:     binary.BigEndian.Uint32(body[8:]),
				PacketCount: binary.BigEndian.Uint32(body[12:]),
				OctetCount:  binary.BigEndian.Uint32(body[16:]),
			}
			body = body[20:]
		}
		for i := range count {
			r := body[24*i:]
			lost := int32(binary.BigEndian.Uint32(r[4:])<<8) >> 8 // sign-extend 24 bits
			p.Reports = append(p.Reports, ReceptionReport{
				SSRC:           binary.BigEndian.Uint32(r),
				FractionLost:   r[4],
				CumulativeLost: lost,
				ExtendedMax:    binary.BigEndian.Uint32(r[8:]),
				Jitter:         binary.BigEndian.Uint32(r[12:]),
				LSR:            binary.BigEndian.Uint32(r[16:]),
				DLSR:           binary.BigEndian.Uint32(r[20:]),
			})
		}
	case RTCPSourceDesc:
		for range count {
			if len(body) < 4 {
				return fmt.Errorf("rtcp: SDES chunk cut short: %w", ErrMalformed)
			}
			c := SDESChunk{SSRC: binary.BigEndian.Uint32(body)}
			body = body[4:]
			k := 0
			for { // items, ended by a zero type and padded to 32 bits
				if k >= len(body) {
					return fmt.Errorf("rtcp: SDES items run past the end: %w", ErrMalformed)
				}
				if body[k] == 0 {
					k = (4 + k + 1 + 3) &^ 3 // the chunk is 32-bit aligned from its SSRC
					k -= 4
					break
				}
				if k+2 > len(body) || k+2+int(body[k+1]) > len(body) {
					return fmt.Errorf("rtcp: SDES item runs past the end: %w", ErrMalformed)
				}
				if body[k] == 1 && c.CNAME == nil {
					c.CNAME = body[k+2 : k+2+int(body[k+1])]
				}
				k += 2 + int(body[k+1])
			}
			body = body[min(k, len(body)):] // tolerate a last chunk missing its padding
			p.Chunks = append(p.Chunks, c)
		}
	case RTCPBye:
		if len(body) < 4*count {
			return fmt.Errorf("rtcp: BYE with %d sources has %d bytes: %w", count, len(body), ErrMalformed)
		}
		for i := range count {
			p.SSRCs = append(p.SSRCs, binary.BigEndian.Uint32(body[4*i:]))
		}
		if rest := body[4*count:]; len(rest) > 0 {
			if n := int(rest[0]); 1+n <= len(rest) {
				p.Reason = rest[1 : 1+n]
			} else {
				return fmt.Errorf("rtcp: BYE reason runs past the end: %w", ErrMalformed)
			}
		}
	}
	return nil
}

// AppendSenderReport appends a sender report from ssrc with info and up to
// 31 report blocks (more are not written) to dst.
func AppendSenderReport(dst []byte, ssrc uint32, info SenderInfo, reports []ReceptionReport) []byte {
	reports = reports[:min(len(reports), maxRTCPCount)]
	dst = appendRTCPHeader(dst, RTCPSenderReport, len(reports), 6+6*len(reports))
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	dst = binary.BigEndian.AppendUint64(dst, info.NTPTime)
	dst = binary.BigEndian.AppendUint32(dst, info.RTPTime)
	dst = binary.BigEndian.AppendUint32(dst, info.PacketCount)
	dst = binary.BigEndian.AppendUint32(dst, info.OctetCount)
	return appendReports(dst, reports)
}

// AppendReceiverReport appends a receiver report from ssrc with up to 31
// report blocks (more are not written) to dst.
func AppendReceiverReport(dst []byte, ssrc uint32, reports []ReceptionReport) []byte {
	reports = reports[:min(len(reports), maxRTCPCount)]
	dst = appendRTCPHeader(dst, RTCPReceiverReport, len(reports), 1+6*len(reports))
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	return appendReports(dst, reports)
}

// AppendSourceDesc appends an SDES packet with one chunk carrying ssrc's
// CNAME (cut to 255 bytes), which RFC 3550 requires in every compound
// packet after the SR or RR.
func AppendSourceDesc(dst []byte, ssrc uint32, cname string) []byte {
	cname = cname[:min(len(cname), 255)]
	words := (4 + 2 + len(cname) + 1 + 3) / 4 // SSRC, item, a zero end byte, padded
	dst = appendRTCPHeader(dst, RTCPSourceDesc, 1, words)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, ssrc)
	dst = append(dst, 1, byte(len(cname)))
	dst = append(dst, cname...)
	for len(dst)-start < 4*words {
		dst = append(dst, 0)
	}
	return dst
}

func appendRTCPHeader(dst []byte, typ uint8, count, words int) []byte {
	dst = append(dst, 0x80|byte(count), typ)
	return binary.BigEndian.AppendUint16(dst, uint16(words))
}

func appendReports(dst []byte, reports []ReceptionReport) []byte {
	for _, r := range reports {
		dst = binary.BigEndian.AppendUint32(dst, r.SSRC)
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.FractionLost)<<24|uint32(r.CumulativeLost)&0xffffff)
		dst = binary.BigEndian.AppendUint32(dst, r.ExtendedMax)
		dst = binary.BigEndian.AppendUint32(dst, r.Jitter)
		dst = binary.BigEndian.AppendUint32(dst, r.LSR)
		dst = binary.BigEndian.AppendUint32(dst, r.DLSR)
	}
	return dst
}
