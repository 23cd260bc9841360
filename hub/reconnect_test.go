package hub_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// checkSwitch checks what a subscriber carried over from publisher 1 to
// publisher 2 saw: every frame of 1 it could get, then 2 from a video
// keyframe on, with Configs reporting 2's configuration as changed right
// there and timestamps that never go back.
func checkSwitch(t *testing.T, name string, c collected, want1, want2 int) {
	t.Helper()
	n1, n2, sw := 0, 0, -1
	for i, g := range c.frames {
		switch g.tag {
		case 1:
			n1++
			if sw >= 0 {
				t.Fatalf("%s: frame %d is from publisher 1 after the switch", name, i)
			}
		case 2:
			n2++
			if sw < 0 {
				sw = i
			}
		}
		if i > 0 && g.dts < c.frames[i-1].dts {
			t.Fatalf("%s: DTS went back from %v to %v at frame %d (switch at %d)", name, c.frames[i-1].dts, g.dts, i, sw)
		}
	}
	if sw < 0 {
		t.Fatalf("%s: no frame from publisher 2 (%d frames from 1)", name, n1)
	}
	first := c.frames[sw]
	if first.kind != host.Video || !first.key {
		t.Fatalf("%s: first frame after the switch is %v key %v, want a video keyframe", name, first.kind, first.key)
	}
	if sw > 0 && first.dts <= c.frames[sw-1].dts {
		t.Fatalf("%s: first frame after the switch at %v, not after the last one seen (%v)", name, first.dts, c.frames[sw-1].dts)
	}
	if !first.changed || first.sps != 2 {
		t.Fatalf("%s: Configs after the switch: changed %v, SPS of publisher %d; want changed, publisher 2", name, first.changed, first.sps)
	}
	if n1 != want1 || n2 != want2 {
		t.Fatalf("%s: got %d frames of publisher 1 and %d of 2, want %d and %d", name, n1, n2, want1, want2)
	}
}

// TestReconnectCarriesSubscribers: publisher 1 ends and publisher 2 takes
// the path 200 ms later with timestamps restarting at 0. A reader never
// sees io.EOF across the switch and goes on from 2's first keyframe on a
// continued timeline, and so does a subscriber that joined during the
// wait. A subscriber that fell behind is still cut at the unpublish, and
// one that holds a frame outside Next is cut half-way through the frame
// wait, while the reader waiting in Next is kept. Both allocators end
// free. When 2 ends and nobody returns, the readers get io.EOF after
// ReconnectWait.
func TestReconnectCarriesSubscribers(t *testing.T) {
	// The close wait is long enough for the reader to catch up on a loaded
	// machine (CI runs packages in parallel), and the reconnect wait longer
	// than the close (which cuts the holder half-way through it), so the
	// joiner below still finds the waiting path.
	const wait = 4 * time.Second
	h, logs := newHub(t, hub.Options{ReconnectWait: wait, SubscribeWait: time.Second, CloseWait: 2 * time.Second})
	p1 := publishSynth(t, h, "live/rc", 1)
	reader, err := h.Subscribe("live/rc")
	if err != nil {
		t.Fatal(err)
	}
	behind, _ := h.Subscribe("live/rc")
	defer behind.Close()
	holder, _ := h.Subscribe("live/rc")
	defer holder.Close()
	c := collect(reader, 20*time.Second)
	p1.media(0, 3*time.Second, time.Second, 500)
	// holder takes everything and keeps its last frame, as a writer
	// blocked on a stalled peer would; it lets go when cut.
	var held *host.Frame
	for {
		f, err := holder.Next(poll())
		if err != nil {
			break
		}
		if held != nil {
			held.Release()
		}
		held = f
	}
	go func() { <-holder.Cut(); held.Release() }()
	time.Sleep(50 * time.Millisecond) // the reader catches up and blocks in Next
	if !p1.close(nil) {
		t.Fatal("publisher 1's allocator not free")
	}
	for name, sub := range map[string]*hub.Subscriber{"behind": behind, "holder": holder} {
		select {
		case <-sub.Cut():
		default:
			t.Fatalf("%s subscriber not cut at the unpublish", name)
		}
		if _, err := sub.Next(poll()); err != io.EOF {
			t.Fatalf("%s subscriber after the cut: %v, want io.EOF", name, err)
		}
	}
	select {
	case <-reader.Cut():
		t.Fatal("the reader waiting in Next was cut")
	default:
	}
	joiner, err := h.SubscribeWait(context.Background(), "live/rc", 50*time.Millisecond)
	if err != nil {
		t.Fatalf("subscribe during the reconnect wait: %v", err)
	}
	cj := collect(joiner, 20*time.Second)

	time.Sleep(200 * time.Millisecond)
	p2 := publishSynth(t, h, "live/rc", 2)
	p2.media(0, 2*time.Second, time.Second, 500) // DTS restarts at 0
	if info := p2.st.Info(); info.Reconnects != 1 || h.Totals("synth").Reconnects.Load() != 1 {
		t.Fatalf("reconnects: stream %d, totals %d, want 1", info.Reconnects, h.Totals("synth").Reconnects.Load())
	}
	time.Sleep(50 * time.Millisecond)
	closed := time.Now()
	if !p2.close(nil) {
		t.Fatal("publisher 2's allocator not free")
	}
	r, rj := (<-c).eof(t), (<-cj).eof(t)
	// Each publisher's first frame is audio, before its first keyframe.
	checkSwitch(t, "reader", r, p1.n-1, p2.n-1)
	checkSwitch(t, "joiner", rj, 0, p2.n-1)
	for name, end := range map[string]time.Time{"reader": r.end, "joiner": rj.end} {
		if d := end.Sub(closed); d < wait*8/10 {
			t.Fatalf("%s got io.EOF %v after publisher 2 ended, ReconnectWait %v", name, d, wait)
		}
	}
	if strings.Contains(logs.String(), "frames still held") {
		t.Fatalf("a leak was logged:\n%s", logs)
	}
}

// TestReconnectWaitExpires: with no publisher back within ReconnectWait,
// the waiting subscriber gets io.EOF then, and a later publisher starts
// afresh.
func TestReconnectWaitExpires(t *testing.T) {
	const wait = 300 * time.Millisecond
	h, _ := newHub(t, hub.Options{ReconnectWait: wait})
	p1 := publishSynth(t, h, "live/x", 1)
	sub, err := h.Subscribe("live/x")
	if err != nil {
		t.Fatal(err)
	}
	c := collect(sub, 10*time.Second)
	p1.media(0, time.Second, time.Second, 100)
	closed := time.Now()
	if !p1.close(nil) {
		t.Fatal("allocator not free")
	}
	r := (<-c).eof(t)
	if d := r.end.Sub(closed); d < wait*8/10 || d > wait+2*time.Second {
		t.Fatalf("io.EOF %v after the unpublish, ReconnectWait %v", d, wait)
	}
	if len(r.frames) != p1.n-1 { // all but the audio before the first keyframe
		t.Fatalf("got %d frames, want %d", len(r.frames), p1.n-1)
	}
	p2 := publishSynth(t, h, "live/x", 2)
	p2.media(0, 100*time.Millisecond, time.Second, 100)
	if info := p2.st.Info(); info.Reconnects != 0 {
		t.Fatalf("a publish after the wait counted %d reconnects", info.Reconnects)
	}
	if !p2.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestReconnectOff: with ReconnectWait 0 (or negative), a subscriber gets
// io.EOF as soon as it has read its ended stream, as before; a publisher
// coming back does not get it.
func TestReconnectOff(t *testing.T) {
	for _, wait := range []time.Duration{0, -1} {
		t.Run(wait.String(), func(t *testing.T) {
			h, _ := newHub(t, hub.Options{ReconnectWait: wait, SubscribeWait: 20 * time.Millisecond})
			p1 := publishSynth(t, h, "live/off", 1)
			sub, err := h.Subscribe("live/off")
			if err != nil {
				t.Fatal(err)
			}
			c := collect(sub, 10*time.Second)
			p1.media(0, time.Second, time.Second, 100)
			if !p1.close(nil) {
				t.Fatal("allocator not free")
			}
			if _, err := h.Subscribe("live/off"); !errors.Is(err, hub.ErrNoStream) {
				t.Fatalf("subscribe after the unpublish: %v, want ErrNoStream", err)
			}
			var r collected
			select {
			case r = <-c:
			case <-time.After(time.Second):
				t.Fatal("no io.EOF a second after the unpublish")
			}
			r.eof(t)
			if len(r.frames) != p1.n-1 { // all but the audio before the first keyframe
				t.Fatalf("got %d frames, want %d", len(r.frames), p1.n-1)
			}
			p2 := publishSynth(t, h, "live/off", 2)
			p2.media(0, 100*time.Millisecond, time.Second, 100)
			if info := p2.st.Info(); info.Reconnects != 0 || info.Subscribers != 0 {
				t.Fatalf("a new publish got %d reconnects, %d subscribers", info.Reconnects, info.Subscribers)
			}
			if !p2.close(nil) {
				t.Fatal("allocator not free")
			}
		})
	}
}

// TestReconnectNotAfterKick: a publisher kicked by a newer one (and one
// ended by the hub's Close) does not wait: its subscribers get io.EOF at
// once and never see the newer stream.
func TestReconnectNotAfterKick(t *testing.T) {
	h, _ := newHub(t, hub.Options{ReconnectWait: 5 * time.Second, KickExisting: true})
	p1 := publishSynth(t, h, "live/k", 1)
	sub, err := h.Subscribe("live/k")
	if err != nil {
		t.Fatal(err)
	}
	c := collect(sub, 10*time.Second)
	p1.media(0, time.Second, time.Second, 100)
	p2 := publishSynth(t, h, "live/k", 2)
	if !p1.close(context.Cause(p1.st.Context())) {
		t.Fatal("allocator not free")
	}
	var r collected
	select {
	case r = <-c:
	case <-time.After(2 * time.Second):
		t.Fatal("the kicked stream's subscriber is waiting for a reconnect")
	}
	r.eof(t)
	p2.media(0, 100*time.Millisecond, time.Second, 100)
	if p2.st.Info().Reconnects != 0 {
		t.Fatal("the kicking publish counted a reconnect")
	}
	if !p2.close(nil) {
		t.Fatal("allocator not free")
	}
}

// TestHubCloseEndsReconnectWait: the hub's Close ends a wait for a
// reconnect at once, and cuts the waiting subscriber.
func TestHubCloseEndsReconnectWait(t *testing.T) {
	h, _ := newHub(t, hub.Options{ReconnectWait: 10 * time.Second})
	p1 := publishSynth(t, h, "live/hc", 1)
	sub, err := h.Subscribe("live/hc")
	if err != nil {
		t.Fatal(err)
	}
	c := collect(sub, 20*time.Second)
	p1.media(0, time.Second, time.Second, 100)
	if !p1.close(nil) {
		t.Fatal("allocator not free")
	}
	time.Sleep(50 * time.Millisecond)
	h.Close()
	select {
	case r := <-c:
		r.eof(t)
	case <-time.After(2 * time.Second):
		t.Fatal("subscriber still waiting for a reconnect after the hub closed")
	}
	select {
	case <-sub.Cut():
	default:
		t.Fatal("the waiting subscriber was not cut when the hub closed")
	}
}

// TestCutOnHubClose: when the hub closes, every subscriber is cut at once,
// before its publisher gets round to closing: a writer blocked on a
// stalled peer lets go of its frame, and the publisher's Close then finds
// every frame back.
func TestCutOnHubClose(t *testing.T) {
	h, logs := newHub(t, hub.Options{CloseWait: 5 * time.Second})
	p := publishSynth(t, h, "live/cut", 1)
	holder, err := h.Subscribe("live/cut")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	p.media(0, 500*time.Millisecond, time.Second, 100)
	f, err := holder.Next(poll())
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() { <-holder.Cut(); f.Release(); close(released) }()
	h.Close()
	select {
	case <-released:
	case <-time.After(time.Second):
		t.Fatal("the hub closed without cutting its subscriber")
	}
	if _, err := holder.Next(poll()); err != io.EOF {
		t.Fatalf("Next after the hub closed: %v, want io.EOF", err)
	}
	start := time.Now()
	if !p.close(hub.ErrHubClosed) {
		t.Fatal("allocator not free")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v after the hub cut every subscriber", d)
	}
	if strings.Contains(logs.String(), "frames still held") {
		t.Fatalf("a leak was logged:\n%s", logs)
	}
}

// TestCloseLeakLog: only a frame really kept past the close wait makes
// Close report the allocator busy, and the log says so precisely.
func TestCloseLeakLog(t *testing.T) {
	h, logs := newHub(t, hub.Options{CloseWait: 200 * time.Millisecond})
	p := publishSynth(t, h, "live/leak", 1)
	sub, err := h.Subscribe("live/leak")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	p.media(0, 200*time.Millisecond, time.Second, 100)
	f, err := sub.Next(poll())
	if err != nil {
		t.Fatal(err)
	}
	// The holder ignores Cut and keeps the frame past the wait.
	if p.close(nil) {
		t.Fatal("Close reported the allocator free while a frame is held")
	}
	f.Release()
	log := logs.String()
	for _, want := range []string{"frames still held by subscribers", "must be abandoned", "path=live/leak", "framesHeld=1", "subscribersCut=1"} {
		if !strings.Contains(log, want) {
			t.Fatalf("leak log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "must be abandoned"); n != 1 {
		t.Fatalf("logged %d times", n)
	}

	// A clean unpublish logs nothing of the kind.
	h2, logs2 := newHub(t, hub.Options{CloseWait: 2 * time.Second})
	p2 := publishSynth(t, h2, "live/clean", 1)
	sub2, _ := h2.Subscribe("live/clean")
	p2.media(0, 200*time.Millisecond, time.Second, 100)
	f2, _ := sub2.Next(poll())
	time.AfterFunc(150*time.Millisecond, f2.Release) // back within the wait
	if !p2.close(nil) {
		t.Fatal("allocator not free")
	}
	sub2.Close()
	if strings.Contains(logs2.String(), "frames still held") {
		t.Fatalf("a clean close logged a leak:\n%s", logs2)
	}
}
