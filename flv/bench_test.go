package flv

import (
	"bytes"
	"io"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/pool"
)

// loopReader repeats data forever.
type loopReader struct {
	data []byte
	pos  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.pos:])
	l.pos = (l.pos + n) % len(l.data)
	return n, nil
}

// BenchmarkReadTag reads 8 KiB video tags from an endless stream through
// the bufreader, handing each payload over and freeing it, as an ingest
// loop does. Payload bytes are never copied.
func BenchmarkReadTag(b *testing.B) {
	body := append(cat("27 01 000000 00001ffb 41"), bytes.Repeat([]byte{0x9a}, 8186)...)
	one := buildStream(b, []testTag{{TagHeader{Type: TagVideo}, body}})[13:]
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(&loopReader{data: one}, bufreader.Options{Allocator: a})
	r := NewReader(br, ReaderOptions{})
	var tag Tag
	b.ReportAllocs()
	b.SetBytes(int64(len(one)))
	for b.Loop() {
		if err := r.ReadTag(&tag); err != nil {
			b.Fatal(err)
		}
		if _, err := ParseVideo(&tag.Payload); err != nil {
			b.Fatal(err)
		}
		pool.FreeMemory(a, &tag.Payload)
	}
	st := br.Stats()
	b.ReportMetric(float64(st.BytesCopied)/float64(b.N), "copiedB/op")
	br.Recycle()
	pool.Recycle(a)
}

// BenchmarkWriteTag writes an 8 KiB tag given as 3 buffers.
func BenchmarkWriteTag(b *testing.B) {
	body := bytes.Repeat([]byte{0x9a}, 8192)
	payload := [][]byte{body[:5], body[5:4000], body[4000:]}
	w := NewWriter(io.Discard)
	b.ReportAllocs()
	b.SetBytes(int64(len(body) + TagHeaderSize + PreviousTagSizeSize))
	for b.Loop() {
		if err := w.WriteTag(TagHeader{Type: TagVideo}, payload); err != nil {
			b.Fatal(err)
		}
	}
}
