package chunk

import (
	"encoding/binary"
	"fmt"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// SplitAggregate unpacks an aggregate message (type 22) into its
// sub-messages without copying their payload. The aggregate's body is a run
// of FLV tags: an 11-byte tag header (type, 24-bit size, 24+8-bit
// timestamp, stream id), the body and a 4-byte back pointer (the last one
// may be missing). Each sub-message keeps agg's CSID and StreamID, takes
// its type from the tag header, and its timestamp is agg.Timestamp plus its
// tag timestamp's distance from the first tag's (uint32 arithmetic, so it
// wraps like every RTMP timestamp).
//
// The whole body is validated before anything is handed out: a tag that
// runs past the end is an error wrapping ErrProtocol, and more than
// MaxAggregateMessages tags is a *limit.LimitError. Then yield is called
// once per tag with a Message whose Payload is a chain of sub-ranges of
// agg's payload; yield owns that payload (it frees it or moves it into a
// frame, as it would a message from ReadMessage). A payload yield leaves
// in place is freed when yield returns. Tag headers and back pointers are
// freed as they are passed. SplitAggregate stops at the first error yield
// returns and frees the rest.
//
// On return agg.Payload is empty, whatever the outcome. copied counts the
// tag header bytes that straddled two payload ranges and were assembled
// into a local buffer to be parsed; no body byte is copied. All frees go to
// alloc, on the caller's (the connection's) goroutine.
func SplitAggregate(alloc *pool.Allocator, agg *Message, yield func(sub *Message) error) (copied int64, err error) {
	c := aggCursor{alloc: alloc, bufs: agg.Payload.Buffers}
	defer func() {
		c.skip(agg.Payload.Size - c.pos) // whatever was not handed out
		pool.ResetMemory(&agg.Payload)
	}()
	size := agg.Payload.Size

	// Validate every tag before handing any out.
	var h [aggregateTagHeaderLen]byte
	n := 0
	for pos := 0; pos < size; n++ {
		if err := limit.Check("MaxAggregateMessages", int64(n)+1, MaxAggregateMessages); err != nil {
			return 0, fmt.Errorf("rtmp aggregate csid=%d: %w", agg.CSID, err)
		}
		if size-pos < aggregateTagHeaderLen {
			return 0, protoErr(agg.CSID, "aggregate truncated: %d bytes left at offset %d, a tag header is %d", size-pos, pos, aggregateTagHeaderLen)
		}
		c.peekAt(pos, h[:])
		body := int(be24(h[1:]))
		end := pos + aggregateTagHeaderLen + body
		if end > size {
			return 0, protoErr(agg.CSID, "aggregate tag %d at offset %d declares %d bytes, %d are left", n, pos, body, size-pos-aggregateTagHeaderLen)
		}
		pos = min(end+aggregateBackPointerLen, size)
	}

	var sub Message
	var first uint32
	for i := 0; c.pos < size; i++ {
		copied += int64(c.peek(h[:]))
		c.skip(aggregateTagHeaderLen)
		ts := be24(h[4:]) | uint32(h[7])<<24
		if i == 0 {
			first = ts
		}
		sub = Message{CSID: agg.CSID, StreamID: agg.StreamID, TypeID: h[0] & 0x1f,
			Timestamp: agg.Timestamp + (ts - first), Length: be24(h[1:]), Payload: sub.Payload}
		c.take(int(sub.Length), &sub)
		err := yield(&sub)
		pool.FreeMemory(alloc, &sub.Payload)
		if err != nil {
			return copied, err
		}
		c.skip(min(aggregateBackPointerLen, size-c.pos))
	}
	return copied, nil
}

// aggCursor walks an aggregate's payload ranges front to back.
type aggCursor struct {
	alloc  *pool.Allocator
	bufs   [][]byte
	i, off int // current range and offset in it
	pos    int // bytes passed
}

// each calls fn on the next n bytes, range by range, and moves past them.
func (c *aggCursor) each(n int, fn func(b []byte)) {
	c.pos += n
	for n > 0 {
		b := c.bufs[c.i][c.off:]
		k := min(n, len(b))
		fn(b[:k:k])
		n -= k
		c.off += k
		if c.off == len(c.bufs[c.i]) {
			c.i, c.off = c.i+1, 0
		}
	}
}

func (c *aggCursor) skip(n int) { c.each(n, func(b []byte) { pool.Free(c.alloc, b) }) }

func (c *aggCursor) take(n int, m *Message) {
	c.each(n, func(b []byte) { m.Payload.PushOne(b) })
}

// peek copies the next len(dst) bytes into dst without moving and returns
// how many were copied from a range other than the first (0 when dst fits
// in one range: a plain parse of one range's bytes).
func (c *aggCursor) peek(dst []byte) int {
	i, off, n := c.i, c.off, 0
	for n < len(dst) {
		n += copy(dst[n:], c.bufs[i][off:])
		i, off = i+1, 0
	}
	if i-c.i > 1 {
		return len(dst)
	}
	return 0
}

// peekAt copies len(dst) bytes at absolute offset pos (from the start of
// the payload, at or after the cursor) into dst without moving.
func (c *aggCursor) peekAt(pos int, dst []byte) {
	i, skip := c.i, pos-c.pos+c.off
	for skip >= len(c.bufs[i]) {
		skip -= len(c.bufs[i])
		i++
	}
	n := 0
	for n < len(dst) {
		n += copy(dst[n:], c.bufs[i][skip:])
		i, skip = i+1, 0
	}
}

// AggregateTag appends one aggregate sub-message (tag header, body, back
// pointer) to dst: the layout SplitAggregate reads, for tests and tools.
func AggregateTag(dst []byte, typeID uint8, timestamp uint32, body []byte) []byte {
	dst = append(dst, typeID, byte(len(body)>>16), byte(len(body)>>8), byte(len(body)),
		byte(timestamp>>16), byte(timestamp>>8), byte(timestamp), byte(timestamp>>24), 0, 0, 0)
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, uint32(aggregateTagHeaderLen+len(body)))
}
