package codec

import (
	"encoding/hex"
	"strings"

	"github.com/langhuihui/gomem"
)

// splitMemory returns b as a Memory split at the given cut offsets (clamped
// and sorted by the caller), aliasing b.
func splitMemory(b []byte, cuts ...int) gomem.Memory {
	var m gomem.Memory
	prev := 0
	for _, c := range cuts {
		c = min(max(c, prev), len(b))
		m.PushOne(b[prev:c:c])
		prev = c
	}
	m.PushOne(b[prev:len(b):len(b)])
	return m
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// avcc builds a length-prefixed payload from NAL units.
func avcc(lengthSize int, nalus ...[]byte) []byte {
	var out []byte
	for _, n := range nalus {
		for i := lengthSize - 1; i >= 0; i-- {
			out = append(out, byte(len(n)>>(8*i)))
		}
		out = append(out, n...)
	}
	return out
}
