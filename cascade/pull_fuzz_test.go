package cascade

import (
	"bytes"
	"testing"
	"testing/iotest"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/pool"
)

// freeSink takes tags and frees them, as a publisher that drops them would.
type freeSink struct {
	a      *pool.Allocator
	tags   int
	budget int
}

func (s *freeSink) WriteTag(_ uint8, _ uint32, m *gomem.Memory) error {
	s.tags++
	pool.FreeMemory(s.a, m)
	return nil
}

// flvSeeds are FLV byte streams as a parent sends them.
func flvSeeds() [][]byte {
	tag := func(dst []byte, typ uint8, ts uint32, body []byte) []byte {
		dst = flv.PutTagHeader(dst, typ, len(body), ts)
		dst = append(dst, body...)
		return flv.PutPreviousTagSize(dst, uint32(flv.TagHeaderSize+len(body)))
	}
	s := flv.FileHeader(true, true)
	s = tag(s, flv.TagScript, 0, []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 8, 0, 0, 0, 0, 0, 0, 9})
	s = tag(s, flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee})
	s = tag(s, flv.TagAudio, 0, []byte{0xaf, 0, 0x12, 0x10})
	s = tag(s, flv.TagVideo, 40, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 3, 0x65, 1, 2})
	s = tag(s, flv.TagAudio, 43, []byte{0xaf, 1, 9, 9, 9})
	return [][]byte{s, s[:20], flv.FileHeader(false, false), []byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff")}
}

// runPull feeds data through the bufreader and the FLV tag reader exactly
// as a pull does, in every read shape, and checks that every byte is freed.
func runPull(t *testing.T, data []byte, shape int) int {
	var src = bytes.NewReader(data)
	var rd interface{ Read([]byte) (int, error) } = src
	switch shape % 3 {
	case 1:
		rd = iotest.OneByteReader(src)
	case 2:
		rd = iotest.HalfReader(src)
	}
	r := newPullReader(rd, 0)
	sink := &freeSink{a: r.alloc}
	metas := 0
	if _, err := r.fr.ReadHeader(); err == nil {
		r.grow(InitialAllocatorSize * 2)
		_ = r.pump(sink, func(b []byte) error { metas++; return nil }, nil)
	}
	r.release()
	if !pool.Balanced(r.alloc) {
		t.Fatalf("allocator unbalanced after %d tags: %d bytes in use", sink.tags, pool.InUse(r.alloc))
	}
	r.end(true)
	return sink.tags + metas
}

func TestPullReaderSeeds(t *testing.T) {
	for i, s := range flvSeeds() {
		for shape := range 3 {
			n := runPull(t, s, shape)
			if i == 0 && n != 5 {
				t.Fatalf("seed 0 shape %d: %d tags, want 5", shape, n)
			}
		}
	}
}

func FuzzPullFLV(f *testing.F) {
	for _, s := range flvSeeds() {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, shape uint8) {
		runPull(t, data, int(shape))
	})
}
