package codec

import (
	"errors"
	"slices"
	"testing"

	"github.com/zcingest/zerocopy/limit"
)

type avccCase struct {
	name       string
	data       []byte
	off        int
	lengthSize int
	want       []Span // nil with wantErr
	wantErr    error  // ErrTruncated, or nil for any non-nil error when bad is set
	bad        bool
}

var avccCases = []avccCase{
	{name: "empty", data: nil, lengthSize: 4, want: []Span{}},
	{name: "one", data: avcc(4, []byte{0x65, 1, 2, 3}), lengthSize: 4, want: []Span{{4, 4}}},
	{name: "three", data: avcc(4, []byte{0x09, 0xf0}, []byte{0x06, 5, 5}, []byte{0x65, 1, 2, 3, 4}), lengthSize: 4,
		want: []Span{{4, 2}, {10, 3}, {17, 5}}},
	{name: "offset", data: append([]byte{0x17, 1, 0, 0, 0}, avcc(4, []byte{0x65, 9})...), off: 5, lengthSize: 4, want: []Span{{9, 2}}},
	{name: "len1", data: avcc(1, []byte{0x41}, []byte{0x41, 2}), lengthSize: 1, want: []Span{{1, 1}, {3, 2}}},
	{name: "len2", data: avcc(2, []byte{0x41, 7}), lengthSize: 2, want: []Span{{2, 2}}},
	{name: "len3", data: avcc(3, []byte{0x41, 7, 8}), lengthSize: 3, want: []Span{{3, 3}}},
	{name: "zero-length skipped", data: avcc(4, nil, []byte{0x65}, nil), lengthSize: 4, want: []Span{{8, 1}}},
	{name: "truncated prefix", data: []byte{0, 0, 1}, lengthSize: 4, wantErr: ErrTruncated},
	{name: "truncated after nalu", data: append(avcc(4, []byte{0x65}), 0, 0), lengthSize: 4, wantErr: ErrTruncated},
	{name: "oversized nalu", data: []byte{0, 0, 0, 5, 0x65, 1}, lengthSize: 4, wantErr: ErrTruncated},
	{name: "huge length", data: []byte{0xff, 0xff, 0xff, 0xff, 0x65}, lengthSize: 4, wantErr: ErrTruncated},
	{name: "offset past end", data: []byte{1, 2}, off: 3, lengthSize: 4, wantErr: ErrTruncated},
	{name: "negative offset", data: []byte{1, 2}, off: -1, lengthSize: 4, wantErr: ErrTruncated},
	{name: "length size 0", data: []byte{1, 2}, lengthSize: 0, bad: true},
	{name: "length size 5", data: []byte{1, 2}, lengthSize: 5, bad: true},
}

func checkAVCC(t *testing.T, tc avccCase, label string, cuts ...int) {
	t.Helper()
	m := splitMemory(tc.data, cuts...)
	prefix := []Span{{99, 99}}
	got, err := SplitAVCC(&m, tc.off, tc.lengthSize, prefix)
	switch {
	case tc.wantErr != nil || tc.bad:
		if err == nil {
			t.Fatalf("%s %s: no error, spans %v", tc.name, label, got)
		}
		if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s %s: error %v, want %v", tc.name, label, err, tc.wantErr)
		}
		if !slices.Equal(got, prefix) {
			t.Fatalf("%s %s: dst changed on error: %v", tc.name, label, got)
		}
	default:
		if err != nil {
			t.Fatalf("%s %s: %v", tc.name, label, err)
		}
		if !slices.Equal(got[1:], tc.want) {
			t.Fatalf("%s %s: spans %v, want %v", tc.name, label, got[1:], tc.want)
		}
	}
}

// TestSplitAVCC runs every case with the payload split at every offset and
// at every pair of offsets, so length prefixes and NAL units straddle
// buffers in every possible way.
func TestSplitAVCC(t *testing.T) {
	for _, tc := range avccCases {
		checkAVCC(t, tc, "contiguous")
		for c1 := 0; c1 <= len(tc.data); c1++ {
			for c2 := c1; c2 <= len(tc.data); c2++ {
				checkAVCC(t, tc, "split", c1, c2)
			}
		}
	}
}

func TestSplitAVCCMaxNALUs(t *testing.T) {
	nalus := make([][]byte, MaxNALUsPerFrame)
	for i := range nalus {
		nalus[i] = []byte{0x41}
	}
	data := avcc(2, nalus...)
	m := splitMemory(data, len(data)/3, len(data)/2)
	got, err := SplitAVCC(&m, 0, 2, nil)
	if err != nil || len(got) != MaxNALUsPerFrame {
		t.Fatalf("exactly MaxNALUsPerFrame: %d spans, %v", len(got), err)
	}
	// Empty NAL units count too.
	data = append(data, 0, 0)
	m = splitMemory(data, len(data)/3)
	got, err = SplitAVCC(&m, 0, 2, got[:0])
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxNALUsPerFrame" || le.Got != MaxNALUsPerFrame+1 {
		t.Fatalf("one over the limit: err %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("dst not restored: %d spans", len(got))
	}
}
