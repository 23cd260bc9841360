package hub_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
)

// TestOnDemandPublishesForWaitingPlayers: a player asking for a path that
// nothing publishes triggers the OnDemand handler once, even with several
// players waiting, and every player gets the stream the handler starts.
func TestOnDemandPublishesForWaitingPlayers(t *testing.T) {
	var calls atomic.Int32
	var h *hub.Hub
	started := make(chan *synth, 1)
	h, _ = newHub(t, hub.Options{SubscribeWait: 5 * time.Second, OnDemand: func(path string) bool {
		if path != "live/cam" {
			return false
		}
		if calls.Add(1) == 1 {
			go func() {
				time.Sleep(100 * time.Millisecond) // a pull takes a moment to connect
				started <- publishSynth(t, h, path, 7)
			}()
		}
		return true
	}})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, err := h.SubscribeWait(context.Background(), "live/cam", 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			f, err := sub.Next(ctx)
			if err == nil {
				f.Release()
			}
			sub.Close()
			errs <- err
		}()
	}
	p := <-started
	// Let every player join before frames flow, so each gets the keyframe.
	deadline := time.Now().Add(5 * time.Second)
	for p.st.Subscribers() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.media(0, 500*time.Millisecond, 500*time.Millisecond, 1000)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("player: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("OnDemand called %d times for one path, want 1", n)
	}
	p.close(nil)
	// A path no handler serves is refused after the wait, as before.
	if _, err := h.SubscribeWait(context.Background(), "live/none", 200*time.Millisecond); err == nil {
		t.Error("subscribe to a path nobody publishes succeeded")
	}
}

// TestOnDemandAgainAfterThePullEnds: once an on-demand publish has come and
// gone, the next player asking for the path starts a new attempt at once
// (not after the previous attempt's subscribe wait).
func TestOnDemandAgainAfterThePullEnds(t *testing.T) {
	var calls atomic.Int32
	var h *hub.Hub
	h, _ = newHub(t, hub.Options{SubscribeWait: 10 * time.Second, OnDemand: func(path string) bool {
		calls.Add(1)
		go func() {
			// A pull: it publishes until its last player has left.
			p := publishSynth(t, h, path, 9)
			deadline := time.Now().Add(5 * time.Second)
			for p.st.Subscribers() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			p.media(0, 200*time.Millisecond, 200*time.Millisecond, 100)
			for p.st.Subscribers() > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			p.close(nil)
		}()
		return true
	}})
	for i := range 2 {
		start := time.Now()
		sub, err := h.SubscribeWait(context.Background(), "live/cam", 3*time.Second)
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		f, err := sub.Next(ctx) // frames flow once the pull sees its player
		cancel()
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
		f.Release()
		sub.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("player %d waited %v for its on-demand publish", i, d)
		}
		// Wait for that publish to end before the next player asks.
		deadline := time.Now().Add(5 * time.Second)
		for h.Stream("live/cam") != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("OnDemand called %d times, want 2 (one per player after the previous pull ended)", n)
	}
}
