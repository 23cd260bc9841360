package bufreader

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/zcingest/zerocopy/pool"
)

// mimeBlock is the outcome of one ReadMIMEHeader call.
type mimeBlock struct {
	h   textproto.MIMEHeader
	err errClass
}

// mimeCase is a stream of one or more header blocks followed by rest, the
// bytes that must still be unread after the last call.
type mimeCase struct {
	name  string
	input string
	cfg   config
	want  []mimeBlock
	rest  string
	// standard marks inputs that net/textproto must parse the same way.
	standard bool
}

// manyFields is a header larger than several blocks.
func manyFields(n, valueLen int) (string, textproto.MIMEHeader) {
	var b strings.Builder
	h := textproto.MIMEHeader{}
	for i := range n {
		key := fmt.Sprintf("X-Field-%d", i)
		value := text(i, valueLen)
		fmt.Fprintf(&b, "%s: %s\r\n", key, value)
		h[key] = []string{value}
	}
	b.WriteString("\r\n")
	return b.String(), h
}

var mimeCases = func() []mimeCase {
	big, bigHeader := manyFields(20, 150)
	return []mimeCase{
		{
			name:  "RTSP request headers then interleaved data",
			input: "CSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nUser-Agent: Lavf61.7.100\r\n\r\n$\x00\x00\x04abcd",
			want: []mimeBlock{{h: textproto.MIMEHeader{
				"Cseq":       {"1"},
				"Transport":  {"RTP/AVP/TCP;unicast;interleaved=0-1"},
				"User-Agent": {"Lavf61.7.100"},
			}}},
			rest:     "$\x00\x00\x04abcd",
			standard: true,
		},
		{
			name:  "keys and values trimmed of spaces and tabs",
			input: "Content-Type \t: \t text/plain \t\r\nx-custom:value\r\nEmpty:\r\nBlank: \t \r\n\r\n",
			want: []mimeBlock{{h: textproto.MIMEHeader{
				"Content-Type": {"text/plain"},
				"X-Custom":     {"value"},
				"Empty":        {""},
				"Blank":        {""},
			}}},
		},
		{
			name:  "continuation lines are joined with one space",
			input: "Subject: hello\r\n  world\r\n\tand tabs \r\nX: 1\r\n\r\n",
			want: []mimeBlock{{h: textproto.MIMEHeader{
				"Subject": {"hello world and tabs"},
				"X":       {"1"},
			}}},
			standard: true,
		},
		{
			name:  "blank continuation and continuation of an empty value",
			input: "A:\r\n  b\r\nC: d\r\n \t\r\n\r\n",
			want: []mimeBlock{{h: textproto.MIMEHeader{
				"A": {"b"},
				"C": {"d"},
			}}},
		},
		{
			name:     "repeated keys keep their order",
			input:    "Via: a\r\nvia: b\r\nVIA: c\r\n\r\n",
			want:     []mimeBlock{{h: textproto.MIMEHeader{"Via": {"a", "b", "c"}}}},
			standard: true,
		},
		{
			name:     "LF line ends",
			input:    "A: 1\nB: 2\n\nrest",
			want:     []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}, "B": {"2"}}}},
			rest:     "rest",
			standard: true,
		},
		{
			name:  "two header blocks back to back",
			input: "A: 1\r\n\r\nB: 2\r\nB: 3\r\n\r\n",
			want: []mimeBlock{
				{h: textproto.MIMEHeader{"A": {"1"}}},
				{h: textproto.MIMEHeader{"B": {"2", "3"}}},
			},
		},
		{
			name:  "header spanning several blocks",
			input: big + "tail",
			want:  []mimeBlock{{h: bigHeader}},
			rest:  "tail",
		},
		{
			name:  "only the terminating line",
			input: "\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{}}},
		},
		{
			name:  "continuation before any field",
			input: " x\r\n\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{}, err: errMalformed}},
			rest:  "\r\n",
		},
		{
			name:  "missing colon",
			input: "A: 1\r\nnocolon\r\n\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: errMalformed}},
			rest:  "\r\n",
		},
		{
			name:  "space inside a key",
			input: "A B: 1\r\n\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{}, err: errMalformed}},
			rest:  "\r\n",
		},
		{
			name:  "empty key",
			input: ":x\r\n\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{}, err: errMalformed}},
			rest:  "\r\n",
		},
		{
			name:  "control byte in a key",
			input: "A: 1\r\nK\x00: v\r\n\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: errMalformed}},
			rest:  "\r\n",
		},
		{
			name:  "MaxHeaderFields reached exactly",
			input: "A: 1\r\nB: 2\r\nA: 3\r\n\r\n",
			cfg:   config{maxHeaderFields: 3},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1", "3"}, "B": {"2"}}}},
		},
		{
			name:  "MaxHeaderFields exceeded",
			input: "A: 1\r\nB: 2\r\nA: 3\r\nC: 4\r\n\r\n",
			cfg:   config{maxHeaderFields: 3},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1", "3"}, "B": {"2"}}, err: limMaxHeaderFields}},
			rest:  "\r\n",
		},
		{
			name:  "MaxHeaderBytes counts continuation lines",
			input: "A: 0123456789\r\n 0123456789\r\n 0123456789\r\n 0123456789\r\n\r\n",
			cfg:   config{maxHeaderBytes: 50},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"0123456789 0123456789 0123456789"}}, err: limMaxHeaderBytes}},
			rest:  "\r\n",
		},
		{
			name:  "MaxHeaderBytes reached exactly",
			input: "A: 0123456789\r\n 0123456789\r\n\r\n",
			cfg:   config{maxHeaderBytes: 30},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"0123456789 0123456789"}}}},
		},
		{
			name:  "MaxLineLength",
			input: "A: 1\r\nLong: " + text(0, 40) + "\r\n\r\n",
			cfg:   config{maxLine: 32},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: limMaxLineLength}},
			rest:  "Long: " + text(0, 40) + "\r\n\r\n",
		},
		{
			name:  "stream ends mid-line",
			input: "A: 1\r\nB: 2",
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: errUnexpectedEOF}},
			rest:  "B: 2",
		},
		{
			name:  "stream ends before the empty line",
			input: "A: 1\r\n",
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: errEOF}},
		},
		{
			name:  "empty stream",
			input: "",
			want:  []mimeBlock{{h: textproto.MIMEHeader{}, err: errEOF}},
		},
		{
			name:  "stream ends with an error",
			input: "A: 1\r\n",
			cfg:   config{termErr: true},
			want:  []mimeBlock{{h: textproto.MIMEHeader{"A": {"1"}}, err: errTermClass}},
		},
	}
}()

func headersEqual(a, b textproto.MIMEHeader) bool {
	return maps.EqualFunc(a, b, slices.Equal)
}

// runMIME reads the case's header blocks from a Reader over src and checks
// each against the case and the model, then checks what remains unread.
func runMIME(t testing.TB, label string, tc mimeCase, c config, src io.Reader, alloc *pool.Allocator) bool {
	t.Helper()
	data := []byte(tc.input)
	s := newSubject(src, c, alloc)
	defer s.release()
	m := newModel(data, c)
	for i, want := range tc.want {
		h, err := s.r.ReadMIMEHeader()
		mh, merr := m.readMIMEHeader()
		if got := classify(err); got != want.err || !headersEqual(h, want.h) {
			t.Errorf("%s: block %d: got %v, %q (%v); want %v, %q", label, i, h, got, err, want.h, want.err)
			return false
		}
		if merr != want.err || !headersEqual(mh, want.h) {
			t.Errorf("%s: block %d: model got %v, %q; want %v, %q", label, i, mh, merr, want.h, want.err)
			return false
		}
		if msg := s.checkInvariants(m); msg != "" {
			t.Errorf("%s: block %d: %s", label, i, msg)
			return false
		}
	}
	res := s.apply(opWriteTo, 0)
	if string(res.out) != tc.rest || string(m.take(m.rem())) != tc.rest {
		t.Errorf("%s: unread remainder %q, want %q", label, res.out, tc.rest)
		return false
	}
	return true
}

func TestReadMIMEHeaderTable(t *testing.T) {
	for _, tc := range mimeCases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.input)
			alloc := pool.NewAllocator(64 << 10)
			defer pool.Recycle(alloc)
			for _, bs := range blockSizes {
				c := tc.cfg
				c.blockSize = bs
				for _, v := range iotestVariants {
					runMIME(t, fmt.Sprintf("%s bs=%d", v.name, bs), tc, c, v.make(data, c.term()), alloc)
				}
			}
			for _, bs := range sweepBlockSizes {
				c := tc.cfg
				c.blockSize = bs
				for k := 0; k <= len(data); k++ {
					src := &splitReader{data: data, k: k, term: c.term()}
					if !runMIME(t, fmt.Sprintf("split at %d bs=%d", k, bs), tc, c, src, alloc) {
						return
					}
				}
			}
		})
	}
}

// TestReadMIMEHeaderMatchesTextproto checks that well-formed headers parse
// exactly as the standard library parses them.
func TestReadMIMEHeaderMatchesTextproto(t *testing.T) {
	for _, tc := range mimeCases {
		if !tc.standard {
			continue
		}
		want, err := textproto.NewReader(bufio.NewReader(strings.NewReader(tc.input))).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("%s: textproto: %v", tc.name, err)
		}
		r := New(strings.NewReader(tc.input), Options{BlockSize: MinBlockSize})
		got, err := r.ReadMIMEHeader()
		r.Recycle()
		if err != nil || !headersEqual(got, want) {
			t.Errorf("%s: got %v, %v; textproto %v", tc.name, got, err, want)
		}
	}
}
