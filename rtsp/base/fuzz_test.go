package base

import (
	"bytes"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// FuzzReadMessages reads a stream of requests and interleaved frames, the
// way a server connection does: never a panic, every taken byte freed.
func FuzzReadMessages(f *testing.F) {
	for _, tc := range requestTable {
		f.Add([]byte(tc.in))
	}
	f.Add(append(AppendInterleavedHeader(nil, 0, 3), "abcOPTIONS * RTSP/1.0\r\n\r\n"...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, br, a := newReader(bytes.NewReader(in))
		var m gomem.Memory
		var req Request
		for range 64 {
			il, err := r.IsInterleaved()
			if err != nil {
				break
			}
			if il {
				_, n, err := r.ReadInterleaved(&m)
				if err != nil {
					break
				}
				if m.Size != n {
					t.Fatalf("took %d, said %d", m.Size, n)
				}
				pool.FreeMemory(a, &m)
				continue
			}
			if err := r.ReadRequest(&req); err != nil {
				break
			}
			if len(req.Body) > MaxBodySize {
				t.Fatal("body past limit")
			}
		}
		pool.FreeMemory(a, &m)
		done(t, br, a)
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a\", nonce=\"b\"\r\n\r\n"))
	for _, tc := range requestTable {
		f.Add([]byte(responseSeed(tc.in)))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, br, a := newReader(bytes.NewReader(in))
		var resp Response
		for range 16 {
			if err := r.ReadResponse(&resp); err != nil {
				break
			}
		}
		done(t, br, a)
	})
}

// responseSeed turns a request seed into a response-shaped one.
func responseSeed(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return "RTSP/1.0 200 OK\r" + s[i:]
	}
	return s
}

func FuzzParseTransports(f *testing.F) {
	for _, tc := range transportTable {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ts, err := ParseTransports(in)
		if err != nil {
			return
		}
		for _, tr := range ts {
			// What we format parses back to the same spec.
			back, err := ParseTransports(tr.String())
			if err != nil || len(back) != 1 || back[0].String() != tr.String() {
				t.Fatalf("%q -> %q -> %v %v", in, tr.String(), back, err)
			}
		}
	})
}
