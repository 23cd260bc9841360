package host_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
)

// fill gives f a payload of n bytes from alloc, each byte set to v, split
// in two ranges.
func fill(alloc *pool.Allocator, f *host.Frame, n int, v byte) {
	for _, k := range []int{n / 2, n - n/2} {
		b := pool.Malloc(alloc, k)
		for i := range b {
			b[i] = v
		}
		f.Payload.Buffers = append(f.Payload.Buffers, b)
		f.Payload.Size += k
	}
}

func payloadIs(f *host.Frame, n int, v byte) bool {
	if f.Payload.Size != n {
		return false
	}
	for _, b := range f.Payload.Buffers {
		if len(bytes.Trim(b, string([]byte{v}))) != 0 {
			return false
		}
	}
	return true
}

// TestFramePoolSharedWithReaders: frames shared with reader goroutines come
// back to the owner, which alone frees them (zcdebug panics on a free from
// another goroutine); the payload stays intact while any reader holds it;
// Close returns once every frame is back and the allocator is balanced.
func TestFramePoolSharedWithReaders(t *testing.T) {
	alloc := pool.NewAllocator(64 << 10)
	p := host.NewFramePool(alloc)
	const readers, frames = 4, 200
	chans := make([]chan *host.Frame, readers)
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan *host.Frame, frames)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var bad error
			for f := range chans[i] {
				// The frame number is in Units[0].Off; the payload is
				// that number's low byte, repeated.
				n := f.Units[0].Off
				if bad == nil && !payloadIs(f, 100+n%50, byte(n)) {
					bad = errors.New("a reader saw a payload that is not the one written")
				}
				if i == 0 {
					time.Sleep(10 * time.Microsecond) // a slower reader
				}
				f.Release()
			}
			errs <- bad
		}()
	}
	for n := range frames {
		f := p.Get() // reclaims frames handed back so far, on this goroutine
		if f.Payload.Size != 0 || len(f.Units) != 0 || f.Keyframe || f.Kind != 0 {
			t.Fatalf("Get returned a dirty frame: %+v", f)
		}
		fill(alloc, f, 100+n%50, byte(n))
		f.Kind, f.Codec, f.Format = host.Video, codec.H264, host.FormatFLV
		f.Units = append(f.Units, codec.Span{Off: n})
		for _, c := range chans {
			f.Retain()
			c <- f
		}
		f.Release() // the writer's own reference
	}
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Outstanding() != 0 || !pool.Balanced(alloc) {
		t.Fatalf("outstanding %d, allocator in use %d", p.Outstanding(), pool.InUse(alloc))
	}
	pool.Recycle(alloc)
}

// TestFramePoolCloseWaitsForHeldFrames: Close waits for a held frame, and
// gives up with ErrFramesHeld when its context ends first.
func TestFramePoolCloseWaitsForHeldFrames(t *testing.T) {
	alloc := pool.NewAllocator(64 << 10)
	p := host.NewFramePool(alloc)
	f := p.Get()
	fill(alloc, f, 64, 1)
	f.Retain() // a reader's reference
	f.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, host.ErrFramesHeld) {
		t.Fatalf("Close with a held frame: %v, want ErrFramesHeld", err)
	}
	if pool.Balanced(alloc) || !payloadIs(f, 64, 1) {
		t.Fatal("the held frame was freed")
	}
	// The reader lets go while Close waits.
	time.AfterFunc(20*time.Millisecond, f.Release)
	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := p.Close(ctx2); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatal("Close returned before the frame was released")
	}
	if !pool.Balanced(alloc) {
		t.Fatalf("%d bytes in use after Close", pool.InUse(alloc))
	}
	pool.Recycle(alloc)
}

// TestFramePoolMisuse: releasing more often than retained, and discarding a
// shared frame, panic instead of corrupting memory.
func TestFramePoolMisuse(t *testing.T) {
	alloc := pool.NewAllocator(64 << 10)
	p := host.NewFramePool(alloc)
	mustPanic := func(name string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		fn()
	}
	f := p.Get()
	fill(alloc, f, 10, 2)
	f.Retain()
	mustPanic("Discard of a shared frame", func() { p.Discard(f) })
	f.Release() // back to zero: queued to the owner
	mustPanic("Release past zero", f.Release)

	g := p.Get() // reclaims f
	fill(alloc, g, 10, 3)
	p.Discard(g)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !pool.Balanced(alloc) {
		t.Fatalf("%d bytes in use", pool.InUse(alloc))
	}
	pool.Recycle(alloc)
}

func TestKindString(t *testing.T) {
	if host.Video.String() != "video" || host.Audio.String() != "audio" || host.Kind(9).String() != "kind(9)" {
		t.Fatal(host.Video.String(), host.Audio.String(), host.Kind(9).String())
	}
}
