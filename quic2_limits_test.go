package zerocopy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
)

// maxchildren caps the registered children: one over it is refused with
// {1,0}, and a slot freed by a leaving child is taken by the next one.
func TestQUIC2MaxChildren(t *testing.T) {
	qcBaseline(t)
	parent, _ := qcStart(t, "    listenaddr: 127.0.0.1:0\n    maxchildren: 2\n")
	c1, c2 := qc2Dial(t, parent.quic), qc2Dial(t, parent.quic)
	for i, c := range []*quic.Conn{c1, c2} {
		if ans := qc2Register(t, c, ""); ans != wire.Accepted {
			t.Fatalf("child %d: %v", i+1, ans)
		}
	}
	qcWait(t, 5*time.Second, "two children", func() bool { return parent.parentStats().Children.Load() == 2 })
	c3 := qc2Dial(t, parent.quic)
	if ans := qc2Register(t, c3, ""); ans != wire.Refused {
		t.Fatalf("third child: %v, want refused", ans)
	}
	// The parent closes a refused child's connection soon (it lingers a
	// second for {1,0} to arrive).
	select {
	case <-c3.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("refused child's connection still open")
	}
	c1.CloseWithError(0, "leaving")
	qcWait(t, 5*time.Second, "child 1 gone", func() bool { return parent.parentStats().Children.Load() == 1 })
	c4 := qc2Dial(t, parent.quic)
	if ans := qc2Register(t, c4, ""); ans != wire.Accepted {
		t.Fatalf("child after one left: %v", ans)
	}
	ps := parent.parentStats()
	if ps.Registered.Load() != 3 || ps.Refused.Load() != 1 || ps.Children.Load() != 2 {
		t.Fatalf("registered %d refused %d children %d", ps.Registered.Load(), ps.Refused.Load(), ps.Children.Load())
	}
}

// maxstreams is quic-go's stream credit on the parent's listener: a child
// cannot open more than that at once (the next open waits), and a stream
// that ends returns its credit. A stream whose request line does not come
// within handshaketimeout is reset; a request line over maxrequestline is
// reset with the limit code, one within it is served (here: no stream).
func TestQUIC2MaxStreamsAndRequestLine(t *testing.T) {
	qcBaseline(t)
	parent, _ := qcStart(t, "    listenaddr: 127.0.0.1:0\n    maxstreams: 2\n    maxrequestline: 64\n    handshaketimeout: 2s\n")
	conn := qc2Dial(t, parent.quic)
	if ans := qc2Register(t, conn, ""); ans != wire.Accepted {
		t.Fatalf("registration: %v", ans)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The registration stream's credit comes back once both ends closed it.
	var held []*quic.Stream
	for range 2 {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := conn.OpenStreamSync(sctx)
		scancel()
		if err != nil {
			t.Fatalf("stream %d within maxstreams: %v", len(held)+1, err)
		}
		if _, err := st.Write([]byte("PULLFLV live/")); err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	opened := time.Now()
	sctx, scancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := conn.OpenStreamSync(sctx)
	scancel()
	if err == nil {
		t.Fatal("a third stream opened over maxstreams 2")
	}
	// The held streams' request lines time out (handshaketimeout 2s)...
	for i, st := range held {
		if code := qc2ResetCode(t, st, 10*time.Second); code != qc2CodeBadRequest {
			t.Fatalf("held stream %d: code %d, want %d", i, code, qc2CodeBadRequest)
		}
	}
	if d := time.Since(opened); d < time.Second {
		t.Errorf("held streams reset after %v, before handshaketimeout", d)
	}
	// ...and their credit returns.
	cases := []struct {
		line string
		code int
	}{
		{"PULLFLV live/" + strings.Repeat("a", 64-len("PULLFLV live/")-1) + "\r\n", qc2CodeLimit},
		{"PULLFLV live/" + strings.Repeat("a", 5000), qc2CodeLimit},
		{"PULLFLV live/../x\r\n", qc2CodeBadRequest},
		{"pullflv live/x\r\n", qc2CodeBadRequest},
		{"PULLFLV\r\n", qc2CodeBadRequest},
	}
	for _, c := range cases {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := conn.OpenStreamSync(sctx)
		scancel()
		if err != nil {
			t.Fatalf("credit not returned: %v", err)
		}
		if _, err := st.Write([]byte(c.line)); err != nil {
			t.Fatal(err)
		}
		if code := qc2ResetCode(t, st, 5*time.Second); code != c.code {
			t.Fatalf("%.40q (%d bytes): code %d, want %d", c.line, len(c.line), code, c.code)
		}
	}
	// 64 bytes with CRLF fit: the pull is accepted and waits for its
	// stream (global.subscribe.waittimeout) rather than being reset.
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("PULLFLV live/" + strings.Repeat("a", 64-len("PULLFLV live/")-2) + "\r\n")); err != nil {
		t.Fatal(err)
	}
	if code := qc2ResetCode(t, st, time.Second); code != -1 {
		t.Fatalf("a 64-byte request line was reset with %d", code)
	}
	st.CancelRead(0)
	st.CancelWrite(0)
}

// The registration and every PULLFLV go through the one auth hook (here
// its HTTP callback): a refusal of the registration is {1,0}; of a pull, a
// reset with the refused code; the callback sees protocol quic, action
// play, and never the secret.
func TestQUIC2AuthHookRefuses(t *testing.T) {
	qcBaseline(t)
	var mu sync.Mutex
	var seen []map[string]any
	allowRegistration := false
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		seen = append(seen, m)
		allow := allowRegistration && m["path"] == ""
		mu.Unlock()
		if !allow {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer cb.Close()
	parent, _ := qcStart(t, "    listenaddr: 127.0.0.1:0\n    secret: hook-secret\n  auth:\n    url: "+cb.URL+"\n    cachettl: 0s\n")

	conn := qc2Dial(t, parent.quic)
	if ans := qc2Register(t, conn, "hook-secret"); ans != wire.Refused {
		t.Fatalf("registration the hook refused: %v", ans)
	}
	mu.Lock()
	allowRegistration = true
	mu.Unlock()
	conn = qc2Dial(t, parent.quic)
	if ans := qc2Register(t, conn, "hook-secret"); ans != wire.Accepted {
		t.Fatalf("registration the hook allowed: %v", ans)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(wire.AppendRequestLine(nil, wire.MethodPull, "live/x", "key=k")); err != nil {
		t.Fatal(err)
	}
	if code := qc2ResetCode(t, st, 5*time.Second); code != qc2CodeRefused {
		t.Fatalf("pull the hook refused: code %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("callback asked %d times: %v", len(seen), seen)
	}
	for i, m := range seen {
		if m["protocol"] != "quic" || m["action"] != "play" {
			t.Errorf("callback %d: %v", i, m)
		}
		b, _ := json.Marshal(m)
		if strings.Contains(string(b), "hook-secret") {
			t.Errorf("callback %d carries the secret: %s", i, b)
		}
	}
	if seen[2]["path"] != "live/x" || seen[2]["query"] != "key=k" {
		t.Errorf("pull callback: %v", seen[2])
	}
	if parent.parentStats().Refused.Load() != 1 || parent.parentStats().Pulls.Load() != 0 {
		t.Errorf("refused %d pulls %d", parent.parentStats().Refused.Load(), parent.parentStats().Pulls.Load())
	}
	if strings.Contains(parent.log.String(), "hook-secret") {
		t.Error("the secret was logged")
	}
}
