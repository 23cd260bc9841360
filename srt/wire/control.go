package wire

import "encoding/binary"

// Sizes of the ACK CIF variants.
const (
	ACKLightSize = 4  // light ACK: last acknowledged sequence only
	ACKSmallSize = 16 // small ACK (libsrt, rarely sent): up to the available buffer
	ACKFullSize  = 28 // full ACK
)

// ACK is an ACK packet's control information field. The ACK number (echoed
// by the ACKACK) is the control header's TypeSpecific.
type ACK struct {
	LastACKSeq   uint32 // first sequence number not yet received (all before it are)
	RTT          uint32 // microseconds
	RTTVar       uint32 // microseconds
	AvailBuf     uint32 // available receive buffer, packets
	PktRecvRate  uint32 // packets per second
	LinkCapacity uint32 // estimated, packets per second
	RecvRate     uint32 // bytes per second
	// Size is how many bytes of the above were (or are to be) on the
	// wire: ACKLightSize, ACKSmallSize or ACKFullSize as libsrt sends, or
	// any multiple of 4 up to ACKFullSize from ParseACK. Fields beyond
	// it read as 0.
	Size int
}

// ParseACK parses an ACK CIF. Any length from 4 bytes is accepted: libsrt
// sends 4, 16 or 28 bytes (24 from UDT-era peers), every whole word up to
// 28 bytes is read, later fields are 0 and bytes after 28 are ignored.
// It allocates nothing.
func ParseACK(cif []byte) (ACK, error) {
	if len(cif) < ACKLightSize {
		return ACK{}, errShortACK
	}
	a := ACK{LastACKSeq: binary.BigEndian.Uint32(cif) & SeqMask, Size: min(len(cif), ACKFullSize) &^ 3}
	var f [6]uint32
	for i := range (a.Size - 4) / 4 {
		f[i] = binary.BigEndian.Uint32(cif[4+4*i:])
	}
	a.RTT, a.RTTVar, a.AvailBuf, a.PktRecvRate, a.LinkCapacity, a.RecvRate = f[0], f[1], f[2], f[3], f[4], f[5]
	return a, nil
}

var (
	errShortACK     = malformed("ACK CIF shorter than 4 bytes")
	errNAKLength    = malformed("NAK CIF length not a multiple of 4")
	errNAKRange     = malformed("NAK range start without an end")
	errShortDropReq = malformed("dropreq CIF shorter than 8 bytes")
)

// AppendACK appends the ACK CIF a to dst: a.Size bytes of it (ACKFullSize
// when a.Size is not a multiple of 4 from 4 to ACKFullSize).
func AppendACK(dst []byte, a *ACK) []byte {
	var b [ACKFullSize]byte
	binary.BigEndian.PutUint32(b[0:], a.LastACKSeq&SeqMask)
	binary.BigEndian.PutUint32(b[4:], a.RTT)
	binary.BigEndian.PutUint32(b[8:], a.RTTVar)
	binary.BigEndian.PutUint32(b[12:], a.AvailBuf)
	binary.BigEndian.PutUint32(b[16:], a.PktRecvRate)
	binary.BigEndian.PutUint32(b[20:], a.LinkCapacity)
	binary.BigEndian.PutUint32(b[24:], a.RecvRate)
	n := a.Size
	if n < ACKLightSize || n > ACKFullSize || n%4 != 0 {
		n = ACKFullSize
	}
	return append(dst, b[:n]...)
}

// nakRangeFlag marks the first sequence number of a loss range in a NAK
// loss list; the next word is the range's last sequence number.
const nakRangeFlag = 0x80000000

// AppendNAK appends one loss-list entry covering from..to (inclusive) to
// dst: a single word when from == to, else a range (two words, the first
// with the top bit set). Callers put at most MaxLossRangesPerNAK entries in
// one NAK.
func AppendNAK(dst []byte, from, to uint32) []byte {
	from &= SeqMask
	to &= SeqMask
	if from == to {
		return binary.BigEndian.AppendUint32(dst, from)
	}
	dst = binary.BigEndian.AppendUint32(dst, from|nakRangeFlag)
	return binary.BigEndian.AppendUint32(dst, to)
}

// ParseNAK calls fn for every loss-list entry of the NAK CIF cif, in order,
// with from == to for a single lost packet. It stops at the first malformed
// entry and returns an error, after having called fn for the entries
// before it. It allocates nothing (fn itself aside).
func ParseNAK(cif []byte, fn func(from, to uint32)) error {
	if len(cif)%4 != 0 {
		return errNAKLength
	}
	for i := 0; i < len(cif); i += 4 {
		w := binary.BigEndian.Uint32(cif[i:])
		if w&nakRangeFlag == 0 {
			fn(w, w)
			continue
		}
		i += 4
		if i >= len(cif) {
			return errNAKRange
		}
		to := binary.BigEndian.Uint32(cif[i:])
		if to&nakRangeFlag != 0 {
			return errNAKRange
		}
		fn(w&SeqMask, to)
	}
	return nil
}

// DropReqSize is the dropreq CIF: first and last sequence number.
const DropReqSize = 8

// ParseDropReq parses a dropreq CIF: the sender no longer has packets
// first..last (inclusive) of the message whose number is the control
// header's TypeSpecific.
func ParseDropReq(cif []byte) (first, last uint32, err error) {
	if len(cif) < DropReqSize {
		return 0, 0, errShortDropReq
	}
	return binary.BigEndian.Uint32(cif) & SeqMask, binary.BigEndian.Uint32(cif[4:]) & SeqMask, nil
}

// AppendDropReq appends a dropreq CIF for first..last to dst.
func AppendDropReq(dst []byte, first, last uint32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, first&SeqMask)
	return binary.BigEndian.AppendUint32(dst, last&SeqMask)
}

// padCIF is the 4-byte zero CIF libsrt puts in keepalive, shutdown and
// ACKACK packets ("writev does not allow" an empty one); peers accept
// both.
var padCIF [4]byte

// ShortControlSize is a keepalive, shutdown or ACKACK packet: header plus
// the 4-byte pad.
const ShortControlSize = HeaderSize + 4

// PutKeepalive writes a keepalive packet into b (ShortControlSize bytes)
// and returns its length.
func PutKeepalive(b []byte, timestamp, dest uint32) int {
	return putShort(b, &ControlHeader{Type: CtrlKeepalive, Timestamp: timestamp, DestSocket: dest})
}

// PutShutdown writes a shutdown packet into b (ShortControlSize bytes) and
// returns its length.
func PutShutdown(b []byte, timestamp, dest uint32) int {
	return putShort(b, &ControlHeader{Type: CtrlShutdown, Timestamp: timestamp, DestSocket: dest})
}

// PutACKACK writes an ACKACK for ACK number ackNo into b (ShortControlSize
// bytes) and returns its length.
func PutACKACK(b []byte, ackNo, timestamp, dest uint32) int {
	return putShort(b, &ControlHeader{Type: CtrlACKACK, TypeSpecific: ackNo, Timestamp: timestamp, DestSocket: dest})
}

func putShort(b []byte, h *ControlHeader) int {
	_ = b[ShortControlSize-1]
	h.Put(b)
	copy(b[HeaderSize:], padCIF[:])
	return ShortControlSize
}
