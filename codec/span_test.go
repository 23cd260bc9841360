package codec

import (
	"bytes"
	"testing"

	"github.com/langhuihui/gomem"
)

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{Unknown: "unknown", H264: "H264", H265: "H265", AAC: "AAC", AV1: "AV1", VP9: "VP9", 200: "unknown"} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", c, got, want)
		}
	}
	if !H264.IsVideo() || !H265.IsVideo() || AAC.IsVideo() || !AAC.IsAudio() || H264.IsAudio() {
		t.Error("IsVideo/IsAudio misclassify")
	}
}

// TestSpanEverySplit checks ByteAt, RangeSpan, AppendSpan and
// AppendSpanBytes against the contiguous bytes for every span of a small
// payload split at every pair of offsets (empty buffers included).
func TestSpanEverySplit(t *testing.T) {
	data := []byte("0123456789abcdef")
	n := len(data)
	for c1 := 0; c1 <= n; c1++ {
		for c2 := c1; c2 <= n; c2++ {
			m := splitMemory(data, c1, c2)
			for off := range n {
				if got := ByteAt(&m, off); got != data[off] {
					t.Fatalf("cuts %d,%d: ByteAt(%d) = %q, want %q", c1, c2, off, got, data[off])
				}
				for l := 0; off+l <= n; l++ {
					s := Span{off, l}
					got := AppendSpanBytes(nil, &m, s)
					if !bytes.Equal(got, data[off:off+l]) {
						t.Fatalf("cuts %d,%d span %v: got %q", c1, c2, s, got)
					}
					var joined []byte
					for _, b := range AppendSpan(nil, &m, s) {
						if len(b) == 0 {
							t.Fatalf("cuts %d,%d span %v: empty sub-slice", c1, c2, s)
						}
						if cap(b) != len(b) {
							t.Fatalf("cuts %d,%d span %v: capacity not clipped", c1, c2, s)
						}
						joined = append(joined, b...)
					}
					if !bytes.Equal(joined, data[off:off+l]) {
						t.Fatalf("cuts %d,%d span %v: AppendSpan joined %q", c1, c2, s, joined)
					}
				}
			}
		}
	}
}

func TestRangeSpanStopsAndClamps(t *testing.T) {
	data := []byte("abcdefgh")
	m := splitMemory(data, 2, 4, 6)
	calls := 0
	RangeSpan(&m, Span{0, 8}, func([]byte) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("yield returning false: %d calls, want 1", calls)
	}
	if got := AppendSpanBytes(nil, &m, Span{5, 100}); string(got) != "fgh" {
		t.Errorf("span past the end: got %q, want %q", got, "fgh")
	}
	for _, s := range []Span{{-1, 3}, {3, 0}, {3, -2}, {8, 1}, {100, 1}} {
		if got := AppendSpanBytes(nil, &m, s); len(got) != 0 {
			t.Errorf("span %v: got %q, want nothing", s, got)
		}
	}
	if s := (Span{3, 4}); s.End() != 7 {
		t.Errorf("End = %d", s.End())
	}
}

func TestByteAtOutOfRangePanics(t *testing.T) {
	m := gomem.NewMemory([]byte("ab"))
	for _, off := range []int{-1, 2, 10} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ByteAt(%d) did not panic", off)
				}
			}()
			ByteAt(&m, off)
		}()
	}
}
