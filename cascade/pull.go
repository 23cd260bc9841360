package cascade

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/pool"
)

// tagPublisher takes FLV tag bodies (ingest.FLVPublisher).
type tagPublisher interface {
	WriteTag(tagType uint8, timestampMs uint32, payload *gomem.Memory) error
}

// pullReader reads one pull's FLV byte stream on the pull's goroutine,
// which owns its allocator: the bufreader fills pooled blocks straight
// from the QUIC stream and flv.Reader hands each tag body over as exact
// ranges of them, which move into frames without a copy.
type pullReader struct {
	alloc   *pool.Allocator
	br      *bufreader.Reader
	fr      *flv.Reader
	tag     flv.Tag
	pins    [][]byte
	scratch []byte // one script tag, copied to be kept as metadata
	copied  int64  // script bytes copied
	watch   *readWatchdog
}

type deadlineReader interface {
	io.Reader
	SetReadDeadline(time.Time) error
}

// readWatchdog bounds each Read of the stream by timeout without a stream
// deadline: quic-go makes a new time.Timer in every Read that blocks while
// the stream has a deadline (ReceiveStream at v0.65.0). A timer made once
// is re-armed around each Read instead; when it fires it sets a deadline in
// the past, which ends the blocked Read. It has no SetReadDeadline, so the
// bufreader arms none.
type readWatchdog struct {
	src     deadlineReader
	timeout time.Duration
	t       *time.Timer
}

func (w *readWatchdog) Read(p []byte) (int, error) {
	w.t.Reset(w.timeout)
	n, err := w.src.Read(p)
	if !w.t.Stop() && err == nil {
		err = fmt.Errorf("cascade pull: nothing from the parent for %v: %w", w.timeout, os.ErrDeadlineExceeded)
	}
	return n, err
}

// newPullReader starts small (InitialAllocatorSize) until the pull
// publishes; see grow.
func newPullReader(src io.Reader, readTimeout time.Duration) *pullReader {
	r := &pullReader{alloc: pool.NewAllocator(InitialAllocatorSize)}
	if ds, ok := src.(deadlineReader); ok && readTimeout > 0 {
		r.watch = &readWatchdog{src: ds, timeout: readTimeout}
		r.watch.t = time.AfterFunc(readTimeout, func() { _ = ds.SetReadDeadline(time.Unix(1, 0)) })
		r.watch.t.Stop()
		src, readTimeout = r.watch, 0
	}
	r.br = bufreader.New(src, bufreader.Options{Allocator: r.alloc, ReadTimeout: readTimeout})
	r.fr = flv.NewReader(r.br, flv.ReaderOptions{})
	return r
}

// pump reads tags until an error: audio and video go to pub, which takes
// their ranges; a script tag (onMetaData) is copied into scratch and
// handed to meta, whose argument stops being valid when meta returns.
func (r *pullReader) pump(pub tagPublisher, meta func([]byte) error, each func()) error {
	for {
		if err := r.fr.ReadTag(&r.tag); err != nil {
			return err
		}
		switch r.tag.Type {
		case flv.TagAudio, flv.TagVideo:
			if err := pub.WriteTag(r.tag.Type, r.tag.Timestamp, &r.tag.Payload); err != nil {
				return err
			}
		case flv.TagScript:
			var err error
			if r.tag.Payload.Size <= MaxScriptTag && meta != nil {
				r.scratch = r.scratch[:0]
				for _, b := range r.tag.Payload.Buffers {
					r.scratch = append(r.scratch, b...)
				}
				r.copied += int64(len(r.scratch))
				err = meta(r.scratch)
			}
			pool.FreeMemory(r.alloc, &r.tag.Payload)
			if err != nil {
				return err
			}
		default:
			pool.FreeMemory(r.alloc, &r.tag.Payload)
		}
		if each != nil {
			each()
		}
	}
}

// grow gives a pull that starts publishing the arenas its ring needs,
// pinned so gomem never drops them (pool.ReserveArenas explains why).
func (r *pullReader) grow(size int) {
	if r.pins == nil {
		r.pins = pool.ReserveArenas(r.alloc, size)
	}
}

// release frees everything the reader holds (the pending tag, the arena
// pins, the bufreader's blocks); the allocator's totals are then final.
func (r *pullReader) release() {
	if r.watch != nil {
		r.watch.t.Stop()
	}
	pool.FreeMemory(r.alloc, &r.tag.Payload)
	pool.FreePins(r.alloc, r.pins)
	r.pins = nil
	r.br.Recycle()
}

// end ends the allocator after release: recycled when balanced, abandoned
// to the garbage collector when frames outlived the publish (allocatorFree
// false) or something leaked. It reports whether it was balanced.
func (r *pullReader) end(allocatorFree bool) bool {
	if allocatorFree && pool.Balanced(r.alloc) {
		pool.Recycle(r.alloc)
		return true
	}
	pool.Abandon(r.alloc)
	return false
}
