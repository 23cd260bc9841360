package session_test

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// paceReader hands out at most n bytes per Read, like a paced publisher's
// socket (the ingest benchmark sees about 1.3 KB per read at 2 Mbit/s).
type paceReader struct {
	r io.Reader
	n int
}

func (p *paceReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }

// ingestStream is a publish of seconds of a 30 fps H.264 + 43 fps AAC
// stream at about 2 Mbit/s (a 60 KB keyframe every 2 s, 7 KB frames,
// 370-byte audio frames) over 4096-byte chunks, as ffmpeg sends it.
func ingestStream(tb testing.TB, seconds int) []byte {
	x := newWire(tb, 4096).connect().publish(1, "bench")
	x.video(1, 0, avcSeqHeader)
	x.msg(chunk.Header{CSID: 4, TypeID: chunk.TypeAudio, StreamID: 1}, []byte{0xaf, 0, 0x12, 0x10})
	audio := append([]byte{0xaf, 1}, bytes.Repeat([]byte{0x21}, 370)...)
	key, inter := avcFrameBody(true, 60_000), avcFrameBody(false, 7_000)
	a := 0
	for v := range seconds * 30 {
		ts := uint32(v * 1000 / 30)
		body := inter
		if v%60 == 0 {
			body = key
		}
		x.video(1, ts, body)
		for ; a*1000/43 <= int(ts); a++ {
			x.msg(chunk.Header{CSID: 4, TypeID: chunk.TypeAudio, StreamID: 1, Timestamp: uint32(a * 1000 / 43)}, audio)
		}
	}
	return x.bytes()
}

// BenchmarkIngest runs whole publishing sessions (handshake to EOF) into a
// hub with its default ring bounds and no subscribers, reading the socket
// 1400 bytes at a time: the per-read and per-message work of the ingest
// path, in one session (so with warm caches). The figure to compare is
// ns/MB; the session's setup is amortised over 60 s of stream.
func BenchmarkIngest(b *testing.B) {
	data := append(clientHello(b), ingestStream(b, 60)...)
	h := hub.New(hub.Options{CloseWait: time.Second, PublishTimeout: time.Minute}, slog.New(slog.DiscardHandler))
	defer h.Close()
	log := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		conn := &memConn{r: &paceReader{r: bytes.NewReader(data), n: 1400}}
		st, err := session.Serve(conn, session.Config{}, hubHost{h}, log)
		if err != nil && err != io.EOF {
			b.Fatal(err)
		}
		if st.Ingest.VideoFrames != 60*30 {
			b.Fatalf("published %d video frames, want %d", st.Ingest.VideoFrames, 60*30)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(data))*1e6, "ns/MB")
}
