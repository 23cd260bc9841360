package codec

import (
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/limit"
)

// SplitAVCC splits the length-prefixed (AVCC / HVCC) NAL units that start at
// byte offset off of m and run to the end of m, appending one Span per
// non-empty NAL unit (without its length prefix) to dst. lengthSize is the
// prefix width in bytes (1..4; AVCConfig.LengthSize / HEVCConfig.LengthSize).
// Lengths may straddle m's buffers. Nothing is copied, and nothing is
// allocated while dst has capacity: reuse dst across frames.
//
// The returned Spans index m and are valid as long as m is. Empty NAL units
// are skipped but count toward MaxNALUsPerFrame. On error dst is returned at
// its original length: the error wraps ErrTruncated when a length prefix or
// a NAL unit runs past the end of m, or is a *limit.LimitError.
func SplitAVCC(m *gomem.Memory, off int, lengthSize int, dst []Span) ([]Span, error) {
	if lengthSize < 1 || lengthSize > 4 {
		return dst, fmt.Errorf("codec: AVCC length size %d not in 1..4", lengthSize)
	}
	size := m.Size
	if off < 0 || off > size {
		return dst, fmt.Errorf("codec: AVCC offset %d outside payload of %d bytes: %w", off, size, ErrTruncated)
	}
	n0 := len(dst)
	c := cursor{bufs: m.Buffers}
	c.skip(off)
	count := 0
	for pos := off; pos < size; {
		if size-pos < lengthSize {
			return dst[:n0], fmt.Errorf("codec: AVCC length prefix at offset %d needs %d bytes, %d left: %w",
				pos, lengthSize, size-pos, ErrTruncated)
		}
		n := c.be(lengthSize)
		pos += lengthSize
		if n > uint64(size-pos) {
			return dst[:n0], fmt.Errorf("codec: AVCC NAL unit at offset %d claims %d bytes, %d left: %w",
				pos, n, size-pos, ErrTruncated)
		}
		if count++; count > MaxNALUsPerFrame {
			return dst[:n0], &limit.LimitError{Name: "MaxNALUsPerFrame", Limit: MaxNALUsPerFrame, Got: int64(count)}
		}
		if n > 0 {
			dst = append(dst, Span{Off: pos, Len: int(n)})
			c.skip(int(n))
			pos += int(n)
		}
	}
	return dst, nil
}
