package flv

import (
	"encoding/binary"
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// ReaderOptions configures a Reader. The zero value uses the defaults in
// limits.go.
type ReaderOptions struct {
	// MaxTagSize caps a tag body; 0 means DefaultMaxTagSize. Values above
	// MaxDataSize are clamped to it. The bufreader's MaxBuffered must allow
	// MaxTagSize+15 bytes.
	MaxTagSize int
	// IgnorePreviousTagSize skips the PreviousTagSize checks, for streams
	// from muxers that write wrong values.
	IgnorePreviousTagSize bool
}

// Reader reads an FLV stream tag by tag from a bufreader.Reader, handing
// each tag's body over as exact ranges of the bufreader's blocks. It is not
// safe for concurrent use, and must be used on the bufreader's goroutine.
type Reader struct {
	br         *bufreader.Reader
	maxTagSize int
	ignorePTS  bool
	tags       int64
}

// NewReader returns a Reader over br. The caller keeps ownership of br
// (including recycling it).
func NewReader(br *bufreader.Reader, opts ReaderOptions) *Reader {
	maxTag := opts.MaxTagSize
	if maxTag <= 0 {
		maxTag = DefaultMaxTagSize
	}
	return &Reader{br: br, maxTagSize: min(maxTag, MaxDataSize), ignorePTS: opts.IgnorePreviousTagSize}
}

// Allocator returns the allocator the payload ranges come from, the one to
// free them on.
func (r *Reader) Allocator() *gomem.ScalableMemoryAllocator { return r.br.Allocator() }

// Tags returns the number of tags read so far.
func (r *Reader) Tags() int64 { return r.tags }

// ReadHeader reads the file header and the PreviousTagSize0 field that
// follows it, skipping any header bytes beyond the 9 of version 1. It is
// atomic: on error nothing is consumed. A DataOffset below 9 or above
// MaxFileHeaderSize, a missing signature, or a non-zero PreviousTagSize0
// (unless ignored) is an error.
func (r *Reader) ReadHeader() (Header, error) {
	var h Header
	p, err := r.br.Peek(FileHeaderSize)
	if err != nil {
		return h, err
	}
	if p[0] != 'F' || p[1] != 'L' || p[2] != 'V' {
		return h, errNotFLV
	}
	h.Version = p[3]
	h.HasAudio = p[4]&flagAudio != 0
	h.HasVideo = p[4]&flagVideo != 0
	h.DataOffset = uint32(p[5])<<24 | uint32(p[6])<<16 | uint32(p[7])<<8 | uint32(p[8])
	if h.DataOffset < FileHeaderSize {
		return h, fmt.Errorf("flv: header DataOffset %d is below %d", h.DataOffset, FileHeaderSize)
	}
	if err := limit.Check("MaxFileHeaderSize", int64(h.DataOffset), MaxFileHeaderSize); err != nil {
		return h, err
	}
	n := int(h.DataOffset) + PreviousTagSizeSize
	if p, err = r.br.Peek(n); err != nil {
		return h, err
	}
	pts := binary.BigEndian.Uint32(p[n-PreviousTagSizeSize:])
	if pts != 0 && !r.ignorePTS {
		return h, fmt.Errorf("flv: PreviousTagSize0 is %d, want 0: %w", pts, ErrPreviousTagSize)
	}
	return h, r.br.Skip(n)
}

// ReadTag reads the next tag: its header, its body and the PreviousTagSize
// field after it, which must equal TagHeaderSize plus the body size unless
// ReaderOptions.IgnorePreviousTagSize is set.
//
// The body's ranges are appended to t.Payload, which must be empty (its
// Buffers capacity is reused): ownership passes to the caller, who must free
// them with pool.FreeMemory(r.Allocator(), &t.Payload) on the reader's
// goroutine, or move them out of t (frame.Payload = t.Payload;
// t.Payload = gomem.Memory{}) before the next ReadTag, which otherwise fails
// with ErrPayloadNotReleased. The body is never copied; a body of size 0
// yields an empty Payload.
//
// ReadTag is atomic: it buffers the whole tag before consuming it, so on
// error (io.EOF at a clean end of stream, io.ErrUnexpectedEOF mid-tag, a
// read timeout that may be retried, a *limit.LimitError for a body larger
// than MaxTagSize) nothing is consumed and t is unchanged. The exception is
// a PreviousTagSize mismatch: the tag is consumed, its payload freed, and
// the error wraps ErrPreviousTagSize.
func (r *Reader) ReadTag(t *Tag) error {
	if len(t.Payload.Buffers) != 0 || t.Payload.Size != 0 {
		return ErrPayloadNotReleased
	}
	p, err := r.br.Peek(TagHeaderSize)
	if err != nil {
		return err
	}
	var h TagHeader
	h.Type = p[0] & 0x1f
	h.Filter = p[0]&0x20 != 0
	size := int(p[1])<<16 | int(p[2])<<8 | int(p[3])
	h.Timestamp = uint32(p[4])<<16 | uint32(p[5])<<8 | uint32(p[6]) | uint32(p[7])<<24
	h.StreamID = uint32(p[8])<<16 | uint32(p[9])<<8 | uint32(p[10])
	if size > r.maxTagSize {
		return &limit.LimitError{Name: "MaxTagSize", Limit: int64(r.maxTagSize), Got: int64(size)}
	}
	// Take header, body and trailer at once (TakeInto is atomic), then give
	// back the header and trailer bytes.
	total := TagHeaderSize + size + PreviousTagSizeSize
	if err := r.br.TakeInto(&t.Payload, total); err != nil {
		pool.ResetMemory(&t.Payload)
		return err
	}
	a := r.br.Allocator()
	pts := tailBE32(&t.Payload)
	trimFront(a, &t.Payload, TagHeaderSize)
	trimBack(a, &t.Payload, PreviousTagSizeSize)
	r.tags++
	if want := uint32(TagHeaderSize + size); pts != want && !r.ignorePTS {
		pool.FreeMemory(a, &t.Payload)
		return fmt.Errorf("flv: tag %d (type %d, %d bytes at %d ms): PreviousTagSize %d, want %d: %w",
			r.tags, h.Type, size, h.Timestamp, pts, want, ErrPreviousTagSize)
	}
	t.TagHeader = h
	return nil
}

// tailBE32 returns the last four bytes of m (m.Size >= 4) as a big-endian
// integer.
func tailBE32(m *gomem.Memory) uint32 {
	var v uint32
	shift := 0
	for i := len(m.Buffers) - 1; i >= 0 && shift < 32; i-- {
		b := m.Buffers[i]
		for j := len(b) - 1; j >= 0 && shift < 32; j-- {
			v |= uint32(b[j]) << shift
			shift += 8
		}
	}
	return v
}

// trimFront frees the first n bytes of m (n <= m.Size) and removes them.
func trimFront(a *gomem.ScalableMemoryAllocator, m *gomem.Memory, n int) {
	drop := 0
	for n > 0 {
		b := m.Buffers[drop]
		k := min(n, len(b))
		pool.Free(a, b[:k])
		if k == len(b) {
			drop++
		} else {
			m.Buffers[drop] = b[k:]
		}
		n -= k
		m.Size -= k
	}
	if drop > 0 {
		k := copy(m.Buffers, m.Buffers[drop:])
		clear(m.Buffers[k:])
		m.Buffers = m.Buffers[:k]
	}
}

// trimBack frees the last n bytes of m (n <= m.Size) and removes them.
func trimBack(a *gomem.ScalableMemoryAllocator, m *gomem.Memory, n int) {
	for n > 0 {
		i := len(m.Buffers) - 1
		b := m.Buffers[i]
		k := min(n, len(b))
		pool.Free(a, b[len(b)-k:])
		if k == len(b) {
			m.Buffers[i] = nil
			m.Buffers = m.Buffers[:i]
		} else {
			m.Buffers[i] = b[: len(b)-k : len(b)-k]
		}
		n -= k
		m.Size -= k
	}
}
