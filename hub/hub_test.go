package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
)

func req(path string) host.PublishRequest {
	return host.PublishRequest{Path: path, Protocol: "flv", Remote: "test"}
}

func TestOnePublisherPerPath(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	first, err := h.Publish(context.Background(), req("live/a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(context.Background(), req("live/a")); !errors.Is(err, host.ErrStreamExists) {
		t.Fatalf("second publish on a busy path: err %v, want host.ErrStreamExists", err)
	}
	if context.Cause(first.Context()) != nil {
		t.Fatalf("refused publish disturbed the first: %v", context.Cause(first.Context()))
	}
	// Another path is independent.
	other, err := h.Publish(context.Background(), req("live/b"))
	if err != nil {
		t.Fatal(err)
	}
	if !other.Close(nil) || !first.Close(nil) {
		t.Fatal("Close of streams without frames reported frames held")
	}
	if !h.Idle() {
		t.Fatal("hub not idle after both streams closed")
	}
	// Once closed, the path is free again.
	again, err := h.Publish(context.Background(), req("live/a"))
	if err != nil {
		t.Fatalf("publish after the first closed: %v", err)
	}
	again.Close(nil)
	if _, err := h.Publish(context.Background(), host.PublishRequest{}); err == nil {
		t.Fatal("publish with an empty path accepted")
	}
}

func TestKickExisting(t *testing.T) {
	h, _ := newHub(t, hub.Options{KickExisting: true})
	// The old publisher loops in real time for ever; only the kick ends it.
	old, oldDone := startPublisher(t, h, "live/k", flvpub.Options{Speed: 1, Loop: true})
	sub, err := h.Subscribe("live/k")
	if err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() {
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := readAll(ctx, clip(t), sub, 0)
		subDone <- err
	}()
	time.Sleep(100 * time.Millisecond)

	newer, newDone := startPublisher(t, h, "live/k", flvpub.Options{Speed: 2})
	if h.Stream("live/k") != newer {
		t.Fatal("the newer publisher does not own the path")
	}
	d := waitPub(t, oldDone)
	if !errors.Is(d.runErr, hub.ErrKicked) {
		t.Fatalf("old publisher's run ended with %v, want hub.ErrKicked", d.runErr)
	}
	if c := context.Cause(old.Context()); !errors.Is(c, hub.ErrKicked) {
		t.Fatalf("old publish context cause %v, want hub.ErrKicked", c)
	}
	if c := context.Cause(newer.Context()); c != nil {
		t.Fatalf("new publish context ended: %v", c)
	}
	// The old stream's subscriber sees the end of its stream.
	if err := <-subDone; err != nil {
		t.Fatalf("subscriber of the kicked stream: %v", err)
	}
	// The old stream's late Close must not remove the newer stream.
	if h.Stream("live/k") != newer {
		t.Fatal("closing the kicked stream removed the newer one")
	}
	waitPub(t, newDone)
}

func TestPublishTimeout(t *testing.T) {
	s := clip(t)

	t.Run("silent", func(t *testing.T) {
		const timeout = 150 * time.Millisecond
		h, _ := newHub(t, hub.Options{PublishTimeout: timeout})
		st, err := h.Publish(context.Background(), req("live/silent"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := flvpub.New(st, s.data, flvpub.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := p.Step(); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		select {
		case <-st.Context().Done():
		case <-time.After(10 * timeout):
			t.Fatal("silent publisher not ended by the publish timeout")
		}
		if waited := time.Since(start); waited < timeout/2 {
			t.Errorf("publisher ended after %v of silence, timeout %v", waited, timeout)
		}
		if c := context.Cause(st.Context()); !errors.Is(c, hub.ErrPublishTimeout) {
			t.Fatalf("cause %v, want hub.ErrPublishTimeout", c)
		}
		// Writing after the timeout is refused with the cause.
		if _, err := p.Step(); !errors.Is(err, hub.ErrPublishTimeout) {
			t.Fatalf("write after timeout: %v", err)
		}
		if err := p.Close(context.Cause(st.Context())).Err(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("active", func(t *testing.T) {
		// Frames every 10-20 ms (2x real time) for a second keep a 400 ms
		// timeout at bay. (The margin is wide: under -race with the
		// zcdebug ledger a goroutine can stall for 200 ms on 2 cores.)
		h, _ := newHub(t, hub.Options{PublishTimeout: 400 * time.Millisecond})
		st, done := startPublisher(t, h, "live/active", flvpub.Options{Speed: 2})
		d := waitPub(t, done)
		if d.runErr != nil {
			t.Fatalf("active publisher ended with %v (cause %v)", d.runErr, context.Cause(st.Context()))
		}
		if d.res.Ingest.VideoFrames != 50 {
			t.Fatalf("published %d video frames, want 50", d.res.Ingest.VideoFrames)
		}
	})
}

// TestJoinAtLatestKeyframe: a late subscriber gets the configuration first
// and then frames from the newest keyframe still in the ring, in order.
func TestJoinAtLatestKeyframe(t *testing.T) {
	s := clip(t)
	// Indexes of the video keyframes among the media frames.
	var keys []int
	for i, m := range s.media {
		if m.Keyframe {
			keys = append(keys, i)
		}
	}
	if len(keys) < 2 {
		t.Fatalf("clip has %d keyframes, want at least 2", len(keys))
	}
	for _, tc := range []struct {
		name     string
		ring     int
		publish  int // media frames published before joining
		wantFrom int // publish-order index of the first frame delivered
	}{
		// The second keyframe is in the ring: start there.
		{"second-key", 0, keys[1] + 5, keys[1]},
		// Right after the first keyframe.
		{"first-key", 0, keys[0] + 1, keys[0]},
		// The ring (8 frames) no longer holds the newest keyframe: wait
		// for the next one, which comes in the second pass.
		{"key-overwritten", 8, keys[1] + 12, len(s.media) + keys[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, hub.Options{RingSize: tc.ring})
			st, err := h.Publish(context.Background(), req("live/j"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := flvpub.New(st, s.data, flvpub.Options{Loop: true, Passes: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := p.Close(nil).Err(); err != nil {
					t.Error(err)
				}
			}()
			published := 0
			step := func() {
				t.Helper()
				if _, err := p.Step(); err != nil {
					t.Fatal(err)
				}
			}
			// Step until the wanted number of media frames is out (config
			// tags do not count).
			for published < tc.publish {
				before := st.Info().FramesIn
				step()
				published += int(st.Info().FramesIn - before)
			}
			sub, err := h.Subscribe("live/j")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			v, a, changed := sub.Configs()
			if !changed || !bytes.Equal(v.SequenceHeader, s.videoCfg) || !bytes.Equal(a.SequenceHeader, s.audioCfg) {
				t.Fatalf("configs at join: changed %v, video %d bytes (want %d), audio %d bytes (want %d)",
					changed, len(v.SequenceHeader), len(s.videoCfg), len(a.SequenceHeader), len(s.audioCfg))
			}
			if _, _, changed := sub.Configs(); changed {
				t.Fatal("Configs reports a change twice")
			}
			// Publish one tag at a time and take whatever is deliverable
			// after each (Next with a cancelled context does not block), so
			// the subscriber never falls a ring behind.
			polled, cancel := context.WithCancel(context.Background())
			cancel()
			var (
				got     []int
				first   *host.Frame
				scratch []byte
			)
			for len(got) < 3 {
				step()
				for len(got) < 3 {
					f, err := sub.Next(polled)
					if errors.Is(err, context.Canceled) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					i, err := s.check(f, &scratch)
					if err != nil {
						t.Fatal(err)
					}
					if first == nil && (f.Kind != host.Video || !f.Keyframe) {
						t.Fatal("first frame after join is not a video keyframe")
					}
					first = f
					f.Release()
					got = append(got, i)
				}
			}
			if want := []int{tc.wantFrom, tc.wantFrom + 1, tc.wantFrom + 2}; !slices.Equal(got, want) {
				t.Fatalf("frames delivered %v, want %v", got, want)
			}
			if sub.Drops() != 0 {
				t.Fatalf("a joining subscriber counted %d drops", sub.Drops())
			}
		})
	}
}

// TestHealthySubscribersGetEveryFrame: subscribers that keep up receive
// every frame, in order, byte for byte, with no drops, including one that
// subscribed before the stream existed.
func TestHealthySubscribersGetEveryFrame(t *testing.T) {
	s := clip(t)
	for _, tc := range []struct {
		name string
		ring int
		opts flvpub.Options
	}{
		{"unpaced", 0, flvpub.Options{}},
		{"smallblocks", 0, flvpub.Options{BlockSize: 512}},
		// A 128-frame ring (about 1.8 s of media, 0.45 s of wall time)
		// at 4x real time over three passes: readers keep up.
		{"paced-small-ring", 128, flvpub.Options{Speed: 4, Loop: true, Passes: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, hub.Options{RingSize: tc.ring, SubscribeWait: 5 * time.Second})
			const readers = 3
			type result struct {
				idx []int
				err error
				sub *hub.Subscriber
			}
			results := make(chan result, readers)
			var ready sync.WaitGroup
			ready.Add(readers)
			for range readers {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					ready.Done()
					// Subscribes before the publish: waits for it.
					sub, err := h.SubscribeWait(ctx, "live/h", 5*time.Second)
					if err != nil {
						results <- result{err: err}
						return
					}
					defer sub.Close()
					idx, err := readAll(ctx, s, sub, 0)
					results <- result{idx: idx, err: err, sub: sub}
				}()
			}
			ready.Wait()
			time.Sleep(20 * time.Millisecond) // let them block in SubscribeWait
			st, err := h.Publish(context.Background(), req("live/h"))
			if err != nil {
				t.Fatal(err)
			}
			// The waiting subscribers join the new stream before its first
			// frame; only then does the publisher start writing.
			for deadline := time.Now().Add(5 * time.Second); st.Info().Subscribers < readers; {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d waiting subscribers joined", st.Info().Subscribers, readers)
				}
				time.Sleep(time.Millisecond)
			}
			done := make(chan pubDone, 1)
			go func() {
				res, runErr := flvpub.Publish(context.Background(), st, s.data, tc.opts)
				done <- pubDone{res: res, runErr: runErr}
			}()
			waitPub(t, done)
			passes := max(1, tc.opts.Passes)
			want := passes * len(s.media)
			if got := int(st.Info().FramesIn); got != want {
				t.Fatalf("published %d frames, want %d", got, want)
			}
			for range readers {
				r := <-results
				if r.err != nil {
					t.Fatal(r.err)
				}
				if len(r.idx) != want {
					t.Fatalf("received %d frames, want %d:%s", len(r.idx), want, describeSeq(r.idx))
				}
				for i, v := range r.idx {
					if v != i {
						t.Fatalf("frame %d is source frame %d (skip or reorder):%s", i, v, describeSeq(r.idx))
					}
				}
				if r.sub.Drops() != 0 {
					t.Fatalf("healthy subscriber counted %d drops", r.sub.Drops())
				}
			}
			if st.Info().Drops != 0 {
				t.Fatalf("stream counted %d drops", st.Info().Drops)
			}
		})
	}
}

// TestSlowSubscribersDropped: a subscriber that never reads and one that
// reads slowly (holding each frame) fall behind a small ring; they are moved
// forward to a keyframe, the skipped frames are counted, every frame they
// do get is intact, and the publisher never waits for them.
func TestSlowSubscribersDropped(t *testing.T) {
	s := clip(t)
	const ring = 32
	h, _ := newHub(t, hub.Options{RingSize: ring})
	st, err := h.Publish(context.Background(), req("live/slow"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := flvpub.New(st, s.data, flvpub.Options{Loop: true, Passes: 6})
	if err != nil {
		t.Fatal(err)
	}
	// Publish the configs and the first frames, then attach the readers.
	for range 5 {
		if _, err := p.Step(); err != nil {
			t.Fatal(err)
		}
	}
	stalled, err := h.Subscribe("live/slow")
	if err != nil {
		t.Fatal(err)
	}
	healthy, err := h.Subscribe("live/slow")
	if err != nil {
		t.Fatal(err)
	}
	slow, err := h.Subscribe("live/slow")
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		idx   []int
		drops int64
		err   error
	}
	slowDone := make(chan result, 1)
	go func() {
		defer slow.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var (
			r       result
			scratch []byte
		)
		for {
			f, err := slow.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				r.err = err
				break
			}
			isKey := f.Kind == host.Video && f.Keyframe
			time.Sleep(2 * time.Millisecond) // hold it while the ring wraps
			i, err := s.check(f, &scratch)
			f.Release()
			if err != nil && r.err == nil {
				r.err = err
			}
			// A gap in the source order is a drop. (Drops() cannot tell:
			// the publisher counts a drop when it evicts, which may land
			// between this Next and a look at the counter, after a frame
			// that was read in order.)
			if n := len(r.idx); err == nil && n > 0 && i != r.idx[n-1]+1 && !isKey && r.err == nil {
				r.err = fmt.Errorf("after a drop (frame %d after %d) the slow subscriber resumed on a frame that is not a video keyframe", i, r.idx[n-1])
			}
			r.idx = append(r.idx, i)
		}
		r.drops = slow.Drops()
		slowDone <- r
	}()
	healthyDone := make(chan result, 1)
	go func() {
		defer healthy.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		idx, err := readAll(ctx, s, healthy, 0)
		healthyDone <- result{idx: idx, err: err, drops: healthy.Drops()}
	}()

	// Publish the rest: 5 more passes. Time every write. In the last
	// pass, stop a little after its first keyframe to let the stalled
	// subscriber read.
	var firstKey flvpub.Tag
	for _, m := range s.media {
		if m.Keyframe {
			firstKey = m
			break
		}
	}
	lastPassKey := firstKey.Timestamp + 5*s.span
	var worst time.Duration
	start := time.Now()
	frames, after := 0, -1
	for after != 0 {
		t0 := time.Now()
		tg, err := p.Step()
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
		frames++
		if frames%ring == 0 {
			// Give the healthy reader a chance to keep up; the slow one
			// (2 ms per frame) cannot.
			time.Sleep(time.Millisecond)
		}
		switch {
		case tg.Type == flv.TagVideo && tg.Timestamp == lastPassKey:
			after = 3
		case after > 0:
			after--
		}
	}
	elapsed := time.Since(start)
	t.Logf("published %d tags in %v, slowest write %v", frames, elapsed, worst)
	if worst > time.Second {
		t.Errorf("a write took %v while a subscriber stalled: the publisher blocked", worst)
	}

	// The stalled subscriber, reading now, is moved to the keyframe.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := stalled.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var scratch []byte
	_, cerr := s.check(f, &scratch)
	isKey := f.Kind == host.Video && f.Keyframe
	f.Release()
	if cerr != nil {
		t.Fatal(cerr)
	}
	if !isKey || f.DTS != time.Duration(lastPassKey)*time.Millisecond {
		t.Fatalf("stalled subscriber resumed on %v at %v (key %v), want the keyframe at %d ms", f.Kind, f.DTS, isKey, lastPassKey)
	}
	if stalled.Drops() == 0 {
		t.Fatal("stalled subscriber counted no drops")
	}
	stalledDrops := stalled.Drops()
	stalled.Close()
	for { // the rest of the last pass
		if _, err := p.Step(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}

	res := p.Close(nil)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	sr := <-slowDone
	if sr.err != nil {
		t.Fatal(sr.err)
	}
	if sr.drops == 0 {
		t.Fatalf("slow subscriber (%d frames) counted no drops", len(sr.idx))
	}
	for i := 1; i < len(sr.idx); i++ {
		if sr.idx[i] <= sr.idx[i-1] {
			t.Fatalf("slow subscriber went backwards: %d after %d", sr.idx[i], sr.idx[i-1])
		}
	}
	hr := <-healthyDone
	if hr.err != nil {
		t.Fatal(hr.err)
	}
	info := st.Info()
	if info.Drops != stalledDrops+sr.drops+hr.drops {
		t.Fatalf("stream drops %d, want the subscribers' %d + %d + %d", info.Drops, stalledDrops, sr.drops, hr.drops)
	}
	if tot := h.Totals("flv").Drops.Load(); tot < info.Drops {
		t.Fatalf("protocol total drops %d below the stream's %d", tot, info.Drops)
	}
	t.Logf("drops: stalled %d, slow %d (got %d frames), healthy %d (got %d frames)",
		stalledDrops, sr.drops, len(sr.idx), hr.drops, len(hr.idx))
}

// TestVanishingSubscriber: a subscriber that leaves while holding frames,
// and releases them only later (even after the publisher began closing),
// neither corrupts anything nor leaks: its frames stay intact while held
// and the allocator ends balanced.
func TestVanishingSubscriber(t *testing.T) {
	s := clip(t)
	for _, releaseAfterClose := range []bool{false, true} {
		name := "release-before-unpublish"
		if releaseAfterClose {
			name = "release-during-unpublish"
		}
		t.Run(name, func(t *testing.T) {
			h, _ := newHub(t, hub.Options{RingSize: 16, CloseWait: 2 * time.Second})
			st, err := h.Publish(context.Background(), req("live/v"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := flvpub.New(st, s.data, flvpub.Options{Loop: true, Passes: 2})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := h.Subscribe("live/v")
			if err != nil {
				t.Fatal(err)
			}
			// 3 control tags and 12 frames, within the 16-frame ring.
			for range 15 {
				if _, err := p.Step(); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var held []*host.Frame
			for range 8 {
				f, err := sub.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, f)
			}
			sub.Close() // vanishes, still holding 8 frames
			// The ring wraps many times over the held frames.
			for {
				if _, err := p.Step(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			var scratch []byte
			for i, f := range held {
				if err := s.checkAt(f, i, 0, &scratch); err != nil {
					t.Fatalf("held frame: %v", err)
				}
			}
			release := func() {
				for _, f := range held {
					f.Release()
				}
			}
			if releaseAfterClose {
				timer := time.AfterFunc(100*time.Millisecond, release)
				defer timer.Stop()
			} else {
				release()
			}
			start := time.Now()
			res := p.Close(nil)
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if releaseAfterClose && time.Since(start) < 50*time.Millisecond {
				t.Fatalf("Close returned after %v, before the held frames were released", time.Since(start))
			}
			if st.Info().Subscribers != 0 {
				t.Fatalf("%d subscribers left after Close", st.Info().Subscribers)
			}
		})
	}
}

// TestSubscribeWait: a subscriber may come before the publisher; it is
// refused with ErrNoStream when none comes in time, and with ErrHubClosed
// once the hub is closed.
func TestSubscribeWait(t *testing.T) {
	h, _ := newHub(t, hub.Options{SubscribeWait: 50 * time.Millisecond})
	start := time.Now()
	if _, err := h.Subscribe("live/none"); !errors.Is(err, hub.ErrNoStream) || !errors.Is(err, host.ErrNoStream) {
		t.Fatalf("subscribe to nothing: %v, want ErrNoStream", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("gave up after %v, wait is 50ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.SubscribeWait(ctx, "live/none", time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe with a cancelled context: %v", err)
	}

	// Waiting across an unrelated publish keeps waiting for its own path.
	got := make(chan error, 1)
	go func() {
		sub, err := h.SubscribeWait(context.Background(), "live/w", 5*time.Second)
		if err == nil {
			sub.Close()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	other, err := h.Publish(context.Background(), req("live/other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(nil)
	select {
	case err := <-got:
		t.Fatalf("subscriber to live/w returned on another path's publish: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	w, err := h.Publish(context.Background(), req("live/w"))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting subscriber: %v", err)
	}
	w.Close(nil)
}

// TestHubClose: closing the hub ends every publish with ErrHubClosed and
// refuses new publishers and subscribers; subscribers reach the end.
func TestHubClose(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	s := clip(t)
	st, done := startPublisher(t, h, "live/c", flvpub.Options{Speed: 1, Loop: true})
	sub, err := h.Subscribe("live/c")
	if err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() {
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := readAll(ctx, s, sub, 0)
		subDone <- err
	}()
	time.Sleep(100 * time.Millisecond)
	h.Close()
	d := waitPub(t, done)
	if !errors.Is(d.runErr, hub.ErrHubClosed) || !errors.Is(context.Cause(st.Context()), hub.ErrHubClosed) {
		t.Fatalf("publisher ended with %v (cause %v), want ErrHubClosed", d.runErr, context.Cause(st.Context()))
	}
	if err := <-subDone; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(context.Background(), req("live/c")); !errors.Is(err, hub.ErrHubClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	if _, err := h.Subscribe("live/c"); !errors.Is(err, hub.ErrHubClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
	h.Close() // idempotent
}

// TestCountersAndInfo: stream info and protocol totals add up.
func TestCountersAndInfo(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	s := clip(t)
	st, done := startPublisher(t, h, "live/i", flvpub.Options{})
	d := waitPub(t, done)
	info := st.Info()
	var bytesIn int64
	for _, m := range s.media {
		bytesIn += int64(len(m.Payload))
	}
	if info.FramesIn != int64(len(s.media)) || info.BytesIn != bytesIn || info.VideoCodec != "H264" || info.AudioCodec != "AAC" {
		t.Fatalf("info %+v; want %d frames, %d bytes, H264/AAC", info, len(s.media), bytesIn)
	}
	tot := h.Totals("flv")
	if tot.FramesIn.Load() != info.FramesIn || tot.BytesIn.Load() != bytesIn || tot.Publishes.Load() != 1 {
		t.Fatalf("totals frames %d bytes %d publishes %d", tot.FramesIn.Load(), tot.BytesIn.Load(), tot.Publishes.Load())
	}
	if tot.BytesRead.Load() != int64(len(s.data)) || tot.AllocMalloc.Load() != tot.AllocFree.Load() || tot.AllocMalloc.Load() == 0 {
		t.Fatalf("ingest totals: read %d (file %d), malloc %d, free %d", tot.BytesRead.Load(), len(s.data), tot.AllocMalloc.Load(), tot.AllocFree.Load())
	}
	if d.res.Reader.BytesCopied != 0 {
		t.Fatalf("the reader copied %d bytes", d.res.Reader.BytesCopied)
	}
	if got := h.Protocols(); len(got) != 1 || got[0] != "flv" {
		t.Fatalf("protocols %v", got)
	}
}

// TestCutSignals: at unpublish, a subscriber that caught up ends with
// io.EOF and is not cut (so it can finish its output cleanly); one still
// behind when CloseWait runs out is cut; one that caught up but still holds
// its last frame (a writer blocked on a stalled peer) is cut half-way
// through the frame wait, and once it lets go the allocator ends balanced.
func TestCutSignals(t *testing.T) {
	s := clip(t)
	const closeWait = 200 * time.Millisecond
	h, _ := newHub(t, hub.Options{CloseWait: closeWait})
	st, err := h.Publish(context.Background(), req("live/cut"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := flvpub.New(st, s.data, flvpub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	caughtUp, _ := h.Subscribe("live/cut")
	behind, _ := h.Subscribe("live/cut")
	holder, _ := h.Subscribe("live/cut")
	defer behind.Close()
	defer holder.Close()
	for range 20 {
		if _, err := p.Step(); err != nil {
			t.Fatal(err)
		}
	}
	// Take everything published so far (Next with a cancelled context does
	// not block); keep the last frame.
	polled, cancel := context.WithCancel(context.Background())
	cancel()
	takeAll := func(sub *hub.Subscriber) *host.Frame {
		var last *host.Frame
		for {
			f, err := sub.Next(polled)
			if err != nil {
				return last
			}
			if last != nil {
				last.Release()
			}
			last = f
		}
	}
	if f := takeAll(caughtUp); f != nil {
		f.Release()
	}
	held := takeAll(holder) // caught up, but keeps its last frame
	if held == nil {
		t.Fatal("holder got no frame")
	}
	// behind reads nothing.

	start := time.Now()
	eof := make(chan error, 1)
	go func() { // a clean finisher: EOF, then it leaves
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := caughtUp.Next(ctx)
		caughtUp.Close()
		eof <- err
	}()
	cutAfter := make(chan time.Duration, 1)
	go func() {
		<-holder.Cut()
		cutAfter <- time.Since(start)
		held.Release()
	}()
	if err := p.Close(nil).Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-eof; err != io.EOF {
		t.Fatalf("caught-up subscriber: %v, want io.EOF", err)
	}
	select {
	case <-caughtUp.Cut():
		t.Error("the caught-up subscriber was cut")
	default:
	}
	select {
	case <-behind.Cut():
	default:
		t.Error("the subscriber left behind was not cut")
	}
	select {
	case d := <-cutAfter:
		if d < closeWait {
			t.Errorf("the holder was cut after %v, before the catch-up wait (%v) was over", d, closeWait)
		}
	default:
		t.Error("the holder was never cut")
	}
}
