package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

var chunkSizes = []uint32{1, 2, 7, 60, 128, 129, 1000, 4096, 65536, MaxChunkSize}

// TestWriterReaderRoundTrip encodes random messages with the Writer at many
// chunk sizes and reads them back.
func TestWriterReaderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	csids := []uint32{2, 3, 4, 63, 64, 319, 320, 65599}
	for _, cs := range chunkSizes {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("cs%d/split%v", cs, split), func(t *testing.T) {
				maxLen := 3000
				if cs < 8 {
					maxLen = 300 // few fragments: see BenchmarkSmallChunks
				}
				msgs := genMsgs(rng, 60, csids, maxLen)
				data := writeAll(t, msgs, cs, split)
				for _, rc := range []struct{ bs, zcMin int }{{256, 1}, {4096, 0}} { // take, then copy below 4096
					res := readAll(t, bytes.NewReader(data), rc.bs, Options{ZeroCopyMinChunkSize: rc.zcMin})
					if res.err != nil {
						t.Fatal(res.err)
					}
					sameMsgs(t, res.msgs, msgs)
				}
			})
		}
	}
}

// TestInterleavedChunks reads streams whose chunks interleave across chunk
// streams, encoded independently of the Writer, including the 3-byte basic
// header form for ids that fit in two bytes.
func TestInterleavedChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cs := range []uint32{1, 5, 128, 1000, 70000} {
		for _, long := range []bool{false, true} {
			maxLen := 2000
			if cs < 100 {
				maxLen = 200 // keep the number of fragments (and gomem's cost) small
			}
			msgs := genMsgs(rng, 40, []uint32{3, 4, 5, 6, 64, 100, 319, 320, 1000, 65599}, maxLen)
			data := interleave(msgs, int(cs), long)
			if cs != DefaultChunkSize {
				data = append(setChunkSizeMsg(cs), data...)
			}
			for _, zc := range []int{0, 1} {
				res := readAll(t, bytes.NewReader(data), 256, Options{ZeroCopyMinChunkSize: zc})
				if res.err != nil {
					t.Fatalf("cs %d long %v: %v", cs, long, res.err)
				}
				sameMsgs(t, res.msgs, msgs)
			}
		}
	}
}

// testStream is a fixed stream mixing everything: interleaving, extended
// timestamps, a chunk size change with a message in flight, an abort, all
// basic header forms.
func testStream(withBig bool) ([]byte, []tmsg) {
	p := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	var b []byte
	var want []tmsg
	// Audio on csid 4, 300 bytes at chunk size 128, interleaved with video on 6.
	a1, v1 := p(300, 1), p(200, 50)
	b = append(b, hdr0(4, 1000, 300, TypeAudio, 1)...)
	b = append(b, a1[:128]...)
	b = append(b, hdr0(6, 0xFFFFFF, 200, TypeVideo, 1)...) // extended
	b = append(b, v1[:128]...)
	b = append(b, hdr3(4, nil)...)
	b = append(b, a1[128:256]...)
	b = append(b, hdr3(6, u32(0xFFFFFF))...) // ext on continuation, as ffmpeg sends
	b = append(b, v1[128:]...)
	want = append(want, tmsg{6, TypeVideo, 1, 0xFFFFFF, v1})
	// Chunk size goes up to 1000 while audio is in flight.
	b = append(b, setChunkSizeMsg(1000)...)
	b = append(b, hdr3(4, nil)...)
	b = append(b, a1[256:]...)
	want = append(want, tmsg{4, TypeAudio, 1, 1000, a1})
	// Type 1, 2 and 3 headers on csid 4 (deltas 20, 20, 20).
	a2, a3, a4 := p(10, 7), p(10, 8), p(10, 9)
	b = append(b, hdr1(4, 20, 10, TypeAudio)...)
	b = append(b, a2...)
	b = append(b, hdr2(4, 20)...)
	b = append(b, a3...)
	b = append(b, hdr3(4, nil)...)
	b = append(b, a4...)
	want = append(want, tmsg{4, TypeAudio, 1, 1020, a2}, tmsg{4, TypeAudio, 1, 1040, a3}, tmsg{4, TypeAudio, 1, 1060, a4})
	// Extended delta on csid 6 with a type 1 header, then type 3 new message reuses it.
	v2, v3 := p(1500, 3), p(1500, 4)
	b = append(b, hdr1(6, 0x1000000, 1500, TypeVideo)...)
	b = append(b, v2[:1000]...)
	b = append(b, hdr3(6, u32(0x1000000))...)
	b = append(b, v2[1000:]...)
	b = append(b, hdr3(6, u32(0x1000000))...) // new message, same delta
	b = append(b, v3[:1000]...)
	b = append(b, hdr3(6, u32(0x1000000))...)
	b = append(b, v3[1000:]...)
	want = append(want, tmsg{6, TypeVideo, 1, 0xFFFFFF + 0x1000000, v2}, tmsg{6, TypeVideo, 1, 0xFFFFFF + 0x2000000, v3})
	// Timestamp wrap: delta that overflows uint32.
	v4 := p(5, 5)
	b = append(b, hdr1(6, 0xFFFFFFFF, 5, TypeVideo)...)
	b = append(b, v4...)
	want = append(want, tmsg{6, TypeVideo, 1, 0xFFFFFF + 0x2000000 - 1, v4})
	// A message on csid 5 is aborted halfway; csid 5 then carries a new one.
	x := p(1500, 99)
	b = append(b, hdr0(5, 1, 1500, TypeVideo, 1)...)
	b = append(b, x[:1000]...)
	b = append(b, hdr0(2, 0, 4, TypeAbort, 0)...)
	b = append(b, u32(5)...)
	b = append(b, hdr0(5, 2, 3, TypeVideo, 1)...)
	b = append(b, 'a', 'b', 'c')
	want = append(want, tmsg{5, TypeVideo, 1, 2, []byte("abc")})
	// Abort of an unknown or idle chunk stream is harmless.
	b = append(b, hdr0(2, 0, 4, TypeAbort, 0)...)
	b = append(b, u32(77)...)
	b = append(b, hdr0(2, 0, 4, TypeAbort, 0)...)
	b = append(b, u32(0xFFFFFFFF)...)
	// Basic header forms: 2-byte (64, 319), 3-byte (320, 65599), and the
	// 3-byte form of an id that fits in two.
	for _, csid := range []uint32{63, 64, 319, 320, 65599} {
		b = append(b, hdr0(csid, csid, 2, TypeDataAMF0, 0)...)
		b = append(b, byte(csid), byte(csid>>8))
		want = append(want, tmsg{csid, TypeDataAMF0, 0, csid, []byte{byte(csid), byte(csid >> 8)}})
	}
	b = append(b, basicHdr(0, 100, true)...)
	b = append(b, hdr0(100, 9, 1, TypeAudio, 3)[2:]...)
	b = append(b, 'z')
	want = append(want, tmsg{100, TypeAudio, 3, 9, []byte("z")})
	// Zero-length message, and control messages the reader passes through.
	b = append(b, hdr0(3, 5, 0, TypeCommandAMF0, 0)...)
	want = append(want, tmsg{3, TypeCommandAMF0, 0, 5, []byte{}})
	b = append(b, hdr0(2, 0, 4, TypeWindowAckSize, 0)...)
	b = append(b, u32(2500000)...)
	want = append(want, tmsg{2, TypeWindowAckSize, 0, 0, u32(2500000)})
	// A huge Set Chunk Size is clamped, not allocated by.
	b = append(b, setChunkSizeMsg(0xFFFFFFFF)...)
	if !withBig {
		return b, want
	}
	big := p(70000, 1)
	b = append(b, hdr0(7, 3, 70000, TypeVideo, 1)...)
	b = append(b, big...)
	want = append(want, tmsg{7, TypeVideo, 1, 3, big})
	return b, want
}

func TestFixedStream(t *testing.T) {
	data, want := testStream(true)
	for _, zc := range []int{0, 1, 200} {
		res := readAll(t, bytes.NewReader(data), 256, Options{ZeroCopyMinChunkSize: zc})
		if res.err != nil {
			t.Fatal(res.err)
		}
		sameMsgs(t, res.msgs, want)
	}
}

// TestModeSwitchMidMessage changes the chunk size across the zero-copy
// threshold while messages are in flight, so one payload mixes copied
// segments and taken ranges.
func TestModeSwitchMidMessage(t *testing.T) {
	p := make([]byte, 30000)
	for i := range p {
		p[i] = byte(i * 7)
	}
	q := p[:9000]
	var b []byte
	b = append(b, hdr0(5, 10, uint32(len(p)), TypeVideo, 1)...)
	b = append(b, p[:128]...) // copied (chunk size 128)
	b = append(b, hdr0(6, 20, uint32(len(q)), TypeVideo, 1)...)
	b = append(b, q[:128]...)
	b = append(b, setChunkSizeMsg(8192)...)
	b = append(b, hdr3(5, nil)...)
	b = append(b, p[128:128+8192]...) // taken
	b = append(b, hdr3(6, nil)...)
	b = append(b, q[128:128+8192]...) // taken
	b = append(b, setChunkSizeMsg(100)...)
	off := 128 + 8192
	for off < len(p) { // copied again
		n := min(100, len(p)-off)
		b = append(b, hdr3(5, nil)...)
		b = append(b, p[off:off+n]...)
		off += n
	}
	for off = 128 + 8192; off < len(q); off += 100 {
		b = append(b, hdr3(6, nil)...)
		b = append(b, q[off:min(off+100, len(q))]...)
	}
	want := []tmsg{{5, TypeVideo, 1, 10, p}, {6, TypeVideo, 1, 20, q}}
	for _, bs := range []int{256, 1 << 14} {
		for _, split := range []int{0, 7, 300, 8500, 20000} {
			src := io.MultiReader(bytes.NewReader(b[:split]), iotest.HalfReader(bytes.NewReader(b[split:])))
			res := readAll(t, src, bs, Options{})
			if res.err != nil {
				t.Fatal(res.err)
			}
			sameMsgs(t, res.msgs, want)
		}
	}
}

// TestSplitsAndReaders feeds the fixed stream split at every offset, and
// through one-byte, half, data-error and timeout readers.
func TestSplitsAndReaders(t *testing.T) {
	data, want := testStream(false)
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i <= len(data); i += step {
		src := io.MultiReader(bytes.NewReader(data[:i]), bytes.NewReader(data[i:]))
		res := readAll(t, src, 256, Options{ZeroCopyMinChunkSize: 1 + i%2*DefaultZeroCopyMinChunkSize})
		if res.err != nil {
			t.Fatalf("split %d: %v", i, res.err)
		}
		sameMsgs(t, res.msgs, want)
	}
	for name, mk := range map[string]func(io.Reader) io.Reader{
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
		"timeout": func(r io.Reader) io.Reader { return &timeoutReader{r: r} },
		"onebyte-timeout": func(r io.Reader) io.Reader {
			return &timeoutReader{r: iotest.OneByteReader(r)}
		},
	} {
		res := readAll(t, mk(bytes.NewReader(data)), 256, Options{})
		if res.err != nil {
			t.Fatalf("%s: %v", name, res.err)
		}
		sameMsgs(t, res.msgs, want)
	}
}

// TestTruncatedEverywhere cuts the fixed stream at every offset: the reader
// must return the complete messages before the cut, then io.EOF or
// io.ErrUnexpectedEOF, and leave the allocator balanced.
func TestTruncatedEverywhere(t *testing.T) {
	data, _ := testStream(false)
	for i := 0; i < len(data); i++ {
		res := readAll(t, bytes.NewReader(data[:i]), 256, Options{ZeroCopyMinChunkSize: 1 + i%2*DefaultZeroCopyMinChunkSize})
		if res.err != nil && !errors.Is(res.err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut %d: %v", i, res.err)
		}
	}
}

type errCase struct {
	name     string
	in       []byte
	opts     Options
	wantErr  error  // errors.Is target
	limit    string // *limit.LimitError name
	wantMsgs int    // messages returned before the error
}

func errCases() []errCase {
	var manyStreams []byte
	for csid := uint32(3); csid < 303; csid++ { // 300 distinct chunk stream ids
		manyStreams = append(manyStreams, hdr0(csid, 0, 1, TypeAudio, 1)...)
		manyStreams = append(manyStreams, 'x')
	}
	var manyPartials []byte
	for csid := uint32(3); csid < 40; csid++ { // 37 partial 1 MB messages, 128 bytes each so far
		manyPartials = append(manyPartials, hdr0(csid, 0, 1<<20, TypeVideo, 1)...)
		manyPartials = append(manyPartials, make([]byte, 128)...)
	}
	return []errCase{
		{name: "empty", in: nil},
		{name: "type3-unopened", in: append(hdr3(5, nil), 1, 2, 3), wantErr: ErrProtocol},
		{name: "type1-unopened", in: hdr1(5, 0, 1, TypeAudio), wantErr: ErrProtocol},
		{name: "type2-unopened", in: hdr2(5, 0), wantErr: ErrProtocol},
		{name: "type0-mid-message", in: cat(hdr0(5, 0, 200, TypeAudio, 1), make([]byte, 128), hdr0(5, 0, 1, TypeAudio, 1), []byte{1}), wantErr: ErrProtocol},
		{name: "type1-mid-message", in: cat(hdr0(5, 0, 200, TypeAudio, 1), make([]byte, 128), hdr1(5, 0, 200, TypeAudio)), wantErr: ErrProtocol},
		{name: "set-chunk-size-0", in: setChunkSizeMsg(0), wantErr: ErrProtocol},
		{name: "set-chunk-size-short", in: cat(hdr0(2, 0, 2, TypeSetChunkSize, 0), []byte{0, 1}), wantErr: ErrProtocol},
		{name: "abort-short", in: cat(hdr0(2, 0, 1, TypeAbort, 0), []byte{5}), wantErr: ErrProtocol},
		{name: "set-chunk-size-ffffffff", in: cat(setChunkSizeMsg(0xFFFFFFFF), hdr0(3, 0, 300, TypeAudio, 1), make([]byte, 300)), wantMsgs: 1},
		{name: "set-chunk-size-1", in: cat(setChunkSizeMsg(1), hdr0(3, 0, 3, TypeAudio, 1), []byte{1}, hdr3(3, nil), []byte{2}, hdr3(3, nil), []byte{3}), wantMsgs: 1},
		{name: "length-ffffff-then-eof", in: hdr0(3, 0, 0xFFFFFF, TypeVideo, 1), limit: "MaxMessageLength"},
		{name: "length-ffffff-allowed-then-eof", in: cat(hdr0(3, 0, 0xFFFFFF, TypeVideo, 1), make([]byte, 100)),
			opts: Options{MaxMessageLength: 1 << 24, MaxReassemblyBytes: 1 << 24}, wantErr: io.ErrUnexpectedEOF},
		{name: "300-chunk-streams", in: manyStreams, limit: "MaxChunkStreams", wantMsgs: 64},
		{name: "reassembly-cap", in: manyPartials, opts: Options{MaxReassemblyBytes: 4096}, limit: "MaxReassemblyBytes"},
		{name: "truncated-basic-header", in: []byte{0x00}, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated-message-header", in: hdr0(3, 0, 1, TypeAudio, 1)[:6], wantErr: io.ErrUnexpectedEOF},
		{name: "truncated-extended", in: hdr0(3, 0xFFFFFF, 1, TypeAudio, 1)[:13], wantErr: io.ErrUnexpectedEOF},
		{name: "truncated-payload-at-chunk-boundary", in: cat(hdr0(3, 0, 200, TypeAudio, 1), make([]byte, 128)), wantErr: io.ErrUnexpectedEOF},
		{name: "truncated-payload", in: cat(hdr0(3, 0, 200, TypeAudio, 1), make([]byte, 10)), wantErr: io.ErrUnexpectedEOF},
		{name: "connect-64k-tcurl", in: connect64K(), wantMsgs: 1},
	}
}

// connect64K is a connect command whose tcUrl is 65,535 bytes long (the
// AMF0 string maximum), in 128-byte chunks.
func connect64K() []byte {
	url := bytes.Repeat([]byte("a"), 65535)
	var body []byte
	body = append(body, 2, 0, 7)
	body = append(body, "connect"...)
	body = append(body, 0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 3)
	body = append(body, 0, 5)
	body = append(body, "tcUrl"...)
	body = append(body, 2, 0xff, 0xff)
	body = append(body, url...)
	body = append(body, 0, 0, 9)
	return interleave([]tmsg{{CSID: 3, TypeID: TypeCommandAMF0, Payload: body}}, DefaultChunkSize, false)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestErrors(t *testing.T) {
	for _, tc := range errCases() {
		t.Run(tc.name, func(t *testing.T) {
			res := readAll(t, bytes.NewReader(tc.in), 256, tc.opts)
			switch {
			case tc.limit != "":
				var le *limit.LimitError
				if !errors.As(res.err, &le) || le.Name != tc.limit {
					t.Fatalf("err %v, want LimitError %s", res.err, tc.limit)
				}
			case tc.wantErr != nil:
				if !errors.Is(res.err, tc.wantErr) {
					t.Fatalf("err %v, want %v", res.err, tc.wantErr)
				}
			default:
				if res.err != nil {
					t.Fatalf("err %v", res.err)
				}
			}
			if len(res.msgs) != tc.wantMsgs {
				t.Fatalf("%d messages, want %d", len(res.msgs), tc.wantMsgs)
			}
			if res.maxStreams > DefaultMaxChunkStreams {
				t.Fatalf("%d chunk streams", res.maxStreams)
			}
		})
	}
}

// TestStickyErrors checks that a protocol error is returned again by later
// calls, and that nothing is read past it.
func TestStickyErrors(t *testing.T) {
	alloc := pool.NewAllocator(1 << 16)
	br := bufreader.New(bytes.NewReader(append(hdr3(5, nil), hdr0(3, 0, 1, TypeAudio, 1)...)), bufreader.Options{Allocator: alloc})
	r := NewReader(br, Options{})
	var msg Message
	err1 := r.ReadMessage(&msg)
	err2 := r.ReadMessage(&msg)
	if !errors.Is(err1, ErrProtocol) || err1 != err2 {
		t.Fatalf("errors %v / %v", err1, err2)
	}
	r.Close()
	if err := r.ReadMessage(&msg); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
	br.Recycle()
	if !pool.Balanced(alloc) {
		t.Fatal("unbalanced")
	}
}

// TestCloseFreesPartials holds partial messages on several chunk streams
// and one unreturned chunk when Close is called.
func TestCloseFreesPartials(t *testing.T) {
	var in []byte
	for csid := uint32(3); csid < 10; csid++ {
		in = append(in, hdr0(csid, 0, 5000, TypeVideo, 1)...)
		in = append(in, make([]byte, 128)...)
	}
	in = append(in, hdr0(20, 0, 3, TypeAudio, 1)...)
	in = append(in, 1, 2, 3)
	for _, tc := range []struct {
		zcMin, want int
	}{
		{1, 7 * 128},                            // taken: exactly the bytes received
		{DefaultZeroCopyMinChunkSize, 7 * 5000}, // copied: whole segments (min(5000, CopySegmentSize))
	} {
		closeWithPartials(t, in, tc.zcMin, tc.want)
	}
}

func closeWithPartials(t *testing.T, in []byte, zcMin, want int) {
	alloc := pool.NewAllocator(1 << 20)
	br := bufreader.New(bytes.NewReader(in), bufreader.Options{Allocator: alloc, BlockSize: 256})
	r := NewReader(br, Options{ZeroCopyMinChunkSize: zcMin})
	var msg Message
	if err := r.ReadMessage(&msg); err != nil {
		t.Fatal(err)
	}
	if r.Reassembling() != want {
		t.Fatalf("zcMin %d: reassembling %d, want %d", zcMin, r.Reassembling(), want)
	}
	if err := r.ReadMessage(&Message{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("want ErrUnexpectedEOF, got %v", err)
	}
	r.Close()
	br.Recycle()
	if pool.Balanced(alloc) {
		t.Fatal("balanced while a returned message is still held")
	}
	msg.Free(alloc)
	if !pool.Balanced(alloc) {
		t.Fatalf("unbalanced: %d", pool.InUse(alloc))
	}
}

func TestReadMessageRejectsNonEmptyPayload(t *testing.T) {
	br := bufreader.New(bytes.NewReader(nil), bufreader.Options{})
	defer br.Recycle()
	r := NewReader(br, Options{})
	defer r.Close()
	var msg Message
	msg.Payload.PushOne([]byte{1})
	if err := r.ReadMessage(&msg); err == nil || err == io.EOF {
		t.Fatalf("err %v", err)
	}
}

func TestContiguous(t *testing.T) {
	var m Message
	if got := Contiguous(&m, nil); len(got) != 0 {
		t.Fatal(got)
	}
	one := []byte("abc")
	m.Payload.PushOne(one)
	if got := Contiguous(&m, nil); &got[0] != &one[0] {
		t.Fatal("single range should be returned as is")
	}
	m.Payload.PushOne([]byte("de"))
	scratch := make([]byte, 0, 16)
	got := Contiguous(&m, scratch)
	if string(got) != "abcde" || &got[0] != &scratch[:1][0] {
		t.Fatalf("%q", got)
	}
}

// TestPayloadIsTaken checks that payload ranges are the bufreader's blocks
// (taken, not copied).
func TestPayloadIsTaken(t *testing.T) {
	data := writeAll(t, []tmsg{{CSID: 6, TypeID: TypeVideo, StreamID: 1, Payload: make([]byte, 10000)}}, 4096, false)
	alloc := pool.NewAllocator(1 << 20)
	br := bufreader.New(bytes.NewReader(data), bufreader.Options{Allocator: alloc, BlockSize: 4096})
	r := NewReader(br, Options{})
	var msg Message
	if err := r.ReadMessage(&msg); err != nil {
		t.Fatal(err)
	}
	st := br.Stats()
	if st.BytesTaken != 10000 || r.Stats().BytesTaken != 10000 {
		t.Fatalf("taken %d", st.BytesTaken)
	}
	if r.Stats().BytesCopied != 4 { // the Set Chunk Size message, at chunk size 128
		t.Fatalf("copied %d", r.Stats().BytesCopied)
	}
	if st.BytesCopied > maxHeaderLen*4 {
		t.Fatalf("copied %d bytes", st.BytesCopied)
	}
	msg.Free(alloc)
	r.Close()
	br.Recycle()
	if !pool.Balanced(alloc) {
		t.Fatal("unbalanced")
	}
}
