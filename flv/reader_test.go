package flv

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

func TestPutTagHeader(t *testing.T) {
	got := PutTagHeader([]byte{0xee}, TagVideo, 0x012345, 0x89abcdef)
	want := cat("ee 09 012345 abcdef 89 000000")
	if !bytes.Equal(got, want) {
		t.Errorf("PutTagHeader = %x, want %x", got, want)
	}
	if got := PutPreviousTagSize(nil, 0x01020304); !bytes.Equal(got, cat("01020304")) {
		t.Errorf("PutPreviousTagSize = %x", got)
	}
	if got := FileHeader(true, true); !bytes.Equal(got, cat("'FLV 01 05 00000009 00000000")) {
		t.Errorf("FileHeader(true, true) = %x", got)
	}
	if got := AppendFileHeader([]byte("x"), false, true); !bytes.Equal(got, cat("'xFLV 01 04 00000009 00000000")) {
		t.Errorf("AppendFileHeader(audio) = %x", got)
	}
	if got := FileHeader(true, false); got[4] != 1 || len(got) != 13 {
		t.Errorf("FileHeader(video) = %x", got)
	}
	for _, n := range []int{-1, MaxDataSize + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("PutTagHeader(size %d) did not panic", n)
				}
			}()
			PutTagHeader(nil, TagAudio, n, 0)
		}()
	}
}

// testTag is a tag for building streams in tests.
type testTag struct {
	h    TagHeader
	body []byte
}

var sampleTags = []testTag{
	{TagHeader{Type: TagScript}, cat("02000a 'onMetaData 08 00000000 000009")},
	{TagHeader{Type: TagVideo}, cat("17 00 000000", avcConfig)},
	{TagHeader{Type: TagAudio}, cat("af 00 1210")},
	{TagHeader{Type: TagVideo, Timestamp: 40}, cat("17 01 000000", avcKeyNALUs)},
	{TagHeader{Type: TagAudio, Timestamp: 23}, cat("af 01 de020040")},
	{TagHeader{Type: TagVideo, Timestamp: 80}, nil},                                       // an empty body is legal
	{TagHeader{Type: TagVideo, Timestamp: 1<<24 + 5}, cat("27 01 000050", avcInterNALUs)}, // extended timestamp
	{TagHeader{Type: TagAudio, Timestamp: 0xfedcba98, Filter: true, StreamID: 0x010203}, cat("af 01 00")},
}

// buildStream writes a file header and tags with the Writer.
func buildStream(t testing.TB, tags []testTag) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteFileHeader(true, true); err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags {
		// Split each body in two to exercise the vectored write.
		half := len(tg.body) / 2
		if err := w.WriteTag(tg.h, [][]byte{tg.body[:half], tg.body[half:]}); err != nil {
			t.Fatal(err)
		}
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written() = %d, buffer holds %d", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

// readAll reads every tag, checking each against want, and frees payloads.
func readAll(t *testing.T, src io.Reader, blockSize int, want []testTag) {
	t.Helper()
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(src, bufreader.Options{Allocator: a, BlockSize: blockSize})
	r := NewReader(br, ReaderOptions{})
	h, err := r.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if h != (Header{Version: 1, HasAudio: true, HasVideo: true, DataOffset: 9}) {
		t.Fatalf("header %+v", h)
	}
	var tag Tag
	for i := 0; ; i++ {
		err := r.ReadTag(&tag)
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("EOF after %d tags, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatalf("tag %d: %v", i, err)
		}
		if tag.TagHeader != want[i].h {
			t.Fatalf("tag %d header %+v, want %+v", i, tag.TagHeader, want[i].h)
		}
		if got := tag.Payload.ToBytes(); !bytes.Equal(got, want[i].body) || tag.Payload.Size != len(want[i].body) {
			t.Fatalf("tag %d body %x, want %x", i, got, want[i].body)
		}
		for _, b := range tag.Payload.Buffers {
			if len(b) == 0 {
				t.Fatalf("tag %d: empty buffer in payload", i)
			}
		}
		pool.FreeMemory(a, &tag.Payload)
	}
	if r.Tags() != int64(len(want)) {
		t.Fatalf("Tags() = %d", r.Tags())
	}
	br.Recycle()
	if !pool.Balanced(a) {
		t.Fatalf("allocator unbalanced: %d bytes in use", pool.InUse(a))
	}
	pool.Recycle(a)
}

// TestReaderSources reads a synthetic stream through one-byte, half and
// data+EOF readers, and with blocks small enough that headers, bodies and
// PreviousTagSize fields straddle block boundaries.
func TestReaderSources(t *testing.T) {
	data := buildStream(t, sampleTags)
	for _, tc := range []struct {
		name  string
		src   func() io.Reader
		block int
	}{
		{"plain", func() io.Reader { return bytes.NewReader(data) }, 0},
		{"onebyte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }, 0},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, 0},
		{"dataerr", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) }, 0},
		{"onebyte-smallblocks", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }, bufreader.MinBlockSize},
		{"half-smallblocks", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, bufreader.MinBlockSize},
	} {
		t.Run(tc.name, func(t *testing.T) { readAll(t, tc.src(), tc.block, sampleTags) })
	}
}

// TestReaderEveryBlockOffset shifts the stream by every offset within a
// minimal block so that every field boundary lands on every block boundary.
func TestReaderEveryBlockOffset(t *testing.T) {
	data := buildStream(t, sampleTags)
	for shift := range bufreader.MinBlockSize {
		// Prefix the stream with a script tag of shift bytes.
		tags := append([]testTag{{TagHeader{Type: TagScript}, bytes.Repeat([]byte{0x05}, shift)}}, sampleTags...)
		stream := buildStream(t, tags)
		if len(stream) != len(data)+TagHeaderSize+shift+PreviousTagSizeSize {
			t.Fatal("unexpected stream length")
		}
		readAll(t, iotest.HalfReader(bytes.NewReader(stream)), bufreader.MinBlockSize, tags)
	}
}

type readerFixture struct {
	a  *pool.Allocator
	br *bufreader.Reader
	r  *Reader
}

func newFixture(src io.Reader, opts ReaderOptions) *readerFixture {
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(src, bufreader.Options{Allocator: a, BlockSize: bufreader.MinBlockSize})
	return &readerFixture{a: a, br: br, r: NewReader(br, opts)}
}

func (f *readerFixture) close(t *testing.T, tags ...*Tag) {
	t.Helper()
	for _, tag := range tags {
		pool.FreeMemory(f.a, &tag.Payload)
	}
	f.br.Recycle()
	if !pool.Balanced(f.a) {
		t.Fatalf("allocator unbalanced: %d bytes in use", pool.InUse(f.a))
	}
	pool.Recycle(f.a)
}

func TestReadHeader(t *testing.T) {
	good := FileHeader(true, false)
	long := cat("'FLV 01 05 0000000c aabbcc 00000000")
	for _, tc := range []struct {
		name      string
		data      []byte
		opts      ReaderOptions
		want      Header
		wantErr   error
		limitName string
		bad       bool
		left      int // bytes left unread afterwards
	}{
		{name: "video only", data: cat(good, "aa"), want: Header{Version: 1, HasVideo: true, DataOffset: 9}, left: 1},
		{name: "longer header", data: long, want: Header{Version: 1, HasVideo: true, HasAudio: true, DataOffset: 12}},
		{name: "empty", data: nil, wantErr: io.EOF},
		{name: "short", data: good[:5], wantErr: io.ErrUnexpectedEOF, left: 5},
		{name: "no previous tag size", data: good[:10], wantErr: io.ErrUnexpectedEOF, left: 10},
		{name: "not flv", data: cat("'FLX 01 05 00000009 00000000"), bad: true, left: 13},
		{name: "offset below 9", data: cat("'FLV 01 05 00000008 00000000"), bad: true, left: 13},
		{name: "offset too large", data: cat("'FLV 01 05 7fffffff 00000000"), limitName: "MaxFileHeaderSize", left: 13},
		{name: "previous tag size 0 not 0", data: cat("'FLV 01 05 00000009 0000000b"), wantErr: ErrPreviousTagSize, left: 13},
		{name: "previous tag size ignored", data: cat("'FLV 01 05 00000009 0000000b"), opts: ReaderOptions{IgnorePreviousTagSize: true},
			want: Header{Version: 1, HasVideo: true, HasAudio: true, DataOffset: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(bytes.NewReader(tc.data), tc.opts)
			h, err := f.r.ReadHeader()
			if !checkErr(err, tc.wantErr, tc.limitName, tc.bad) {
				t.Fatalf("error %v", err)
			}
			if err == nil && h != tc.want {
				t.Fatalf("header %+v, want %+v", h, tc.want)
			}
			rest, _ := io.ReadAll(f.br)
			if len(rest) != tc.left {
				t.Fatalf("%d bytes left, want %d (nothing consumed on error)", len(rest), tc.left)
			}
			f.close(t)
		})
	}
}

func TestReadTagErrors(t *testing.T) {
	stream := buildStream(t, sampleTags[:2])[13:]
	first := TagHeaderSize + len(sampleTags[0].body) + PreviousTagSizeSize

	t.Run("truncated tag consumes nothing", func(t *testing.T) {
		for cut := 1; cut < first; cut++ {
			f := newFixture(iotest.HalfReader(bytes.NewReader(stream[:cut])), ReaderOptions{})
			var tag Tag
			if err := f.r.ReadTag(&tag); err != io.ErrUnexpectedEOF {
				t.Fatalf("cut %d: %v", cut, err)
			}
			if tag.Payload.Size != 0 || len(tag.Payload.Buffers) != 0 || tag.TagHeader != (TagHeader{}) {
				t.Fatalf("cut %d: tag changed on error: %+v", cut, tag)
			}
			if rest, _ := io.ReadAll(f.br); len(rest) != cut {
				t.Fatalf("cut %d: %d bytes left", cut, len(rest))
			}
			f.close(t)
		}
	})

	t.Run("previous tag size mismatch", func(t *testing.T) {
		bad := slices.Clone(stream)
		bad[first-1]++
		f := newFixture(bytes.NewReader(bad), ReaderOptions{})
		var tag Tag
		err := f.r.ReadTag(&tag)
		if !errors.Is(err, ErrPreviousTagSize) || tag.Payload.Size != 0 {
			t.Fatalf("err %v, payload %d bytes", err, tag.Payload.Size)
		}
		// The bad tag was consumed; the next one reads fine.
		if err := f.r.ReadTag(&tag); err != nil || tag.Type != TagVideo {
			t.Fatalf("next tag: %v %+v", err, tag.TagHeader)
		}
		f.close(t, &tag)

		f = newFixture(bytes.NewReader(bad), ReaderOptions{IgnorePreviousTagSize: true})
		tag = Tag{}
		if err := f.r.ReadTag(&tag); err != nil || tag.Payload.Size != len(sampleTags[0].body) {
			t.Fatalf("ignored mismatch: %v", err)
		}
		f.close(t, &tag)
	})

	t.Run("max tag size", func(t *testing.T) {
		big := buildStream(t, []testTag{{TagHeader{Type: TagVideo}, make([]byte, 1000)}})[13:]
		f := newFixture(bytes.NewReader(big), ReaderOptions{MaxTagSize: 999})
		var tag Tag
		err := f.r.ReadTag(&tag)
		var le *limit.LimitError
		if !errors.As(err, &le) || le.Name != "MaxTagSize" || le.Limit != 999 || le.Got != 1000 {
			t.Fatalf("err %v", err)
		}
		f.close(t)
		f = newFixture(bytes.NewReader(big), ReaderOptions{MaxTagSize: 1000})
		if err := f.r.ReadTag(&tag); err != nil {
			t.Fatalf("at the limit: %v", err)
		}
		f.close(t, &tag)
		// MaxTagSize is clamped to the format's maximum. A maximal size then
		// runs into the bufreader's own MaxBuffered cap (16 MiB, less than
		// 11+MaxDataSize+4) before anything is buffered or consumed.
		f = newFixture(bytes.NewReader(cat("09 ffffff 00000000 000000")), ReaderOptions{MaxTagSize: 1 << 30})
		if f.r.maxTagSize != MaxDataSize {
			t.Fatalf("MaxTagSize not clamped: %d", f.r.maxTagSize)
		}
		if err := f.r.ReadTag(&tag); !errors.As(err, &le) || le.Name != "MaxBuffered" {
			t.Fatalf("maximal tag: %v", err)
		}
		if f.br.Buffered() != 11 {
			t.Fatalf("%d bytes buffered, want the 11 given", f.br.Buffered())
		}
		f.close(t)
	})

	t.Run("payload not released", func(t *testing.T) {
		f := newFixture(bytes.NewReader(stream), ReaderOptions{})
		var tag Tag
		if err := f.r.ReadTag(&tag); err != nil {
			t.Fatal(err)
		}
		if err := f.r.ReadTag(&tag); err != ErrPayloadNotReleased {
			t.Fatalf("second ReadTag without release: %v", err)
		}
		// Moving the payload out is a release too.
		kept := tag.Payload
		tag.Payload = gomem.Memory{}
		if err := f.r.ReadTag(&tag); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kept.ToBytes(), sampleTags[0].body) {
			t.Fatal("moved payload was overwritten")
		}
		f.close(t, &tag, &Tag{Payload: kept})
	})
}

// timeoutErr is a net.Error-style timeout.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// stallingReader returns a timeout once when it reaches stallAt.
type stallingReader struct {
	data    []byte
	pos     int
	stallAt int
	stalled bool
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.pos == s.stallAt && !s.stalled {
		s.stalled = true
		return 0, timeoutErr{}
	}
	if s.pos >= len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	if s.pos < s.stallAt {
		end = s.stallAt
	}
	n := copy(p, s.data[s.pos:end])
	s.pos += n
	return n, nil
}

// TestReadTagTimeoutRetry stalls the source at every offset of the stream:
// the ReadHeader or ReadTag in progress returns the timeout, and retrying it
// yields exactly the same tags.
func TestReadTagTimeoutRetry(t *testing.T) {
	data := buildStream(t, sampleTags[:4])
	for stall := 1; stall < len(data); stall++ {
		f := newFixture(&stallingReader{data: data, stallAt: stall}, ReaderOptions{})
		timeouts := 0
		retry := func(op func() error) error {
			for {
				err := op()
				var te timeoutErr
				if !errors.As(err, &te) {
					return err
				}
				timeouts++
			}
		}
		if err := retry(func() error { _, err := f.r.ReadHeader(); return err }); err != nil {
			t.Fatalf("stall %d: header: %v", stall, err)
		}
		var tag Tag
		for i := range 4 {
			if err := retry(func() error { return f.r.ReadTag(&tag) }); err != nil {
				t.Fatalf("stall %d: tag %d: %v", stall, i, err)
			}
			if !bytes.Equal(tag.Payload.ToBytes(), sampleTags[i].body) || tag.TagHeader != sampleTags[i].h {
				t.Fatalf("stall %d: tag %d differs", stall, i)
			}
			pool.FreeMemory(f.a, &tag.Payload)
		}
		if err := f.r.ReadTag(&tag); err != io.EOF {
			t.Fatalf("stall %d: end: %v", stall, err)
		}
		if timeouts != 1 {
			t.Fatalf("stall %d: %d timeouts seen", stall, timeouts)
		}
		f.close(t)
	}
}
