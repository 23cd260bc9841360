package session_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtmp/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

// hubHost adapts a hub to session.Host.
type hubHost struct{ h *hub.Hub }

func (x hubHost) Publish(req host.PublishRequest) (host.Publisher, error) {
	s, err := x.h.Publish(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (x hubHost) Subscribe(path string) (host.Subscriber, error) {
	s, err := x.h.Subscribe(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// socketRead is one Read from the socket: where the kernel wrote, and what.
type socketRead struct {
	start uintptr
	data  []byte // a test-side snapshot of the bytes as read
}

// recordingConn remembers every buffer the kernel filled, so the test can
// prove that frame payloads are the very bytes the socket delivered, still
// at the address they were delivered to (no copy on the way).
type recordingConn struct {
	net.Conn
	mu    sync.Mutex
	reads []socketRead
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.reads = append(c.reads, socketRead{start: uintptr(unsafe.Pointer(&p[0])), data: bytes.Clone(p[:n])})
		c.mu.Unlock()
	}
	return n, err
}

// delivered reports whether b is, byte for byte and at the same address,
// part of the most recent socket read that covered its address range.
func (c *recordingConn) delivered(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	a := uintptr(unsafe.Pointer(&b[0]))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.reads) - 1; i >= 0; i-- {
		r := c.reads[i]
		if a >= r.start && a+uintptr(len(b)) <= r.start+uintptr(len(r.data)) {
			off := a - r.start
			return bytes.Equal(r.data[off:off+uintptr(len(b))], b)
		}
	}
	return false
}

// TestMediaPayloadIsTheSocketsMemory pushes a real clip with ffmpeg and
// checks, for every byte of every frame payload, that it sits where the
// socket read put it: the ingest path copied no media byte.
func TestMediaPayloadIsTheSocketsMemory(t *testing.T) {
	clip := testclip.FLV(t)
	want := testclip.PacketCounts(t, clip)
	base := runtime.NumGoroutine()

	h := hub.New(hub.Options{SubscribeWait: 10 * time.Second}, slog.New(slog.DiscardHandler))
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		st  session.Stats
		err error
	}
	done := make(chan result, 1)
	connCh := make(chan *recordingConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		rc := &recordingConn{Conn: c}
		connCh <- rc
		st, err := session.Serve(rc, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
		c.Close()
		done <- result{st, err}
	}()

	var frames, videoFrames, audioFrames, payloadBytes, outside int
	subDone := make(chan error, 1)
	var rc *recordingConn
	go func() {
		sub, err := h.Subscribe("live/x")
		if err != nil {
			subDone <- err
			return
		}
		defer sub.Close()
		rc = <-connCh
		for {
			f, err := sub.Next(context.Background())
			if errors.Is(err, io.EOF) {
				subDone <- nil
				return
			}
			if err != nil {
				subDone <- err
				return
			}
			frames++
			if f.Kind == host.Video {
				videoFrames++
			} else {
				audioFrames++
			}
			for _, b := range f.Payload.Buffers {
				payloadBytes += len(b)
				if !rc.delivered(b) {
					outside++
				}
			}
			f.Release()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Paced (-re), so the subscriber is attached long before the publish
	// ends even on a loaded machine.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip,
		"-c", "copy", "-f", "flv", "rtmp://"+ln.Addr().String()+"/live/x")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg push: %v\n%s", err, out)
	}
	if err := <-subDone; err != nil {
		t.Fatal(err)
	}
	res := <-done
	// ffmpeg unpublishes and exits; if our last replies are still unread
	// in its socket, its kernel answers with a reset: the peer ending, not
	// a server fault.
	if res.err != nil && !errors.Is(res.err, io.EOF) && !errors.Is(res.err, syscall.ECONNRESET) {
		t.Fatalf("session ended with %v", res.err)
	}
	if videoFrames != want["video"] || audioFrames != want["audio"] {
		t.Fatalf("frames: video %d audio %d, source has %v", videoFrames, audioFrames, want)
	}
	if outside != 0 {
		t.Fatalf("%d payload ranges were not the socket's own memory (copied)", outside)
	}
	if res.st.AllocMalloc != res.st.AllocFree {
		t.Fatalf("allocator unbalanced: malloc %d free %d", res.st.AllocMalloc, res.st.AllocFree)
	}
	t.Logf("%d frames, %d payload bytes, all at the address the socket read them to; socket bytes %d, control bytes copied %d (%.4f%%)",
		frames, payloadBytes, res.st.BytesRead, res.st.BytesCopied, 100*float64(res.st.BytesCopied)/float64(res.st.BytesRead))
	h.Close()
	ln.Close()
	testutil.WaitGoroutines(t, base)
}
