package chunk

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/pool"
)

// tmsg is a message as tests see it: header fields and a copied payload.
type tmsg struct {
	CSID      uint32
	TypeID    uint8
	StreamID  uint32
	Timestamp uint32
	Payload   []byte
}

func (m tmsg) String() string {
	return fmt.Sprintf("{csid=%d type=%d sid=%d ts=%d len=%d}", m.CSID, m.TypeID, m.StreamID, m.Timestamp, len(m.Payload))
}

func (m tmsg) header() Header {
	return Header{CSID: m.CSID, TypeID: m.TypeID, StreamID: m.StreamID, Timestamp: m.Timestamp}
}

// ---- an independent raw encoder, so the Reader is not only tested against the Writer ----

// basicHdr encodes a basic header; long forces the 3-byte form for any csid >= 64.
func basicHdr(typ byte, csid uint32, long bool) []byte {
	switch {
	case csid < 64:
		return []byte{typ<<6 | byte(csid)}
	case csid < 320 && !long:
		return []byte{typ << 6, byte(csid - 64)}
	default:
		return []byte{typ<<6 | 1, byte(csid - 64), byte((csid - 64) >> 8)}
	}
}

func u24(v uint32) []byte { return []byte{byte(v >> 16), byte(v >> 8), byte(v)} }
func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func tsField(v uint32) ([]byte, []byte) {
	if v >= 0xFFFFFF {
		return u24(0xFFFFFF), u32(v)
	}
	return u24(v), nil
}

func hdr0(csid, ts, length uint32, typeID byte, sid uint32) []byte {
	f, ext := tsField(ts)
	b := append(basicHdr(0, csid, false), f...)
	b = append(b, u24(length)...)
	b = append(b, typeID, byte(sid), byte(sid>>8), byte(sid>>16), byte(sid>>24))
	return append(b, ext...)
}

func hdr1(csid, delta, length uint32, typeID byte) []byte {
	f, ext := tsField(delta)
	b := append(basicHdr(1, csid, false), f...)
	b = append(b, u24(length)...)
	b = append(b, typeID)
	return append(b, ext...)
}

func hdr2(csid, delta uint32) []byte {
	f, ext := tsField(delta)
	return append(append(basicHdr(2, csid, false), f...), ext...)
}

func hdr3(csid uint32, ext []byte) []byte { return append(basicHdr(3, csid, false), ext...) }

// interleave encodes msgs with a type 0 header each and type 3
// continuations (with extended timestamps where needed), emitting one chunk
// per chunk stream in turn so that messages on different chunk streams
// interleave. Messages on one chunk stream stay in order.
func interleave(msgs []tmsg, chunkSize int, long bool) []byte {
	type q struct {
		csid uint32
		ms   []tmsg
		off  int // payload bytes of ms[0] already sent; -1 before its header
	}
	var qs []*q
	for _, m := range msgs {
		var found *q
		for _, x := range qs {
			if x.csid == m.CSID {
				found = x
			}
		}
		if found == nil {
			found = &q{csid: m.CSID, off: -1}
			qs = append(qs, found)
		}
		found.ms = append(found.ms, m)
	}
	var out []byte
	for {
		progress := false
		for _, x := range qs {
			if len(x.ms) == 0 {
				continue
			}
			progress = true
			m := x.ms[0]
			_, ext := tsField(m.Timestamp)
			if x.off < 0 {
				h := hdr0(m.CSID, m.Timestamp, uint32(len(m.Payload)), m.TypeID, m.StreamID)
				if long && m.CSID >= 64 {
					h = append(basicHdr(0, m.CSID, true), h[len(basicHdr(0, m.CSID, false)):]...)
				}
				out = append(out, h...)
				x.off = 0
			} else {
				out = append(out, basicHdr(3, m.CSID, long)...)
				out = append(out, ext...)
			}
			k := min(chunkSize, len(m.Payload)-x.off)
			out = append(out, m.Payload[x.off:x.off+k]...)
			x.off += k
			if x.off == len(m.Payload) {
				x.ms, x.off = x.ms[1:], -1
			}
		}
		if !progress {
			return out
		}
	}
}

func setChunkSizeMsg(size uint32) []byte {
	return append(hdr0(2, 0, 4, TypeSetChunkSize, 0), u32(size)...)
}

// ---- reading ----

type readResult struct {
	msgs []tmsg
	err  error
	// stats after the last read
	maxHeld, maxStreams int
}

// readAll reads src to the end through a fresh allocator and checks that
// everything is freed afterwards.
func readAll(t testing.TB, src io.Reader, blockSize int, opts Options) readResult {
	t.Helper()
	alloc := pool.NewAllocator(256 << 10)
	br := bufreader.New(src, bufreader.Options{Allocator: alloc, BlockSize: blockSize})
	r := NewReader(br, opts)
	var res readResult
	var msg Message
	for {
		err := r.ReadMessage(&msg)
		if err != nil {
			if timeout.Is(err) {
				continue
			}
			if err != io.EOF {
				res.err = err
			}
			break
		}
		if msg.Length != uint32(msg.Payload.Size) {
			t.Fatalf("Length %d, payload %d", msg.Length, msg.Payload.Size)
		}
		res.msgs = append(res.msgs, tmsg{msg.CSID, msg.TypeID, msg.StreamID, msg.Timestamp, msg.Payload.ToBytes()})
		msg.Free(alloc)
		res.maxHeld = max(res.maxHeld, r.Reassembling())
		res.maxStreams = max(res.maxStreams, r.ChunkStreams())
	}
	r.Close()
	br.Recycle()
	if !pool.Balanced(alloc) {
		t.Fatalf("allocator unbalanced after Close: %d bytes in use", pool.InUse(alloc))
	}
	pool.Recycle(alloc)
	return res
}

func sameMsgs(t testing.TB, got, want []tmsg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	// Messages on different chunk streams may complete in a different
	// order than they were queued; per chunk stream the order is fixed.
	per := func(ms []tmsg) map[uint32][]tmsg {
		m := map[uint32][]tmsg{}
		for _, x := range ms {
			m[x.CSID] = append(m[x.CSID], x)
		}
		return m
	}
	g, w := per(got), per(want)
	for csid, ws := range w {
		gs := g[csid]
		if len(gs) != len(ws) {
			t.Fatalf("csid %d: got %d messages, want %d", csid, len(gs), len(ws))
		}
		for i := range ws {
			a, b := gs[i], ws[i]
			if a.TypeID != b.TypeID || a.StreamID != b.StreamID || a.Timestamp != b.Timestamp || !bytes.Equal(a.Payload, b.Payload) {
				t.Fatalf("csid %d message %d: got %v want %v (payload equal %v)", csid, i, a, b, bytes.Equal(a.Payload, b.Payload))
			}
		}
	}
}

// genMsgs makes n messages over the given chunk streams with growing
// timestamps (some extended, and a wrap), assorted lengths and types.
func genMsgs(rng *rand.Rand, n int, csids []uint32, maxLen int) []tmsg {
	ts := map[uint32]uint32{}
	var out []tmsg
	for i := range n {
		csid := csids[rng.IntN(len(csids))]
		switch rng.IntN(8) {
		case 0:
			ts[csid] += 0xFFFFFF // forces an extended delta
		case 1:
			ts[csid] = 0xFFFFFF00 + uint32(rng.IntN(0x200)) // near the wrap
		default:
			ts[csid] += uint32(rng.IntN(100))
		}
		var length int
		switch rng.IntN(6) {
		case 0:
			length = 0
		case 1:
			length = maxLen
		default:
			length = rng.IntN(maxLen + 1)
		}
		p := make([]byte, length)
		for j := range p {
			p[j] = byte(i*31 + j)
		}
		typ := []uint8{TypeAudio, TypeVideo, TypeDataAMF0, TypeCommandAMF0}[rng.IntN(4)]
		sid := uint32(1)
		if rng.IntN(10) == 0 {
			sid = uint32(rng.IntN(3))
		}
		out = append(out, tmsg{CSID: csid, TypeID: typ, StreamID: sid, Timestamp: ts[csid], Payload: p})
	}
	return out
}

// writeAll encodes msgs with a Writer, first announcing chunkSize.
func writeAll(t testing.TB, msgs []tmsg, chunkSize uint32, splitPayload bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	if chunkSize != DefaultChunkSize {
		if err := w.QueueSetChunkSize(chunkSize); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range msgs {
		p := [][]byte{m.Payload}
		if splitPayload && len(m.Payload) > 2 {
			a, b := len(m.Payload)/3, 2*len(m.Payload)/3
			p = [][]byte{m.Payload[:a], nil, m.Payload[a:b], m.Payload[b:]}
		}
		if err := w.Queue(m.header(), p); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// timeoutReader returns a timeout error before every other read.
type timeoutReader struct {
	r io.Reader
	n int
}

type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout (test)" }
func (timeoutError) Timeout() bool { return true }

func (t *timeoutReader) Read(p []byte) (int, error) {
	t.n++
	if t.n%2 == 1 {
		return 0, timeoutError{}
	}
	return t.r.Read(p)
}

// cycleReader serves b over and over without allocating.
type cycleReader struct {
	b   []byte
	off int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off:])
	c.off += n
	if c.off == len(c.b) {
		c.off = 0
	}
	return n, nil
}

// mediaStream pre-encodes a cycle of interleaved audio and video messages
// at the given chunk size.
func mediaStream(t testing.TB, chunkSize uint32) []byte {
	var msgs []tmsg
	for i := range 32 {
		msgs = append(msgs, tmsg{CSID: 4, TypeID: TypeAudio, StreamID: 1, Timestamp: uint32(i * 23), Payload: make([]byte, 300+i)})
		msgs = append(msgs, tmsg{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: uint32(i * 40), Payload: make([]byte, 3000+i*700)})
	}
	return writeAll(t, msgs, chunkSize, false)
}
