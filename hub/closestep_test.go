package hub_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/pool"
)

// publishKeyframes writes n one-unit video keyframes of 100 bytes.
func publishKeyframes(t *testing.T, w host.FrameWriter, a *pool.Allocator, n int) {
	t.Helper()
	for i := range n {
		f := w.Frame()
		m := gomem.Memory{Buffers: [][]byte{pool.Malloc(a, 100)}, Size: 100}
		m.Buffers[0][0] = 0x65
		host.MovePayload(f, &m)
		f.Units = append(f.Units[:0], codec.Span{Off: 0, Len: 100})
		f.Kind, f.Codec, f.Format, f.Keyframe = host.Video, codec.H264, host.FormatUnits, true
		f.DTS, f.PTS = time.Duration(i)*40*time.Millisecond, time.Duration(i)*40*time.Millisecond
		if err := w.NextVideo(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBeginCloseSteps: a stepped close never blocks; it is not done while
// a reader holds a frame, frees everything once the frame comes back, and
// ends the publish at once (the path is free, the context cancelled).
// Without the frame back it gives up after the close wait, not free.
func TestBeginCloseSteps(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, giveBack := range []bool{true, false} {
		h := hub.New(hub.Options{CloseWait: 300 * time.Millisecond}, slog.New(slog.DiscardHandler))
		a := pool.NewAllocator(1 << 16)
		st, err := h.Publish(context.Background(), host.PublishRequest{Path: "live/c", Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := h.Subscribe("live/c")
		if err != nil {
			t.Fatal(err)
		}
		publishKeyframes(t, st.Writer(a), a, 5)
		held, err := sub.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		reason := errors.New("test end")
		cl := st.BeginClose(reason)
		if h.Stream("live/c") != nil || !errors.Is(context.Cause(st.Context()), reason) {
			t.Fatal("BeginClose did not end the publish at once")
		}
		start := time.Now()
		var done, free bool
		for !done {
			t0 := time.Now()
			done, free = cl.Step()
			if d := time.Since(t0); d > 20*time.Millisecond {
				t.Fatalf("Step blocked for %v", d)
			}
			if !done && time.Since(start) > 50*time.Millisecond && giveBack && held != nil {
				held.Release()
				held = nil
				sub.Close()
			}
			time.Sleep(5 * time.Millisecond)
		}
		if giveBack {
			if !free || !pool.Balanced(a) {
				t.Fatalf("frame given back: free %v, %d bytes in use", free, pool.InUse(a))
			}
			pool.Recycle(a)
		} else {
			if free {
				t.Fatal("a frame still held, yet the close reports free")
			}
			if waited := time.Since(start); waited < 300*time.Millisecond {
				t.Fatalf("gave up after %v, before the close wait", waited)
			}
			held.Release() // late: the allocator is abandoned, as the caller must
			sub.Close()
			pool.Abandon(a)
		}
		h.Close()
	}
	checkGoroutines(t, base)
}
