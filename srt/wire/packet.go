package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderSize is the SRT packet header: four 32-bit words before the payload
// (data) or the control information field (control).
const HeaderSize = 16

// MaxPayload is the largest data payload in a 1500-byte MTU datagram:
// 1500 minus the IPv4 (20), UDP (8) and SRT (16) headers. Live-mode peers
// send 1316 bytes (seven TS packets) per message.
const MaxPayload = 1500 - 20 - 8 - HeaderSize

// MTU is the maximum transmission unit SRT advertises in its handshake and
// the datagram size transport reads into its packet slots.
const MTU = 1500

// ErrMalformed is wrapped by every parse error caused by bytes that are not
// a valid SRT packet (short, bad field value, inconsistent lengths).
// Callers count such datagrams and drop them.
var ErrMalformed = errors.New("srt: malformed packet")

func malformed(what string, args ...any) error {
	return fmt.Errorf("%w: "+what, append([]any{ErrMalformed}, args...)...)
}

// IsControl reports whether the datagram b is a control packet (F bit set).
// An empty b is not.
func IsControl(b []byte) bool {
	return len(b) > 0 && b[0]&0x80 != 0
}

// DestSocket returns the destination socket ID of the datagram b (word 3 of
// the header), or 0 when b is shorter than a header. 0 is also the ID an
// induction handshake is sent to, so callers check the length first when
// that matters.
func DestSocket(b []byte) uint32 {
	if len(b) < HeaderSize {
		return 0
	}
	return binary.BigEndian.Uint32(b[12:16])
}

// Position is the PP field of a data packet: where the packet sits in its
// message. Live mode sends every message in one packet (PositionSolo).
type Position uint8

// Packet positions (PP bits).
const (
	PositionMiddle Position = 0 // 0b00: in the middle of a message
	PositionLast   Position = 1 // 0b01: last packet of a message
	PositionFirst  Position = 2 // 0b10: first packet of a message
	PositionSolo   Position = 3 // 0b11: the whole message in one packet
)

// KeyFlags is the KK field: which stream encrypting key encrypted a data
// packet (data header), or which keys a KM message carries.
type KeyFlags uint8

// Key flags (KK bits).
const (
	KeyNone KeyFlags = 0 // not encrypted
	KeyEven KeyFlags = 1 // even key
	KeyOdd  KeyFlags = 2 // odd key
	KeyBoth KeyFlags = 3 // both keys (KM messages only)
)

// MsgNoMask is the 26-bit message number of a data packet.
const MsgNoMask = 0x03FFFFFF

// DataHeader is the header of an SRT data packet.
type DataHeader struct {
	Seq           uint32   // packet sequence number, 31 bits
	Position      Position // PP
	InOrder       bool     // O: deliver in order (ignored in live mode)
	Key           KeyFlags // KK: encryption key of the payload
	Retransmitted bool     // R: this is a retransmission
	MsgNo         uint32   // message number, 26 bits
	Timestamp     uint32   // microseconds since the sender's connection start
	DestSocket    uint32   // destination socket ID
}

// ParseDataHeader parses the header of the data packet b. It fails when b
// is shorter than HeaderSize or is a control packet. It allocates nothing.
func ParseDataHeader(b []byte) (DataHeader, error) {
	if len(b) < HeaderSize {
		return DataHeader{}, errShortHeader
	}
	w0 := binary.BigEndian.Uint32(b[0:])
	if w0&0x80000000 != 0 {
		return DataHeader{}, errNotData
	}
	w1 := binary.BigEndian.Uint32(b[4:])
	return DataHeader{
		Seq:           w0,
		Position:      Position(w1 >> 30),
		InOrder:       w1&(1<<29) != 0,
		Key:           KeyFlags(w1>>27) & 3,
		Retransmitted: w1&(1<<26) != 0,
		MsgNo:         w1 & MsgNoMask,
		Timestamp:     binary.BigEndian.Uint32(b[8:]),
		DestSocket:    binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// Preallocated so that the hot-path parse failures do not allocate.
var (
	errShortHeader = malformed("shorter than the %d-byte header", HeaderSize)
	errNotData     = malformed("control packet where a data packet was expected")
	errNotControl  = malformed("data packet where a control packet was expected")
)

// Put writes h into the first HeaderSize bytes of b, which must be at least
// that long. Out-of-range fields are masked to their widths.
func (h *DataHeader) Put(b []byte) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:], h.Seq&SeqMask)
	w1 := uint32(h.Position&3)<<30 | uint32(h.Key&3)<<27 | h.MsgNo&MsgNoMask
	if h.InOrder {
		w1 |= 1 << 29
	}
	if h.Retransmitted {
		w1 |= 1 << 26
	}
	binary.BigEndian.PutUint32(b[4:], w1)
	binary.BigEndian.PutUint32(b[8:], h.Timestamp)
	binary.BigEndian.PutUint32(b[12:], h.DestSocket)
}

// ControlType is the 15-bit type of a control packet.
type ControlType uint16

// Control packet types.
const (
	CtrlHandshake ControlType = 0x0000
	CtrlKeepalive ControlType = 0x0001
	CtrlACK       ControlType = 0x0002
	CtrlNAK       ControlType = 0x0003
	CtrlCongWarn  ControlType = 0x0004 // congestion warning, unused in live mode
	CtrlShutdown  ControlType = 0x0005
	CtrlACKACK    ControlType = 0x0006
	CtrlDropReq   ControlType = 0x0007
	CtrlPeerError ControlType = 0x0008
	CtrlUser      ControlType = 0x7FFF // user-defined; subtype says what (KM refresh)
)

// Subtypes of CtrlUser (SRT's SRT_CMD_*), used in the control header's
// subtype field. The same numbers name the HSv5 handshake extensions.
const (
	SubtypeKMREQ uint16 = 3 // key material request (key refresh)
	SubtypeKMRSP uint16 = 4 // key material response
)

func (t ControlType) String() string {
	switch t {
	case CtrlHandshake:
		return "handshake"
	case CtrlKeepalive:
		return "keepalive"
	case CtrlACK:
		return "ack"
	case CtrlNAK:
		return "nak"
	case CtrlCongWarn:
		return "congestion-warning"
	case CtrlShutdown:
		return "shutdown"
	case CtrlACKACK:
		return "ackack"
	case CtrlDropReq:
		return "dropreq"
	case CtrlPeerError:
		return "peererror"
	case CtrlUser:
		return "user"
	}
	return fmt.Sprintf("control(%#x)", uint16(t))
}

// ControlHeader is the header of an SRT control packet.
type ControlHeader struct {
	Type         ControlType
	Subtype      uint16
	TypeSpecific uint32 // ACK number (ACK, ACKACK), message number (dropreq), else 0
	Timestamp    uint32 // microseconds since the sender's connection start
	DestSocket   uint32 // destination socket ID; 0 in an induction request
}

// ParseControlHeader parses the header of the control packet b and returns
// it with the control information field that follows. cif aliases b: it is
// valid as long as b is. It fails when b is shorter than HeaderSize or is a
// data packet. It allocates nothing.
func ParseControlHeader(b []byte) (h ControlHeader, cif []byte, err error) {
	if len(b) < HeaderSize {
		return ControlHeader{}, nil, errShortHeader
	}
	w0 := binary.BigEndian.Uint32(b[0:])
	if w0&0x80000000 == 0 {
		return ControlHeader{}, nil, errNotControl
	}
	return ControlHeader{
		Type:         ControlType(w0>>16) & 0x7FFF,
		Subtype:      uint16(w0),
		TypeSpecific: binary.BigEndian.Uint32(b[4:]),
		Timestamp:    binary.BigEndian.Uint32(b[8:]),
		DestSocket:   binary.BigEndian.Uint32(b[12:]),
	}, b[HeaderSize:], nil
}

// Put writes h into the first HeaderSize bytes of b, which must be at least
// that long, with the control flag set.
func (h *ControlHeader) Put(b []byte) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:], 0x80000000|uint32(h.Type&0x7FFF)<<16|uint32(h.Subtype))
	binary.BigEndian.PutUint32(b[4:], h.TypeSpecific)
	binary.BigEndian.PutUint32(b[8:], h.Timestamp)
	binary.BigEndian.PutUint32(b[12:], h.DestSocket)
}

// AppendControl appends a control packet with header h and control
// information field cif to dst and returns the extended slice.
func AppendControl(dst []byte, h *ControlHeader, cif []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	h.Put(dst[n:])
	return append(dst, cif...)
}
