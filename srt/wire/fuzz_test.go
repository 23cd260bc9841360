package wire

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzHandshake: ParseHandshake never panics, and what it accepts
// re-marshals to a CIF that parses to the same values.
func FuzzHandshake(f *testing.F) {
	for _, h := range handshakes {
		b, _ := AppendHandshake(nil, &h)
		f.Add(b)
	}
	f.Add(bytes.Repeat([]byte{0xFF}, 50)) // the gosrt panic shape
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Handshake
		if ParseHandshake(b, &h) != nil {
			return
		}
		re, err := AppendHandshake(nil, &h)
		if err != nil {
			t.Fatalf("re-marshal of %+v: %v", h, err)
		}
		var h2 Handshake
		if err := ParseHandshake(re, &h2); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if h2.Type != h.Type || h2.SocketID != h.SocketID || h2.SRT != h.SRT || h2.SRTCmd != h.SRTCmd ||
			!bytes.Equal(h2.KM, h.KM) || h2.KMCmd != h.KMCmd {
			t.Fatalf("re-parse differs:\n%+v\n%+v", h, h2)
		}
		// A streamid with NULs inside round-trips only up to its
		// first trailing NUL run; everything else must match.
		if bytes.IndexByte([]byte(h.StreamID), 0) < 0 && h2.StreamID != h.StreamID {
			t.Fatalf("streamid %q -> %q", h.StreamID, h2.StreamID)
		}
	})
}

// FuzzControl runs every control parser over one input: none may panic,
// and what ParseACK and ParseNAK accept re-marshals to an equal value.
func FuzzControl(f *testing.F) {
	for _, a := range acks {
		f.Add(AppendControl(nil, &ControlHeader{Type: CtrlACK, TypeSpecific: 1}, AppendACK(nil, &a)))
	}
	for _, list := range nakLists {
		var cif []byte
		for _, r := range list {
			cif = AppendNAK(cif, r.from, r.to)
		}
		f.Add(AppendControl(nil, &ControlHeader{Type: CtrlNAK}, cif))
	}
	f.Add(AppendControl(nil, &ControlHeader{Type: CtrlDropReq, TypeSpecific: 3}, AppendDropReq(nil, 1, 2)))
	var k [ShortControlSize]byte
	f.Add(k[:PutKeepalive(k[:], 1, 2)])
	for _, h := range dataHeaders {
		b := make([]byte, HeaderSize)
		h.Put(b)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = IsControl(b)
		_ = DestSocket(b)
		if d, err := ParseDataHeader(b); err == nil {
			var re [HeaderSize]byte
			d.Put(re[:])
			if !bytes.Equal(re[:], b[:HeaderSize]) {
				t.Fatalf("data header %x -> %x", b[:HeaderSize], re)
			}
		}
		h, cif, err := ParseControlHeader(b)
		if err != nil {
			return
		}
		if re := AppendControl(nil, &h, cif); !bytes.Equal(re, b) {
			t.Fatalf("control %x -> %x", b, re)
		}
		if a, err := ParseACK(cif); err == nil {
			a2, err := ParseACK(AppendACK(nil, &a))
			if err != nil || a2 != a {
				t.Fatalf("ACK %+v -> %+v %v", a, a2, err)
			}
		}
		var list []lossRange
		if ParseNAK(cif, func(f, t uint32) { list = append(list, lossRange{f, t}) }) == nil {
			var re []byte
			for _, r := range list {
				re = AppendNAK(re, r.from, r.to)
			}
			var list2 []lossRange
			if err := ParseNAK(re, func(f, t uint32) { list2 = append(list2, lossRange{f, t}) }); err != nil || !slices.Equal(list, list2) {
				t.Fatalf("NAK %v -> %v %v", list, list2, err)
			}
		}
		_, _, _ = ParseDropReq(cif)
		_, _ = ParseKMState(cif)
	})
}

// FuzzKM: ParseKM never panics; what it accepts re-marshals to the same
// bytes, and unwrapping it with a passphrase fails cleanly or succeeds.
func FuzzKM(f *testing.F) {
	for _, b := range kmSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		km, err := ParseKM(b)
		if err != nil {
			return
		}
		re, err := AppendKM(nil, &km)
		if err != nil {
			t.Fatalf("re-marshal %+v: %v", km, err)
		}
		// Reserved bytes are not kept; the rest must match.
		n := len(re)
		want := bytes.Clone(b[:n])
		want[3] &= 3
		clear(want[11:14])
		if !bytes.Equal(re, want) {
			t.Fatalf("KM %x -> %x", want, re)
		}
		if c, err := km.Unwrap("0123456789"); err == nil {
			kk := KeyEven
			if km.Key == KeyOdd {
				kk = KeyOdd
			}
			p := []byte("some payload")
			if err := c.Decrypt(p, kk, 1); err != nil {
				t.Fatalf("unwrapped cipher lacks key %d: %v", kk, err)
			}
		}
	})
}
