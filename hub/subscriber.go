package hub

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/zcingest/zerocopy/host"
)

// Subscriber reads one stream's frames in order on its own goroutine.
type Subscriber struct {
	s      *Stream
	notify chan struct{}
	next   atomic.Uint64 // sequence number of the next frame to deliver
	// waitKey: deliver nothing until a video keyframe (join or drop).
	waitKey   bool
	configVer uint64
	cut       bool          // guarded by s.mu: the stream ended before we caught up
	cutCh     chan struct{} // closed by signalCutLocked
	cutSent   bool          // guarded by s.mu: cutCh is closed
	drops     int64
	delivered int64
}

func (s *Stream) subscribe() (*Subscriber, error) {
	sub := &Subscriber{s: s, notify: make(chan struct{}, 1), cutCh: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, io.EOF
	}
	// Join at the newest keyframe still in the ring; without one, wait for
	// the next keyframe (audio-only streams start at once).
	if s.hasKey && s.seq-s.lastKey <= uint64(len(s.ring)) {
		sub.next.Store(s.lastKey)
	} else {
		sub.next.Store(s.seq)
		sub.waitKey = s.hasVideo
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

// Configs returns the stream's codec configuration and whether it changed
// since the last call (true on the first call when any is set).
func (sub *Subscriber) Configs() (video host.VideoConfig, audio host.AudioConfig, changed bool) {
	s := sub.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	changed = s.configVer != sub.configVer
	sub.configVer = s.configVer
	return s.video, s.audio, changed
}

// Next blocks until the next frame and returns it with a reference the
// caller must Release. It returns io.EOF when the stream has ended and the
// subscriber has had every frame it could get, or ctx's error.
func (sub *Subscriber) Next(ctx context.Context) (*host.Frame, error) {
	s := sub.s
	for {
		s.mu.RLock()
		f, skipped := sub.pickLocked()
		cut, closed := sub.cut, s.closed
		s.mu.RUnlock()
		if skipped > 0 {
			sub.drops += skipped
			s.drops.Add(skipped)
			s.totals.Drops.Add(skipped)
		}
		if f != nil {
			sub.delivered++
			s.totals.FramesOut.Add(1)
			return f, nil
		}
		if cut || (closed && sub.next.Load() >= sub.seqNow()) {
			return nil, io.EOF
		}
		select {
		case <-sub.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (sub *Subscriber) seqNow() uint64 {
	sub.s.mu.RLock()
	defer sub.s.mu.RUnlock()
	return sub.s.seq
}

// pickLocked returns the next deliverable frame (retained) and how many
// frames were skipped because the subscriber fell behind the ring.
func (sub *Subscriber) pickLocked() (*host.Frame, int64) {
	s := sub.s
	var skipped int64
	ringLen := uint64(len(s.ring))
	next := sub.next.Load()
	if s.seq > ringLen && next < s.seq-ringLen {
		// Overrun: everything before the ring's tail is gone. Move to the
		// newest keyframe, or wait for the next one.
		old := next
		if s.hasKey && s.lastKey >= s.seq-ringLen {
			next = s.lastKey
		} else {
			next = s.seq
			sub.waitKey = true
		}
		skipped = int64(next - old)
	}
	for next < s.seq {
		f := s.ring[next%ringLen]
		if f == nil { // cleared by Close
			break
		}
		next++
		if sub.waitKey {
			if f.Kind != host.Video || !f.Keyframe {
				continue
			}
			sub.waitKey = false
		}
		f.Retain()
		sub.next.Store(next)
		return f, skipped
	}
	sub.next.Store(next)
	return nil, skipped
}

// Cut returns a channel that is closed when the stream has ended and
// stopped waiting for this subscriber: it had not caught up when CloseWait
// ran out, or it was still attached while the unpublish waited for frames
// to come back. A writer blocked on a slow peer should give up then and
// release its frame, so the publisher can free its memory. A subscriber
// that caught up gets io.EOF from Next without being cut, so it can finish
// its output cleanly.
func (sub *Subscriber) Cut() <-chan struct{} { return sub.cutCh }

func (sub *Subscriber) signalCutLocked() {
	if !sub.cutSent {
		sub.cutSent = true
		close(sub.cutCh)
	}
}

// Drops is how many frames this subscriber lost by falling behind.
func (sub *Subscriber) Drops() int64 { return sub.drops }

// Close leaves the stream. Frames already returned by Next must still be
// released by the caller.
func (sub *Subscriber) Close() {
	s := sub.s
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

// Metadata implements host.Subscriber.
func (sub *Subscriber) Metadata() []byte {
	sub.s.mu.RLock()
	defer sub.s.mu.RUnlock()
	return sub.s.metadata
}
