package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// firstFrame joins path and returns the first frame it can read at once
// (nil when none is deliverable yet), copied out.
func firstFrame(t *testing.T, h *hub.Hub, path string) *got {
	t.Helper()
	sub, err := h.Subscribe(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	f, err := sub.Next(poll())
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	return &got{kind: f.Kind, dts: f.DTS, key: f.Keyframe}
}

// TestDefaultRingHoldsLongGOP: with the default bounds, a 10 s GOP (the
// x264/OBS keyframe interval) of 25 fps video plus audio stays whole, so a
// joiner 9.9 s into it starts at its keyframe. (A 256-frame ring held
// about 3 s of it.)
func TestDefaultRingHoldsLongGOP(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	p := publishSynth(t, h, "live/gop", 1)
	p.media(0, 9900*time.Millisecond, 10*time.Second, 1000)
	g := firstFrame(t, h, "live/gop")
	if g == nil || g.kind != host.Video || !g.key || g.dts != 0 {
		t.Fatalf("joiner's first frame %+v, want the video keyframe at 0", g)
	}
	info := p.st.Info()
	if info.RingFrames != p.n {
		t.Fatalf("ring holds %d of the %d frames published", info.RingFrames, p.n)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestRingBoundedByBytes: the ring never holds more than RingBytes of
// payload; the oldest frames go first, and a joiner starts at the newest
// keyframe still in it.
func TestRingBoundedByBytes(t *testing.T) {
	const bound = 256 << 10
	h, _ := newHub(t, hub.Options{RingBytes: bound})
	p := publishSynth(t, h, "live/bytes", 1)
	// 4 KiB video frames, a keyframe every second: a GOP is about 110 KiB.
	end := p.media(0, 20*time.Second, time.Second, 4096)
	info := p.st.Info()
	if info.RingBytes > bound || info.RingBytes < bound-8192 {
		t.Fatalf("ring holds %d bytes, want just under %d", info.RingBytes, bound)
	}
	if info.RingFrames >= p.n/4 {
		t.Fatalf("ring holds %d of %d frames: not bounded", info.RingFrames, p.n)
	}
	if info.GOPOverflows != 0 {
		t.Fatalf("%d GOP overflows with GOPs half the bound", info.GOPOverflows)
	}
	g := firstFrame(t, h, "live/bytes")
	if want := end - end%time.Second; g == nil || !g.key || g.dts != want {
		t.Fatalf("joiner's first frame %+v, want the keyframe at %v", g, want)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestRingBoundedByDuration: the ring keeps RingDuration of media by DTS.
func TestRingBoundedByDuration(t *testing.T) {
	h, _ := newHub(t, hub.Options{RingDuration: 2 * time.Second})
	p := publishSynth(t, h, "live/dur", 1)
	end := p.media(0, 10*time.Second, time.Second, 500)
	info := p.st.Info()
	// 2 s of 25 fps video and 50 fps audio, both ends included.
	if info.RingFrames < 148 || info.RingFrames > 153 {
		t.Fatalf("ring holds %d frames, want about 152 (2 s)", info.RingFrames)
	}
	g := firstFrame(t, h, "live/dur")
	if want := end - end%time.Second; g == nil || !g.key || g.dts != want {
		t.Fatalf("joiner's first frame %+v, want the keyframe at %v", g, want)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestRingFrameCap: RingSize still caps the ring.
func TestRingFrameCap(t *testing.T) {
	h, _ := newHub(t, hub.Options{RingSize: 50})
	p := publishSynth(t, h, "live/cap", 1)
	p.media(0, 5*time.Second, time.Second, 100)
	if n := p.st.Info().RingFrames; n != 50 {
		t.Fatalf("ring holds %d frames, cap 50", n)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestGOPOverflow: a GOP larger than RingBytes loses its keyframe before
// the next one comes. Each such GOP is counted, the first one is logged
// once for the stream (path, GOP bytes, bound), and a joiner waits for the
// next keyframe.
func TestGOPOverflow(t *testing.T) {
	const bound = 64 << 10
	h, logs := newHub(t, hub.Options{RingBytes: bound})
	p := publishSynth(t, h, "live/big", 1)
	// 4 GOPs of 2 s with 4 KiB frames (about 220 KiB each), the last one
	// cut short at 1 s (still 120 KiB).
	p.media(0, 7*time.Second, 2*time.Second, 4096)
	info := p.st.Info()
	if info.GOPOverflows != 4 || h.Totals("synth").GOPOverflows.Load() != 4 {
		t.Fatalf("GOP overflows: stream %d, totals %d, want 4", info.GOPOverflows, h.Totals("synth").GOPOverflows.Load())
	}
	log := logs.String()
	if n := strings.Count(log, "GOP larger than its ring"); n != 1 {
		t.Fatalf("overflow logged %d times, want once:\n%s", n, log)
	}
	for _, want := range []string{"path=live/big", "gopBytes=", "bound=ringbytes", "ringBytes=65536"} {
		if !strings.Contains(log, want) {
			t.Fatalf("overflow log lacks %q:\n%s", want, log)
		}
	}
	if g := firstFrame(t, h, "live/big"); g != nil {
		t.Fatalf("joiner got %+v at once, want to wait for the next keyframe", g)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestDropsCountedAtEviction: a subscriber that never calls Next while the
// ring overruns it shows its drops in Info, the totals and Drops() at once,
// and reading later does not count them again.
func TestDropsCountedAtEviction(t *testing.T) {
	h, _ := newHub(t, hub.Options{RingSize: 100})
	p := publishSynth(t, h, "live/drops", 1)
	sub, err := h.Subscribe("live/drops")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	p.media(0, 3*time.Second, time.Second, 100) // 225 frames (a GOP is 75), 100 kept
	info := p.st.Info()
	if info.Drops == 0 || sub.Drops() != info.Drops || h.Totals("synth").Drops.Load() != info.Drops {
		t.Fatalf("before reading: stream drops %d, subscriber %d, totals %d; want equal and > 0",
			info.Drops, sub.Drops(), h.Totals("synth").Drops.Load())
	}
	before := sub.Drops()
	n := 0
	for {
		f, err := sub.Next(poll())
		if err != nil {
			break
		}
		if n == 0 && (f.Kind != host.Video || !f.Keyframe) {
			t.Errorf("first frame after the overrun is not a keyframe")
		}
		f.Release()
		n++
	}
	if n == 0 {
		t.Fatal("nothing to read after the overrun")
	}
	if sub.Drops() != before || p.st.Info().Drops != before || h.Totals("synth").Drops.Load() != before {
		t.Fatalf("reading counted drops again: subscriber %d, stream %d, totals %d, were %d",
			sub.Drops(), p.st.Info().Drops, h.Totals("synth").Drops.Load(), before)
	}
	// Every frame published is either dropped, delivered, or skipped
	// while waiting for a keyframe; none twice.
	if int(before)+n > p.n {
		t.Fatalf("%d drops + %d delivered > %d published", before, n, p.n)
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestInfoRates: bitrate, keyframe interval, ring occupancy and the
// counters appear in Info and in the JSON with camelCase names.
func TestInfoRates(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	p := publishSynth(t, h, "live/rate", 1)
	p.media(0, 8*time.Second, 2*time.Second, 1000)
	info := p.st.Info()
	// 25 x 1000 B + 50 x 200 B a second = 35 kB/s = 280 kbit/s.
	if info.BitrateKbps < 270 || info.BitrateKbps > 290 {
		t.Fatalf("bitrate %.1f kbit/s, want about 280", info.BitrateKbps)
	}
	if info.KeyframeInterval != 2 {
		t.Fatalf("keyframe interval %v s, want 2", info.KeyframeInterval)
	}
	if info.RingFrames != p.n || info.RingBytes != p.bytes {
		t.Fatalf("ring %d frames %d bytes, want %d frames %d bytes", info.RingFrames, info.RingBytes, p.n, p.bytes)
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"bitrateKbps":`, `"keyframeInterval":2`, `"ringBytes":279800`, `"ringFrames":`, `"gopOverflows":0`, `"reconnects":0`} {
		if !strings.Contains(string(b), k) {
			t.Fatalf("JSON lacks %s: %s", k, b)
		}
	}
	if !p.close(nil) {
		t.Fatal("allocator not free")
	}
}
