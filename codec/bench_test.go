package codec

import (
	"bytes"
	"testing"
)

// BenchmarkSplitAVCC splits a 4-NALU, ~64 KiB access unit spread over 16
// buffers into a reused Span slice.
func BenchmarkSplitAVCC(b *testing.B) {
	data := avcc(4, []byte{0x09, 0xf0}, []byte{0x06, 5, 5}, bytes.Repeat([]byte{0x65}, 60000), bytes.Repeat([]byte{0x41}, 4000))
	cuts := make([]int, 15)
	for i := range cuts {
		cuts[i] = (i + 1) * len(data) / 16
	}
	m := splitMemory(data, cuts...)
	dst := make([]Span, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var err error
		if dst, err = SplitAVCC(&m, 0, 4, dst[:0]); err != nil || !H264IsKeyframe(&m, dst) {
			b.Fatal(err)
		}
	}
}
