package hub_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
	"github.com/zcingest/zerocopy/pool"
)

// TestPoisonCatchesUseAfterRelease shows that the byte-for-byte payload
// checks of the other tests would catch a reader of recycled memory: in a
// zcdebug build, once a released frame has been reclaimed by the publisher,
// a stale view of its payload reads as poison, not as media.
// poison is pool.Poison (defined only in zcdebug builds).
const poison = 0xDB

func TestPoisonCatchesUseAfterRelease(t *testing.T) {
	if !pool.Debug {
		t.Skip("needs -tags zcdebug")
	}
	s := clip(t)
	h, _ := newHub(t, hub.Options{RingSize: 2})
	st, err := h.Publish(context.Background(), req("live/p"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := flvpub.New(st, s.data, flvpub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(nil).Err(); err != nil {
			t.Error(err)
		}
	}()
	sub, err := h.Subscribe("live/p")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // script, two sequence headers, the first frame
		if _, err := p.Step(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := sub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	var scratch []byte
	if err := s.checkAt(f, 0, 0, &scratch); err != nil {
		t.Fatal(err)
	}
	stale := f.Payload.Buffers[0] // a view kept past Release: the bug to catch
	f.Release()
	// The 2-slot ring drops its reference after two more frames, and the
	// write after that reclaims the frame and frees (poisons) its payload.
	for i := range 6 {
		if _, err := p.Step(); err != nil {
			t.Fatal(err)
		}
		if bytes.Count(stale, []byte{poison}) == len(stale) {
			if bytes.Equal(stale, s.media[0].Payload[:len(stale)]) {
				t.Fatal("poisoned bytes compare equal to the source")
			}
			t.Logf("after %d more writes the stale view (%d bytes) reads as poison", i+1, len(stale))
			return
		}
	}
	t.Fatalf("the released frame's payload was not poisoned: % x", stale[:min(16, len(stale))])
}
