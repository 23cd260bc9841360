package base

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

func newReader(src io.Reader) (*Reader, *bufreader.Reader, *pool.Allocator) {
	a := pool.NewAllocator(64 << 10)
	br := bufreader.New(src, BufOptions(bufreader.Options{Allocator: a, BlockSize: 4096}))
	return NewReader(br, Options{}), br, a
}

func done(t *testing.T, br *bufreader.Reader, a *pool.Allocator) {
	t.Helper()
	br.Recycle()
	if !pool.Balanced(a) {
		t.Fatalf("allocator unbalanced: %d in use", pool.InUse(a))
	}
	pool.Recycle(a)
}

var requestTable = []struct {
	name, in string
	wantErr  string // "" ok, "limit:<Name>", or "malformed"
	method   string
	body     string
}{
	{"options", "OPTIONS rtsp://h/live/x RTSP/1.0\r\nCSeq: 1\r\n\r\n", "", "OPTIONS", ""},
	{"announce", "ANNOUNCE rtsp://h/live/x RTSP/1.0\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n", "", "ANNOUNCE", "v=0\r\n"},
	{"same length twice", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", "", "ANNOUNCE", "ab"},
	{"lf only", "OPTIONS * RTSP/1.0\nCSeq: 1\n\n", "", "OPTIONS", ""},
	{"long line", "OPTIONS rtsp://h/" + strings.Repeat("a", 3000), "limit:MaxLineLength", "", ""},
	{"many headers", "OPTIONS * RTSP/1.0\r\n" + strings.Repeat("X-A: b\r\n", 256) + "\r\n", "limit:MaxHeaderFields", "", ""},
	{"negative length", "ANNOUNCE * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", "malformed", "", ""},
	{"huge length", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 99999999999\r\n\r\n", "malformed", "", ""},
	{"big length", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 1000000\r\n\r\n", "limit:MaxBodySize", "", ""},
	{"conflicting lengths", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "malformed", "", ""},
	{"conflicting in one", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 2, 3\r\n\r\nabc", "malformed", "", ""},
	{"http", "GET / HTTP/1.1\r\n\r\n", "malformed", "", ""},
	{"no url", "OPTIONS\r\n\r\n", "malformed", "", ""},
	{"short body", "ANNOUNCE * RTSP/1.0\r\nContent-Length: 10\r\n\r\nabc", "eof", "", ""},
}

func TestReadRequest(t *testing.T) {
	for _, tc := range requestTable {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"plain", func(r io.Reader) io.Reader { return r }}, {"onebyte", iotest.OneByteReader}, {"half", iotest.HalfReader}} {
			t.Run(tc.name+"/"+wrap.name, func(t *testing.T) {
				r, br, a := newReader(wrap.f(strings.NewReader(tc.in)))
				defer done(t, br, a)
				var req Request
				err := r.ReadRequest(&req)
				checkErr(t, err, tc.wantErr)
				if err == nil && (req.Method != tc.method || string(req.Body) != tc.body) {
					t.Fatalf("got %q body %q", req.Method, req.Body)
				}
			})
		}
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	var le *limit.LimitError
	switch {
	case want == "":
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	case strings.HasPrefix(want, "limit:"):
		if !errors.As(err, &le) || le.Name != want[6:] {
			t.Fatalf("error %v, want limit %s", err, want[6:])
		}
	case want == "malformed":
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v, want ErrMalformed", err)
		}
	case want == "eof":
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("error %v, want EOF", err)
		}
	}
}

func TestReadResponse(t *testing.T) {
	r, br, a := newReader(strings.NewReader("RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\nRTSP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"))
	defer done(t, br, a)
	var resp Response
	if err := r.ReadResponse(&resp); err != nil || resp.StatusCode != 401 || resp.Header.Get("CSeq") != "3" {
		t.Fatalf("%v %+v", err, resp)
	}
	if err := r.ReadResponse(&resp); err != nil || resp.StatusCode != 200 || string(resp.Body) != "abc" {
		t.Fatalf("%v %+v", err, resp)
	}
}

// TestInterleavedIsTaken: an interleaved payload arrives as ranges of the
// reader's own blocks, at every split of the input.
func TestInterleavedIsTaken(t *testing.T) {
	payload := bytes.Repeat([]byte{0xAB, 0xCD, 0xEF}, 700)
	var in []byte
	in = AppendInterleavedHeader(in, 0, len(payload))
	in = append(in, payload...)
	in = append(in, "OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n\r\n"...)
	in = AppendInterleavedHeader(in, 3, 0)
	in = AppendInterleavedHeader(in, 1, 2)
	in = append(in, 7, 8)
	for _, f := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader} {
		r, br, a := newReader(f(bytes.NewReader(in)))
		var m gomem.Memory
		ok, err := r.IsInterleaved()
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		ch, n, err := r.ReadInterleaved(&m)
		if err != nil || ch != 0 || n != len(payload) || !bytes.Equal(m.ToBytes(), payload) {
			t.Fatalf("ch %d n %d err %v", ch, n, err)
		}
		if st := br.Stats(); st.BytesTaken != int64(len(payload)) {
			t.Fatalf("taken %d", st.BytesTaken)
		}
		pool.FreeMemory(a, &m)
		var req Request
		if ok, _ := r.IsInterleaved(); ok {
			t.Fatal("request seen as interleaved")
		}
		if err := r.ReadRequest(&req); err != nil || req.CSeq() != "9" {
			t.Fatal(err)
		}
		if ch, n, err := r.ReadInterleaved(&m); err != nil || ch != 3 || n != 0 {
			t.Fatal(ch, n, err)
		}
		if ch, n, err := r.ReadInterleaved(&m); err != nil || ch != 1 || n != 2 {
			t.Fatal(ch, n, err)
		}
		pool.FreeMemory(a, &m)
		if _, err := r.IsInterleaved(); !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		done(t, br, a)
	}
}

func TestInterleavedTooLong(t *testing.T) {
	in := AppendInterleavedHeader(nil, 0, MaxInterleavedLength+1)
	r, br, a := newReader(bytes.NewReader(in))
	defer done(t, br, a)
	var m gomem.Memory
	_, _, err := r.ReadInterleaved(&m)
	checkErr(t, err, "limit:MaxInterleavedLength")
}

var transportTable = []struct {
	in   string
	want string // first spec re-formatted; "" no spec; "err"
}{
	{"RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=0-1"},
	{"RTP/AVP;unicast;client_port=5000-5001;mode=record", "RTP/AVP;unicast;client_port=5000-5001;mode=record"},
	{"RTP/AVP/UDP;unicast;client_port=5000-5001;mode=\"PLAY\"", "RTP/AVP;unicast;client_port=5000-5001;mode=play"},
	{"RTP/AVP/TCP;interleaved=4", "RTP/AVP/TCP;unicast;interleaved=4-5"},
	{"RAW/RAW/UDP;unicast, RTP/AVP;unicast;client_port=1-2", "RTP/AVP;unicast;client_port=1-2"},
	{"RTP/AVP;multicast;ttl=3", "RTP/AVP;multicast"},
	{"RTP/AVP/TCP;interleaved=300-301", "err"},
	{"RTP/AVP;client_port=-1", "err"},
	{"RTP/AVP;client_port=a-b", "err"},
	{strings.Repeat("RTP/AVP,", 20), "err"},
	{"RTP/AVP" + strings.Repeat(";x", 40), "err"},
	{"", ""},
}

func TestTransport(t *testing.T) {
	for _, tc := range transportTable {
		ts, err := ParseTransports(tc.in)
		if tc.want == "err" {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if tc.want == "" {
			if len(ts) != 0 {
				t.Errorf("%q: %v", tc.in, ts)
			}
			continue
		}
		if len(ts) == 0 || ts[0].String() != tc.want {
			t.Errorf("%q: got %v want %s", tc.in, ts, tc.want)
		}
	}
	ts, _ := ParseTransports("RTP/AVP;unicast;client_port=5000-5001;server_port=8000-8001;ssrc=1234ABCD")
	if !ts[0].HasServerPort || ts[0].ServerPort != [2]int{8000, 8001} || ts[0].SSRC != "1234ABCD" {
		t.Fatal(ts)
	}
}

func TestSession(t *testing.T) {
	if id, to := ParseSession("abc123;timeout=60"); id != "abc123" || to != 60 {
		t.Fatal(id, to)
	}
	if id, to := ParseSession(" x "); id != "x" || to != 0 {
		t.Fatal(id, to)
	}
}

func TestAppendResponseNoInjection(t *testing.T) {
	b := AppendResponse(nil, 200, "1", []Field{{"Session", "a\r\nX-Evil: 1"}}, []byte("v=0"))
	r, br, a := newReader(bytes.NewReader(b))
	defer done(t, br, a)
	var resp Response
	if err := r.ReadResponse(&resp); err != nil || resp.Header.Get("X-Evil") != "" || string(resp.Body) != "v=0" {
		t.Fatalf("%v %q", err, b)
	}
}
