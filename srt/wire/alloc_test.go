//go:build !race

package wire

import (
	"testing"
)

// TestAllocs proves the per-packet calls allocate nothing: the data header
// parse, control header parse, ACK/NAK parse, Put*, and payload
// en/decryption.
func TestAllocs(t *testing.T) {
	b := make([]byte, HeaderSize+1316)
	h := dataHeaders[1]
	h.Put(b)
	km, c, err := NewKM("0123456789", 16)
	if err != nil {
		t.Fatal(err)
	}
	_ = km
	ack := AppendControl(nil, &ControlHeader{Type: CtrlACK}, AppendACK(nil, &acks[2]))
	var nak []byte
	for _, r := range nakLists[2] {
		nak = AppendNAK(nak, r.from, r.to)
	}
	var sum uint32
	fn := func(from, to uint32) { sum += to - from }
	var short [ShortControlSize]byte
	for name, f := range map[string]func(){
		"ParseDataHeader":    func() { h, _ = ParseDataHeader(b) },
		"DataHeader.Put":     func() { h.Put(b) },
		"ParseControlHeader": func() { _, _, _ = ParseControlHeader(ack) },
		"ParseACK":           func() { _, _ = ParseACK(ack[HeaderSize:]) },
		"ParseNAK":           func() { _ = ParseNAK(nak, fn) },
		"PutACKACK":          func() { PutACKACK(short[:], 1, 2, 3) },
		"SeqDiff":            func() { sum += uint32(SeqDiff(sum, 5)) },
		"Decrypt":            func() { _ = c.Decrypt(b[HeaderSize:], KeyEven, h.Seq) },
		"Encrypt":            func() { _ = c.Encrypt(b[HeaderSize:], KeyEven, h.Seq) },
		"DecryptNoKey":       func() { _ = c.Decrypt(b[HeaderSize:], KeyOdd, h.Seq) },
		"ParseDataHeaderBad": func() { _, _ = ParseDataHeader(b[:3]) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func BenchmarkDecrypt1316(b *testing.B) {
	_, c, _ := NewKM("0123456789", 16)
	p := make([]byte, 1316)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	seq := uint32(0)
	for b.Loop() {
		c.Decrypt(p, KeyEven, seq)
		seq++
	}
}

func BenchmarkParseDataHeader(b *testing.B) {
	p := make([]byte, HeaderSize+1316)
	dataHeaders[2].Put(p)
	b.ReportAllocs()
	for b.Loop() {
		ParseDataHeader(p)
	}
}
