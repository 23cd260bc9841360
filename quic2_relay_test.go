package zerocopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// qc2Relay sends one HTTP request over a fresh stream to the child exactly
// as m7s's cascade server frames it (Http2Quic.ServeHTTP at 34997f87):
// "METHOD path[?query]\r\n", r.Header.Write, "\r\n", the body, FIN; then
// it reads the response body to the end. It fails the test when the child
// takes longer than d.
func qc2Relay(t *testing.T, conn *quic.Conn, method, path, query string, hdr http.Header, body []byte, d time.Duration) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(d))
	relayURL := path
	if query != "" {
		relayURL += "?" + query
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s\r\n", method, relayURL)
	_ = hdr.Write(&req)
	fmt.Fprint(&req, "\r\n")
	req.Write(body)
	if _, err := st.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	start := time.Now()
	got, err := io.ReadAll(st)
	if time.Since(start) >= d {
		t.Fatalf("%s %s: no answer within %v", method, relayURL, d)
	}
	return got, err
}

// The parent relays HTTP requests to its child (m7s's /api/relay/:id/*):
// the child answers /api/streams with the host's JSON, any other path with
// an error body, a malformed request or an oversized header with a stream
// reset, and never leaves the parent waiting.
func TestQUIC2RelayedHTTP(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	tp := qc2Listen(t)
	child, _ := qcStart(t, "    listenaddr: \"\"\n    parent: "+tp.addr+"\n    maxrequestline: 256\n")
	conn := tp.acceptChild(t)
	qcWait(t, 5*time.Second, "registration", func() bool { return child.childStats().Registrations.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kill := qcPushLoop(ctx, clip, "rtmp://"+child.rtmp+"/live/relayed")
	defer kill()
	qcWait(t, 10*time.Second, "local stream", func() bool { return child.Hub().Stream("live/relayed") != nil })

	const d = 5 * time.Second
	hdr := http.Header{"Accept": {"application/json"}, "User-Agent": {"m7s-test"}, "X-Forwarded-For": {"10.0.0.9"}}
	for _, q := range []string{"", "verbose=1&x=%20y"} {
		body, err := qc2Relay(t, conn, "GET", "/api/streams", q, hdr, nil, d)
		if err != nil {
			t.Fatalf("/api/streams?%s: %v", q, err)
		}
		var api struct {
			Streams []struct {
				Path string `json:"path"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(body, &api); err != nil {
			t.Fatalf("/api/streams?%s: %v in %q", q, err, body)
		}
		if len(api.Streams) != 1 || api.Streams[0].Path != "live/relayed" {
			t.Fatalf("/api/streams?%s: %s", q, body)
		}
	}
	// m7s relays a POST with its body; our API is read-only.
	body, err := qc2Relay(t, conn, "POST", "/api/streams", "", http.Header{"Content-Type": {"application/json"}}, []byte(`{"a":1}`), d)
	if err != nil || !strings.Contains(strings.ToLower(string(body)), "method not allowed") {
		t.Fatalf("POST /api/streams: %q %v", body, err)
	}
	for _, path := range []string{"/api/stop/live/relayed", "/", "/live/relayed.flv", "/metrics", "/api/streams/"} {
		body, err := qc2Relay(t, conn, "GET", path, "", hdr, nil, d)
		if err != nil || string(body) != "404 page not found\n" {
			t.Fatalf("GET %s: %q %v", path, body, err)
		}
	}
	// Malformed, a stream command on a relay stream, an oversized request
	// line, a header flood: reset, not a hang.
	flood := http.Header{}
	for i := range 80 {
		flood.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	bad := []struct {
		name, method, path string
		hdr                http.Header
	}{
		{"no slash", "GET", "api/streams", hdr},
		{"lower-case method", "get", "/api/streams", hdr},
		{"dot-dot", "GET", "/api/../streams", hdr},
		{"PULLFLV on a relay stream", "PULLFLV", "live/relayed", hdr},
		{"request line over maxrequestline", "GET", "/api/streams?" + strings.Repeat("a", 300), hdr},
		{"header flood", "GET", "/api/streams", flood},
	}
	for _, b := range bad {
		body, err := qc2Relay(t, conn, b.method, b.path, "", b.hdr, nil, d)
		var se *quic.StreamError
		if !isStreamReset(err, &se) || se.ErrorCode != qc2CodeBadRequest {
			t.Fatalf("%s: body %q, err %v; want a reset with code %d", b.name, body, err, qc2CodeBadRequest)
		}
	}
	// A request whose header never ends is reset after handshaketimeout.
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("GET /api/streams\r\nAccept: x\r\n")); err != nil {
		t.Fatal(err)
	}
	if code := qc2ResetCode(t, st, 15*time.Second); code != qc2CodeBadRequest {
		t.Fatalf("unfinished header: code %d", code)
	}
	if n := child.childStats().Relayed.Load(); n != 8 {
		t.Errorf("child answered %d relayed requests, want 8", n)
	}
	// The connection still works after all that.
	if body, err := qc2Relay(t, conn, "GET", "/api/streams", "", hdr, nil, d); err != nil || !bytes.Contains(body, []byte("live/relayed")) {
		t.Fatalf("after the bad requests: %q %v", body, err)
	}
}

func isStreamReset(err error, se **quic.StreamError) bool { return errors.As(err, se) }
