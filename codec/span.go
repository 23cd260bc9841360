package codec

import (
	"fmt"

	"github.com/langhuihui/gomem"
)

// Span is a view of Len bytes starting at logical byte offset Off of a
// payload held in a multi-buffer gomem.Memory. The bytes may be split over
// several of the Memory's buffers; a Span never copies them. It is valid as
// long as the Memory it indexes is unchanged and its ranges are not freed.
type Span struct{ Off, Len int }

// End returns the offset just past the span.
func (s Span) End() int { return s.Off + s.Len }

// ByteAt returns the byte at logical offset off of m. Like indexing a slice,
// it panics if off is not in [0, m.Size); callers check bounds first.
func ByteAt(m *gomem.Memory, off int) byte {
	if off >= 0 {
		for _, b := range m.Buffers {
			if off < len(b) {
				return b[off]
			}
			off -= len(b)
		}
	}
	panic(fmt.Sprintf("codec.ByteAt: offset %d out of range [0,%d)", off, m.Size))
}

// RangeSpan calls yield with the sub-slices of m that make up s, in order,
// stopping early when yield returns false. The slices alias m (their
// capacity is clipped, so appending to one cannot overwrite its neighbour)
// and are valid as long as m's ranges are. A span reaching past the end of m
// is cut at the end; an empty or negative span yields nothing.
func RangeSpan(m *gomem.Memory, s Span, yield func([]byte) bool) {
	off, n := s.Off, s.Len
	if off < 0 || n <= 0 {
		return
	}
	for _, b := range m.Buffers {
		if off >= len(b) {
			off -= len(b)
			continue
		}
		k := min(len(b)-off, n)
		if !yield(b[off : off+k : off+k]) {
			return
		}
		n -= k
		if n == 0 {
			return
		}
		off = 0
	}
}

// AppendSpan appends the sub-slices of m that make up s to dst, for example
// to build a net.Buffers for one writev. The appended slices alias m (see
// RangeSpan); AppendSpan allocates only when dst is out of capacity.
func AppendSpan(dst [][]byte, m *gomem.Memory, s Span) [][]byte {
	RangeSpan(m, s, func(b []byte) bool {
		dst = append(dst, b)
		return true
	})
	return dst
}

// AppendSpanBytes is the copying twin of AppendSpan: it appends a copy of
// the bytes of s to dst. Use it for small control data (a parameter set to
// parse), never for payload on the ingest path.
func AppendSpanBytes(dst []byte, m *gomem.Memory, s Span) []byte {
	RangeSpan(m, s, func(b []byte) bool {
		dst = append(dst, b...)
		return true
	})
	return dst
}

// cursor walks a Memory's buffers forward. It trusts the caller to have
// checked every read against Memory.Size.
type cursor struct {
	bufs [][]byte
	i, j int // buffer index and offset inside it
}

// skip advances n bytes.
func (c *cursor) skip(n int) {
	for n > 0 {
		rem := len(c.bufs[c.i]) - c.j
		if n < rem {
			c.j += n
			return
		}
		n -= rem
		c.i++
		c.j = 0
	}
}

// be reads n (1..8) bytes as a big-endian integer, crossing buffers.
func (c *cursor) be(n int) uint64 {
	var v uint64
	for ; n > 0; n-- {
		for c.j >= len(c.bufs[c.i]) {
			c.i++
			c.j = 0
		}
		v = v<<8 | uint64(c.bufs[c.i][c.j])
		c.j++
	}
	return v
}
