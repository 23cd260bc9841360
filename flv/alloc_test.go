//go:build !race

package flv

import (
	"bytes"
	"io"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
)

// TestHotPathsDoNotAllocate guards the per-tag calls: body header parsing,
// NAL splitting and the Writer.
func TestHotPathsDoNotAllocate(t *testing.T) {
	video := cat("17 01 000000", avcKeyNALUs)
	vm := splitMemory(video, 3, 7)
	audio := cat("af 01 de020040")
	am := splitMemory(audio, 1)
	enhanced := cat("97 02 0f423f 01 'hvc1 000028", hevcKeyNALUs)
	em := splitMemory(enhanced, 2, 9)
	spans := make([]codec.Span, 0, 8)
	hdr := make([]byte, 0, 16)
	allocs := testing.AllocsPerRun(200, func() {
		v, err := ParseVideo(&vm)
		if err != nil || v.PacketType != PacketFrame {
			panic(err)
		}
		if spans, err = codec.SplitAVCC(&vm, v.DataOffset, 4, spans[:0]); err != nil || !codec.H264IsKeyframe(&vm, spans) {
			panic(err)
		}
		if _, err := ParseAudio(&am); err != nil {
			panic(err)
		}
		if _, err := ParseVideo(&em); err != nil {
			panic(err)
		}
		if hdr, err = AppendVideoHeader(hdr[:0], v); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("parsing allocates %.1f times per tag", allocs)
	}

	w := NewWriter(io.Discard)
	payload := [][]byte{video[:5], video[5:9], video[9:]}
	allocs = testing.AllocsPerRun(200, func() {
		if err := w.WriteTag(TagHeader{Type: TagVideo, Timestamp: 40}, payload); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Writer.WriteTag allocates %.1f times per tag", allocs)
	}

}

// TestReadTagDoesNotAllocate checks the Reader in steady state: many
// identical tags, each payload freed after use.
func TestReadTagDoesNotAllocate(t *testing.T) {
	if pool.Debug {
		t.Skip("the zcdebug ledger allocates on every Malloc/Free")
	}
	video := cat("17 01 000000", avcKeyNALUs)
	const runs = 500
	one := buildStream(t, []testTag{{TagHeader{Type: TagVideo}, video}})[13:]
	stream := bytes.Repeat(one, runs+10)
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(bytes.NewReader(stream), bufreader.Options{Allocator: a, BlockSize: 4096})
	r := NewReader(br, ReaderOptions{})
	var tag Tag
	for range 5 { // warm up: Buffers capacity, the reader's block list
		if err := r.ReadTag(&tag); err != nil {
			t.Fatal(err)
		}
		pool.FreeMemory(a, &tag.Payload)
	}
	allocs := testing.AllocsPerRun(runs, func() {
		if err := r.ReadTag(&tag); err != nil {
			panic(err)
		}
		pool.FreeMemory(a, &tag.Payload)
	})
	if allocs != 0 {
		t.Errorf("Reader.ReadTag allocates %.2f times per tag in steady state", allocs)
	}
	br.Recycle()
	if !pool.Balanced(a) {
		t.Fatalf("unbalanced: %d", pool.InUse(a))
	}
	pool.Recycle(a)
}
