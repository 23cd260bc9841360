package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/server"
)

// fanout is one publisher feeding subs HTTP-FLV players over loopback.
// The players are raw TCP clients that read into one reused buffer and
// discard it, so they add no allocations of their own. The publisher is
// driven from the calling goroutine (which owns its allocator), one frame
// at a time, and never runs more than a bounded lag ahead of the slowest
// player, so no frame is dropped and every frame reaches every player.
type fanout struct {
	tb      testing.TB
	srv     *server.Server
	st      *hub.Stream
	pub     *flvpub.Publisher
	totals  *hub.ProtocolTotals
	subs    int
	maxLag  int64 // frame deliveries the players may owe in total (bounds every player's lag)
	readers sync.WaitGroup
	conns   []net.Conn
	read    atomic.Int64 // bytes the players received
}

// fanoutSnapshot is the counters at one instant.
type fanoutSnapshot struct {
	framesIn, framesOut, payloadIn, drops int64
	egressBytes, egressPayload            int64
	playerBytes                           int64
}

func (f *fanout) snapshot() fanoutSnapshot {
	e := f.srv.Egress()
	return fanoutSnapshot{
		framesIn: f.totals.FramesIn.Load(), framesOut: f.totals.FramesOut.Load(),
		payloadIn: f.totals.BytesIn.Load(), drops: f.totals.Drops.Load(),
		egressBytes: e.BytesOut.Load(), egressPayload: e.PayloadBytes.Load(),
		playerBytes: f.read.Load(),
	}
}

// fanoutAllocatorSize is the publisher allocator's first arena. It holds a
// full ring of the clip's frames plus the reader's blocks without a second
// arena: with 1 MiB, gomem adds an arena under load and recycles it when it
// empties, and every new arena re-allocates its free-list Block structs
// (about 0.45 Go allocations per published frame on the ingest side, which
// would blur the egress figures this harness is for).
const fanoutAllocatorSize = 4 << 20

// newFanout starts a server, subs players and the publisher (looping the
// clip unpaced). ring is the stream's ring size.
func newFanout(tb testing.TB, subs, ring int) *fanout {
	tb.Helper()
	data, err := os.ReadFile(testclip.FLV(tb))
	if err != nil {
		tb.Fatal(err)
	}
	path := fmt.Sprintf("%s/config.yaml", tb.TempDir())
	yaml := fmt.Sprintf("global:\n  loglevel: warn\n  http:\n    listenaddr: 127.0.0.1:0\n  publish:\n    ringsize: %d\n    closewait: 5s\n    reconnectwait: 0s\nzerocopy:\n  enable: false\n", ring)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := server.LoadConfig(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fanout{tb: tb, srv: srv, subs: subs, maxLag: int64(ring / 2)}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	f.st, err = srv.Hub().Publish(context.Background(), host.PublishRequest{Path: "live/fan", Protocol: "flv", Remote: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	f.totals = srv.Hub().Totals("flv")
	for range subs {
		c, err := net.Dial("tcp", srv.HTTPAddr().String())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /live/fan.flv HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			tb.Fatal(err)
		}
		f.conns = append(f.conns, c)
		f.readers.Add(1)
		go func() {
			defer f.readers.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				f.read.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); f.st.Info().Subscribers < subs; {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d players joined", f.st.Info().Subscribers, subs)
		}
		time.Sleep(time.Millisecond)
	}
	f.pub, err = flvpub.New(f.st, data, flvpub.Options{Loop: true, AllocatorSize: fanoutAllocatorSize})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// publishFrame publishes tags until one more frame is out, first waiting
// while the players lag too far behind.
func (f *fanout) publishFrame() {
	for {
		in := f.totals.FramesIn.Load()
		if in*int64(f.subs)-f.totals.FramesOut.Load() <= f.maxLag {
			break
		}
		// Sleep rather than spin: the publisher's CPU would otherwise be
		// charged to the delivery.
		time.Sleep(20 * time.Microsecond)
	}
	before := f.totals.FramesIn.Load()
	for f.totals.FramesIn.Load() == before {
		if _, err := f.pub.Step(); err != nil {
			f.tb.Fatal(err)
		}
	}
}

// drain waits until every player has been handed every frame.
func (f *fanout) drain() {
	for deadline := time.Now().Add(30 * time.Second); ; {
		in, out := f.totals.FramesIn.Load(), f.totals.FramesOut.Load()
		if in*int64(f.subs) == out {
			return
		}
		if d := f.totals.Drops.Load(); d > 0 {
			f.tb.Fatalf("%d frames dropped: the lag bound did not hold", d)
		}
		if time.Now().After(deadline) {
			f.tb.Fatalf("players did not catch up: %d frames in, %d handed out to %d players", in, out, f.subs)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// close unpublishes, checks the allocator and waits for the players.
func (f *fanout) close() flvpub.Result {
	res := f.pub.Close(nil)
	if err := res.Err(); err != nil {
		f.tb.Error(err)
	}
	done := make(chan struct{})
	go func() { f.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		f.tb.Error("players still reading 10 s after the unpublish")
		for _, c := range f.conns {
			c.Close()
		}
		<-done
	}
	for _, c := range f.conns {
		c.Close()
	}
	return res
}

// TestFanoutDeliversEverything checks the harness the benchmark relies on:
// every player gets every frame, nothing is dropped, and the
// egress payload bytes are exactly the frames' payload bytes per player.
func TestFanoutDeliversEverything(t *testing.T) {
	const subs = 8
	f := newFanout(t, subs, 512)
	for range 300 {
		f.publishFrame()
	}
	f.drain()
	s := f.snapshot()
	f.close()
	if s.framesIn != 300 || s.framesOut != 300*subs || s.drops != 0 {
		t.Fatalf("counters %+v", s)
	}
	if s.egressPayload != s.payloadIn*subs {
		t.Fatalf("egress payload %d bytes, want %d x %d", s.egressPayload, s.payloadIn, subs)
	}
}
