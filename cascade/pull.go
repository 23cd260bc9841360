package cascade

import (
	"io"
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
}

// newPullReader starts small (InitialAllocatorSize) until the pull
// publishes; see grow.
func newPullReader(src io.Reader, readTimeout time.Duration) *pullReader {
	r := &pullReader{alloc: pool.NewAllocator(InitialAllocatorSize)}
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

// grow gives a pull that starts publishing the arena its ring needs (as
// RTMP's session.growArena): the pinned gomem adds an arena only when none
// has room, and drops one as soon as it empties, so a ring that outgrows a
// small arena would keep making and dropping arenas. Mallocing a request
// of the arena's size forces the arena into existence; all of it but a
// small pin is freed at once, and the pin keeps it until close.
func (r *pullReader) grow(size int) {
	for range MaxArenaPins {
		total := 0
		for _, c := range r.alloc.GetChildren() {
			total += c.Size
		}
		if total >= size {
			return
		}
		arenas := len(r.alloc.GetChildren())
		b := pool.Malloc(r.alloc, min(size-total, gomem.MaxBlockSize))
		if len(b) <= ArenaPinBytes || len(r.alloc.GetChildren()) == arenas {
			pool.Free(r.alloc, b)
			return
		}
		pool.Free(r.alloc, b[:len(b)-ArenaPinBytes])
		r.pins = append(r.pins, b[len(b)-ArenaPinBytes:])
	}
}

// release frees everything the reader holds (the pending tag, the arena
// pins, the bufreader's blocks); the allocator's totals are then final.
func (r *pullReader) release() {
	pool.FreeMemory(r.alloc, &r.tag.Payload)
	for _, b := range r.pins {
		pool.Free(r.alloc, b)
	}
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
