package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
)

func play(query string) host.AuthRequest {
	return host.AuthRequest{Action: host.ActionPlay, Protocol: "httpflv", Path: "live/x", Query: query, Remote: "127.0.0.1:5000"}
}

func TestKeysAndStatus(t *testing.T) {
	a, err := New(Config{PublishKey: "pub-secret", PlayKey: "play-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Authorize(ctx, play("key=play-secret")); err != nil {
		t.Fatalf("right play key refused: %v", err)
	}
	for _, q := range []string{"", "key=pub-secret", "key=play-secre", "key=%zz"} {
		err := a.Authorize(ctx, play(q))
		if StatusFor(err) != 401 {
			t.Errorf("query %q: %v (status %d), want 401", q, err, StatusFor(err))
		}
		if err != nil && (containsAny(err.Error(), "play-secret", "pub-secret")) {
			t.Errorf("error %q carries a key", err)
		}
	}
	pub := play("key=pub-secret")
	pub.Action = host.ActionPublish
	if err := a.Authorize(ctx, pub); err != nil {
		t.Fatalf("publish refused: %v", err)
	}
	if a, _ := New(Config{}, nil); a.Authorize(ctx, play("")) != nil {
		t.Error("nothing configured must allow")
	}
	if StatusFor(fmt.Errorf("x: %w", host.ErrForbidden)) != 403 || StatusFor(errors.New("timeout")) != 503 {
		t.Error("StatusFor mapping")
	}
	if _, err := New(Config{URL: "ftp://u:pw@x"}, nil); err == nil || containsAny(err.Error(), "pw") {
		t.Errorf("bad URL: %v", err)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// TestCallback: 2xx allows, 401 and 403 refuse, a slow endpoint is a
// failure to decide, the JSON carries the request, answers are cached,
// and keys and callback combine.
func TestCallback(t *testing.T) {
	var calls atomic.Int64
	var last atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var b callbackBody
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&b) != nil {
			w.WriteHeader(400)
			return
		}
		last.Store(b)
		switch b.Path {
		case "live/ok":
			w.WriteHeader(204)
		case "live/who":
			w.WriteHeader(401)
		case "live/slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		default:
			w.WriteHeader(403)
		}
	}))
	defer srv.Close()
	a, err := New(Config{URL: srv.URL, Timeout: 200 * time.Millisecond, CacheTTL: time.Minute, PlayKey: "k"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := func(path, q string) host.AuthRequest { r := play(q); r.Path = path; return r }

	if err := a.Authorize(ctx, req("live/ok", "key=k&x=1")); err != nil {
		t.Fatal(err)
	}
	want := callbackBody{Action: "play", Protocol: "httpflv", Path: "live/ok", Query: "key=k&x=1", Remote: "127.0.0.1:5000"}
	if got := last.Load(); got != want {
		t.Fatalf("callback got %+v, want %+v", got, want)
	}
	// Cached: another port of the same IP does not call again.
	r2 := req("live/ok", "key=k&x=1")
	r2.Remote = "127.0.0.1:6000"
	if err := a.Authorize(ctx, r2); err != nil || calls.Load() != 1 {
		t.Fatalf("cached allow: %v, calls %d", err, calls.Load())
	}
	if err := a.Authorize(ctx, req("live/ok", "")); StatusFor(err) != 401 || calls.Load() != 1 {
		t.Fatalf("keys must refuse before the callback: %v, calls %d", err, calls.Load())
	}
	if err := a.Authorize(ctx, req("live/who", "key=k")); StatusFor(err) != 401 {
		t.Fatalf("401 answer: %v", err)
	}
	for range 2 {
		if err := a.Authorize(ctx, req("live/no", "key=k")); StatusFor(err) != 403 {
			t.Fatalf("403 answer: %v", err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("negative answers not cached: %d calls", calls.Load())
	}
	start := time.Now()
	err = a.Authorize(ctx, req("live/slow", "key=k"))
	if StatusFor(err) != 503 || time.Since(start) > time.Second {
		t.Fatalf("slow callback: %v after %v, want a failure to decide within the timeout", err, time.Since(start))
	}
	if containsAny(err.Error(), srv.URL) {
		t.Errorf("error %q repeats the URL", err)
	}
	// Failures to decide are not cached.
	before := calls.Load()
	_ = a.Authorize(ctx, req("live/slow", "key=k"))
	if calls.Load() != before+1 {
		t.Error("a failure to decide was cached")
	}
}

func TestCallbackCacheIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := NewCallback(srv.URL, time.Second, time.Hour, nil)
	now := time.Now()
	for i := range maxCacheEntries + 100 {
		c.store(cacheKey{path: fmt.Sprint(i)}, cacheEntry{expires: now.Add(time.Hour)}, now)
	}
	if n := c.cacheLen(); n > maxCacheEntries {
		t.Fatalf("cache holds %d entries, cap %d", n, maxCacheEntries)
	}
}

func TestKeysAcceptCredentialsWhosePasswordIsTheKey(t *testing.T) {
	k := Keys{PublishKey: "s3cret"}
	req := host.AuthRequest{Action: host.ActionPublish, Protocol: "rtsp", Path: "live/x", User: "cam",
		VerifyPassword: func(p string) bool { return p == "s3cret" }}
	if err := k.Authorize(context.Background(), req); err != nil {
		t.Fatalf("credentials with the key as password refused: %v", err)
	}
	req.VerifyPassword = func(string) bool { return false }
	if err := k.Authorize(context.Background(), req); !errors.Is(err, host.ErrUnauthorized) {
		t.Fatalf("wrong credentials: got %v, want ErrUnauthorized", err)
	}
}
