package chunk

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/pool"
)

// BenchmarkReadMessage reads interleaved audio and video from a cycling
// source, freeing every payload: the steady-state ingest path.
func BenchmarkReadMessage(b *testing.B) {
	for _, cs := range []uint32{128, 4096, 60000} {
		b.Run(fmt.Sprintf("chunk=%d", cs), func(b *testing.B) {
			data := mediaStream(b, cs)
			src := &cycleReader{b: data}
			alloc := pool.NewAllocator(4 << 20)
			br := bufreader.New(src, bufreader.Options{Allocator: alloc})
			r := NewReader(br, Options{})
			var msg Message
			var bytesRead int64
			b.ReportAllocs()
			for b.Loop() {
				if err := r.ReadMessage(&msg); err != nil {
					b.Fatal(err)
				}
				bytesRead += int64(msg.Length)
				msg.Free(alloc)
			}
			st := r.Stats()
			b.ReportMetric(float64(bytesRead)/b.Elapsed().Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(st.BytesCopied)/float64(st.BytesCopied+st.BytesTaken), "copied-fraction")
			r.Close()
			br.Recycle()
		})
	}
}

// BenchmarkSmallChunks shows why chunks below ZeroCopyMinChunkSize are
// copied: taking a 1 MiB message in 128-byte chunks leaves 8,192 header
// fragments in gomem's free tree, whose cost grows quadratically.
func BenchmarkSmallChunks(b *testing.B) {
	data := writeAll(b, []tmsg{{CSID: 6, TypeID: TypeVideo, StreamID: 1, Payload: make([]byte, 1<<20)}}, 128, false)
	for _, mode := range []struct {
		name  string
		zcMin int
	}{{"copy", 0}, {"take", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(1 << 20)
			for b.Loop() {
				alloc := pool.NewAllocator(4 << 20)
				br := bufreader.New(bytes.NewReader(data), bufreader.Options{Allocator: alloc})
				r := NewReader(br, Options{ZeroCopyMinChunkSize: mode.zcMin})
				var msg Message
				if err := r.ReadMessage(&msg); err != nil {
					b.Fatal(err)
				}
				msg.Free(alloc)
				if err := r.ReadMessage(&msg); err != io.EOF {
					b.Fatal(err)
				}
				r.Close()
				br.Recycle()
				pool.Recycle(alloc)
			}
		})
	}
}

// BenchmarkWriteMessage queues and flushes a video and an audio message.
func BenchmarkWriteMessage(b *testing.B) {
	w := NewWriter(io.Discard, 4096)
	video := [][]byte{make([]byte, 20000)}
	audio := [][]byte{make([]byte, 300)}
	ts := uint32(0)
	b.ReportAllocs()
	b.SetBytes(20300)
	for b.Loop() {
		ts += 40
		_ = w.Queue(Header{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: ts}, video)
		_ = w.Queue(Header{CSID: 4, TypeID: TypeAudio, StreamID: 1, Timestamp: ts}, audio)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
