//go:build !race

package codec

import "testing"

// TestHotPathsDoNotAllocate guards the per-frame calls: SplitAVCC into a
// reused slice, the keyframe checks and span iteration.
func TestHotPathsDoNotAllocate(t *testing.T) {
	data := avcc(4, []byte{0x09, 0xf0}, []byte{0x06, 5, 5}, []byte{0x65, 1, 2, 3, 4}, []byte{0x41, 9, 9})
	m := splitMemory(data, 3, 11, 19)
	dst := make([]Span, 0, 8)
	iov := make([][]byte, 0, 8)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		dst, err = SplitAVCC(&m, 0, 4, dst[:0])
		if !H264IsKeyframe(&m, dst) || H265IsKeyframe(&m, dst[:1]) {
			panic("keyframe check")
		}
		iov = iov[:0]
		for _, s := range dst {
			iov = AppendSpan(iov, &m, s)
		}
		n := 0
		RangeSpan(&m, dst[2], func(b []byte) bool { n += len(b); return true })
		_ = ByteAt(&m, 17)
	})
	if err != nil || len(dst) != 4 {
		t.Fatalf("split: %v, %d spans", err, len(dst))
	}
	if allocs != 0 {
		t.Fatalf("hot path allocates %.1f times per frame", allocs)
	}
}
