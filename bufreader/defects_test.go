package bufreader

// One regression test per Monibuca BufReader defect listed in DESIGN.md,
// each named after the defect it guards against.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// readStep is one Read of a stepSource: the bytes, then the error.
type readStep struct {
	data []byte
	err  error
}

// stepSource replays a fixed sequence of reads (a short p takes a step's
// bytes over several reads, the error coming with the last of them), then
// reports io.EOF.
type stepSource struct{ steps []readStep }

func (s *stepSource) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := &s.steps[0]
	n := copy(p, st.data)
	st.data = st.data[n:]
	if len(st.data) > 0 {
		return n, nil
	}
	err := st.err
	s.steps = s.steps[1:]
	return n, err
}

// TestDefect_ConsumedBlocksFreedOnlyLazily: Monibuca freed consumed blocks
// only at the next range-style call, so a parser using only ReadByte and
// ReadBE never freed anything. Ours must stay within about two blocks plus
// the unread bytes, whatever calls the parser makes.
func TestDefect_ConsumedBlocksFreedOnlyLazily(t *testing.T) {
	const total = 10 << 20
	const blockSize = 4096
	parsers := []struct {
		name string
		step func(r *Reader, i int) error
	}{
		{"ReadByte and ReadBE", func(r *Reader, i int) error {
			var err error
			switch i % 4 {
			case 0:
				_, err = r.ReadByte()
			case 1:
				_, err = r.ReadBE(3)
			case 2:
				_, err = r.ReadBE32()
			case 3:
				_, err = r.ReadLE(7)
			}
			return err
		}},
		{"Discard", func(r *Reader, i int) error {
			_, err := r.Discard(1 + i%(3*blockSize))
			return err
		}},
	}
	for _, p := range parsers {
		t.Run(p.name, func(t *testing.T) {
			alloc := pool.NewAllocator(64 << 10)
			defer pool.Recycle(alloc)
			src := io.LimitReader(&cyclicReader{data: []byte(pattern(4099))}, total)
			r := New(src, Options{Allocator: alloc, BlockSize: blockSize})
			var peak int64
			for i := 0; ; i++ {
				if err := p.step(r, i); err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF {
						t.Fatal(err)
					}
					break
				}
				held := pool.InUse(alloc)
				if held > int64(r.Buffered()+2*blockSize) {
					t.Fatalf("after %d calls the reader holds %d bytes with %d unread", i+1, held, r.Buffered())
				}
				peak = max(peak, held)
			}
			if got := r.Stats().BytesRead; got != total {
				t.Fatalf("read %d bytes, want %d", got, total)
			}
			r.Recycle()
			if !pool.Balanced(alloc) {
				t.Fatalf("%d bytes still allocated after Recycle", pool.InUse(alloc))
			}
			t.Logf("peak pool memory over %d MiB: %d bytes", total>>20, peak)
		})
	}
}

// TestDefect_ReadRangePartialConsumeOnError: Monibuca's ReadRange consumed
// the bytes it had and then returned the error, desynchronising the stream.
// Every atomic call must leave the stream where it was when the source
// fails, so a retry after a timeout gets exactly the same bytes.
func TestDefect_ReadRangePartialConsumeOnError(t *testing.T) {
	record := []byte(text(0, 299) + "\n" + "after")
	calls := []struct {
		op   opKind
		n    int
		need int // bytes the call needs; the source fails before delivering them all
	}{
		{opReadRange, 300, 300}, {opTake, 300, 300}, {opTakeInto, 300, 300}, {opPeek, 300, 300},
		{opReadLine, 0, 300}, {opReadBE, 8, 8}, {opReadLE, 8, 8}, {opReadBE32, 0, 4}, {opReadBE24, 0, 3},
		{opReadByte, 0, 1},
	}
	for _, call := range calls {
		for _, cut := range []int{0, 1, 3, 5, 7, 150, 255, 256, 257, 299} {
			if cut >= call.need {
				continue
			}
			c := config{blockSize: MinBlockSize}
			// What the call returns when nothing goes wrong.
			control := newSubject(bytes.NewReader(record), c, nil)
			want := control.apply(call.op, call.n)
			if msg := control.release(); msg != "" || want.err != errOK {
				t.Fatalf("control %v: %v %s", call.op, want, msg)
			}

			for _, failure := range []error{timeoutError{}, errTerm} {
				src := &stepSource{steps: []readStep{{record[:cut], nil}, {nil, failure}, {record[cut:], nil}}}
				s := newSubject(src, c, nil)
				got := s.apply(call.op, call.n)
				if got.err != classify(failure) || len(got.out) != 0 {
					t.Fatalf("%v cut at %d by %v: %v, want the source's error and no bytes", call.op, cut, failure, got)
				}
				if s.r.Buffered() != cut || s.position() != 0 {
					t.Fatalf("%v cut at %d by %v: buffered %d, position %d; want %d, 0", call.op, cut, failure, s.r.Buffered(), s.position(), cut)
				}
				retry := s.apply(call.op, call.n)
				if failure == errTerm {
					// Other errors are sticky, but the stream still has not moved.
					if retry.err != errTermClass || s.position() != 0 {
						t.Fatalf("%v after %v: retry %v at position %d", call.op, failure, retry, s.position())
					}
				} else if !retry.equal(want) {
					t.Fatalf("%v cut at %d: retry after a timeout %v, want %v", call.op, cut, retry, want)
				}
				if msg := s.release(); msg != "" {
					t.Fatal(msg)
				}
			}
		}
	}

	t.Run("net.Pipe deadline", func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		more := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			if _, err := server.Write(record[:150]); err != nil {
				done <- err
				return
			}
			<-more
			_, err := server.Write(record[150:])
			done <- err
		}()
		r := New(client, Options{BlockSize: MinBlockSize, ReadTimeout: 50 * time.Millisecond})
		defer r.Recycle()
		err := r.ReadRange(300, func([]byte) { t.Fatal("yield called on a failed ReadRange") })
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadRange = %v, want a deadline error", err)
		}
		if r.Buffered() != 150 {
			t.Fatalf("Buffered after the timeout = %d, want 150", r.Buffered())
		}
		close(more)
		var got []byte
		if err := r.ReadRange(300, func(b []byte) { got = append(got, b...) }); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if !bytes.Equal(got, record[:300]) {
			t.Fatalf("retry got %s, want the record", short(got))
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestDefect_FailedPeekCorruptsLength: a failed Peek in Monibuca left its
// length wrong and the next read panicked. A failed Peek must change
// nothing.
func TestDefect_FailedPeekCorruptsLength(t *testing.T) {
	data := []byte(pattern(700))
	failures := []struct {
		name string
		src  io.Reader
		n    int
		want errClass
	}{
		{"past the end", bytes.NewReader(data), 701, errUnexpectedEOF},
		{"over MaxPeek", bytes.NewReader(data), DefaultMaxPeek + 1, limMaxPeek},
		{"timeout", &stepSource{steps: []readStep{{data[:300], nil}, {nil, timeoutError{}}, {data[300:], nil}}}, 500, errTimeout},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			r := New(f.src, Options{BlockSize: MinBlockSize})
			defer r.Recycle()
			if _, err := r.Peek(10); err != nil { // buffer something first
				t.Fatal(err)
			}
			// The position may not move; Buffered may grow (the failed Peek
			// may have filled), which is not a change of the stream.
			position := func() int64 { return r.Stats().BytesRead - int64(r.Buffered()) }
			if _, err := r.Peek(f.n); classify(err) != f.want {
				t.Fatalf("Peek(%d) = %v, want %s", f.n, err, f.want)
			}
			if p := position(); p != 0 {
				t.Fatalf("a failed Peek moved the stream to %d", p)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after the failed Peek: %s, %v; want the whole stream", short(got), err)
			}
		})
	}
}

// TestDefect_ReadReturnsLenWithError: Monibuca's Read returned n = len(p)
// together with an error. Read must return only the bytes it copied, and
// bytes that arrive with an error come before the error.
func TestDefect_ReadReturnsLenWithError(t *testing.T) {
	data := []byte(pattern(1000))
	for _, term := range []error{io.EOF, errTerm} {
		src := &stepSource{steps: []readStep{{data[:600], nil}, {data[600:], term}}}
		r := New(src, Options{BlockSize: MinBlockSize})
		var got []byte
		p := make([]byte, 4096)
		for {
			n, err := r.Read(p)
			if msg := readContract(n, err, len(p)); msg != "" {
				t.Fatalf("%v: %s", term, msg)
			}
			got = append(got, p[:n]...)
			if err != nil {
				if err != term {
					t.Fatalf("Read error %v, want %v", err, term)
				}
				break
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%v: read %s, want all %d bytes", term, short(got), len(data))
		}
		r.Recycle()
	}
	if err := iotest.TestReader(New(iotest.DataErrReader(bytes.NewReader(data)), Options{BlockSize: MinBlockSize}), data); err != nil {
		t.Fatal(err)
	}
}

// TestDefect_DataWithEOFDropped: Monibuca dropped bytes that the source
// returned together with io.EOF. Every call must still deliver them.
func TestDefect_DataWithEOFDropped(t *testing.T) {
	const msg = "CSeq: 7\r\nSession: 12345678\r\n\r\nlast line\n\x00\x00\x01\x02"
	// The source returns everything together with io.EOF, in one read.
	allWithEOF := func() io.Reader { return &stepSource{steps: []readStep{{[]byte(msg), io.EOF}}} }
	check := func(name string, err error, ok bool) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: err=%v, data lost", name, err)
		}
	}

	r := New(allWithEOF(), Options{})
	h, err := r.ReadMIMEHeader()
	check("ReadMIMEHeader", err, h.Get("Session") == "12345678" && h.Get("Cseq") == "7")
	line, err := r.ReadLine()
	check("ReadLine", err, string(line) == "last line")
	v, err := r.ReadBE32()
	check("ReadBE32", err, v == 0x0102)
	_, err = r.ReadByte()
	if err != io.EOF {
		t.Errorf("after the last byte: %v, want io.EOF", err)
	}
	r.Recycle()

	for _, consume := range []struct {
		name string
		run  func(r *Reader) ([]byte, error)
	}{
		{"Read", func(r *Reader) ([]byte, error) { return io.ReadAll(r) }},
		{"WriteTo", func(r *Reader) ([]byte, error) {
			var b bytes.Buffer
			_, err := r.WriteTo(&b)
			return b.Bytes(), err
		}},
		{"ReadRange", func(r *Reader) (out []byte, err error) {
			err = r.ReadRange(len(msg), func(b []byte) { out = append(out, b...) })
			return out, err
		}},
		{"Take", func(r *Reader) ([]byte, error) {
			m, err := r.Take(len(msg))
			out := m.ToBytes()
			pool.FreeMemory(r.Allocator(), &m)
			return out, err
		}},
		{"Peek", func(r *Reader) ([]byte, error) {
			p, err := r.Peek(len(msg))
			return bytes.Clone(p), err
		}},
	} {
		r := New(allWithEOF(), Options{})
		out, err := consume.run(r)
		check(consume.name, err, string(out) == msg)
		r.Recycle()
	}

	r = New(allWithEOF(), Options{})
	n, err := r.Discard(len(msg) + 10)
	if n != len(msg) || err != io.EOF {
		t.Errorf("Discard = %d, %v; want %d, io.EOF", n, err, len(msg))
	}
	r.Recycle()
}

// emptyReader returns (0, nil) empties times, then its data.
type emptyReader struct {
	empties int
	data    []byte
	calls   int
}

func (e *emptyReader) Read(p []byte) (int, error) {
	e.calls++
	if e.empties != 0 {
		e.empties--
		return 0, nil
	}
	if len(e.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// TestDefect_ZeroNilReadPanics: Monibuca appended an empty block for every
// (0, nil) read and eventually panicked. A source that never makes
// progress must end in io.ErrNoProgress after a bounded number of reads,
// without growing memory; a few empty reads must be harmless.
func TestDefect_ZeroNilReadPanics(t *testing.T) {
	src := &emptyReader{empties: -1} // never makes progress
	alloc := pool.NewAllocator(16 << 10)
	defer pool.Recycle(alloc)
	r := New(src, Options{Allocator: alloc, BlockSize: MinBlockSize})
	calls := []func() error{
		func() error { _, err := r.ReadByte(); return err },
		func() error { _, err := r.Peek(4); return err },
		func() error { return r.ReadRange(10, func([]byte) {}) },
		func() error { _, err := r.ReadLine(); return err },
		func() error { _, err := r.Read(make([]byte, 8)); return err },
		func() error { _, err := r.WriteTo(io.Discard); return err },
		func() error { _, err := r.ReadMIMEHeader(); return err },
	}
	for i, call := range calls {
		if err := call(); err != io.ErrNoProgress {
			t.Fatalf("call %d: %v, want io.ErrNoProgress", i, err)
		}
		if src.calls > maxEmptyReads {
			t.Fatalf("call %d: the source was read %d times, want at most %d", i, src.calls, maxEmptyReads)
		}
		if held := pool.InUse(alloc); held > MinBlockSize {
			t.Fatalf("call %d: %d bytes held for an empty stream", i, held)
		}
	}
	r.Recycle()

	few := &emptyReader{empties: maxEmptyReads - 1, data: []byte("ok\n")}
	r = New(few, Options{BlockSize: MinBlockSize})
	if line, err := r.ReadLine(); err != nil || string(line) != "ok" {
		t.Fatalf("after %d empty reads: %q, %v", maxEmptyReads-1, line, err)
	}
	r.Recycle()
}

// TestDefect_UseAfterRecyclePanics: every call after Recycle or Close
// must return ErrClosed (with any arguments), never panic; Recycle and
// Close may be repeated; ranges taken before stay valid and freeable.
func TestDefect_UseAfterRecyclePanics(t *testing.T) {
	alloc := pool.NewAllocator(16 << 10)
	defer pool.Recycle(alloc)
	data := []byte(pattern(2000))
	r := New(bytes.NewReader(data), Options{Allocator: alloc, BlockSize: MinBlockSize})
	kept, err := r.Take(600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Peek(100); err != nil {
		t.Fatal(err)
	}
	r.Recycle()
	r.Recycle()
	if err := r.Close(); err != nil {
		t.Fatalf("Close after Recycle: %v", err)
	}

	calls := map[string]func() error{
		"ReadRange":       func() error { return r.ReadRange(1, func([]byte) {}) },
		"ReadRange(-1)":   func() error { return r.ReadRange(-1, func([]byte) {}) },
		"ReadRange(huge)": func() error { return r.ReadRange(1<<40, func([]byte) {}) },
		"Peek":            func() error { _, err := r.Peek(1); return err },
		"Peek(0)":         func() error { _, err := r.Peek(0); return err },
		"Peek(huge)":      func() error { _, err := r.Peek(1 << 40); return err },
		"Take":            func() error { _, err := r.Take(1); return err },
		"TakeInto":        func() error { return r.TakeInto(&kept, 0) },
		"Discard":         func() error { _, err := r.Discard(1); return err },
		"Skip":            func() error { return r.Skip(0) },
		"ReadByte":        func() error { _, err := r.ReadByte(); return err },
		"ReadBE":          func() error { _, err := r.ReadBE(2); return err },
		"ReadBE(9)":       func() error { _, err := r.ReadBE(9); return err },
		"ReadLE":          func() error { _, err := r.ReadLE(5); return err },
		"ReadBE16":        func() error { _, err := r.ReadBE16(); return err },
		"ReadBE24":        func() error { _, err := r.ReadBE24(); return err },
		"ReadBE32":        func() error { _, err := r.ReadBE32(); return err },
		"ReadLE32":        func() error { _, err := r.ReadLE32(); return err },
		"ReadLine":        func() error { _, err := r.ReadLine(); return err },
		"ReadMIMEHeader":  func() error { _, err := r.ReadMIMEHeader(); return err },
		"Read":            func() error { _, err := r.Read(make([]byte, 4)); return err },
		"Read(empty)":     func() error { _, err := r.Read(nil); return err },
		"WriteTo":         func() error { _, err := r.WriteTo(io.Discard); return err },
	}
	for name, call := range calls {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s after Recycle panicked: %v", name, p)
				}
			}()
			if err := call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Recycle = %v, want ErrClosed", name, err)
			}
		}()
	}
	if n := r.Buffered(); n != 0 {
		t.Errorf("Buffered after Recycle = %d", n)
	}
	if got := kept.ToBytes(); !bytes.Equal(got, data[:600]) || kept.Size != 600 {
		t.Fatalf("a range taken before Recycle changed")
	}
	pool.FreeMemory(alloc, &kept)
	if !pool.Balanced(alloc) {
		t.Fatalf("%d bytes leaked", pool.InUse(alloc))
	}
}

// TestDefect_MIMEHeaderNoTrimNoContinuation: Monibuca kept spaces and
// tabs around keys and values and treated continuation lines as fields.
func TestDefect_MIMEHeaderNoTrimNoContinuation(t *testing.T) {
	const in = "Content-Base \t: \trtsp://example.com/live/ \t\r\n" +
		"Public:\tOPTIONS, DESCRIBE,\r\n" +
		"  SETUP,\r\n" +
		"\tPLAY \r\n" +
		"cseq: 2\r\n" +
		"\r\n"
	want := textproto.MIMEHeader{
		"Content-Base": {"rtsp://example.com/live/"},
		"Public":       {"OPTIONS, DESCRIBE, SETUP, PLAY"},
		"Cseq":         {"2"},
	}
	for _, v := range iotestVariants {
		r := New(v.make([]byte(in), io.EOF), Options{BlockSize: MinBlockSize})
		h, err := r.ReadMIMEHeader()
		if err != nil || !headersEqual(h, want) {
			t.Errorf("%s: %v, %v; want %v", v.name, h, err, want)
		}
		// The header is documented as the caller's copy: recycling the
		// reader (which poisons freed blocks under zcdebug) cannot change it.
		r.Recycle()
		if !headersEqual(h, want) {
			t.Errorf("%s: header changed after Recycle: %v", v.name, h)
		}
	}
}

// TestDefect_MIMEHeaderNoLimits: Monibuca's ReadMIMEHeader had no field
// count or size limit, so a peer could grow the map and the buffer without
// bound. Each flood must fail with the named limit after reading a bounded
// number of bytes.
func TestDefect_MIMEHeaderNoLimits(t *testing.T) {
	floods := []struct {
		name   string
		repeat string // what the peer sends forever
		prefix string
		want   string // the LimitError's Name
		bound  int    // the most the reader may read from the peer
	}{
		{"endless fields", "X: y\r\n", "", "MaxHeaderFields", 128*6 + 2*DefaultBlockSize},
		{"endless continuation", " more\r\n", "X: y\r\n", "MaxHeaderBytes", DefaultMaxHeaderBytes + 2*DefaultBlockSize},
		{"endless line", "aaaaaaaaaaaaaaaa", "X: ", "MaxLineLength", DefaultMaxLineLength + 2*DefaultBlockSize},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			src := &countingReader{r: io.MultiReader(strings.NewReader(f.prefix), &cyclicReader{data: []byte(f.repeat)})}
			r := New(src, Options{})
			defer r.Recycle()
			h, err := r.ReadMIMEHeader()
			var le *limit.LimitError
			if !errors.As(err, &le) || le.Name != f.want {
				t.Fatalf("err = %v, want a %s LimitError", err, f.want)
			}
			if src.n > int64(f.bound) {
				t.Fatalf("read %d bytes from the peer before giving up, want at most %d", src.n, f.bound)
			}
			if n := fieldCount(h); n > DefaultMaxHeaderFields {
				t.Fatalf("%d fields kept", n)
			}
		})
	}
}

// deadlineOnly has Read and SetReadDeadline and nothing else: it is not a
// net.Conn, as with a TLS or counting wrapper that forwards only these.
type deadlineOnly struct{ c net.Conn }

func (d deadlineOnly) Read(p []byte) (int, error)        { return d.c.Read(p) }
func (d deadlineOnly) SetReadDeadline(t time.Time) error { return d.c.SetReadDeadline(t) }

// wrappedConn embeds a net.Conn, as middleware wrappers do.
type wrappedConn struct{ net.Conn }

// TestDefect_DeadlineOnlyForBareNetConn: Monibuca applied its read deadline
// only when the constructor received a bare net.Conn, and paid a
// SetReadDeadline syscall per fill. Any source with SetReadDeadline must
// time out, and re-arming must be rare.
func TestDefect_DeadlineOnlyForBareNetConn(t *testing.T) {
	wrappers := map[string]func(net.Conn) io.Reader{
		"Read and SetReadDeadline only": func(c net.Conn) io.Reader { return deadlineOnly{c} },
		"struct embedding net.Conn":     func(c net.Conn) io.Reader { return wrappedConn{c} },
	}
	for name, wrap := range wrappers {
		t.Run(name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()

			const readTimeout = 100 * time.Millisecond
			r := New(wrap(client), Options{BlockSize: MinBlockSize, ReadTimeout: readTimeout})
			start := time.Now()
			_, err := r.ReadByte()
			r.Recycle()
			if !timeout.Is(err) {
				t.Fatalf("ReadByte on a silent peer = %v, want a timeout", err)
			}
			if d := time.Since(start); d < readTimeout/2 || d > 5*time.Second {
				t.Fatalf("timed out after %v, want about %v", d, readTimeout)
			}

			// Many small writes make many fills; with a timeout longer than
			// the test, the deadline must be armed once or twice, not once
			// per fill.
			r = New(wrap(client), Options{BlockSize: MinBlockSize, ReadTimeout: 10 * time.Second})
			defer r.Recycle()
			const writes, size = 5000, 16
			done := make(chan error, 1)
			go func() {
				msg := []byte(pattern(size))
				for range writes {
					if _, err := server.Write(msg); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for range writes {
				if err := r.ReadRange(size, func([]byte) {}); err != nil {
					t.Fatalf("ReadRange: %v", err)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			st := r.Stats()
			if st.Fills < writes/2 {
				t.Fatalf("only %d fills for %d writes; the test needs many fills", st.Fills, writes)
			}
			if st.DeadlineArms*100 > st.Fills {
				t.Fatalf("%d deadline arms for %d fills, want far fewer", st.DeadlineArms, st.Fills)
			}
			t.Logf("%d fills, %d deadline arms", st.Fills, st.DeadlineArms)
		})
	}
}

// TestSetReadTimeout checks that a timeout can be switched on for a reader
// created without one, and that switching it off clears the deadline the
// reader had armed.
func TestSetReadTimeout(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := New(deadlineOnly{client}, Options{BlockSize: MinBlockSize})
	defer r.Recycle()

	r.SetReadTimeout(50 * time.Millisecond)
	if _, err := r.ReadByte(); !timeout.Is(err) {
		t.Fatalf("ReadByte with a timeout set = %v, want a timeout", err)
	}

	r.SetReadTimeout(0)
	go func() {
		time.Sleep(150 * time.Millisecond) // well past the old deadline
		server.Write([]byte{42})
	}()
	if c, err := r.ReadByte(); err != nil || c != 42 {
		t.Fatalf("ReadByte with the timeout cleared = %d, %v; want 42", c, err)
	}
}
