package chunk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/pool"
)

// fuzzSeeds are the table cases plus a few whole streams.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, tc := range errCases() {
		seeds[tc.name] = tc.in
	}
	seeds["fixed-stream"], _ = testStream(false)
	seeds["writer-cs4096"] = writeAll(t, []tmsg{
		{CSID: 3, TypeID: TypeCommandAMF0, Payload: []byte("\x02\x00\x07connect")},
		{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: 40, Payload: make([]byte, 9000)},
		{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: 80, Payload: make([]byte, 9000)},
		{CSID: 6, TypeID: TypeVideo, StreamID: 1, Timestamp: 0xFFFFFF + 80, Payload: make([]byte, 5000)},
		{CSID: 4, TypeID: TypeAudio, StreamID: 1, Timestamp: 23, Payload: make([]byte, 300)},
	}, 4096, false)
	seeds["interleaved-cs60"] = append(setChunkSizeMsg(60), interleave([]tmsg{
		{CSID: 4, TypeID: TypeAudio, StreamID: 1, Timestamp: 0xFFFFFF, Payload: make([]byte, 200)},
		{CSID: 64, TypeID: TypeVideo, StreamID: 1, Timestamp: 5, Payload: make([]byte, 300)},
		{CSID: 65599, TypeID: TypeVideo, StreamID: 1, Timestamp: 5, Payload: make([]byte, 100)},
	}, 60, true)...)
	return seeds
}

type fuzzConfig struct {
	opts                 Options
	maxReasm, maxStreams int
	maxMsg               uint32
}

var fuzzConfigs = []fuzzConfig{
	{Options{}, DefaultMaxReassemblyBytes, DefaultMaxChunkStreams, DefaultMaxMessageLength},
	{Options{MaxReassemblyBytes: 4096, MaxMessageLength: 3000, MaxChunkStreams: 4, ZeroCopyMinChunkSize: 1}, 4096, 4, 3000},
}

func FuzzReader(f *testing.F) {
	for _, in := range fuzzSeeds(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, cfg := range fuzzConfigs {
			msgs := fuzzRead(t, in, cfg)
			if len(msgs) == 0 {
				continue
			}
			// Whatever was read re-encodes with the Writer and reads back
			// the same.
			var buf bytes.Buffer
			w := NewWriter(&buf, 0)
			for _, m := range msgs {
				if err := w.Queue(m.header(), [][]byte{m.Payload}); err != nil {
					t.Fatalf("re-encode %v: %v", m, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			again := fuzzRead(t, buf.Bytes(), cfg)
			if len(again) != len(msgs) {
				t.Fatalf("re-read %d messages, want %d", len(again), len(msgs))
			}
			for i := range msgs {
				a, b := again[i], msgs[i]
				if a.CSID != b.CSID || a.TypeID != b.TypeID || a.StreamID != b.StreamID ||
					a.Timestamp != b.Timestamp || !bytes.Equal(a.Payload, b.Payload) {
					t.Fatalf("message %d: re-read %v, want %v", i, a, b)
				}
			}
		}
	})
}

// fuzzRead reads everything it can from in, checking the caps after every
// message and the allocator balance at the end.
func fuzzRead(t *testing.T, in []byte, cfg fuzzConfig) []tmsg {
	alloc := pool.NewAllocator(64 << 10)
	br := bufreader.New(bytes.NewReader(in), bufreader.Options{Allocator: alloc, BlockSize: 256})
	r := NewReader(br, cfg.opts)
	var out []tmsg
	var msg Message
	for r.ReadMessage(&msg) == nil {
		if msg.Length != uint32(msg.Payload.Size) || msg.Length > cfg.maxMsg {
			t.Fatalf("length %d, payload %d, cap %d", msg.Length, msg.Payload.Size, cfg.maxMsg)
		}
		if msg.TypeID == TypeSetChunkSize || msg.TypeID == TypeAbort {
			t.Fatalf("control message %d returned", msg.TypeID)
		}
		if n := r.ChunkStreams(); n > cfg.maxStreams {
			t.Fatalf("%d chunk streams, cap %d", n, cfg.maxStreams)
		}
		if h := r.Reassembling(); h > cfg.maxReasm+r.ChunkStreams()*CopySegmentSize {
			t.Fatalf("reassembling %d, cap %d", h, cfg.maxReasm)
		}
		out = append(out, tmsg{msg.CSID, msg.TypeID, msg.StreamID, msg.Timestamp, msg.Payload.ToBytes()})
		msg.Free(alloc)
	}
	r.Close()
	br.Recycle()
	if !pool.Balanced(alloc) {
		t.Fatalf("unbalanced after Close: %d bytes in use", pool.InUse(alloc))
	}
	pool.Recycle(alloc)
	return out
}

// TestWriteSeedCorpus regenerates testdata/fuzz/FuzzReader from the seeds
// when ZC_WRITE_SEEDS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("ZC_WRITE_SEEDS") != "1" {
		t.Skip("set ZC_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, in := range fuzzSeeds(t) {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
