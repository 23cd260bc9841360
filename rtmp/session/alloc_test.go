//go:build !race && !zcdebug

package session_test

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// TestIngestSteadyStateAllocs: once the ring is full, the ingest path
// (socket reads, chunk parsing, frames, the hub's publish and eviction, the
// metrics reports) does not allocate per message: the extra 30 s of a 60 s
// publish over a 30 s one (the 12 s ring fills in both; about 2,200 media
// messages, 1400-byte reads) may cost only the odd growth of a pool when a
// peak holds more frames or ranges than any before it.
func TestIngestSteadyStateAllocs(t *testing.T) {
	h := hub.New(hub.Options{CloseWait: time.Second, PublishTimeout: time.Minute}, slog.New(slog.DiscardHandler))
	defer h.Close()
	log := slog.New(slog.DiscardHandler)
	allocs := func(seconds int) float64 {
		data := append(clientHello(t), ingestStream(t, seconds)...)
		return testing.AllocsPerRun(3, func() {
			conn := &memConn{r: &paceReader{r: bytes.NewReader(data), n: 1400}}
			st, err := session.Serve(conn, session.Config{}, hubHost{h}, log)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if st.Ingest.VideoFrames != int64(seconds*30) {
				t.Fatalf("published %d video frames, want %d", st.Ingest.VideoFrames, seconds*30)
			}
		})
	}
	short, long := allocs(30), allocs(60)
	if extra := long - short; extra > 8 {
		t.Fatalf("a 60 s publish made %v allocations, a 30 s one %v: %v for 2,200 more messages", long, short, extra)
	}
	t.Logf("%v allocations for a 30 s publish (setup and ring fill), %v for 60 s", short, long)
}
