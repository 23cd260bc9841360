package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/zcingest/zerocopy/limit"
)

// HandshakeType is the handshake CIF's request type. Values from 1000 up to
// HSDone are rejections: 1000 + a RejectReason.
type HandshakeType uint32

// Handshake types.
const (
	HSWaveahand  HandshakeType = 0x00000000 // rendezvous only
	HSInduction  HandshakeType = 0x00000001
	HSDone       HandshakeType = 0xFFFFFFFD
	HSAgreement  HandshakeType = 0xFFFFFFFE
	HSConclusion HandshakeType = 0xFFFFFFFF
)

// rejectBase is libsrt's URQ_FAILURE_TYPES: a rejection's handshake type is
// rejectBase plus its reason.
const rejectBase = 1000

// IsRejection reports whether t is a rejection (1000 <= t < HSDone).
func (t HandshakeType) IsRejection() bool {
	return t >= rejectBase && t < HSDone
}

// RejectReason returns the reason of a rejection handshake type, decoded
// as libsrt does (t - 1000; a value between the last known libsrt reason
// and 1000 is RejUnknown), except that 1400..1999 is also accepted as the
// reason itself: gosrt writes its REJX_* numbers directly as the handshake
// type (1400 instead of 2400), and reading them back lets a gosrt peer's
// refusal be reported as sent. It returns RejUnknown for a type that is not
// a rejection.
func (t HandshakeType) RejectReason() RejectReason {
	if !t.IsRejection() {
		return RejUnknown
	}
	r := uint32(t) - rejectBase
	if r < uint32(rejXBase) && r >= uint32(rejESize) {
		if t >= HandshakeType(rejXBase+400) && t < HandshakeType(2*rejXBase) {
			return RejectReason(t)
		}
		return RejUnknown
	}
	return RejectReason(r)
}

func (t HandshakeType) String() string {
	switch t {
	case HSWaveahand:
		return "waveahand"
	case HSInduction:
		return "induction"
	case HSDone:
		return "done"
	case HSAgreement:
		return "agreement"
	case HSConclusion:
		return "conclusion"
	}
	if t.IsRejection() {
		return "rejection(" + t.RejectReason().String() + ")"
	}
	return fmt.Sprintf("handshake(%#x)", uint32(t))
}

// HandshakeMagic is the extension field of an HSv5 listener's induction
// response (SRT_MAGIC_CODE): the caller recognises an HSv5 peer by it.
const HandshakeMagic = 0x4A17

// HandshakeCIFSize is the fixed part of the handshake CIF; HSv5 extensions
// follow it in a conclusion.
const HandshakeCIFSize = 48

// Handshake versions.
const (
	HSVersion4 = 4 // UDT-style; a caller's induction request carries it
	HSVersion5 = 5 // SRT 1.3+: extensions in the conclusion
)

// Bits of a conclusion's extension field (SRT_HS_EXT_*): which extension
// blocks follow the CIF.
const (
	ExtFlagHSREQ  uint16 = 0x1 // HSREQ or HSRSP
	ExtFlagKMREQ  uint16 = 0x2 // KMREQ or KMRSP
	ExtFlagConfig uint16 = 0x4 // SID, CONGESTION, FILTER, GROUP
)

// Extension block types (SRT_CMD_*).
const (
	ExtHSREQ      uint16 = 1
	ExtHSRSP      uint16 = 2
	ExtKMREQ      uint16 = 3
	ExtKMRSP      uint16 = 4
	ExtSID        uint16 = 5
	ExtCongestion uint16 = 6
	ExtFilter     uint16 = 7
	ExtGroup      uint16 = 8
)

// SRT flags of the HSREQ/HSRSP extension (SRT_OPT_*).
const (
	FlagTSBPDSND     uint32 = 0x01 // sender uses TSBPD
	FlagTSBPDRCV     uint32 = 0x02 // receiver uses TSBPD
	FlagCrypt        uint32 = 0x04 // HaiCrypt (always set by libsrt)
	FlagTLPktDrop    uint32 = 0x08 // too-late packet drop
	FlagPeriodicNAK  uint32 = 0x10 // periodic NAK reports
	FlagRexmitFlag   uint32 = 0x20 // R bit in the data header (always set in HSv5)
	FlagStream       uint32 = 0x40 // stream (file) mode: refused in live mode
	FlagPacketFilter uint32 = 0x80 // packet filter (FEC) supported
)

// SRTExtension is the content of an HSREQ or HSRSP extension block.
type SRTExtension struct {
	Version   uint32 // SRT library version, 0x00MMmmpp (1.5.1 is 0x010501)
	Flags     uint32 // Flag* bits
	RecvDelay uint16 // receiver TSBPD latency, milliseconds
	SendDelay uint16 // sender TSBPD latency (peer's receiver latency in HSv5), milliseconds
}

// srtExtensionSize is the HSREQ/HSRSP content: three words.
const srtExtensionSize = 12

// Handshake is a handshake control packet's CIF, with the HSv5 extensions
// of a conclusion.
type Handshake struct {
	Version    uint32
	Encryption uint16 // HSv5: advertised key length / 8: 0 none, 2, 3 or 4 (AES-128/192/256)
	Extension  uint16 // induction response: HandshakeMagic; conclusion: ExtFlag* bits
	InitialSeq uint32 // 31 bits
	MTU        uint32
	FlowWindow uint32
	Type       HandshakeType
	SocketID   uint32   // the sender's socket ID
	SynCookie  uint32   // the listener's cookie, echoed by the caller's conclusion
	PeerIP     [16]byte // as on the wire; see SetPeerIP

	// SRTCmd is ExtHSREQ or ExtHSRSP when SRT holds that block, 0 when
	// the conclusion had none.
	SRTCmd uint16
	SRT    SRTExtension
	// KMCmd is ExtKMREQ or ExtKMRSP when KM holds that block's content, 0
	// when there was none. KM is the raw key material message (see
	// ParseKM) or, in a KMRSP, possibly a 4-byte KM state.
	KMCmd uint16
	KM    []byte
	// StreamID is the SID extension's text with SRT's per-word byte order
	// undone and trailing NULs removed; "" when absent.
	StreamID string
}

// ParseHandshake parses the handshake CIF cif into h. h.KM aliases cif: it
// is valid as long as cif is. Extensions are read only from an HSv5
// conclusion (or agreement) with a non-zero extension field; CONGESTION,
// FILTER, GROUP and unknown blocks are skipped. A malformed CIF returns an
// error wrapping ErrMalformed, a streamid longer than MaxStreamID or more
// than MaxExtensions blocks a *limit.LimitError. It never panics.
func ParseHandshake(cif []byte, h *Handshake) error {
	*h = Handshake{}
	if len(cif) < HandshakeCIFSize {
		return malformed("handshake CIF of %d bytes, need %d", len(cif), HandshakeCIFSize)
	}
	h.Version = binary.BigEndian.Uint32(cif[0:])
	h.Encryption = binary.BigEndian.Uint16(cif[4:])
	h.Extension = binary.BigEndian.Uint16(cif[6:])
	h.InitialSeq = binary.BigEndian.Uint32(cif[8:]) & SeqMask
	h.MTU = binary.BigEndian.Uint32(cif[12:])
	h.FlowWindow = binary.BigEndian.Uint32(cif[16:])
	h.Type = HandshakeType(binary.BigEndian.Uint32(cif[20:]))
	h.SocketID = binary.BigEndian.Uint32(cif[24:])
	h.SynCookie = binary.BigEndian.Uint32(cif[28:])
	copy(h.PeerIP[:], cif[32:48])
	if h.Version < HSVersion5 || h.Extension == 0 ||
		(h.Type != HSConclusion && h.Type != HSAgreement) {
		return nil
	}
	return h.parseExtensions(cif[HandshakeCIFSize:])
}

func (h *Handshake) parseExtensions(p []byte) error {
	for n := 0; len(p) > 0; n++ {
		if n >= MaxExtensions {
			return fmt.Errorf("srt handshake: %w", &limit.LimitError{Name: "MaxExtensions", Limit: MaxExtensions, Got: int64(n + 1)})
		}
		if len(p) < 4 {
			// gosrt v0.11 panics here (reads a 4-byte block header
			// from 1-3 bytes).
			return malformed("handshake extension header truncated to %d bytes", len(p))
		}
		typ := binary.BigEndian.Uint16(p[0:])
		size := int(binary.BigEndian.Uint16(p[2:])) * 4
		p = p[4:]
		if size > len(p) {
			return malformed("handshake extension %d of %d bytes, %d left", typ, size, len(p))
		}
		body := p[:size]
		p = p[size:]
		switch typ {
		case ExtHSREQ, ExtHSRSP:
			if size < srtExtensionSize {
				return malformed("handshake extension %d of %d bytes, need %d", typ, size, srtExtensionSize)
			}
			h.SRTCmd = typ
			h.SRT = SRTExtension{
				Version:   binary.BigEndian.Uint32(body[0:]),
				Flags:     binary.BigEndian.Uint32(body[4:]),
				RecvDelay: binary.BigEndian.Uint16(body[8:]),
				SendDelay: binary.BigEndian.Uint16(body[10:]),
			}
		case ExtKMREQ, ExtKMRSP:
			h.KMCmd = typ
			h.KM = body
		case ExtSID:
			if size > MaxStreamID {
				return fmt.Errorf("srt handshake streamid: %w", &limit.LimitError{Name: "MaxStreamID", Limit: MaxStreamID, Got: int64(size)})
			}
			h.StreamID = decodeSID(body)
		}
	}
	return nil
}

// decodeSID undoes SRT's per-word byte order (libsrt copies the string into
// 32-bit words and converts each to network order, which reverses every
// four bytes on little-endian hosts, the only ones it was written on) and
// strips the NUL padding.
func decodeSID(b []byte) string {
	var buf [MaxStreamID]byte
	s := buf[:len(b)]
	for i := 0; i+4 <= len(b); i += 4 {
		s[i], s[i+1], s[i+2], s[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	for len(s) > 0 && s[len(s)-1] == 0 {
		s = s[:len(s)-1]
	}
	return string(s)
}

// AppendHandshake appends the handshake CIF h to dst and returns the
// extended slice. In an HSv5 conclusion or agreement the extension blocks
// present (SRTCmd, KMCmd, StreamID) are written and the extension field is
// set to their ExtFlag* bits, whatever h.Extension holds; other types write
// h.Extension as is. It fails when StreamID is longer than MaxStreamID or
// KM is not a whole number of 32-bit words.
func AppendHandshake(dst []byte, h *Handshake) ([]byte, error) {
	ext := h.Extension
	withExt := h.Version >= HSVersion5 && (h.Type == HSConclusion || h.Type == HSAgreement)
	if withExt {
		ext = 0
		if h.SRTCmd != 0 {
			ext |= ExtFlagHSREQ
		}
		if h.KMCmd != 0 {
			ext |= ExtFlagKMREQ
		}
		if h.StreamID != "" {
			ext |= ExtFlagConfig
		}
		if len(h.StreamID) > MaxStreamID {
			return dst, fmt.Errorf("srt handshake streamid: %w", &limit.LimitError{Name: "MaxStreamID", Limit: MaxStreamID, Got: int64(len(h.StreamID))})
		}
		if len(h.KM)%4 != 0 || len(h.KM) > 0xFFFF*4 {
			return dst, fmt.Errorf("srt handshake: key material of %d bytes is not whole words", len(h.KM))
		}
	}
	var b [HandshakeCIFSize]byte
	binary.BigEndian.PutUint32(b[0:], h.Version)
	binary.BigEndian.PutUint16(b[4:], h.Encryption)
	binary.BigEndian.PutUint16(b[6:], ext)
	binary.BigEndian.PutUint32(b[8:], h.InitialSeq&SeqMask)
	binary.BigEndian.PutUint32(b[12:], h.MTU)
	binary.BigEndian.PutUint32(b[16:], h.FlowWindow)
	binary.BigEndian.PutUint32(b[20:], uint32(h.Type))
	binary.BigEndian.PutUint32(b[24:], h.SocketID)
	binary.BigEndian.PutUint32(b[28:], h.SynCookie)
	copy(b[32:], h.PeerIP[:])
	dst = append(dst, b[:]...)
	if !withExt {
		return dst, nil
	}
	if h.SRTCmd != 0 {
		var e [4 + srtExtensionSize]byte
		binary.BigEndian.PutUint16(e[0:], h.SRTCmd)
		binary.BigEndian.PutUint16(e[2:], srtExtensionSize/4)
		binary.BigEndian.PutUint32(e[4:], h.SRT.Version)
		binary.BigEndian.PutUint32(e[8:], h.SRT.Flags)
		binary.BigEndian.PutUint16(e[12:], h.SRT.RecvDelay)
		binary.BigEndian.PutUint16(e[14:], h.SRT.SendDelay)
		dst = append(dst, e[:]...)
	}
	if h.KMCmd != 0 {
		dst = binary.BigEndian.AppendUint16(dst, h.KMCmd)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.KM)/4))
		dst = append(dst, h.KM...)
	}
	if h.StreamID != "" {
		words := (len(h.StreamID) + 3) / 4
		dst = binary.BigEndian.AppendUint16(dst, ExtSID)
		dst = binary.BigEndian.AppendUint16(dst, uint16(words))
		for i := 0; i < words*4; i += 4 {
			var w [4]byte
			copy(w[:], h.StreamID[i:min(i+4, len(h.StreamID))])
			dst = append(dst, w[3], w[2], w[1], w[0])
		}
	}
	return dst, nil
}

// SetPeerIP stores a in h.PeerIP the way libsrt does: an IPv4 address in
// the first word, each 32-bit word byte-reversed (libsrt copies the
// in-memory sockaddr bytes into host-order words and converts them to
// network order), the rest zero. An IPv4-mapped IPv6 address (what a
// dual-stack socket reports) is stored as IPv4.
func (h *Handshake) SetPeerIP(a netip.Addr) {
	h.PeerIP = [16]byte{}
	a = a.Unmap()
	var raw []byte
	if a.Is4() {
		v := a.As4()
		raw = v[:]
	} else {
		v := a.As16()
		raw = v[:]
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		h.PeerIP[i], h.PeerIP[i+1], h.PeerIP[i+2], h.PeerIP[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
}

// AppendHandshakePacket appends a whole handshake control packet to dst:
// the header h (its Type set to CtrlHandshake) followed by the CIF hs, so
// the CIF is not built in a second buffer and copied. Errors are
// AppendHandshake's; dst is then returned unchanged.
func AppendHandshakePacket(dst []byte, h *ControlHeader, hs *Handshake) ([]byte, error) {
	n := len(dst)
	hdr := *h
	hdr.Type = CtrlHandshake
	var b [HeaderSize]byte
	hdr.Put(b[:])
	out, err := AppendHandshake(append(dst, b[:]...), hs)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}
