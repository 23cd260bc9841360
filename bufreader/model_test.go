package bufreader

// This file holds the machinery shared by the table tests and the fuzz
// targets: a script of calls, a reference model of what each call must do
// (a bytes.Reader over the whole input plus the documented rules), and a
// runner that drives a Reader and the model side by side and checks the
// reader's memory invariants after every call.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

type opKind uint8

const (
	opReadRange opKind = iota
	opPeek
	opTake
	opTakeInto
	opDiscard
	opSkip
	opReadByte
	opReadBE
	opReadLE
	opReadBE16
	opReadBE24
	opReadBE32
	opReadLE32
	opReadLine
	opRead     // Read until n bytes or an error, like io.ReadFull but keeping Read's own error
	opReadOnce // a single Read with a buffer of n bytes
	opWriteTo  // WriteTo a bytes.Buffer
	opBuffered
	opRecycle
	opClose
	numOps
)

var opNames = [numOps]string{
	"ReadRange", "Peek", "Take", "TakeInto", "Discard", "Skip", "ReadByte", "ReadBE", "ReadLE",
	"ReadBE16", "ReadBE24", "ReadBE32", "ReadLE32", "ReadLine", "Read", "ReadOnce", "WriteTo",
	"Buffered", "Recycle", "Close",
}

func (o opKind) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", o)
}

// atomic reports whether the call promises to consume nothing when it fails.
func (o opKind) atomic() bool {
	switch o {
	case opDiscard, opSkip, opRead, opReadOnce, opWriteTo, opBuffered, opRecycle, opClose:
		return false
	}
	return true
}

// step is one call in a script, with the outcome a table case expects.
type step struct {
	op    opKind
	n     int      // length, integer width or Read buffer size
	err   errClass // expected outcome
	want  string   // expected bytes: views, takes, lines, Read and WriteTo output (ReadOnce: a prefix of it)
	val   uint64   // expected value of ReadByte and the integer reads
	count int      // expected Discard count; the most Buffered may report
}

func (s step) String() string { return fmt.Sprintf("%v(%d)", s.op, s.n) }

// result is what one call produced, in a comparable form.
type result struct {
	out []byte
	val uint64
	n   int
	err errClass
	raw error // the error itself, for messages
}

func (r result) String() string {
	s := fmt.Sprintf("out=%s val=%#x n=%d err=%q", short(r.out), r.val, r.n, r.err)
	if r.raw != nil {
		s += fmt.Sprintf(" (%v)", r.raw)
	}
	return s
}

func (r result) equal(o result) bool {
	return bytes.Equal(r.out, o.out) && r.val == o.val && r.n == o.n && r.err == o.err
}

// config is the part of Options a script varies, plus how the source ends.
type config struct {
	blockSize, maxLine, maxPeek, maxBuffered int
	maxHeaderFields, maxHeaderBytes          int
	termErr                                  bool // the source ends with errTerm instead of io.EOF
	termWithData                             bool // the scripted source returns its last bytes together with the end
}

func (c config) options(a *pool.Allocator) Options {
	return Options{
		Allocator:       a,
		BlockSize:       c.blockSize,
		MaxBuffered:     c.maxBuffered,
		MaxLineLength:   c.maxLine,
		MaxPeek:         c.maxPeek,
		MaxHeaderFields: c.maxHeaderFields,
		MaxHeaderBytes:  c.maxHeaderBytes,
	}
}

func (c config) term() error {
	if c.termErr {
		return errTerm
	}
	return io.EOF
}

// ---- the reference model ----

type model struct {
	src                             *bytes.Reader
	termEOF                         bool
	maxLine, maxPeek, maxBuffered   int
	maxHeaderFields, maxHeaderBytes int
	closed                          bool
}

func newModel(data []byte, c config) *model {
	return &model{
		src:             bytes.NewReader(data),
		termEOF:         !c.termErr,
		maxLine:         cmp.Or(c.maxLine, DefaultMaxLineLength),
		maxPeek:         cmp.Or(c.maxPeek, DefaultMaxPeek),
		maxBuffered:     max(cmp.Or(c.maxBuffered, DefaultMaxBuffered), 8),
		maxHeaderFields: cmp.Or(c.maxHeaderFields, DefaultMaxHeaderFields),
		maxHeaderBytes:  cmp.Or(c.maxHeaderBytes, DefaultMaxHeaderBytes),
	}
}

func (m *model) rem() int   { return m.src.Len() }
func (m *model) pos() int64 { return m.src.Size() - int64(m.src.Len()) }

func (m *model) take(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(m.src, b); err != nil {
		panic("model: take past the end")
	}
	return b
}

func (m *model) peek(n int) []byte {
	b := m.take(n)
	m.src.Seek(-int64(n), io.SeekCurrent)
	return b
}

// end is how a stream that has ended reports itself through Read and
// Discard: the source's own error.
func (m *model) end() errClass {
	if m.termEOF {
		return errEOF
	}
	return errTermClass
}

// short is the outcome of an atomic call that needs more bytes than the
// stream has left.
func (m *model) short() errClass {
	if !m.termEOF {
		return errTermClass
	}
	if m.rem() == 0 {
		return errEOF
	}
	return errUnexpectedEOF
}

func (m *model) value(n int, bigEndian bool) result {
	if n < 1 || n > 8 {
		return result{err: errInvalid}
	}
	if n > m.rem() {
		return result{err: m.short()}
	}
	s := string(m.take(n))
	if bigEndian {
		return result{val: be(s)}
	}
	return result{val: le(s)}
}

// apply returns what call o(n) must produce and advances the model. got is
// the reader's result; it is consulted only where the documented outcome
// leaves a choice (how much one Read returns, what Buffered reports).
func (m *model) apply(o opKind, n int, got result) result {
	if m.closed {
		switch o {
		case opBuffered, opRecycle, opClose:
			return result{}
		}
		return result{err: errClosed}
	}
	switch o {
	case opReadRange, opTake, opTakeInto:
		switch {
		case n < 0:
			return result{err: errInvalid}
		case n > m.maxBuffered:
			return result{err: limMaxBuffered}
		case n > m.rem():
			return result{err: m.short()}
		}
		res := result{out: m.take(n)}
		if o == opTakeInto {
			res.n = n
		}
		return res
	case opPeek:
		switch {
		case n > m.maxPeek:
			return result{err: limMaxPeek}
		case n <= 0:
			return result{}
		case n > m.maxBuffered:
			return result{err: limMaxBuffered}
		case n > m.rem():
			return result{err: m.short()}
		}
		return result{out: m.peek(n)}
	case opDiscard, opSkip:
		if n <= 0 {
			return result{}
		}
		d := min(n, m.rem())
		m.take(d)
		res := result{n: d}
		if d < n {
			res.err = m.end()
			if o == opSkip && res.err == errEOF && d > 0 {
				res.err = errUnexpectedEOF
			}
		}
		if o == opSkip {
			res.n = 0
		}
		return res
	case opReadByte, opReadBE:
		if o == opReadByte {
			n = 1
		}
		return m.value(n, true)
	case opReadLE:
		return m.value(n, false)
	case opReadBE16:
		return m.value(2, true)
	case opReadBE24:
		return m.value(3, true)
	case opReadBE32:
		return m.value(4, true)
	case opReadLE32:
		return m.value(4, false)
	case opReadLine:
		return m.readLine()
	case opRead:
		if n <= 0 {
			return result{}
		}
		k := min(n, m.rem())
		res := result{out: m.take(k)}
		if k < n {
			res.err = m.end()
		}
		return res
	case opReadOnce:
		switch {
		case n <= 0:
			return result{}
		case m.rem() == 0:
			return result{err: m.end()}
		case got.err == errOK && got.n >= 1 && got.n <= min(n, m.rem()):
			return result{out: m.take(got.n), n: got.n}
		}
		// Any count from 1 to min(n, rem) would do; show the largest.
		k := min(n, m.rem())
		return result{out: m.peek(k), n: k}
	case opWriteTo:
		out := m.take(m.rem())
		res := result{out: out, n: len(out)}
		if !m.termEOF {
			res.err = errTermClass
		}
		return res
	case opBuffered:
		if got.n >= 0 && got.n <= m.rem() {
			return result{n: got.n}
		}
		return result{n: -1} // nothing valid to show; forces a mismatch
	case opRecycle, opClose:
		m.closed = true
		return result{}
	}
	panic("model: unknown op")
}

// readLine applies the documented line rules: the line may hold up to
// maxLine bytes before its "\n", or maxLine+1 when the extra byte is the
// '\r' of a "\r\n"; a longer line is a limit error and consumes nothing.
func (m *model) readLine() result {
	rest := m.peek(m.rem())
	window := rest[:min(len(rest), m.maxLine+2)]
	idx := bytes.IndexByte(window, '\n')
	if idx < 0 {
		if len(window) == m.maxLine+2 {
			return result{err: limMaxLineLength}
		}
		return result{err: m.short()}
	}
	if idx > m.maxLine && !(idx == m.maxLine+1 && rest[idx-1] == '\r') {
		return result{err: limMaxLineLength}
	}
	line := m.take(idx + 1)[:idx]
	line = bytes.TrimSuffix(line, []byte("\r"))
	return result{out: line}
}

// readMIMEHeader applies the documented header rules on top of readLine.
// It is written from the package documentation, independently of mime.go:
// first the logical fields are assembled, then keys and values are checked.
func (m *model) readMIMEHeader() (textproto.MIMEHeader, errClass) {
	h := textproto.MIMEHeader{}
	total := 0
	var last *string // the value a continuation line extends
	for {
		res := m.readLine()
		if res.err != errOK {
			return h, res.err
		}
		line := string(res.out)
		if total += len(line) + 2; total > m.maxHeaderBytes {
			return h, limMaxHeaderBytes
		}
		if line == "" {
			return h, errOK
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == nil {
				return h, errMalformed
			}
			if cont := strings.Trim(line, " \t"); cont != "" {
				if *last == "" {
					*last = cont
				} else {
					*last += " " + cont
				}
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		key = strings.Trim(key, " \t")
		if !ok || key == "" || strings.IndexFunc(key, notTokenRune) >= 0 {
			return h, errMalformed
		}
		if fieldCount(h)+1 > m.maxHeaderFields {
			return h, limMaxHeaderFields
		}
		key = textproto.CanonicalMIMEHeaderKey(key)
		h[key] = append(h[key], strings.Trim(value, " \t"))
		last = &h[key][len(h[key])-1]
	}
}

func fieldCount(h textproto.MIMEHeader) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// notTokenRune reports characters RFC 7230 does not allow in a field name.
func notTokenRune(c rune) bool {
	return !strings.ContainsRune("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", c)
}

// ---- the reader under test ----

type takenRange struct {
	mem  gomem.Memory
	want []byte
}

// subject is a Reader plus the bookkeeping that lets the runner check it:
// every taken range with the bytes it must keep holding.
type subject struct {
	r         *Reader
	src       *countingReader
	alloc     *pool.Allocator
	ownAlloc  bool
	taken     []takenRange
	into      gomem.Memory // everything TakeInto appended, in order
	intoWant  []byte
	takenSize int64
}

func newSubject(src io.Reader, c config, alloc *pool.Allocator) *subject {
	s := &subject{src: &countingReader{r: src}, alloc: alloc}
	s.r = New(s.src, c.options(alloc))
	if alloc == nil {
		s.alloc, s.ownAlloc = s.r.Allocator(), true
	}
	return s
}

// position is how far into the stream the reader has consumed.
func (s *subject) position() int64 { return s.r.Stats().BytesRead - int64(s.r.Buffered()) }

func (s *subject) outstanding() int64 {
	var n int64
	for _, t := range s.taken {
		n += int64(t.mem.Size)
	}
	return n + int64(s.into.Size)
}

func (s *subject) apply(o opKind, n int) result {
	r := s.r
	var res result
	var err error
	switch o {
	case opReadRange:
		err = r.ReadRange(n, func(b []byte) { res.out = append(res.out, b...) })
	case opPeek:
		var p []byte
		p, err = r.Peek(n)
		res.out = bytes.Clone(p)
	case opTake:
		var m gomem.Memory
		m, err = r.Take(n)
		for _, b := range m.Buffers {
			res.out = append(res.out, b...)
		}
		if m.Size != len(res.out) {
			res.err = "contract: Take returned a Memory whose Size disagrees with its buffers"
		}
		if len(m.Buffers) > 0 {
			s.taken = append(s.taken, takenRange{m, bytes.Clone(res.out)})
			s.takenSize += int64(m.Size)
		}
	case opTakeInto:
		buffers, size := len(s.into.Buffers), s.into.Size
		err = r.TakeInto(&s.into, n)
		for _, b := range s.into.Buffers[buffers:] {
			res.out = append(res.out, b...)
		}
		res.n = s.into.Size - size
		s.intoWant = append(s.intoWant, res.out...)
		s.takenSize += int64(res.n)
	case opDiscard:
		res.n, err = r.Discard(n)
	case opSkip:
		err = r.Skip(n)
	case opReadByte:
		var c byte
		c, err = r.ReadByte()
		res.val = uint64(c)
	case opReadBE:
		res.val, err = r.ReadBE(n)
	case opReadLE:
		res.val, err = r.ReadLE(n)
	case opReadBE16:
		var v uint16
		v, err = r.ReadBE16()
		res.val = uint64(v)
	case opReadBE24:
		var v uint32
		v, err = r.ReadBE24()
		res.val = uint64(v)
	case opReadBE32:
		var v uint32
		v, err = r.ReadBE32()
		res.val = uint64(v)
	case opReadLE32:
		var v uint32
		v, err = r.ReadLE32()
		res.val = uint64(v)
	case opReadLine:
		var line []byte
		line, err = r.ReadLine()
		res.out = bytes.Clone(line)
	case opRead:
		buf := make([]byte, max(n, 0))
		got := 0
		for {
			k, e := r.Read(buf[got:])
			if bad := readContract(k, e, len(buf)-got); bad != "" {
				res.err = errClass(bad)
				break
			}
			got += k
			if e != nil || got == len(buf) {
				err = e
				break
			}
		}
		res.out = buf[:got]
	case opReadOnce:
		buf := make([]byte, max(n, 0))
		k, e := r.Read(buf)
		if bad := readContract(k, e, len(buf)); bad != "" {
			res.err = errClass(bad)
			break
		}
		res.out, res.n, err = buf[:k], k, e
	case opWriteTo:
		var w bytes.Buffer
		written, e := r.WriteTo(&w)
		res.out, res.n, err = w.Bytes(), int(written), e
		if written != int64(w.Len()) {
			res.err = "contract: WriteTo's count disagrees with the bytes written"
		}
	case opBuffered:
		res.n = r.Buffered()
	case opRecycle:
		r.Recycle()
	case opClose:
		err = r.Close()
	default:
		panic("subject: unknown op")
	}
	res.raw = err
	if res.err == errOK {
		res.err = classify(err)
	}
	return res
}

// readContract checks one Read call against io.Reader's rules and the
// package's promise that bytes arriving with an error come before it.
func readContract(n int, err error, size int) string {
	switch {
	case n < 0 || n > size:
		return fmt.Sprintf("contract: Read returned n=%d for a %d-byte buffer", n, size)
	case n > 0 && err != nil:
		return fmt.Sprintf("contract: Read returned n=%d together with %v", n, err)
	case n == 0 && err == nil && size > 0:
		return "contract: Read returned (0, nil)"
	}
	return ""
}

// checkInvariants verifies what must hold after every call: the stream
// position matches the model, the counters add up, and the reader's pool
// memory is within the package's bound, Buffered()+3*BlockSize (a head and
// a tail block, a spare, and middle blocks that hold only unread bytes).
func (s *subject) checkInvariants(m *model) string {
	st := s.r.Stats()
	if st.BytesRead != s.src.n {
		return fmt.Sprintf("Stats().BytesRead=%d, source delivered %d", st.BytesRead, s.src.n)
	}
	if st.BytesTaken != s.takenSize {
		return fmt.Sprintf("Stats().BytesTaken=%d, callers received %d", st.BytesTaken, s.takenSize)
	}
	held := pool.InUse(s.alloc) - s.outstanding()
	if m.closed {
		if held != 0 || s.r.Buffered() != 0 {
			return fmt.Sprintf("after Recycle the reader still holds %d bytes (Buffered %d)", held, s.r.Buffered())
		}
		return ""
	}
	if pos := s.position(); pos != m.pos() {
		return fmt.Sprintf("stream position %d (BytesRead-Buffered), model is at %d", pos, m.pos())
	}
	if bound := int64(s.r.Buffered() + 3*s.r.blockSize); held > bound {
		return fmt.Sprintf("reader holds %d bytes of pool memory; unread %d + head and tail blocks + a spare allow %d", held, s.r.Buffered(), bound)
	}
	// The structure the bound rests on: a middle block (neither the head
	// nor the tail) owns exactly its unread bytes.
	for i := s.r.head + 1; i < len(s.r.blocks)-1; i++ {
		if b := s.r.blocks[i]; b.keep != 0 || b.r != 0 || len(b.mem) != b.w {
			return fmt.Sprintf("middle block %d of %d owns [%d, %d) but holds unread [%d, %d)", i-s.r.head, len(s.r.blocks)-s.r.head, b.keep, len(b.mem), b.r, b.w)
		}
	}
	return ""
}

// checkTaken verifies that every taken range still holds its bytes.
func (s *subject) checkTaken() string {
	for i, t := range s.taken {
		var got []byte
		for _, b := range t.mem.Buffers {
			got = append(got, b...)
		}
		if !bytes.Equal(got, t.want) {
			return fmt.Sprintf("taken range %d changed: %s, want %s", i, short(got), short(t.want))
		}
	}
	var got []byte
	for _, b := range s.into.Buffers {
		got = append(got, b...)
	}
	if !bytes.Equal(got, s.intoWant) {
		return fmt.Sprintf("TakeInto ranges changed: %s, want %s", short(got), short(s.intoWant))
	}
	return ""
}

// release recycles the reader, frees every taken range and checks that the
// allocator balances.
func (s *subject) release() string {
	s.r.Recycle()
	outstanding := s.outstanding()
	if held := pool.InUse(s.alloc) - outstanding; held != 0 {
		return fmt.Sprintf("after Recycle the reader still holds %d bytes", held)
	}
	for i := range s.taken {
		pool.FreeMemory(s.alloc, &s.taken[i].mem)
	}
	pool.FreeMemory(s.alloc, &s.into)
	s.taken, s.intoWant = nil, nil
	if !pool.Balanced(s.alloc) {
		return fmt.Sprintf("allocator unbalanced: malloc %d, free %d, in use %d",
			s.alloc.GetTotalMalloc(), s.alloc.GetTotalFree(), pool.InUse(s.alloc))
	}
	if s.ownAlloc {
		// The reader's Recycle recycled its allocator, or abandoned it
		// when ranges were outstanding (then the frees above were counted
		// but gave nothing back, and the GC reclaims the memory).
		if abandoned := outstanding > 0; abandoned == (s.alloc.GetTotalMalloc() == s.alloc.GetTotalFree()) {
			return fmt.Sprintf("reader-made allocator: ranges outstanding at Recycle %v, but gomem malloc %d, free %d",
				abandoned, s.alloc.GetTotalMalloc(), s.alloc.GetTotalFree())
		}
	}
	return ""
}

// ---- the runner ----

// runScript drives steps through a Reader over src and through the model,
// failing t at the first disagreement. With explicit, each step's stated
// expectation is checked too. timeouts, when not nil, reports how many
// timeouts the source returned; each must reach a caller exactly once.
// It returns false on failure.
func runScript(t testing.TB, label string, data []byte, c config, src io.Reader, alloc *pool.Allocator,
	steps []step, explicit bool, timeouts func() int) bool {
	t.Helper()
	s := newSubject(src, c, alloc)
	m := newModel(data, c)
	fail := func(i int, format string, args ...any) bool {
		t.Helper()
		t.Errorf("%s: step %d: %s", label, i, fmt.Sprintf(format, args...))
		s.release() // so later runs sharing the allocator start clean
		return false
	}
	seenTimeouts := 0
	for i, st := range steps {
		got := s.apply(st.op, st.n)
		if got.err == errTimeout {
			// The source timed out mid-call. An atomic call must not have
			// moved; the others may have consumed a prefix, which the model
			// follows.
			seenTimeouts++
			moved := s.position() - m.pos()
			if moved < 0 || moved > int64(m.rem()) || (st.op.atomic() && (moved != 0 || len(got.out) != 0)) {
				return fail(i, "%v failed with a timeout after moving the stream by %d: %v", st, moved, got)
			}
			if want := m.peek(int(moved)); (st.op == opRead || st.op == opWriteTo) && !bytes.Equal(got.out, want) {
				return fail(i, "%v delivered %s before a timeout, want %s", st, short(got.out), short(want))
			}
			m.take(int(moved))
		} else {
			want := m.apply(st.op, st.n, got)
			if !got.equal(want) {
				return fail(i, "%v: reader %v; model %v", st, got, want)
			}
			if explicit {
				if msg := st.check(got); msg != "" {
					return fail(i, "%v: %s", st, msg)
				}
			}
		}
		if msg := s.checkInvariants(m); msg != "" {
			return fail(i, "after %v: %s", st, msg)
		}
	}
	if msg := s.checkTaken(); msg != "" {
		return fail(len(steps), "%s", msg)
	}
	if !m.closed {
		// Whatever the script left unread must still come out, in order.
		var rest []byte
		for attempt := 0; ; attempt++ {
			if timeouts == nil && attempt > 0 || timeouts != nil && attempt > timeouts() {
				return fail(len(steps), "draining with WriteTo: more timeouts than the source returned")
			}
			res := s.apply(opWriteTo, 0)
			rest = append(rest, res.out...)
			if res.err != errTimeout {
				if want := m.end(); res.err != want && !(want == errEOF && res.err == errOK) {
					return fail(len(steps), "draining with WriteTo: %v", res)
				}
				break
			}
			seenTimeouts++
		}
		if want := m.take(m.rem()); !bytes.Equal(rest, want) {
			return fail(len(steps), "unread remainder %s, want %s", short(rest), short(want))
		}
	}
	// A timeout that arrived with data is pending until the next fill, so
	// it is lost when the script recycles the reader first.
	if timeouts != nil && !m.closed && seenTimeouts != timeouts() {
		return fail(len(steps), "source returned %d timeouts, callers saw %d", timeouts(), seenTimeouts)
	}
	if msg := s.release(); msg != "" {
		return fail(len(steps), "%s", msg)
	}
	return true
}

// check compares a result with the step's stated expectation.
func (st step) check(got result) string {
	if got.err != st.err {
		return fmt.Sprintf("error %q (%v), want %q", got.err, got.raw, st.err)
	}
	switch st.op {
	case opReadRange, opPeek, opTake, opTakeInto, opReadLine, opRead, opWriteTo:
		if string(got.out) != st.want {
			return fmt.Sprintf("got %s, want %s", short(got.out), short([]byte(st.want)))
		}
	case opReadOnce:
		if !strings.HasPrefix(st.want, string(got.out)) || (len(got.out) == 0) != (st.want == "") {
			return fmt.Sprintf("got %s, want a non-empty prefix of %s", short(got.out), short([]byte(st.want)))
		}
	case opReadByte, opReadBE, opReadLE, opReadBE16, opReadBE24, opReadBE32, opReadLE32:
		if got.val != st.val {
			return fmt.Sprintf("value %#x, want %#x", got.val, st.val)
		}
	case opDiscard:
		if got.n != st.count {
			return fmt.Sprintf("discarded %d, want %d", got.n, st.count)
		}
	case opBuffered:
		if got.n > st.count {
			return fmt.Sprintf("Buffered %d, want at most %d", got.n, st.count)
		}
	}
	return ""
}

// ---- script encoding for the fuzzers ----

// fuzzScript is what FuzzDifferential decodes from its script argument.
type fuzzScript struct {
	cfg      config
	ownAlloc bool // let the reader create its own allocator
	// prefix is the length of a pattern() prefix placed before the fuzz
	// data. Long streams then cost the fuzzer two bytes instead of
	// thousands, which keeps mutation and minimization fast.
	prefix int
	steps  []step
}

// A script is an 11-byte header (blockSize, maxLine, maxPeek, maxBuffered
// and prefix as little-endian uint16s, then a flags byte) followed by
// 3-byte ops: the op code and n as a little-endian int16.
const scriptHeaderLen = 11

const (
	flagTermErr      = 1 << iota // the source ends with errTerm
	flagTermWithData             // the last bytes arrive together with the end
	flagOwnAlloc                 // the reader creates its own allocator
)

func encodeScript(fs fuzzScript) []byte {
	b := make([]byte, scriptHeaderLen, scriptHeaderLen+3*len(fs.steps))
	c := fs.cfg
	for i, v := range []int{c.blockSize, c.maxLine, c.maxPeek, c.maxBuffered, fs.prefix} {
		if v < 0 || v > 0xffff {
			panic(fmt.Sprintf("encodeScript: header value %d does not fit", v))
		}
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	for bit, on := range map[byte]bool{flagTermErr: c.termErr, flagTermWithData: c.termWithData, flagOwnAlloc: fs.ownAlloc} {
		if on {
			b[10] |= bit
		}
	}
	for _, st := range fs.steps {
		if int(int16(st.n)) != st.n {
			panic(fmt.Sprintf("encodeScript: n=%d does not fit", st.n))
		}
		b = append(b, byte(st.op), byte(uint16(st.n)), byte(uint16(st.n)>>8))
	}
	return b
}

// decodeScript accepts any bytes: a short header reads as zeros, and at
// most maxSteps ops are decoded.
func decodeScript(b []byte, maxSteps int) fuzzScript {
	var h [scriptHeaderLen]byte
	copy(h[:], b)
	var fs fuzzScript
	fs.cfg = config{
		blockSize:    int(binary.LittleEndian.Uint16(h[0:])),
		maxLine:      int(binary.LittleEndian.Uint16(h[2:])),
		maxPeek:      int(binary.LittleEndian.Uint16(h[4:])),
		maxBuffered:  int(binary.LittleEndian.Uint16(h[6:])),
		termErr:      h[10]&flagTermErr != 0,
		termWithData: h[10]&flagTermWithData != 0,
	}
	fs.prefix = int(binary.LittleEndian.Uint16(h[8:]))
	fs.ownAlloc = h[10]&flagOwnAlloc != 0
	for b = b[min(len(b), scriptHeaderLen):]; len(b) >= 3 && len(fs.steps) < maxSteps; b = b[3:] {
		fs.steps = append(fs.steps, step{op: opKind(b[0] % byte(numOps)), n: int(int16(binary.LittleEndian.Uint16(b[1:])))})
	}
	return fs
}

// splitPatternPrefix returns how much of input is a prefix of pattern(),
// so a seed can encode it as a prefix length.
func splitPatternPrefix(input string) (prefix int, rest string) {
	p := pattern(len(input))
	for prefix < len(input) && input[prefix] == p[prefix] {
		prefix++
	}
	return prefix, input[prefix:]
}
