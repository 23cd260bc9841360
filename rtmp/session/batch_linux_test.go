//go:build linux

package session_test

import (
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtmp/handshake"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// TestReadBatchDoesNotStallCommands: a publisher over real TCP that sends
// a little media, then FCUnpublish and deleteStream and waits without
// closing, then publishes again on the same connection. Far fewer bytes
// than the read low-water mark follow the publish, so only the batching
// timer gets them read: each step must be seen within a fraction of a
// second, not at the 15 s idle timeout.
func TestReadBatchDoesNotStallCommands(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
	defer h.Close()
	ln := loopback(t)
	done := serveOne(t, ln, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := handshake.Client(c, c, handshake.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, c) }()
	send := func(b []byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// waitFor polls until the hub has exactly the stream want ("" for none).
	waitFor := func(want string, what string) {
		t.Helper()
		start := time.Now()
		for {
			streams := h.Streams()
			if (want == "" && len(streams) == 0) || (len(streams) == 1 && streams[0].Path == want) {
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("%s took %v", what, d)
				}
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s not seen after 5 s (streams %v)", what, streams)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(newWire(t, 4096).connect().publish(1, "a").bytes())
	waitFor("live/a", "the first publish")
	x := newWire(t, 4096)
	x.video(1, 0, avcSeqHeader).video(1, 0, avcFrameBody(true, 300))
	send(x.bytes())
	time.Sleep(100 * time.Millisecond) // the media is read (by the timer) before the unpublish is sent
	send(newWire(t, 4096).unpublish(1, "a").bytes())
	waitFor("", "the unpublish")
	send(newWire(t, 4096).publish(2, "b").bytes())
	waitFor("live/b", "the second publish")
	c.Close()
	if r := <-done; r.st.Ingest.VideoFrames != 1 || r.st.AllocMalloc != r.st.AllocFree {
		t.Fatalf("session: %d video frames, allocator %d/%d (err %v)", r.st.Ingest.VideoFrames, r.st.AllocMalloc, r.st.AllocFree, r.err)
	}
	h.Close()
	testutil.WaitGoroutines(t, base)
}
