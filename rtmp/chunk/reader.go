// Package chunk implements the RTMP chunk stream: a Reader that reassembles
// messages from chunks without copying their payload, and a Writer that
// splits messages into chunks for one writev.
//
// # Reading
//
// The Reader parses chunk headers out of a *bufreader.Reader and takes each
// chunk's payload with TakeInto, so a message payload is a gomem.Memory
// chain of ranges of the connection's read blocks, owned by the caller once
// ReadMessage returns. At chunk sizes of ZeroCopyMinChunkSize (default
// 4096) and above, no payload byte is copied.
//
// Below that chunk size, chunk payloads are copied into segments Malloc'd
// from the same allocator (counted in Stats.BytesCopied; see
// DefaultZeroCopyMinChunkSize for why). The payload is then a chain of those
// segments, owned and freed exactly like taken ranges.
//
// Set Chunk Size (type 1) and Abort (type 2) are applied by the Reader as
// soon as they are complete and are not returned. A chunk size of 0 is a
// protocol error; sizes above MaxChunkSize (0xFFFFFF: no message is longer),
// including values with the reserved top bit set, are clamped to it. The
// chunk size never sizes an allocation. Abort frees the partial message of
// the chunk stream it names. Every other message is returned, control
// messages included.
//
// Timestamps are absolute, computed with uint32 arithmetic (so they wrap
// after 2^32 ms as the protocol intends). Following ffmpeg and the spec, a
// type 0 header's timestamp also becomes the delta that a following type 3
// header for a new message adds, and extended timestamps are present on
// type 3 chunks whenever the chunk stream's last type 0/1/2 header had one
// (ffmpeg and librtmp send them on continuation chunks).
//
// A type 0/1/2 header in the middle of a message and a type 1/2/3 header on
// a chunk stream that never had a type 0 header are protocol errors.
//
// # Memory
//
// All Malloc and Free calls happen on the goroutine that calls ReadMessage
// and Close, through the bufreader's allocator. Partially received messages
// are held by the Reader and freed by Abort or Close; completed ones belong
// to the caller, who frees them with Message.Free (or moves their ranges into
// a frame). After Close and freeing every returned message, the allocator is
// balanced (pool.Balanced) once the bufreader is recycled too.
package chunk

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// Message type ids.
const (
	TypeSetChunkSize     = 1
	TypeAbort            = 2
	TypeAck              = 3
	TypeUserControl      = 4
	TypeWindowAckSize    = 5
	TypeSetPeerBandwidth = 6
	TypeAudio            = 8
	TypeVideo            = 9
	TypeDataAMF3         = 15
	TypeSharedObjectAMF3 = 16
	TypeCommandAMF3      = 17
	TypeDataAMF0         = 18
	TypeSharedObjectAMF0 = 19
	TypeCommandAMF0      = 20
	TypeAggregate        = 22
)

// Chunk stream ids.
const (
	// ControlCSID carries protocol control messages.
	ControlCSID = 2
	// MinCSID and MaxCSID bound the ids the basic header can carry.
	MinCSID = 2
	MaxCSID = 65599
)

// ErrClosed is returned by ReadMessage after Close.
var ErrClosed = errors.New("rtmp chunk: reader closed")

// ErrProtocol marks chunk streams that break the protocol (a header that
// contradicts the chunk stream's state, a bad control message). It is
// always wrapped with the chunk stream id and details.
var ErrProtocol = errors.New("rtmp chunk protocol violation")

var errPayloadNotEmpty = errors.New("rtmp chunk: ReadMessage called with a non-empty msg.Payload (free or reset it first)")

// Options configures a Reader. Zero fields take the defaults in limits.go.
type Options struct {
	// MaxReassemblyBytes caps payload bytes held in partial messages across
	// all chunk streams.
	MaxReassemblyBytes int
	// MaxMessageLength caps one message's declared length.
	MaxMessageLength int
	// MaxChunkStreams caps the chunk stream ids in use.
	MaxChunkStreams int
	// ZeroCopyMinChunkSize is the smallest chunk size at which payloads
	// are taken rather than copied; 1 disables copying.
	ZeroCopyMinChunkSize int
}

// Message is one reassembled RTMP message.
type Message struct {
	CSID      uint32 // chunk stream id it arrived on
	TypeID    uint8
	StreamID  uint32 // message stream id
	Timestamp uint32 // absolute, in milliseconds (wraps at 2^32)
	Length    uint32 // payload length (== Payload.Size)
	// Payload is owned by whoever holds the Message: it is a chain of
	// ranges of the connection allocator's blocks, valid until freed with
	// Free (or pool.FreeMemory), which must happen on the connection's
	// goroutine.
	Payload gomem.Memory
}

// Free frees m's payload to alloc (the reader's allocator) and empties it,
// keeping the Buffers capacity so m can be passed to ReadMessage again
// without allocating.
func (m *Message) Free(alloc *pool.Allocator) {
	pool.FreeMemory(alloc, &m.Payload)
}

// Contiguous returns m's payload as one slice. When the payload is a single
// range it is returned as is (a view valid until m is freed); otherwise the
// ranges are copied into scratch[:0], which grows if too small (valid until
// scratch is reused). It copies, so use it only on the control path
// (commands, control messages) with a length the caller has bounded.
func Contiguous(m *Message, scratch []byte) []byte {
	switch len(m.Payload.Buffers) {
	case 0:
		return scratch[:0]
	case 1:
		return m.Payload.Buffers[0]
	}
	out := scratch[:0]
	for _, b := range m.Payload.Buffers {
		out = append(out, b...)
	}
	return out
}

// stream is one chunk stream's state.
type stream struct {
	csid      uint32
	timestamp uint32 // absolute timestamp of the current or last message
	delta     uint32 // last timestamp field (absolute after type 0, else a delta), extended value included
	extended  bool   // the last type 0/1/2 header carried an extended timestamp
	length    uint32
	typeID    uint8
	streamID  uint32
	active    bool   // a message is being reassembled
	remaining uint32 // payload bytes of the active message still to come
	payload   gomem.Memory
	// seg is the current copy segment (the whole Malloc'd range) when
	// chunks are copied; seg[:segUsed] is payload.Buffers[segIdx].
	seg     []byte
	segUsed int
	segIdx  int
}

// Reader reassembles RTMP messages from a chunk stream. It is not safe for
// concurrent use.
type Reader struct {
	br    *bufreader.Reader
	alloc *pool.Allocator

	chunkSize                     uint32
	maxReasm, maxMsg, maxStreams  int
	zcMin                         uint32
	slack                         int // Malloc'd but unfilled copy segment bytes
	curCopy                       bool
	copied, taken                 int64
	low                           [64]*stream // chunk streams 2..63
	high                          []*stream   // chunk streams 64..65599
	nstreams                      int
	held                          int // payload bytes in partial messages (and the chunk being taken)
	cur                           *stream
	curN                          int // payload bytes of cur's current chunk not yet taken
	err                           error
	closed                        bool
	messages, chunks, ctlMessages int64
}

// NewReader returns a Reader that parses chunks from br. The Reader does
// not own br: recycle br after Close.
func NewReader(br *bufreader.Reader, opts Options) *Reader {
	return &Reader{
		br:         br,
		alloc:      br.Allocator(),
		chunkSize:  DefaultChunkSize,
		maxReasm:   cmp.Or(max(opts.MaxReassemblyBytes, 0), DefaultMaxReassemblyBytes),
		maxMsg:     min(cmp.Or(max(opts.MaxMessageLength, 0), DefaultMaxMessageLength), 0xFFFFFF),
		maxStreams: min(cmp.Or(max(opts.MaxChunkStreams, 0), DefaultMaxChunkStreams), MaxCSID-MinCSID+1),
		zcMin:      uint32(cmp.Or(max(opts.ZeroCopyMinChunkSize, 0), DefaultZeroCopyMinChunkSize)),
	}
}

// Allocator returns the allocator message payloads come from.
func (r *Reader) Allocator() *pool.Allocator { return r.alloc }

// ChunkSize returns the peer's chunk size currently in force.
func (r *Reader) ChunkSize() uint32 { return r.chunkSize }

// Reassembling returns the bytes held for partial messages: payload
// received so far plus Malloc'd, not yet filled copy segment bytes.
func (r *Reader) Reassembling() int { return r.held + r.slack }

// ChunkStreams returns how many chunk stream ids are in use.
func (r *Reader) ChunkStreams() int { return r.nstreams }

// Stats are the Reader's counters.
type Stats struct {
	Chunks          int64 // chunk headers parsed
	Messages        int64 // messages returned by ReadMessage
	ControlMessages int64 // Set Chunk Size and Abort messages applied
	BytesTaken      int64 // payload bytes taken from the bufreader (zero-copy)
	BytesCopied     int64 // payload bytes copied because the chunk size was below ZeroCopyMinChunkSize
}

// Stats returns the Reader's counters.
func (r *Reader) Stats() Stats {
	return Stats{Chunks: r.chunks, Messages: r.messages, ControlMessages: r.ctlMessages,
		BytesTaken: r.taken, BytesCopied: r.copied}
}

// ReadMessage reads chunks until a message other than Set Chunk Size or
// Abort is complete and stores it in msg. msg.Payload must be empty (freed
// or moved away); its Buffers capacity is reused, so a caller that frees
// each message and passes the same msg back reads without allocating.
// Ownership of the returned payload passes to the caller.
//
// At a clean end of stream (at a chunk boundary, with no message partly
// received) it returns io.EOF; an end anywhere else is io.ErrUnexpectedEOF.
// Errors from the source that the bufreader allows to be retried (timeouts)
// leave the Reader consistent: call ReadMessage again to resume. Protocol
// errors (wrapping ErrProtocol) and limit violations (*limit.LimitError) are
// sticky.
func (r *Reader) ReadMessage(msg *Message) error {
	if r.closed {
		return ErrClosed
	}
	if r.err != nil {
		return r.err
	}
	if msg.Payload.Size != 0 || len(msg.Payload.Buffers) != 0 {
		return errPayloadNotEmpty
	}
	for {
		if r.cur == nil {
			if err := r.readHeader(); err != nil {
				return err
			}
		}
		st := r.cur
		if r.curN > 0 {
			var err error
			if r.curCopy {
				err = r.copyChunk(st, r.curN)
			} else {
				r.finishSegment(st)
				err = r.br.TakeInto(&st.payload, r.curN)
				if err == nil {
					r.taken += int64(r.curN)
				}
			}
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return r.fail(fmt.Errorf("rtmp chunk csid=%d: payload: %w", st.csid, err))
			}
			st.remaining -= uint32(r.curN)
		}
		r.cur, r.curN = nil, 0
		if st.remaining > 0 {
			continue
		}
		r.finishSegment(st)
		st.active = false
		r.held -= st.payload.Size
		switch st.typeID {
		case TypeSetChunkSize, TypeAbort:
			r.ctlMessages++
			if err := r.control(st); err != nil {
				return r.fail(err)
			}
			continue
		}
		msg.CSID = st.csid
		msg.TypeID = st.typeID
		msg.StreamID = st.streamID
		msg.Timestamp = st.timestamp
		msg.Length = st.length
		msg.Payload, st.payload = st.payload, msg.Payload
		r.messages++
		return nil
	}
}

// fail records protocol and limit errors as sticky; other errors come
// from the source and the bufreader decides whether they persist.
func (r *Reader) fail(err error) error {
	var le *limit.LimitError
	if errors.Is(err, ErrProtocol) || errors.As(err, &le) {
		r.err = err
	}
	return err
}

var msgHeaderLen = [4]int{11, 7, 3, 0}

func (r *Reader) peek(n int, csid uint32) ([]byte, error) {
	p, err := r.br.Peek(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("rtmp chunk csid=%d: header: %w", csid, err)
	}
	return p, nil
}

func protoErr(csid uint32, format string, args ...any) error {
	return fmt.Errorf("rtmp chunk csid=%d: %s: %w", csid, fmt.Sprintf(format, args...), ErrProtocol)
}

// readHeader parses one chunk header, applies it to its chunk stream and
// sets r.cur and r.curN. It consumes the header only once all of it is
// buffered and valid, so a source error leaves the stream untouched.
func (r *Reader) readHeader() error {
	p, err := r.br.Peek(1)
	if err != nil {
		if err == io.EOF {
			if r.held == 0 {
				return io.EOF
			}
			err = io.ErrUnexpectedEOF // a message was left unfinished
		}
		return fmt.Errorf("rtmp chunk: header: %w", err)
	}
	typ := p[0] >> 6
	csid := uint32(p[0] & 0x3f)
	bl := 1
	switch csid {
	case 0:
		bl = 2
	case 1:
		bl = 3
	}
	if bl > 1 {
		if p, err = r.peek(bl, csid); err != nil {
			return err
		}
		csid = 64 + uint32(p[1])
		if bl == 3 {
			csid += uint32(p[2]) << 8
		}
	}
	st := r.lookup(csid)
	n := bl + msgHeaderLen[typ]
	var ext bool
	if typ == 3 {
		if st == nil {
			return r.fail(protoErr(csid, "type 3 chunk on a chunk stream with no previous header"))
		}
		ext = st.extended
	} else {
		if p, err = r.peek(n, csid); err != nil {
			return err
		}
		ext = be24(p[bl:]) == 0xFFFFFF
	}
	if ext {
		n += 4
	}
	if len(p) < n { // a type 3 header without extended timestamp is all in p already
		if p, err = r.peek(n, csid); err != nil {
			return err
		}
	}
	h := p[bl:]

	// Validate before changing any state.
	if st == nil && typ != 0 {
		return r.fail(protoErr(csid, "type %d chunk on a chunk stream with no previous type 0 header", typ))
	}
	if st != nil && st.active && typ != 3 {
		return r.fail(protoErr(csid, "type %d header in the middle of a message (%d of %d bytes received)",
			typ, st.length-st.remaining, st.length))
	}
	newMsg := st == nil || !st.active
	length := uint32(0)
	switch {
	case typ <= 1:
		length = be24(h[3:])
	case st != nil:
		length = st.length
	}
	if newMsg && int(length) > r.maxMsg {
		return r.fail(fmt.Errorf("rtmp chunk csid=%d: message length: %w", csid,
			&limit.LimitError{Name: "MaxMessageLength", Limit: int64(r.maxMsg), Got: int64(length)}))
	}
	left := length
	if !newMsg {
		left = st.remaining
	}
	k := min(left, r.chunkSize)
	if r.held+r.slack+int(k) > r.maxReasm {
		return r.fail(fmt.Errorf("rtmp chunk csid=%d: %w", csid,
			&limit.LimitError{Name: "MaxReassemblyBytes", Limit: int64(r.maxReasm), Got: int64(r.held+r.slack) + int64(k)}))
	}
	if st == nil {
		if r.nstreams >= r.maxStreams {
			return r.fail(fmt.Errorf("rtmp chunk csid=%d: %w", csid,
				&limit.LimitError{Name: "MaxChunkStreams", Limit: int64(r.maxStreams), Got: int64(r.nstreams) + 1}))
		}
		st = r.create(csid)
	}

	// Apply.
	var field uint32
	if typ < 3 {
		field = be24(h)
		if ext {
			field = binary.BigEndian.Uint32(h[msgHeaderLen[typ]:])
		}
	}
	switch typ {
	case 0:
		st.timestamp = field
		st.delta = field
		st.extended = ext
		st.length = length
		st.typeID = h[6]
		st.streamID = binary.LittleEndian.Uint32(h[7:])
	case 1:
		st.delta = field
		st.timestamp += field
		st.extended = ext
		st.length = length
		st.typeID = h[6]
	case 2:
		st.delta = field
		st.timestamp += field
		st.extended = ext
	case 3:
		if newMsg {
			if ext {
				st.delta = binary.BigEndian.Uint32(h)
			}
			st.timestamp += st.delta
		}
	}
	if newMsg {
		st.active = true
		st.remaining = st.length
	}
	if err := r.br.Skip(n); err != nil { // buffered: cannot fail short
		return fmt.Errorf("rtmp chunk csid=%d: header: %w", csid, err)
	}
	r.chunks++
	r.held += int(k)
	r.cur, r.curN = st, int(k)
	r.curCopy = r.chunkSize < r.zcMin
	return nil
}

// copyChunk copies the next n payload bytes of st's message into copy
// segments, Malloc'd as needed and never larger than the bytes left in the
// message. ReadRange buffers all n bytes before calling back, so on error
// nothing is consumed or Malloc'd.
func (r *Reader) copyChunk(st *stream, n int) error {
	left := int(st.remaining) // message bytes not yet in the payload, this chunk included
	return r.br.ReadRange(n, func(b []byte) {
		for len(b) > 0 {
			if st.seg == nil || st.segUsed == len(st.seg) {
				r.finishSegment(st)
				size := min(left, CopySegmentSize)
				st.seg = pool.Malloc(r.alloc, size)
				st.segUsed = 0
				st.segIdx = len(st.payload.Buffers)
				st.payload.PushOne(st.seg[:0])
				r.slack += size
			}
			c := copy(st.seg[st.segUsed:], b)
			b = b[c:]
			st.segUsed += c
			left -= c
			st.payload.Buffers[st.segIdx] = st.seg[:st.segUsed:st.segUsed]
			st.payload.Size += c
			r.slack -= c
			r.copied += int64(c)
		}
	})
}

// finishSegment frees the unfilled tail of st's copy segment, if any, and
// detaches it; the filled part stays in the payload.
func (r *Reader) finishSegment(st *stream) {
	if st.seg == nil {
		return
	}
	if tail := st.seg[st.segUsed:]; len(tail) > 0 {
		pool.Free(r.alloc, tail)
		r.slack -= len(tail)
	}
	st.seg, st.segUsed, st.segIdx = nil, 0, 0
}

func (r *Reader) lookup(csid uint32) *stream {
	if csid < 64 {
		return r.low[csid]
	}
	for _, st := range r.high {
		if st.csid == csid {
			return st
		}
	}
	return nil
}

func (r *Reader) create(csid uint32) *stream {
	st := &stream{csid: csid}
	if csid < 64 {
		r.low[csid] = st
	} else {
		r.high = append(r.high, st)
	}
	r.nstreams++
	return st
}

// control applies a completed Set Chunk Size or Abort message and frees it.
func (r *Reader) control(st *stream) error {
	var v [4]byte
	n := 0
	for _, b := range st.payload.Buffers {
		n += copy(v[n:], b)
	}
	size := st.payload.Size
	pool.FreeMemory(r.alloc, &st.payload)
	if size < 4 {
		return protoErr(st.csid, "message type %d with a %d-byte payload", st.typeID, size)
	}
	val := binary.BigEndian.Uint32(v[:])
	if st.typeID == TypeSetChunkSize {
		if val == 0 {
			return protoErr(st.csid, "set chunk size 0")
		}
		r.chunkSize = min(max(val, MinChunkSize), MaxChunkSize)
		return nil
	}
	// Abort: drop the partial message of chunk stream val, if any.
	if val > MaxCSID {
		return nil
	}
	if t := r.lookup(val); t != nil && t.active {
		r.finishSegment(t)
		r.held -= t.payload.Size
		pool.FreeMemory(r.alloc, &t.payload)
		t.active, t.remaining = false, 0
	}
	return nil
}

// Close frees every partial message and makes the Reader unusable. It does
// not recycle the bufreader. Messages already returned stay the caller's
// to free. Close is idempotent.
func (r *Reader) Close() {
	if r.closed {
		return
	}
	r.closed = true
	free := func(st *stream) {
		if st != nil {
			r.finishSegment(st)
			pool.FreeMemory(r.alloc, &st.payload)
			st.active = false
		}
	}
	for _, st := range r.low {
		free(st)
	}
	for _, st := range r.high {
		free(st)
	}
	r.held, r.slack, r.cur, r.curN = 0, 0, nil, 0
}

func be24(p []byte) uint32 { return uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2]) }
