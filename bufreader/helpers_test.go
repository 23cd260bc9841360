package bufreader

import (
	"errors"
	"fmt"
	"io"
	"testing/iotest"

	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/limit"
)

// errTerm stands for a source that ends with something other than io.EOF
// (a reset connection). Unlike io.EOF it must reach the caller unchanged.
var errTerm = errors.New("test: connection reset by peer")

// timeoutError is what a net.Conn returns when its read deadline passes.
type timeoutError struct{}

func (timeoutError) Error() string   { return "test: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// errClass is what the tests compare instead of error values: the outcome a
// caller would branch on.
type errClass string

const (
	errOK            errClass = ""
	errEOF           errClass = "EOF"
	errUnexpectedEOF errClass = "UnexpectedEOF"
	errClosed        errClass = "Closed"
	errTimeout       errClass = "Timeout"
	errTermClass     errClass = "Term"
	errNoProgress    errClass = "NoProgress"
	errMalformed     errClass = "Malformed"
	errInvalid       errClass = "Invalid" // a bad argument (negative length, width out of range)

	limMaxBuffered     errClass = "limit MaxBuffered"
	limMaxPeek         errClass = "limit MaxPeek"
	limMaxLineLength   errClass = "limit MaxLineLength"
	limMaxHeaderFields errClass = "limit MaxHeaderFields"
	limMaxHeaderBytes  errClass = "limit MaxHeaderBytes"
)

func classify(err error) errClass {
	var le *limit.LimitError
	switch {
	case err == nil:
		return errOK
	case err == io.EOF: // io.EOF must never be wrapped: callers compare with ==
		return errEOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errUnexpectedEOF
	case errors.Is(err, ErrClosed):
		return errClosed
	case errors.As(err, &le):
		return errClass("limit " + le.Name)
	case errors.Is(err, errTerm):
		return errTermClass
	case timeout.Is(err):
		return errTimeout
	case errors.Is(err, io.ErrNoProgress):
		return errNoProgress
	case errors.Is(err, errMalformedHeader):
		return errMalformed
	}
	return errInvalid
}

// termReader is a bytes source that ends with term instead of io.EOF (term
// may be io.EOF itself).
type termReader struct {
	data []byte
	term error
}

func (t *termReader) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, t.term
	}
	n := copy(p, t.data)
	t.data = t.data[n:]
	return n, nil
}

// splitReader delivers data[:k] and data[k:] in separate reads (each may
// still be cut short by a small p), so a test can place the source's chunk
// boundary at every offset.
type splitReader struct {
	data   []byte
	pos, k int
	term   error
}

func (s *splitReader) Read(p []byte) (int, error) {
	if s.pos == len(s.data) {
		return 0, s.term
	}
	end := len(s.data)
	if s.pos < s.k {
		end = s.k
	}
	n := copy(p, s.data[s.pos:end])
	s.pos += n
	return n, nil
}

// countingReader counts what the reader under test really received, so tests
// can check Stats().BytesRead and derive the stream position.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cyclicReader replays data forever without allocating, for steady-state and
// long-running tests.
type cyclicReader struct {
	data []byte
	off  int
}

func (c *cyclicReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.data[c.off:])
		n += k
		c.off = (c.off + k) % len(c.data)
	}
	return n, nil
}

// sourceVariant wraps a fresh source of data ending with term.
type sourceVariant struct {
	name string
	make func(data []byte, term error) io.Reader
}

// iotestVariants are the readers every table case is run through (the split
// sweep is added separately because it has one run per offset).
var iotestVariants = []sourceVariant{
	{"plain", func(d []byte, term error) io.Reader { return &termReader{d, term} }},
	{"onebyte", func(d []byte, term error) io.Reader { return iotest.OneByteReader(&termReader{d, term}) }},
	{"half", func(d []byte, term error) io.Reader { return iotest.HalfReader(&termReader{d, term}) }},
	{"dataerr", func(d []byte, term error) io.Reader { return iotest.DataErrReader(&termReader{d, term}) }},
}

// pattern returns n position-dependent bytes: any byte read from the wrong
// offset, or overwritten by a later fill, shows up as a mismatch.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8 + 7)
	}
	return string(b)
}

// be and le decode s as an unsigned integer, for expected values.
func be(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v<<8 | uint64(s[i])
	}
	return v
}

func le(s string) uint64 {
	var v uint64
	for i := len(s) - 1; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v
}

// short abbreviates byte strings in failure messages.
func short(b []byte) string {
	if len(b) <= 48 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q...(%d bytes)", b[:48], len(b))
}

// scriptedSource delivers data in chunks a fuzzer chooses. Each control byte
// c of pattern describes one Read: its low 6 bits cap the bytes delivered
// (0: no cap) and its top 2 bits add an event: 1 = a (0, nil) read first,
// 2 = a timeout first, 3 = the bytes arrive together with a timeout error.
// The pattern repeats; an empty pattern delivers whatever fits.
type scriptedSource struct {
	data         []byte
	pos          int
	pattern      []byte
	next         int  // index of the current control byte
	eventServed  bool // the current control byte's leading event has happened
	term         error
	termWithData bool // the last bytes arrive together with term
	noTimeouts   bool // events 2 and 3 are ignored
	timeouts     int  // timeouts returned so far
}

func (s *scriptedSource) Read(p []byte) (int, error) {
	if s.pos == len(s.data) {
		return 0, s.term
	}
	var c byte
	if len(s.pattern) > 0 {
		c = s.pattern[s.next%len(s.pattern)]
	}
	event := c >> 6
	if s.noTimeouts && event >= 2 {
		event = 0
	}
	if !s.eventServed {
		s.eventServed = true
		switch event {
		case 1:
			return 0, nil
		case 2:
			s.timeouts++
			return 0, timeoutError{}
		}
	}
	s.next++
	s.eventServed = false
	size := int(c & 0x3f)
	if size == 0 || size > len(p) {
		size = len(p)
	}
	n := copy(p[:size], s.data[s.pos:])
	s.pos += n
	switch {
	case s.pos == len(s.data) && s.termWithData:
		return n, s.term
	case event == 3:
		s.timeouts++
		return n, timeoutError{}
	}
	return n, nil
}
