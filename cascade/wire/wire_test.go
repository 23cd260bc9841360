package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/zcingest/zerocopy/limit"
)

var requestLines = []struct {
	line string
	want RequestLine
	ok   bool
}{
	{"PULLFLV live/x", RequestLine{Method: "PULLFLV", Path: "live/x"}, true},
	{"PULLFLV /live/x", RequestLine{Method: "PULLFLV", Path: "live/x"}, true},
	{"STOPFLV live/x", RequestLine{Method: "STOPFLV", Path: "live/x"}, true},
	{"PULLFLV live/x?key=k", RequestLine{Method: "PULLFLV", Path: "live/x", Query: "key=k"}, true},
	{"GET /api/streams", RequestLine{Method: "GET", Path: "/api/streams"}, true},
	{"POST /api/x?a=1", RequestLine{Method: "POST", Path: "/api/x", Query: "a=1"}, true},
	{"PULLFLV", RequestLine{}, false},
	{"PULLFLV ", RequestLine{}, false},
	{"PULLFLV /", RequestLine{}, false},
	{"PULLFLV live/../x", RequestLine{}, false},
	{"PULLFLV live//x", RequestLine{}, false},
	{"PULLFLV live/x/", RequestLine{}, false},
	{"PULLFLV live/x extra", RequestLine{}, false},
	{"PULLFLV live/\x00x", RequestLine{}, false},
	{"pullflv live/x", RequestLine{}, false},
	{" live/x", RequestLine{}, false},
	{"GET api/streams", RequestLine{}, false},
	{"AVERYLONGMETHODNAMEX /x", RequestLine{}, false},
	{"PULLFLV live/x\r", RequestLine{}, false},
}

func TestParseRequestLine(t *testing.T) {
	for _, tt := range requestLines {
		got, err := ParseRequestLine([]byte(tt.line))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v ok=%v", tt.line, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseRequestLineTooLong(t *testing.T) {
	_, err := ParseRequestLine([]byte("PULLFLV " + strings.Repeat("a", MaxRequestLineCap)))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxRequestLine" {
		t.Fatalf("err %v", err)
	}
}

func FuzzParseRequestLine(f *testing.F) {
	for _, tt := range requestLines {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRequestLine(line)
		if err != nil {
			return
		}
		// What parses round-trips through AppendRequestLine.
		out := AppendRequestLine(nil, r.Method, r.Path, r.Query)
		got, err := ReadLine(NewLineReader(bytes.NewReader(out), len(out)+2))
		if err != nil {
			t.Fatalf("%q: re-read: %v", out, err)
		}
		r2, err := ParseRequestLine(got)
		if err != nil || r2 != r {
			t.Fatalf("%q: round trip %+v, %v; want %+v", out, r2, err, r)
		}
	})
}

func TestReadLine(t *testing.T) {
	src := "PULLFLV live/x\r\nSTOPFLV live/x\n" + strings.Repeat("a", 200) + "\n"
	for _, name := range []string{"plain", "onebyte", "half"} {
		var r io.Reader = strings.NewReader(src)
		switch name {
		case "onebyte":
			r = iotest.OneByteReader(r)
		case "half":
			r = iotest.HalfReader(r)
		}
		br := NewLineReader(r, 100)
		for _, want := range []string{"PULLFLV live/x", "STOPFLV live/x"} {
			got, err := ReadLine(br)
			if err != nil || string(got) != want {
				t.Fatalf("%s: %q, %v; want %q", name, got, err, want)
			}
		}
		var le *limit.LimitError
		if _, err := ReadLine(br); !errors.As(err, &le) {
			t.Fatalf("%s: long line: %v", name, err)
		}
	}
	if _, err := ReadLine(NewLineReader(strings.NewReader("PULLFLV x"), 100)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("unterminated: %v", err)
	}
}

func TestReadHeader(t *testing.T) {
	br := NewLineReader(strings.NewReader("Accept: */*\r\nX-A:b\r\n\r\nbody"), 100)
	got := map[string]string{}
	if err := ReadHeader(br, func(k, v string) { got[k] = v }); err != nil {
		t.Fatal(err)
	}
	if got["Accept"] != "*/*" || got["X-A"] != "b" || len(got) != 2 {
		t.Fatalf("%v", got)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "body" {
		t.Fatalf("rest %q", rest)
	}
	var le *limit.LimitError
	flood := strings.Repeat("A: b\r\n", MaxHeaderFields+1) + "\r\n"
	if err := ReadHeader(NewLineReader(strings.NewReader(flood), 100), func(string, string) {}); !errors.As(err, &le) || le.Name != "MaxHeaderFields" {
		t.Fatalf("flood: %v", err)
	}
	if err := ReadHeader(NewLineReader(strings.NewReader("nocolon\r\n\r\n"), 100), func(string, string) {}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad line: %v", err)
	}
}

func TestSecret(t *testing.T) {
	msg, err := AppendSecret(nil, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(append(msg, 'X')))
	got, err := ReadSecret(r)
	if err != nil || got != "s3cret" {
		t.Fatalf("%q %v", got, err)
	}
	if b, _ := r.ReadByte(); b != 'X' {
		t.Fatal("read past the terminator")
	}
	if got, err := ReadSecret(bytes.NewReader([]byte{0})); err != nil || got != "" {
		t.Fatalf("empty: %q %v", got, err)
	}
	var le *limit.LimitError
	if _, err := ReadSecret(bytes.NewReader(bytes.Repeat([]byte("a"), MaxSecretLength+5))); !errors.As(err, &le) {
		t.Fatalf("long: %v", err)
	}
	if _, err := ReadSecret(strings.NewReader("abc")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("eof: %v", err)
	}
	if _, err := AppendSecret(nil, "a\x00b"); err == nil {
		t.Fatal("0 byte accepted")
	}
}
