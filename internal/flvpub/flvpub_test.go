package flvpub_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/internal/testclip"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

func TestPublishClip(t *testing.T) {
	path := testclip.FLV(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := testclip.PacketCounts(t, path)
	tags, err := flvpub.ReadTags(data)
	if err != nil {
		t.Fatal(err)
	}
	var media, video int
	for _, tg := range tags {
		if tg.Media {
			media++
			if tg.Kind == host.Video {
				video++
			}
		}
	}
	if video != counts["video"] || media != counts["video"]+counts["audio"] {
		t.Fatalf("ReadTags: %d media frames (%d video); ffprobe %v", media, video, counts)
	}
	n, span, err := flvpub.Scan(data)
	if err != nil || n != len(tags) || span < 2000 || span > 2100 {
		t.Fatalf("Scan: %d tags, span %d ms, %v; want %d tags and about 2 s", n, span, err, len(tags))
	}

	for _, tc := range []struct {
		name   string
		opts   flvpub.Options
		passes int
		min    time.Duration
	}{
		{"once", flvpub.Options{}, 1, 0},
		{"loop3", flvpub.Options{Loop: true, Passes: 3, BlockSize: 512}, 3, 0},
		{"paced", flvpub.Options{Speed: 8}, 1, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hub.New(hub.Options{}, nil)
			defer h.Close()
			st, err := h.Publish(context.Background(), host.PublishRequest{Path: "x", Protocol: "flv"})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := flvpub.Publish(context.Background(), st, data, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tc.min {
				t.Fatalf("took %v, paced run should take at least %v", d, tc.min)
			}
			if got := int(res.Ingest.VideoFrames); got != tc.passes*video {
				t.Fatalf("%d video frames, want %d", got, tc.passes*video)
			}
			if got := int(res.Ingest.VideoFrames + res.Ingest.AudioFrames); got != tc.passes*media {
				t.Fatalf("%d frames, want %d", got, tc.passes*media)
			}
			if res.Loops != tc.passes-1 {
				t.Fatalf("%d loops, want %d", res.Loops, tc.passes-1)
			}
			// Only 11-byte tag headers that straddle two blocks are
			// assembled by copying; payloads never are.
			if res.Reader.BytesCopied > res.Tags*11 || tc.opts.BlockSize == 0 && res.Reader.BytesCopied != 0 {
				t.Fatalf("reader copied %d bytes over %d tags", res.Reader.BytesCopied, res.Tags)
			}
			if got := h.Totals("flv").BytesRead.Load(); got != int64(tc.passes*len(data)) {
				t.Fatalf("reported %d bytes read, want %d", got, tc.passes*len(data))
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	data, err := os.ReadFile(testclip.FLV(t))
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Options{}, nil)
	defer h.Close()
	st, err := h.Publish(context.Background(), host.PublishRequest{Path: "x", Protocol: "flv"})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("enough")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(stop) })
	res, err := flvpub.Publish(ctx, st, data, flvpub.Options{Speed: 1, Loop: true})
	if !errors.Is(err, stop) {
		t.Fatalf("run ended with %v, want the context's cause", err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := flvpub.New(st, []byte("not flv"), flvpub.Options{}); err == nil {
		t.Fatal("New accepted a non-FLV clip")
	}
}
