package rtph265

import (
	"bytes"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
)

// spanEqual reports whether span u of m holds exactly b, without copying.
func spanEqual(m *gomem.Memory, u codec.Span, b []byte) bool {
	if u.Len != len(b) {
		return false
	}
	eq := true
	codec.RangeSpan(m, u, func(p []byte) bool {
		eq = bytes.Equal(p, b[:len(p)])
		b = b[len(p):]
		return eq
	})
	return eq
}
