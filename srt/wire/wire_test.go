package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	gosrt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/circular"
	gpacket "github.com/datarhei/gosrt/packet"

	"github.com/zcingest/zerocopy/limit"
)

func TestSeq(t *testing.T) {
	for _, c := range []struct {
		a, b uint32
		diff int32
	}{
		{0, 0, 0},
		{0, 1, 1},
		{1, 0, -1},
		{SeqMask, 0, 1},
		{0, SeqMask, -1},
		{SeqMask - 9, 10, 20},
		{10, SeqMask - 9, -20},
		{0, seqThreshold - 1, seqThreshold - 1},
		{0, seqThreshold, -seqThreshold - 2},
		{0, seqThreshold + 1, -seqThreshold - 1},
		{seqThreshold, 0, seqThreshold + 2},
	} {
		if got := SeqDiff(c.a, c.b); got != c.diff {
			t.Errorf("SeqDiff(%#x, %#x) = %d, want %d", c.a, c.b, got, c.diff)
		}
		if got := SeqLess(c.a, c.b); got != (c.diff > 0) {
			t.Errorf("SeqLess(%#x, %#x) = %v", c.a, c.b, got)
		}
		want := 0
		if c.diff > 0 {
			want = -1
		} else if c.diff < 0 {
			want = 1
		}
		if got := SeqCmp(c.a, c.b); got != want {
			t.Errorf("SeqCmp(%#x, %#x) = %d, want %d", c.a, c.b, got, want)
		}
		// Agree with gosrt's circular numbers where the distance is
		// unambiguous.
		if c.diff != 0 {
			ga := circular.New(c.a, gpacket.MAX_SEQUENCENUMBER)
			gb := circular.New(c.b, gpacket.MAX_SEQUENCENUMBER)
			if ga.Lt(gb) != (c.diff > 0) {
				t.Errorf("gosrt says %#x < %#x is %v, we say diff %d", c.a, c.b, ga.Lt(gb), c.diff)
			}
		}
	}
	if SeqInc(SeqMask) != 0 || SeqAdd(SeqMask, 2) != 1 || SeqAdd(1, -2) != SeqMask || SeqAdd(5, 0) != 5 {
		t.Fatal("SeqInc/SeqAdd do not wrap at 31 bits")
	}
}

// gosrtBytes marshals a gosrt packet.
func gosrtBytes(t testing.TB, p gpacket.Packet) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.Marshal(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gosrtParse(t testing.TB, b []byte) gpacket.Packet {
	t.Helper()
	p, err := gpacket.NewPacketFromData(nil, b)
	if err != nil {
		t.Fatalf("gosrt cannot parse %x: %v", b, err)
	}
	return p
}

var dataHeaders = []DataHeader{
	{Seq: 0, Position: PositionSolo, MsgNo: 1, Timestamp: 0, DestSocket: 0x1234},
	{Seq: SeqMask, Position: PositionFirst, InOrder: true, Key: KeyEven, MsgNo: MsgNoMask, Timestamp: 0xFFFFFFFF, DestSocket: 0xFFFFFFFF},
	{Seq: 12345, Position: PositionLast, Key: KeyOdd, Retransmitted: true, MsgNo: 77, Timestamp: 120000, DestSocket: 1},
	{Seq: 1 << 30, Position: PositionMiddle, InOrder: true, Retransmitted: true, MsgNo: 1 << 25, Timestamp: 1},
}

func TestDataHeader(t *testing.T) {
	for _, h := range dataHeaders {
		b := make([]byte, HeaderSize+3)
		h.Put(b)
		copy(b[HeaderSize:], "abc")
		if IsControl(b) {
			t.Fatalf("%+v: IsControl", h)
		}
		if DestSocket(b) != h.DestSocket {
			t.Fatalf("%+v: DestSocket %#x", h, DestSocket(b))
		}
		got, err := ParseDataHeader(b)
		if err != nil || got != h {
			t.Fatalf("round trip %+v: got %+v, %v", h, got, err)
		}
		if _, _, err := ParseControlHeader(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("data packet parsed as control: %v", err)
		}
		// gosrt reads ours ...
		g := gosrtParse(t, b).Header()
		if g.IsControlPacket || g.PacketSequenceNumber.Val() != h.Seq || uint(g.PacketPositionFlag) != uint(h.Position) ||
			g.OrderFlag != h.InOrder || uint(g.KeyBaseEncryptionFlag) != uint(h.Key) || g.RetransmittedPacketFlag != h.Retransmitted ||
			g.MessageNumber != h.MsgNo || g.Timestamp != h.Timestamp || g.DestinationSocketId != h.DestSocket {
			t.Fatalf("gosrt read %+v as %+v", h, g)
		}
		// ... and writes what we read.
		p := gpacket.NewPacket(nil)
		*p.Header() = *g
		p.SetData([]byte("abc"))
		if gb := gosrtBytes(t, p); !bytes.Equal(gb, b) {
			t.Fatalf("gosrt wrote %x, we %x", gb, b)
		}
	}
	for n := range HeaderSize {
		if _, err := ParseDataHeader(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if IsControl(nil) || DestSocket([]byte{1, 2, 3}) != 0 {
		t.Fatal("short datagram")
	}
}

func TestControlHeader(t *testing.T) {
	for _, h := range []ControlHeader{
		{Type: CtrlHandshake, Timestamp: 5},
		{Type: CtrlACK, TypeSpecific: 99, Timestamp: 1e6, DestSocket: 7},
		{Type: CtrlUser, Subtype: SubtypeKMREQ, Timestamp: 3, DestSocket: 0xFFFFFFFF},
		{Type: CtrlDropReq, TypeSpecific: 1 << 31, DestSocket: 2},
	} {
		b := AppendControl(nil, &h, []byte{1, 2, 3, 4})
		if !IsControl(b) || DestSocket(b) != h.DestSocket {
			t.Fatalf("%+v: IsControl/DestSocket", h)
		}
		got, cif, err := ParseControlHeader(b)
		if err != nil || got != h || !bytes.Equal(cif, []byte{1, 2, 3, 4}) {
			t.Fatalf("round trip %+v: %+v %x %v", h, got, cif, err)
		}
		g := gosrtParse(t, b).Header()
		if !g.IsControlPacket || uint16(g.ControlType) != uint16(h.Type) || uint16(g.SubType) != h.Subtype ||
			g.TypeSpecific != h.TypeSpecific || g.Timestamp != h.Timestamp || g.DestinationSocketId != h.DestSocket {
			t.Fatalf("gosrt read %+v as %+v", h, g)
		}
		if _, err := ParseDataHeader(b); !errors.Is(err, ErrMalformed) {
			t.Fatal("control packet parsed as data")
		}
	}
	var b1, b2, b3 [ShortControlSize]byte
	for _, c := range []struct {
		n   int
		b   []byte
		typ ControlType
		ts  uint32
	}{
		{PutKeepalive(b1[:], 10, 20), b1[:], CtrlKeepalive, 0},
		{PutShutdown(b2[:], 10, 20), b2[:], CtrlShutdown, 0},
		{PutACKACK(b3[:], 10, 20, 30), b3[:], CtrlACKACK, 10},
	} {
		b := c.b
		h, cif, err := ParseControlHeader(b[:c.n])
		if err != nil || h.Type != c.typ || h.TypeSpecific != c.ts || len(cif) != 4 {
			t.Fatalf("%v: %+v %x %v", c.typ, h, cif, err)
		}
		g := gosrtParse(t, b[:c.n]).Header()
		if uint16(g.ControlType) != uint16(c.typ) {
			t.Fatalf("gosrt read %v as %v", c.typ, g.ControlType)
		}
	}
}

// handshakes are table entries and fuzz seeds.
var handshakes = []Handshake{
	{Version: HSVersion4, Extension: 2, InitialSeq: 1, MTU: 1500, FlowWindow: 8192, Type: HSInduction, SocketID: 0x11223344},
	{Version: HSVersion5, Extension: HandshakeMagic, InitialSeq: SeqMask, MTU: 1500, FlowWindow: 8192, Type: HSInduction, SocketID: 9, SynCookie: 0xCAFEBABE},
	{Version: HSVersion5, Encryption: 2, InitialSeq: 42, MTU: 1500, FlowWindow: 25600, Type: HSConclusion, SocketID: 77, SynCookie: 0xCAFEBABE,
		SRTCmd: ExtHSREQ, SRT: SRTExtension{Version: 0x010501, Flags: FlagTSBPDSND | FlagTSBPDRCV | FlagCrypt | FlagTLPktDrop | FlagPeriodicNAK | FlagRexmitFlag, RecvDelay: 120, SendDelay: 200},
		KMCmd: ExtKMREQ, KM: bytes.Repeat([]byte{0xAB}, 48),
		StreamID: "#!::r=live/stream,m=publish"},
	{Version: HSVersion5, InitialSeq: 42, MTU: 1500, FlowWindow: 8192, Type: HSConclusion, SocketID: 78,
		SRTCmd: ExtHSRSP, SRT: SRTExtension{Version: 0x010300, Flags: FlagTSBPDRCV, RecvDelay: 120},
		StreamID: "abcd"}, // exactly one word
	{Version: HSVersion5, Type: HSConclusion, StreamID: strings.Repeat("x", MaxStreamID)},
	{Version: HSVersion5, Type: RejBadSecret.HandshakeType(), SocketID: 3},
}

func TestHandshakeRoundTrip(t *testing.T) {
	for i, h := range handshakes {
		b, err := AppendHandshake(nil, &h)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var got Handshake
		if err := ParseHandshake(b, &got); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		want := h
		if h.Version >= HSVersion5 && h.Type == HSConclusion {
			want.Extension = got.Extension // computed by Append
		}
		if got.Version != want.Version || got.Extension != want.Extension || got.Encryption != want.Encryption ||
			got.InitialSeq != want.InitialSeq || got.Type != want.Type || got.SocketID != want.SocketID ||
			got.SynCookie != want.SynCookie || got.SRTCmd != want.SRTCmd || got.SRT != want.SRT ||
			got.KMCmd != want.KMCmd || !bytes.Equal(got.KM, want.KM) || got.StreamID != want.StreamID {
			t.Fatalf("%d: round trip\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// TestHandshakeFromGosrt parses what gosrt marshals.
func TestHandshakeFromGosrt(t *testing.T) {
	km := &gpacket.CIFKeyMaterialExtension{}
	cr, err := newGosrtCrypto(16)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.MarshalKM(km, "0123456789", gpacket.EvenKeyEncrypted); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"", "a", "ab", "abc", "abcd", "abcde", "#!::r=app/stream,m=request", strings.Repeat("z", 511)} {
		cif := &gpacket.CIFHandshake{
			IsRequest: true, Version: 5, InitialPacketSequenceNumber: circular.New(123, gpacket.MAX_SEQUENCENUMBER),
			MaxTransmissionUnitSize: 1500, MaxFlowWindowSize: 8192, HandshakeType: gpacket.HSTYPE_CONCLUSION,
			SRTSocketId: 0xABCDEF, SynCookie: 0x5555,
			HasHS: true, SRTHS: &gpacket.CIFHandshakeExtension{SRTVersion: 0x010402,
				SRTFlags:       gpacket.CIFHandshakeExtensionFlags{TSBPDSND: true, TSBPDRCV: true, CRYPT: true, TLPKTDROP: true, PERIODICNAK: true, REXMITFLG: true},
				RecvTSBPDDelay: 120, SendTSBPDDelay: 80},
			HasKM: true, SRTKM: km,
			HasSID: true, StreamId: sid,
			HasCongestionCtl: true, CongestionCtl: "file", // an extension we skip
		}
		cif.PeerIP.Parse("10.1.2.3")
		p := gpacket.NewPacket(nil)
		p.Header().IsControlPacket = true
		p.Header().ControlType = gpacket.CTRLTYPE_HANDSHAKE
		if err := p.MarshalCIF(cif); err != nil {
			t.Fatal(err)
		}
		b := gosrtBytes(t, p)
		ch, body, err := ParseControlHeader(b)
		if err != nil || ch.Type != CtrlHandshake {
			t.Fatalf("header: %+v %v", ch, err)
		}
		var h Handshake
		if err := ParseHandshake(body, &h); err != nil {
			t.Fatalf("sid %q: %v", sid, err)
		}
		if h.Version != 5 || h.Type != HSConclusion || h.InitialSeq != 123 || h.SocketID != 0xABCDEF || h.SynCookie != 0x5555 ||
			h.Encryption != 2 || h.Extension != ExtFlagHSREQ|ExtFlagKMREQ|ExtFlagConfig {
			t.Fatalf("CIF %+v", h)
		}
		wantSRT := SRTExtension{Version: 0x010402, Flags: FlagTSBPDSND | FlagTSBPDRCV | FlagCrypt | FlagTLPktDrop | FlagPeriodicNAK | FlagRexmitFlag, RecvDelay: 120, SendDelay: 80}
		if h.SRTCmd != ExtHSREQ || h.SRT != wantSRT {
			t.Fatalf("HSREQ %d %+v", h.SRTCmd, h.SRT)
		}
		if h.StreamID != sid {
			t.Fatalf("streamid %q, want %q", h.StreamID, sid)
		}
		if h.KMCmd != ExtKMREQ {
			t.Fatalf("KM cmd %d", h.KMCmd)
		}
		pk, err := ParseKM(h.KM)
		if err != nil || pk.KeyLen != 16 || pk.Key != KeyEven || !bytes.Equal(pk.Salt[:], km.Salt) || !bytes.Equal(pk.Wrap, km.Wrap) {
			t.Fatalf("KM %+v %v", pk, err)
		}
		var ip Handshake
		ip.SetPeerIP(netip.MustParseAddr("::ffff:10.1.2.3"))
		if h.PeerIP != ip.PeerIP {
			t.Fatalf("peer IP %x, SetPeerIP %x", h.PeerIP, ip.PeerIP)
		}
	}
}

// TestHandshakeToGosrt: gosrt parses what we marshal.
func TestHandshakeToGosrt(t *testing.T) {
	km, _, err := NewKM("0123456789", 24)
	if err != nil {
		t.Fatal(err)
	}
	kmb, err := AppendKM(nil, &km)
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"", "x", "live/abc", "#!::r=a,m=publish,u=bob"} {
		h := Handshake{Version: 5, Encryption: EncryptionField(24), InitialSeq: 999, MTU: 1500, FlowWindow: 8192, Type: HSConclusion,
			SocketID: 0x42, SynCookie: 0x77,
			SRTCmd: ExtHSRSP, SRT: SRTExtension{Version: 0x010501, Flags: FlagTSBPDSND | FlagTSBPDRCV | FlagCrypt | FlagRexmitFlag, RecvDelay: 200, SendDelay: 120},
			KMCmd: ExtKMRSP, KM: kmb, StreamID: sid}
		h.SetPeerIP(netip.MustParseAddr("127.0.0.1"))
		cif, err := AppendHandshake(nil, &h)
		if err != nil {
			t.Fatal(err)
		}
		b := AppendControl(nil, &ControlHeader{Type: CtrlHandshake, DestSocket: 5}, cif)
		p := gosrtParse(t, b)
		var g gpacket.CIFHandshake
		if err := p.UnmarshalCIF(&g); err != nil {
			t.Fatalf("gosrt: %v", err)
		}
		if g.Version != 5 || g.HandshakeType != gpacket.HSTYPE_CONCLUSION || g.InitialPacketSequenceNumber.Val() != 999 ||
			g.SRTSocketId != 0x42 || g.SynCookie != 0x77 || !g.HasHS || g.SRTHS.RecvTSBPDDelay != 200 || g.SRTHS.SendTSBPDDelay != 120 ||
			!g.SRTHS.SRTFlags.TSBPDSND || !g.SRTHS.SRTFlags.CRYPT || g.SRTHS.SRTFlags.STREAM || g.StreamId != sid ||
			!g.HasKM || g.SRTKM.KLen != 24 || !bytes.Equal(g.SRTKM.Wrap, km.Wrap) || g.PeerIP.String() != "127.0.0.1" {
			t.Fatalf("gosrt read %s", g.String())
		}
	}
}

// TestHandshakeGosrtPanic is the datagram that panics gosrt v0.11's
// CIFHandshake.Unmarshal: an HSv5 conclusion with a non-zero extension
// field whose CIF is 49 to 51 bytes (an extension header cut short).
func TestHandshakeGosrtPanic(t *testing.T) {
	for n := 49; n <= 51; n++ {
		cif, _ := AppendHandshake(nil, &Handshake{Version: 5, Type: HSConclusion, StreamID: "x"})
		cif = cif[:n]
		b := AppendControl(nil, &ControlHeader{Type: CtrlHandshake}, cif)
		var h Handshake
		_, body, _ := ParseControlHeader(b)
		if err := ParseHandshake(body, &h); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d-byte CIF: %v", n, err)
		}
		if !gosrtPanics(b) {
			t.Logf("%d-byte CIF: gosrt no longer panics", n)
		}
	}
}

func gosrtPanics(b []byte) (panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	p, err := gpacket.NewPacketFromData(nil, b)
	if err != nil {
		return false
	}
	var g gpacket.CIFHandshake
	p.UnmarshalCIF(&g)
	return false
}

func TestHandshakeMalformed(t *testing.T) {
	good, _ := AppendHandshake(nil, &handshakes[2])
	var h Handshake
	for n := range HandshakeCIFSize {
		if err := ParseHandshake(good[:n], &h); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	// Every truncation of the extensions either parses (cut between
	// blocks) or is malformed; none panics.
	for n := HandshakeCIFSize; n <= len(good); n++ {
		if err := ParseHandshake(good[:n], &h); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	mk := func(exts ...[]byte) []byte {
		b, _ := AppendHandshake(nil, &Handshake{Version: 5, Type: HSConclusion, StreamID: "x"})
		b = b[:HandshakeCIFSize]
		for _, e := range exts {
			b = append(b, e...)
		}
		return b
	}
	ext := func(typ, words uint16, body []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, typ)
		b = binary.BigEndian.AppendUint16(b, words)
		return append(b, body...)
	}
	for _, c := range []struct {
		name  string
		b     []byte
		limit string
	}{
		{"length past end", mk(ext(ExtSID, 3, []byte("abcd"))), ""},
		{"short HSREQ", mk(ext(ExtHSREQ, 2, make([]byte, 8))), ""},
		{"long SID", mk(ext(ExtSID, MaxStreamID/4+1, make([]byte, MaxStreamID+4))), "MaxStreamID"},
		{"too many extensions", mk(bytes.Repeat(ext(99, 0, nil), MaxExtensions+1)), "MaxExtensions"},
	} {
		err := ParseHandshake(c.b, &h)
		var le *limit.LimitError
		switch {
		case c.limit == "" && !errors.Is(err, ErrMalformed):
			t.Errorf("%s: %v", c.name, err)
		case c.limit != "" && (!errors.As(err, &le) || le.Name != c.limit):
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Skipped and empty extensions are fine.
	if err := ParseHandshake(mk(ext(ExtCongestion, 1, []byte("evil")), ext(ExtFilter, 0, nil), ext(ExtSID, 1, []byte("dcba"))), &h); err != nil || h.StreamID != "abcd" {
		t.Fatalf("skip: %q %v", h.StreamID, err)
	}
	if _, err := AppendHandshake(nil, &Handshake{Version: 5, Type: HSConclusion, StreamID: strings.Repeat("x", MaxStreamID+1)}); err == nil {
		t.Fatal("Append accepted a streamid over MaxStreamID")
	}
}

func TestReject(t *testing.T) {
	for _, c := range []struct {
		r     RejectReason
		gosrt gosrt.RejectionReason
	}{
		{RejUnknown, gosrt.REJ_UNKNOWN}, {RejPeer, gosrt.REJ_PEER}, {RejRogue, gosrt.REJ_ROGUE},
		{RejVersion, gosrt.REJ_VERSION}, {RejBadSecret, gosrt.REJ_BADSECRET}, {RejUnsecure, gosrt.REJ_UNSECURE},
		{RejMessageAPI, gosrt.REJ_MESSAGEAPI}, {RejCongestion, gosrt.REJ_CONGESTION}, {RejGroup, gosrt.REJ_GROUP},
	} {
		// gosrt's REJ_* are handshake types.
		if c.r.HandshakeType() != HandshakeType(c.gosrt) || HandshakeType(c.gosrt).RejectReason() != c.r {
			t.Errorf("%v: handshake type %d, gosrt %d", c.r, c.r.HandshakeType(), c.gosrt)
		}
	}
	for _, c := range []struct {
		r     RejectReason
		gosrt gosrt.RejectionReason
	}{
		{RejXBadRequest, gosrt.REJX_BAD_REQUEST}, {RejXUnauthorized, gosrt.REJX_UNAUTHORIZED}, {RejXOverload, gosrt.REJX_OVERLOAD},
		{RejXForbidden, gosrt.REJX_FORBIDDEN}, {RejXNotFound, gosrt.REJX_NOTFOUND}, {RejXBadMode, gosrt.REJX_BAD_MODE},
		{RejXUnacceptable, gosrt.REJX_UNACCEPTABLE}, {RejXConflict, gosrt.REJX_CONFLICT}, {RejXNotSupMedia, gosrt.REJX_NOTSUP_MEDIA},
		{RejXLocked, gosrt.REJX_LOCKED}, {RejXFailedDepend, gosrt.REJX_FAILED_DEPEND}, {RejXISE, gosrt.REJX_ISE},
		{RejXUnimplemented, gosrt.REJX_UNIMPLEMENTED}, {RejXGateway, gosrt.REJX_GW}, {RejXDown, gosrt.REJX_DOWN},
		{RejXVersion, gosrt.REJX_VERSION}, {RejXNoRoom, gosrt.REJX_NOROOM},
	} {
		// gosrt's REJX_* are the reasons; libsrt sends them as 1000+r,
		// gosrt as r itself: both read back.
		if c.r != RejectReason(c.gosrt) || c.r.HandshakeType().RejectReason() != c.r || HandshakeType(c.gosrt).RejectReason() != c.r {
			t.Errorf("%v: gosrt %d", c.r, c.gosrt)
		}
		if !c.r.HandshakeType().IsRejection() || strings.HasPrefix(c.r.String(), "undefined") {
			t.Errorf("%v", c.r)
		}
	}
	if RejBadSecret.HandshakeType() != 1010 || RejXBadRequest.HandshakeType() != 2400 {
		t.Fatal("libsrt's URQFailure is 1000 + reason")
	}
	if HandshakeType(1500).RejectReason() != RejXISE || HandshakeType(1100).RejectReason() != RejUnknown ||
		HSConclusion.IsRejection() || HSInduction.IsRejection() || HandshakeType(999).IsRejection() {
		t.Fatal("rejection decoding")
	}
	if RejBadSecret.String() != "bad secret (10)" || RejectReason(500).String() != "undefined (500)" || RejectReason(2001).String() != "user-defined (2001)" {
		t.Fatal(RejBadSecret.String())
	}
	_ = HSConclusion.String() + HandshakeType(1010).String() + CtrlACK.String() + ControlType(99).String()
}

var acks = []ACK{
	{LastACKSeq: 5, Size: ACKLightSize},
	{LastACKSeq: SeqMask, RTT: 100000, RTTVar: 50000, AvailBuf: 8192, Size: ACKSmallSize},
	{LastACKSeq: 77, RTT: 1, RTTVar: 2, AvailBuf: 3, PktRecvRate: 4, LinkCapacity: 5, RecvRate: 6, Size: ACKFullSize},
}

func TestACK(t *testing.T) {
	for _, a := range acks {
		cif := AppendACK(nil, &a)
		if len(cif) != a.Size {
			t.Fatalf("%+v: %d bytes", a, len(cif))
		}
		got, err := ParseACK(cif)
		if err != nil || got != a {
			t.Fatalf("round trip %+v: %+v %v", a, got, err)
		}
		// gosrt reads ours ...
		b := AppendControl(nil, &ControlHeader{Type: CtrlACK, TypeSpecific: 9}, cif)
		var g gpacket.CIFACK
		if err := gosrtParse(t, b).UnmarshalCIF(&g); err != nil {
			t.Fatal(err)
		}
		if g.LastACKPacketSequenceNumber.Val() != a.LastACKSeq || g.RTT != a.RTT || g.RTTVar != a.RTTVar || g.AvailableBufferSize != a.AvailBuf ||
			g.PacketsReceivingRate != a.PktRecvRate || g.EstimatedLinkCapacity != a.LinkCapacity || g.ReceivingRate != a.RecvRate ||
			g.IsLite != (a.Size == ACKLightSize) || g.IsSmall != (a.Size == ACKSmallSize) {
			t.Fatalf("gosrt read %+v as %+v", a, g)
		}
		// ... and writes what we read.
		p := gpacket.NewPacket(nil)
		p.Header().IsControlPacket = true
		p.Header().ControlType = gpacket.CTRLTYPE_ACK
		if err := p.MarshalCIF(&g); err != nil {
			t.Fatal(err)
		}
		_, gcif, _ := ParseControlHeader(gosrtBytes(t, p))
		if got, err := ParseACK(gcif); err != nil || got != a {
			t.Fatalf("from gosrt %+v: %+v %v", a, got, err)
		}
	}
	if _, err := ParseACK([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

type lossRange struct{ from, to uint32 }

var nakLists = [][]lossRange{
	{{5, 5}},
	{{1, 10}},
	{{SeqMask - 1, SeqMask}, {0, 0}, {3, 3}, {7, 9}, {100, 200000}}, // ascending, as gosrt sorts
}

func TestNAK(t *testing.T) {
	for _, list := range nakLists {
		var cif []byte
		var gl []circular.Number
		for _, r := range list {
			cif = AppendNAK(cif, r.from, r.to)
			gl = append(gl, circular.New(r.from, gpacket.MAX_SEQUENCENUMBER), circular.New(r.to, gpacket.MAX_SEQUENCENUMBER))
		}
		var got []lossRange
		if err := ParseNAK(cif, func(f, t uint32) { got = append(got, lossRange{f, t}) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, list) {
			t.Fatalf("round trip %v: %v", list, got)
		}
		// gosrt reads ours ...
		var g gpacket.CIFNAK
		if err := gosrtParse(t, AppendControl(nil, &ControlHeader{Type: CtrlNAK}, cif)).UnmarshalCIF(&g); err != nil {
			t.Fatal(err)
		}
		if len(g.LostPacketSequenceNumber) != len(gl) {
			t.Fatalf("gosrt read %v as %v", list, g.LostPacketSequenceNumber)
		}
		for i := range gl {
			if g.LostPacketSequenceNumber[i].Val() != gl[i].Val() {
				t.Fatalf("gosrt read %v as %v", list, g.LostPacketSequenceNumber)
			}
		}
		// ... and writes what we read.
		p := gpacket.NewPacket(nil)
		p.Header().IsControlPacket = true
		p.Header().ControlType = gpacket.CTRLTYPE_NAK
		if err := p.MarshalCIF(&gpacket.CIFNAK{LostPacketSequenceNumber: gl}); err != nil {
			t.Fatal(err)
		}
		_, gcif, _ := ParseControlHeader(gosrtBytes(t, p))
		if !bytes.Equal(gcif, cif) {
			t.Fatalf("gosrt wrote %x, we %x", gcif, cif)
		}
	}
	for _, bad := range [][]byte{{0, 0, 1}, {0x80, 0, 0, 1}, {0x80, 0, 0, 1, 0x80, 0, 0, 2}} {
		if err := ParseNAK(bad, func(uint32, uint32) {}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	if MaxLossRangesPerNAK*8+HeaderSize+28 > 1500 {
		t.Fatal("MaxLossRangesPerNAK does not fit a datagram")
	}
}

func TestDropReq(t *testing.T) {
	cif := AppendDropReq(nil, SeqMask, 3)
	f, l, err := ParseDropReq(cif)
	if err != nil || f != SeqMask || l != 3 {
		t.Fatal(f, l, err)
	}
	if _, _, err := ParseDropReq(cif[:7]); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestAppendHandshakePacket(t *testing.T) {
	b, err := AppendHandshakePacket([]byte{9}, &ControlHeader{Type: CtrlACK, Timestamp: 7, DestSocket: 3}, &handshakes[2])
	if err != nil || b[0] != 9 {
		t.Fatal(err)
	}
	h, cif, err := ParseControlHeader(b[1:])
	if err != nil || h.Type != CtrlHandshake || h.Timestamp != 7 || h.DestSocket != 3 {
		t.Fatalf("%+v %v", h, err)
	}
	var hs Handshake
	if err := ParseHandshake(cif, &hs); err != nil || hs.StreamID != handshakes[2].StreamID {
		t.Fatalf("%+v %v", hs, err)
	}
	bad := Handshake{Version: 5, Type: HSConclusion, StreamID: strings.Repeat("y", MaxStreamID+1)}
	if b, err := AppendHandshakePacket([]byte{1}, &ControlHeader{}, &bad); err == nil || len(b) != 1 {
		t.Fatal("oversized streamid appended")
	}
}

func TestACKSizes(t *testing.T) {
	full := AppendACK(nil, &acks[2])
	for n := ACKLightSize; n <= len(full)+5; n++ {
		cif := append(bytes.Clone(full), 9, 9, 9, 9, 9)[:n]
		a, err := ParseACK(cif)
		if err != nil || a.Size != min(n, ACKFullSize)&^3 {
			t.Fatalf("%d bytes: %+v %v", n, a, err)
		}
		if n >= 24 && (a.PktRecvRate != 4 || a.LinkCapacity != 5) {
			t.Fatalf("24-byte UDT ACK lost fields: %+v", a)
		}
		if n < 28 && a.RecvRate != 0 {
			t.Fatalf("%d bytes: field past the CIF: %+v", n, a)
		}
	}
}
