package bufreader

import (
	"io"
	"strings"
	"testing"

	"github.com/zcingest/zerocopy/pool"
)

// Fuzz inputs are capped so one input cannot make a run slow or large.
const (
	maxFuzzData  = 64 << 10
	maxFuzzSteps = 256
)

// seedChunkings are source patterns for the seed corpus (see
// scriptedSource): everything at once, one byte per read, odd sizes, and
// odd sizes mixed with empty reads, timeouts and data-with-timeout reads.
var seedChunkings = [][]byte{
	nil,
	{1},
	{7, 63, 0, 13},
	{0x40 | 5, 0x80 | 17, 0xc0 | 3, 0, 0x80, 0xc0 | 60},
}

// FuzzDifferential runs a script of calls against a Reader whose source
// delivers the data in a fuzzed chunking, and against the reference model;
// bytes, values, counts and error classes must agree, timeouts must leave
// atomic calls without effect, taken ranges must stay intact, and memory
// must stay bounded and balance at the end.
func FuzzDifferential(f *testing.F) {
	for _, tc := range readerCases {
		fs := fuzzScript{cfg: tc.cfg, steps: tc.steps}
		if fs.cfg.blockSize == 0 {
			fs.cfg.blockSize = MinBlockSize
		}
		prefix, rest := splitPatternPrefix(tc.input)
		fs.prefix = prefix
		for i, chunks := range seedChunkings {
			fs.ownAlloc = i%2 == 1
			f.Add([]byte(rest), encodeScript(fs), chunks)
		}
	}
	f.Fuzz(func(t *testing.T, data, script, chunking []byte) {
		fs := decodeScript(script, maxFuzzSteps)
		stream := []byte(pattern(min(fs.prefix, maxFuzzData)))
		stream = append(stream, data[:min(len(data), maxFuzzData-len(stream))]...)
		c := fs.cfg
		src := &scriptedSource{data: stream, pattern: chunking, term: c.term(), termWithData: c.termWithData}
		var alloc *pool.Allocator
		if !fs.ownAlloc {
			alloc = pool.NewAllocator(64 << 10)
			defer pool.Recycle(alloc)
		}
		runScript(t, "differential", stream, c, src, alloc, fs.steps, false, func() int { return src.timeouts })
	})
}

// FuzzReadLine reads lines until the stream ends, skipping past lines over
// the limit, and compares every outcome with the model.
func FuzzReadLine(f *testing.F) {
	for _, tc := range readerCases {
		if strings.HasPrefix(tc.name, "ReadLine/") || strings.HasPrefix(tc.name, "Mixed/") {
			for _, chunks := range seedChunkings {
				f.Add([]byte(tc.input), chunks, uint16(tc.cfg.maxLine), tc.cfg.termErr)
			}
		}
	}
	for _, tc := range mimeCases {
		f.Add([]byte(tc.input), []byte(nil), uint16(tc.cfg.maxLine), false)
	}
	f.Fuzz(func(t *testing.T, data, chunking []byte, maxLine uint16, termErr bool) {
		data = data[:min(len(data), maxFuzzData)]
		c := config{blockSize: MinBlockSize, maxLine: int(maxLine), termErr: termErr}
		src := &scriptedSource{data: data, pattern: chunking, term: c.term()}
		alloc := pool.NewAllocator(64 << 10)
		defer pool.Recycle(alloc)
		s := newSubject(src, c, alloc)
		defer s.release()
		m := newModel(data, c)
		seenTimeouts := 0
		// Each iteration consumes a line, skips part of a long one, or
		// sees one of at most len(data) timeouts.
		for range 2*len(data) + 4 {
			got := s.apply(opReadLine, 0)
			if got.err == errTimeout {
				seenTimeouts++
				if len(got.out) != 0 || s.position() != m.pos() {
					t.Fatalf("ReadLine timed out after consuming: %v", got)
				}
				continue
			}
			want := m.apply(opReadLine, 0, got)
			if !got.equal(want) {
				t.Fatalf("ReadLine: reader %v; model %v", got, want)
			}
			if msg := s.checkInvariants(m); msg != "" {
				t.Fatal(msg)
			}
			switch got.err {
			case errOK:
				if len(got.out) > m.maxLine {
					t.Fatalf("line of %d bytes exceeds MaxLineLength %d", len(got.out), m.maxLine)
				}
			case limMaxLineLength:
				// Step over the long line as a caller would.
				for k := min(m.maxLine, m.rem()); k > 0; {
					res := s.apply(opDiscard, k)
					switch res.err {
					case errTimeout:
						seenTimeouts++
					case errOK:
					default:
						t.Fatalf("Discard(%d) after a long line: %v", k, res)
					}
					m.take(res.n)
					k -= res.n
				}
			default:
				if seenTimeouts != src.timeouts {
					t.Fatalf("source returned %d timeouts, callers saw %d", src.timeouts, seenTimeouts)
				}
				return
			}
		}
		t.Fatalf("ReadLine made no progress")
	})
}

// FuzzReadMIMEHeader reads header blocks until an error and compares each
// with the model; the reader's memory must stay bounded and no header may
// exceed the configured limits.
func FuzzReadMIMEHeader(f *testing.F) {
	for _, tc := range mimeCases {
		for _, chunks := range seedChunkings {
			f.Add([]byte(tc.input), chunks, uint16(tc.cfg.maxLine), uint16(tc.cfg.maxHeaderFields), uint16(tc.cfg.maxHeaderBytes))
		}
	}
	f.Fuzz(func(t *testing.T, data, chunking []byte, maxLine, maxFields, maxBytes uint16) {
		data = data[:min(len(data), maxFuzzData)]
		c := config{
			blockSize:       MinBlockSize,
			maxLine:         int(maxLine),
			maxHeaderFields: int(maxFields),
			maxHeaderBytes:  int(maxBytes),
		}
		// A timeout in the middle of a header block loses the fields read
		// so far by design, so this target's source never times out.
		src := &scriptedSource{data: data, pattern: chunking, term: io.EOF, noTimeouts: true}
		alloc := pool.NewAllocator(64 << 10)
		defer pool.Recycle(alloc)
		s := newSubject(src, c, alloc)
		defer s.release()
		m := newModel(data, c)
		for range len(data) + 1 {
			h, err := s.r.ReadMIMEHeader()
			mh, merr := m.readMIMEHeader()
			if got := classify(err); got != merr || !headersEqual(h, mh) {
				t.Fatalf("reader %v, %q (%v); model %v, %q", h, got, err, mh, merr)
			}
			if n := fieldCount(h); n > m.maxHeaderFields {
				t.Fatalf("%d fields exceed MaxHeaderFields %d", n, m.maxHeaderFields)
			}
			if msg := s.checkInvariants(m); msg != "" {
				t.Fatal(msg)
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("ReadMIMEHeader made no progress")
	})
}
