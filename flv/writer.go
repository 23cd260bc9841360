package flv

import (
	"io"
	"net"
)

// Writer writes an FLV stream. Tag payloads are passed to the underlying
// writer as they are, in one vectored write per tag (writev on a net.Conn),
// together with a small header buffer the Writer reuses; nothing is copied
// and, once the Writer has seen the largest payload buffer count, nothing is
// allocated. A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	scratch [TagHeaderSize + PreviousTagSizeSize]byte
	iov     [][]byte
	bufs    net.Buffers // a field, so the vectored write does not allocate
	written int64
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.written }

// WriteFileHeader writes the 13-byte file header (FileHeader).
func (w *Writer) WriteFileHeader(hasVideo, hasAudio bool) error {
	n, err := w.w.Write(AppendFileHeader(w.scratch[:0], hasVideo, hasAudio))
	w.written += int64(n)
	return err
}

// WriteTag writes one tag: the header h, the body made of the payload
// slices in order, and the PreviousTagSize field. The slices are only read,
// and only during the call. A body larger than MaxDataSize is rejected with
// a *limit.LimitError before anything is written.
func (w *Writer) WriteTag(h TagHeader, payload [][]byte) error {
	size := 0
	for _, b := range payload {
		size += len(b)
	}
	if size > MaxDataSize {
		return dataSizeError(size)
	}
	typ := h.Type & 0x1f
	if h.Filter {
		typ |= 0x20
	}
	hdr := PutTagHeader(w.scratch[:0], typ, size, h.Timestamp)
	hdr[8], hdr[9], hdr[10] = byte(h.StreamID>>16), byte(h.StreamID>>8), byte(h.StreamID)
	trailer := PutPreviousTagSize(hdr[TagHeaderSize:TagHeaderSize], uint32(TagHeaderSize+size))
	return w.writeTag(hdr, payload, trailer)
}

// WriteTagMemory is WriteTag for a Tag as ReadTag returns it. The payload
// stays the caller's.
func (w *Writer) WriteTagMemory(t *Tag) error { return w.WriteTag(t.TagHeader, t.Payload.Buffers) }

// writeTag writes hdr, the non-empty payload slices and trailer as one
// net.Buffers.
func (w *Writer) writeTag(hdr []byte, payload [][]byte, trailer []byte) error {
	w.iov = append(w.iov[:0], hdr)
	for _, b := range payload {
		if len(b) > 0 {
			w.iov = append(w.iov, b)
		}
	}
	w.iov = append(w.iov, trailer)
	w.bufs = w.iov
	n, err := w.bufs.WriteTo(w.w)
	w.written += n
	// Drop the references to the caller's payload.
	clear(w.iov)
	w.bufs = nil
	return err
}
