package rtp

import (
	"errors"
	"testing"
)

func buildCompound() []byte {
	b := AppendSenderReport(nil, 0x1111, SenderInfo{NTPTime: 0x0102030405060708, RTPTime: 90000, PacketCount: 10, OctetCount: 1000},
		[]ReceptionReport{{SSRC: 0x2222, FractionLost: 3, CumulativeLost: -5, ExtendedMax: 70000, Jitter: 9, LSR: 1, DLSR: 2}})
	b = AppendSourceDesc(b, 0x1111, "cam@host")
	b = AppendReceiverReport(b, 0x3333, nil)
	b = append(b, 0x81, RTCPBye, 0, 3, 0, 0, 0x11, 0x11, 4, 'g', 'o', 'n', 'e', 0, 0, 0)
	return b
}

func TestRTCPRoundTrip(t *testing.T) {
	var p RTCPPacket
	var types []uint8
	err := ParseRTCP(buildCompound(), &p, func(p *RTCPPacket) error {
		types = append(types, p.Type)
		switch p.Type {
		case RTCPSenderReport:
			if p.SSRC != 0x1111 || p.Sender.NTPTime != 0x0102030405060708 || p.Sender.RTPTime != 90000 || p.Sender.PacketCount != 10 || p.Sender.OctetCount != 1000 {
				t.Fatalf("SR %+v", p)
			}
			if len(p.Reports) != 1 || p.Reports[0] != (ReceptionReport{SSRC: 0x2222, FractionLost: 3, CumulativeLost: -5, ExtendedMax: 70000, Jitter: 9, LSR: 1, DLSR: 2}) {
				t.Fatalf("reports %+v", p.Reports)
			}
		case RTCPSourceDesc:
			if len(p.Chunks) != 1 || p.Chunks[0].SSRC != 0x1111 || string(p.Chunks[0].CNAME) != "cam@host" {
				t.Fatalf("SDES %+v", p.Chunks)
			}
		case RTCPReceiverReport:
			if p.SSRC != 0x3333 || len(p.Reports) != 0 {
				t.Fatalf("RR %+v", p)
			}
		case RTCPBye:
			if len(p.SSRCs) != 1 || p.SSRCs[0] != 0x1111 || string(p.Reason) != "gone" {
				t.Fatalf("BYE %+v %q", p.SSRCs, p.Reason)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(types) != string([]uint8{200, 202, 201, 203}) {
		t.Fatalf("types %v", types)
	}
}

var rtcpBad = []struct {
	name string
	b    []byte
}{
	{"empty", nil},
	{"short", []byte{0x80, 200, 0}},
	{"version 1", []byte{0x40, 201, 0, 1, 0, 0, 0, 1}},
	{"length past the end", []byte{0x80, 201, 0, 2, 0, 0, 0, 1}},
	{"SR too short", []byte{0x80, 200, 0, 1, 0, 0, 0, 1}},
	{"RR count past the end", []byte{0x81, 201, 0, 1, 0, 0, 0, 1}},
	{"SDES item past the end", []byte{0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 'a', 'b'}},
	{"SDES no end", []byte{0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, 'a', 'b'}},
	{"BYE count past the end", []byte{0x82, 203, 0, 1, 0, 0, 0, 1}},
	{"BYE reason past the end", []byte{0x81, 203, 0, 2, 0, 0, 0, 1, 9, 'a', 0, 0}},
	{"padding not last", append([]byte{0xa0, 201, 0, 1, 0, 0, 0, 4}, 0x80, 201, 0, 1, 0, 0, 0, 1)},
	{"padding too long", []byte{0xa0, 201, 0, 1, 0, 0, 0, 9}},
	{"trailing bytes", []byte{0x80, 201, 0, 1, 0, 0, 0, 1, 0}},
}

func TestRTCPMalformed(t *testing.T) {
	var p RTCPPacket
	for _, c := range rtcpBad {
		if err := ParseRTCP(c.b, &p, func(*RTCPPacket) error { return nil }); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	many := make([]byte, 0, 4*(MaxRTCPPackets+1))
	for range MaxRTCPPackets + 1 {
		many = append(many, 0x80, 204, 0, 0)
	}
	if err := ParseRTCP(many, &p, func(*RTCPPacket) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Errorf("too many packets: %v", err)
	}
}

func TestRTCPAllocs(t *testing.T) {
	b := buildCompound()
	var p RTCPPacket
	fn := func(*RTCPPacket) error { return nil }
	if n := testing.AllocsPerRun(100, func() { _ = ParseRTCP(b, &p, fn) }); n != 0 {
		t.Fatalf("%v allocs per parse", n)
	}
}

func FuzzParseRTCP(f *testing.F) {
	f.Add(buildCompound())
	for _, c := range rtcpBad {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p RTCPPacket
		_ = ParseRTCP(b, &p, func(p *RTCPPacket) error {
			if len(p.Reports) > maxRTCPCount || len(p.Chunks) > maxRTCPCount || len(p.SSRCs) > maxRTCPCount {
				t.Fatal("count over 31")
			}
			return nil
		})
	})
}
