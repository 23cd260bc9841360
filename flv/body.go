package flv

import (
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/limit"
)

// bodyReader reads the first bytes of a tag body held in a Memory whose
// buffers may split them anywhere.
type bodyReader struct {
	bufs [][]byte
	i, j int // buffer index, offset inside it
	pos  int // bytes consumed
	size int
}

func newBodyReader(m *gomem.Memory) bodyReader { return bodyReader{bufs: m.Buffers, size: m.Size} }

func (r *bodyReader) left() int { return r.size - r.pos }

// u8 returns the next byte; ok is false at the end of the body.
func (r *bodyReader) u8() (byte, bool) {
	if r.pos >= r.size {
		return 0, false
	}
	for r.j >= len(r.bufs[r.i]) {
		r.i++
		r.j = 0
	}
	c := r.bufs[r.i][r.j]
	r.j++
	r.pos++
	return c, true
}

// be reads an n-byte big-endian integer (n <= 4).
func (r *bodyReader) be(n int) (uint32, bool) {
	if r.left() < n {
		return 0, false
	}
	var v uint32
	for range n {
		c, _ := r.u8()
		v = v<<8 | uint32(c)
	}
	return v, true
}

// skip advances n bytes.
func (r *bodyReader) skip(n int) bool {
	if n < 0 || r.left() < n {
		return false
	}
	r.pos += n
	for n > 0 {
		rem := len(r.bufs[r.i]) - r.j
		if n < rem {
			r.j += n
			return true
		}
		n -= rem
		r.i++
		r.j = 0
	}
	return true
}

// si24 sign-extends a 24-bit value.
func si24(v uint32) int32 { return int32(v<<8) >> 8 }

// modEx parses the Enhanced RTMP ModEx chain that follows a packet type of
// modExType. It returns the final packet type and the nanosecond timestamp
// offset, if one was signalled.
func modEx(r *bodyReader, packetType uint8, what string) (uint8, uint32, error) {
	var nano uint32
	for n := 0; packetType == modExPacketType; n++ {
		if n == MaxModEx {
			return 0, 0, &limit.LimitError{Name: "MaxModEx", Limit: MaxModEx, Got: MaxModEx + 1}
		}
		size8, ok := r.u8()
		if !ok {
			return 0, 0, fmt.Errorf("flv: %s ModEx size: %w", what, ErrTruncated)
		}
		size := int(size8) + 1
		if size == 256 {
			s16, ok := r.be(2)
			if !ok {
				return 0, 0, fmt.Errorf("flv: %s ModEx size: %w", what, ErrTruncated)
			}
			size = int(s16) + 1
		}
		// The data comes before the type byte that says what it means.
		start := *r
		if !r.skip(size) {
			return 0, 0, fmt.Errorf("flv: %s ModEx data of %d bytes: %w", what, size, ErrTruncated)
		}
		b, ok := r.u8()
		if !ok {
			return 0, 0, fmt.Errorf("flv: %s ModEx type: %w", what, ErrTruncated)
		}
		packetType = b & 0x0f
		if b>>4 == modExTimestampOffsetNano && size >= 3 {
			nano, _ = start.be(3)
		}
	}
	return packetType, nano, nil
}

const (
	modExPacketType          = 7 // VideoPacketType.ModEx and AudioPacketType.ModEx
	modExTimestampOffsetNano = 0
)

func appendBE24(dst []byte, v uint32) []byte { return append(dst, byte(v>>16), byte(v>>8), byte(v)) }

func appendFourCC(dst []byte, f FourCC) []byte {
	return append(dst, byte(f>>24), byte(f>>16), byte(f>>8), byte(f))
}

// appendModExNano appends a ModEx entry carrying TimestampOffsetNano and
// the packet type that follows it.
func appendModExNano(dst []byte, nano uint32, packetType uint8) []byte {
	dst = append(dst, 3-1)
	dst = appendBE24(dst, nano)
	return append(dst, modExTimestampOffsetNano<<4|packetType&0x0f)
}
