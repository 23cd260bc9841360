package server_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
)

// TestGracefulShutdown: with two live publishers, three HTTP-FLV players
// and the RTMP listener up, Shutdown ends every publish (ErrHubClosed),
// closes every player, frees every allocator, closes the listeners, and
// leaves no goroutine behind (checked by the harness cleanup).
func TestGracefulShutdown(t *testing.T) {
	yaml := strings.Replace(baseConfig, "zerocopy:\n  enable: false\n", "zerocopy:\n  rtmp:\n    listenaddr: 127.0.0.1:0\n", 1)
	h := startServer(t, yaml)
	rtmpAddr := h.srv.Addrs()["rtmp"]
	if rtmpAddr == nil {
		t.Fatalf("no rtmp listener; log:\n%s", h.log)
	}

	type player struct {
		tags int
		err  error
	}
	players := make(chan player, 3)
	for _, path := range []string{"/live/a.flv", "/live/a.flv", "/live/b.flv"} {
		go func() {
			tags, err := getFLV(h.url(path))
			players <- player{len(tags), err}
		}()
	}
	var (
		streams []*hub.Stream
		dones   []<-chan pubDone
	)
	for _, p := range []struct {
		path string
		subs int
	}{{"live/a", 2}, {"live/b", 1}} {
		st, done := publisher(t, h, context.Background(), p.path, p.subs, flvpub.Options{Speed: 1, Loop: true})
		streams = append(streams, st)
		dones = append(dones, done)
	}
	for _, st := range streams {
		for st.Info().FramesIn < 10 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := h.srv.Egress().Subscribers.Load(); n != 3 {
		t.Fatalf("%d HTTP-FLV sessions, want 3", n)
	}

	start := time.Now()
	h.shutdown()
	t.Logf("Shutdown took %v", time.Since(start))
	// Shutdown returns only once the HTTP-FLV sessions are over.
	if n := h.srv.Egress().Subscribers.Load(); n != 0 {
		t.Errorf("%d HTTP-FLV sessions still open when Shutdown returned", n)
	}

	for i, done := range dones {
		d := waitPub(t, done) // checks the allocator ended balanced
		if !errors.Is(d.runErr, hub.ErrHubClosed) {
			t.Errorf("publisher %d ended with %v, want hub.ErrHubClosed", i, d.runErr)
		}
		if c := context.Cause(streams[i].Context()); !errors.Is(c, hub.ErrHubClosed) {
			t.Errorf("publish context %d cause %v", i, c)
		}
	}
	for range 3 {
		select {
		case p := <-players:
			// The player was cut mid-stream: an unexpected EOF (no final
			// chunk) or a clean end are both fine; it must have had media.
			if p.tags < 3 {
				t.Errorf("player ended after %d tags: %v", p.tags, p.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a player is still reading after Shutdown")
		}
	}
	if !h.srv.Hub().Idle() {
		t.Error("streams left in the hub")
	}
	for name, a := range map[string]net.Addr{"http": h.srv.HTTPAddr(), "rtmp": rtmpAddr} {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s listener %v still accepts after Shutdown", name, a)
		}
	}
	if strings.Contains(h.log.String(), "leaking its allocator") {
		t.Error("an allocator was leaked")
	}
	// Each player's close is logged: "host stopping", or "stream ended"
	// when its publisher closed the stream first.
	if n := strings.Count(h.log.String(), "http-flv subscriber closed"); n != 3 {
		t.Errorf("%d player closes logged, want 3", n)
	}
	// A second Shutdown is a no-op.
	if err := h.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
