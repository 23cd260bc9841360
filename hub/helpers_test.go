package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

// source is the ffmpeg clip, read once per test binary.
type source struct {
	data  []byte
	tags  []flvpub.Tag
	media []flvpub.Tag // the frames, in publish order
	span  uint32       // flvpub loop span (ms)
	// byKey finds a source frame by kind and timestamp within one pass.
	byKey map[frameKey]int
	// videoCfg and audioCfg are the sequence header tag bodies.
	videoCfg, audioCfg []byte
}

type frameKey struct {
	kind host.Kind
	ms   uint32
}

var (
	srcOnce sync.Once
	src     *source
	srcErr  error
)

func clip(t testing.TB) *source {
	t.Helper()
	path := testclip.FLV(t)
	srcOnce.Do(func() {
		s := &source{byKey: map[frameKey]int{}}
		if s.data, srcErr = os.ReadFile(path); srcErr != nil {
			return
		}
		if s.tags, srcErr = flvpub.ReadTags(s.data); srcErr != nil {
			return
		}
		if _, s.span, srcErr = flvpub.Scan(s.data); srcErr != nil {
			return
		}
		for _, tg := range s.tags {
			switch {
			case tg.Media:
				s.byKey[frameKey{tg.Kind, tg.Timestamp}] = len(s.media)
				s.media = append(s.media, tg)
			case tg.Config && tg.Kind == host.Video:
				s.videoCfg = tg.Payload
			case tg.Config && tg.Kind == host.Audio:
				s.audioCfg = tg.Payload
			}
		}
		src = s
	})
	if srcErr != nil {
		t.Fatal(srcErr)
	}
	return src
}

// expected returns the source frame the n-th published frame (counting
// from 0 over looped passes) is, with its looped timestamp.
func (s *source) expected(n int) (flvpub.Tag, uint32) {
	tg := s.media[n%len(s.media)]
	return tg, tg.Timestamp + uint32(n/len(s.media))*s.span
}

// check compares a received frame with the source byte for byte, finding
// the source frame by kind and timestamp. It returns the frame's index in
// the publish order. Under -tags zcdebug a frame whose memory was freed
// would read as 0xDB and fail here.
func (s *source) check(f *host.Frame, scratch *[]byte) (int, error) {
	ms := uint32(f.DTS / time.Millisecond)
	pass, base := ms/s.span, ms%s.span
	i, ok := s.byKey[frameKey{f.Kind, base}]
	if !ok {
		return 0, fmt.Errorf("received %v frame at %d ms matches no source frame", f.Kind, ms)
	}
	if err := s.checkAt(f, i, pass, scratch); err != nil {
		return 0, err
	}
	return int(pass)*len(s.media) + i, nil
}

// checkAt compares f with source frame i of pass pass.
func (s *source) checkAt(f *host.Frame, i int, pass uint32, scratch *[]byte) error {
	want := s.media[i]
	wantMS := want.Timestamp + pass*s.span
	if f.Kind != want.Kind || f.DTS != time.Duration(wantMS)*time.Millisecond || f.Keyframe != (want.Keyframe || want.Kind == host.Audio) {
		return fmt.Errorf("frame %d of pass %d: got %v dts %v key %v, want %v at %d ms key %v",
			i, pass, f.Kind, f.DTS, f.Keyframe, want.Kind, wantMS, want.Keyframe)
	}
	got := (*scratch)[:0]
	for _, b := range f.Payload.Buffers {
		got = append(got, b...)
	}
	*scratch = got
	if !bytes.Equal(got, want.Payload) {
		return fmt.Errorf("frame %d of pass %d (%v at %d ms): payload differs from the source (%d bytes, want %d; poisoned 0xDB bytes: %d)",
			i, pass, f.Kind, wantMS, len(got), len(want.Payload), bytes.Count(got, []byte{0xDB})-bytes.Count(want.Payload, []byte{0xDB}))
	}
	return nil
}

// checkGoroutines fails t unless the goroutine count falls back to base.
func checkGoroutines(t testing.TB, base int) { testutil.WaitGoroutines(t, base) }

type logBuffer = testutil.LogBuffer

// newHub returns a hub with short timeouts for tests. Its cleanup closes it
// and then checks that the goroutines are back to what they were before.
func newHub(t *testing.T, opts hub.Options) (*hub.Hub, *logBuffer) {
	t.Helper()
	base := runtime.NumGoroutine()
	if opts.CloseWait == 0 {
		opts.CloseWait = 500 * time.Millisecond
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = 5 * time.Second
	}
	logs := &logBuffer{}
	h := hub.New(opts, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		h.Close()
		checkGoroutines(t, base)
		if t.Failed() {
			t.Logf("hub log:\n%s", logs)
		}
	})
	return h, logs
}

// pubDone is what a background publisher reports.
type pubDone struct {
	res    flvpub.Result
	runErr error
	err    error // Publish or New failed
}

// startPublisher publishes the clip into a new stream at path from its own
// goroutine (which owns the allocator), returning when the stream exists.
func startPublisher(t *testing.T, h *hub.Hub, path string, opts flvpub.Options) (*hub.Stream, <-chan pubDone) {
	t.Helper()
	s := clip(t)
	st, err := h.Publish(context.Background(), host.PublishRequest{Path: path, Protocol: "flv", Remote: "test"})
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	done := make(chan pubDone, 1)
	go func() {
		res, runErr := flvpub.Publish(context.Background(), st, s.data, opts)
		done <- pubDone{res: res, runErr: runErr}
	}()
	return st, done
}

// waitPub waits for a background publisher and checks the allocator ended
// balanced.
func waitPub(t *testing.T, done <-chan pubDone) pubDone {
	t.Helper()
	select {
	case d := <-done:
		if d.err != nil {
			t.Fatal(d.err)
		}
		if err := d.res.Err(); err != nil {
			t.Error(err)
		}
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("publisher did not finish")
	}
	return pubDone{}
}

// readAll reads sub until io.EOF (or ctx), checking every frame against the
// source, and returns the publish-order indexes it received.
func readAll(ctx context.Context, s *source, sub host.Subscriber, hold time.Duration) ([]int, error) {
	var got []int
	var scratch []byte
	for {
		f, err := sub.Next(ctx)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if hold > 0 {
			time.Sleep(hold) // hold the frame while the ring moves on
		}
		i, err := s.check(f, &scratch)
		f.Release()
		if err != nil {
			return got, err
		}
		got = append(got, i)
	}
}

func describeSeq(idx []int) string {
	var b strings.Builder
	for i, v := range idx {
		if i == 20 {
			fmt.Fprintf(&b, " … (%d)", len(idx))
			break
		}
		fmt.Fprintf(&b, " %d", v)
	}
	return b.String()
}
