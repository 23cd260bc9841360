package hub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
)

// TestPublishTimeoutWithoutFrames: the watchdog counts a publisher's
// silence from the publish itself, so one that never sends a frame is
// ended too, and not before the timeout.
func TestPublishTimeoutWithoutFrames(t *testing.T) {
	const timeout = 150 * time.Millisecond
	h, _ := newHub(t, hub.Options{PublishTimeout: timeout})
	start := time.Now()
	st, err := h.Publish(context.Background(), req("live/mute"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.Context().Done():
	case <-time.After(20 * timeout):
		t.Fatal("a publisher that never sent a frame was not ended by the publish timeout")
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("publisher ended after %v, timeout %v", waited, timeout)
	}
	if c := context.Cause(st.Context()); !errors.Is(c, hub.ErrPublishTimeout) {
		t.Fatalf("cause %v, want hub.ErrPublishTimeout", c)
	}
	if !st.Close(context.Cause(st.Context())) {
		t.Fatal("allocator not free after close")
	}
}
