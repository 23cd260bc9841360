package chunk

import (
	"fmt"
	"io"
	"net"

	"github.com/zcingest/zerocopy/limit"
)

// User control event types (message type 4).
const (
	EventStreamBegin      = 0
	EventStreamEOF        = 1
	EventStreamDry        = 2
	EventSetBufferLength  = 3
	EventStreamIsRecorded = 4
	EventPingRequest      = 6
	EventPingResponse     = 7
)

// Set Peer Bandwidth limit types.
const (
	LimitHard    = 0
	LimitSoft    = 1
	LimitDynamic = 2
)

// maxWireLength is the largest message length the 24-bit field can carry.
const maxWireLength = 0xFFFFFF

// Header holds the fields of an outgoing message.
type Header struct {
	CSID      uint32 // chunk stream id, MinCSID..MaxCSID
	TypeID    uint8
	StreamID  uint32 // message stream id
	Timestamp uint32 // absolute, in milliseconds
}

// Writer splits messages into chunks. Queue adds a message's chunk headers
// to a buffer the Writer reuses and its payload slices, unchanged, to an
// iovec list; Flush writes everything queued with one net.Buffers.WriteTo
// (one writev on a *net.TCPConn). After warm-up neither allocates.
//
// Headers are compressed per chunk stream: type 0 for the first message, a
// new message stream id or a timestamp going backwards; type 1 when length
// or type changes; type 2 when only the timestamp delta changes; type 3 when
// nothing does. Type 3 is never used right after a type 0, where readers
// disagree about the delta. Extended timestamps are written on every chunk
// of a message whose timestamp field needs one, continuation chunks included.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w         io.Writer
	chunkSize int

	own      []byte // chunk headers of the queued messages
	ctl      []byte // payloads of queued control messages
	iov      [][]byte
	bufs     net.Buffers
	ownIdx   int // iov index of the last entry if it is a range of own, else -1
	ownStart int // start in own of that entry
	ownEnd   int // end in own of that entry
	queued   int
	one      [1][]byte

	streams []wstream
	err     error
}

type wstream struct {
	csid       uint32
	timestamp  uint32
	delta      uint32 // last timestamp field written (absolute after type 0)
	extended   bool   // the last type 0/1/2 header had an extended timestamp
	deltaValid bool   // the last header was not type 0, so type 3 is unambiguous
	length     uint32
	typeID     uint8
	streamID   uint32
}

// NewWriter returns a Writer to w with the given outgoing chunk size
// (clamped to [MinChunkSize, MaxChunkSize]; 0 means DefaultChunkSize). The
// peer must already know that size: use QueueSetChunkSize to change it.
func NewWriter(w io.Writer, chunkSize int) *Writer {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	return &Writer{w: w, chunkSize: clampChunk(chunkSize), ownIdx: -1}
}

func clampChunk(n int) int { return min(max(n, MinChunkSize), MaxChunkSize) }

// ChunkSize returns the outgoing chunk size.
func (w *Writer) ChunkSize() int { return w.chunkSize }

// Buffered returns the bytes queued and not yet flushed.
func (w *Writer) Buffered() int { return w.queued }

// Queue appends message h with the given payload (the concatenation of
// payload's slices) to the queue. The payload slices are referenced, not
// copied: they must stay valid and unchanged until Flush returns.
func (w *Writer) Queue(h Header, payload [][]byte) error {
	if w.err != nil {
		return w.err
	}
	if h.CSID < MinCSID || h.CSID > MaxCSID {
		return fmt.Errorf("rtmp chunk writer: chunk stream id %d out of range %d..%d", h.CSID, MinCSID, MaxCSID)
	}
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	if n > maxWireLength {
		return fmt.Errorf("rtmp chunk writer csid=%d: %w", h.CSID,
			&limit.LimitError{Name: "MessageLength24", Limit: maxWireLength, Got: int64(n)})
	}
	st := w.stream(h.CSID)
	length := uint32(n)
	delta := h.Timestamp - st.timestamp
	var typ byte
	var field uint32
	switch {
	case st.length == ^uint32(0) || h.StreamID != st.streamID || h.Timestamp < st.timestamp:
		typ, field = 0, h.Timestamp
	case length != st.length || h.TypeID != st.typeID:
		typ, field = 1, delta
	case !st.deltaValid || delta != st.delta:
		typ, field = 2, delta
	default:
		typ, field = 3, delta
	}
	if typ < 3 {
		st.delta, st.extended, st.deltaValid = field, field >= 0xFFFFFF, typ != 0
	}
	st.timestamp, st.length, st.typeID, st.streamID = h.Timestamp, length, h.TypeID, h.StreamID

	start := len(w.own)
	w.own = appendBasic(w.own, typ, h.CSID)
	tsField := min(field, 0xFFFFFF)
	switch typ {
	case 0:
		w.own = append(w.own, byte(tsField>>16), byte(tsField>>8), byte(tsField),
			byte(length>>16), byte(length>>8), byte(length), h.TypeID,
			byte(h.StreamID), byte(h.StreamID>>8), byte(h.StreamID>>16), byte(h.StreamID>>24))
	case 1:
		w.own = append(w.own, byte(tsField>>16), byte(tsField>>8), byte(tsField),
			byte(length>>16), byte(length>>8), byte(length), h.TypeID)
	case 2:
		w.own = append(w.own, byte(tsField>>16), byte(tsField>>8), byte(tsField))
	}
	if st.extended {
		w.own = append(w.own, byte(st.delta>>24), byte(st.delta>>16), byte(st.delta>>8), byte(st.delta))
	}
	w.pushOwn(start)

	pi, po, left := 0, 0, n
	for {
		k := min(w.chunkSize, left)
		left -= k
		for k > 0 {
			p := payload[pi][po:]
			if len(p) == 0 {
				pi, po = pi+1, 0
				continue
			}
			take := min(k, len(p))
			w.iov = append(w.iov, p[:take:take])
			w.ownIdx = -1
			po += take
			k -= take
		}
		if left == 0 {
			break
		}
		start = len(w.own)
		w.own = appendBasic(w.own, 3, h.CSID)
		if st.extended {
			w.own = append(w.own, byte(st.delta>>24), byte(st.delta>>16), byte(st.delta>>8), byte(st.delta))
		}
		w.pushOwn(start)
	}
	w.queued += n
	return nil
}

// pushOwn adds own[start:] to the iovec list, extending the previous entry
// when it is the range of own just before. (If own was reallocated since,
// earlier entries still point at the old array, whose bytes are the same.)
func (w *Writer) pushOwn(start int) {
	w.queued += len(w.own) - start
	if w.ownIdx >= 0 && w.ownIdx == len(w.iov)-1 && w.ownEnd == start {
		w.iov[w.ownIdx] = w.own[w.ownStart:len(w.own):len(w.own)]
	} else {
		w.iov = append(w.iov, w.own[start:len(w.own):len(w.own)])
		w.ownIdx, w.ownStart = len(w.iov)-1, start
	}
	w.ownEnd = len(w.own)
}

func appendBasic(b []byte, typ byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(b, typ<<6|byte(csid))
	case csid < 64+256:
		return append(b, typ<<6, byte(csid-64))
	default:
		return append(b, typ<<6|1, byte(csid-64), byte((csid-64)>>8))
	}
}

func (w *Writer) stream(csid uint32) *wstream {
	for i := range w.streams {
		if w.streams[i].csid == csid {
			return &w.streams[i]
		}
	}
	w.streams = append(w.streams, wstream{csid: csid, length: ^uint32(0)})
	return &w.streams[len(w.streams)-1]
}

// WriteMessage queues one message and flushes.
func (w *Writer) WriteMessage(h Header, payload [][]byte) error {
	if err := w.Queue(h, payload); err != nil {
		return err
	}
	return w.Flush()
}

// Flush writes everything queued with one net.Buffers.WriteTo. After an
// error the Writer is unusable: every later call returns the same error.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.iov) == 0 {
		return nil
	}
	w.bufs = w.iov
	_, err := w.bufs.WriteTo(w.w)
	clear(w.iov)
	w.iov, w.bufs = w.iov[:0], nil
	w.own, w.ctl = w.own[:0], w.ctl[:0]
	w.ownIdx, w.queued = -1, 0
	if err != nil {
		w.err = fmt.Errorf("rtmp chunk writer: %w", err)
	}
	return w.err
}

// queueControl queues a protocol control message on ControlCSID, message
// stream 0, timestamp 0, with the payload bytes appended to w.ctl from start.
func (w *Writer) queueControl(typeID uint8, start int) error {
	w.one[0] = w.ctl[start:len(w.ctl):len(w.ctl)]
	err := w.Queue(Header{CSID: ControlCSID, TypeID: typeID}, w.one[:])
	w.one[0] = nil
	return err
}

func (w *Writer) ctl32(vs ...uint32) int {
	start := len(w.ctl)
	for _, v := range vs {
		w.ctl = append(w.ctl, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return start
}

// QueueSetChunkSize queues a Set Chunk Size message and uses the new size
// (clamped to [MinChunkSize, MaxChunkSize]) for every message queued after it.
func (w *Writer) QueueSetChunkSize(size uint32) error {
	size = uint32(clampChunk(int(size & 0x7FFFFFFF)))
	if err := w.queueControl(TypeSetChunkSize, w.ctl32(size)); err != nil {
		return err
	}
	w.chunkSize = int(size)
	return nil
}

// QueueAbort queues an Abort message for chunk stream csid.
func (w *Writer) QueueAbort(csid uint32) error {
	return w.queueControl(TypeAbort, w.ctl32(csid))
}

// QueueAck queues an Acknowledgement of seq bytes received.
func (w *Writer) QueueAck(seq uint32) error {
	return w.queueControl(TypeAck, w.ctl32(seq))
}

// QueueWindowAckSize queues a Window Acknowledgement Size message.
func (w *Writer) QueueWindowAckSize(size uint32) error {
	return w.queueControl(TypeWindowAckSize, w.ctl32(size))
}

// QueueSetPeerBandwidth queues a Set Peer Bandwidth message (limitType is
// LimitHard, LimitSoft or LimitDynamic).
func (w *Writer) QueueSetPeerBandwidth(size uint32, limitType uint8) error {
	start := w.ctl32(size)
	w.ctl = append(w.ctl, limitType)
	return w.queueControl(TypeSetPeerBandwidth, start)
}

// QueueUserControl queues a User Control message: a 16-bit event type and
// its 32-bit arguments (one for most events, two for SetBufferLength).
func (w *Writer) QueueUserControl(event uint16, args ...uint32) error {
	start := len(w.ctl)
	w.ctl = append(w.ctl, byte(event>>8), byte(event))
	w.ctl32(args...)
	return w.queueControl(TypeUserControl, start)
}

// QueueStreamBegin queues User Control Stream Begin for message stream id.
func (w *Writer) QueueStreamBegin(streamID uint32) error {
	return w.QueueUserControl(EventStreamBegin, streamID)
}
