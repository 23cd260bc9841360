package hub

import (
	"context"
	"io"
	"maps"
	"sync/atomic"

	"github.com/zcingest/zerocopy/host"
)

// Subscriber reads one stream's frames in order on its own goroutine.
//
// With ReconnectWait, a subscriber outlives its stream: when the publisher
// ends it waits (in Next) for another to publish the same path and then
// reads the new stream, so s changes. Every field the subscriber's
// goroutine reads under a stream's lock is written by others only while
// they hold that stream's lock exclusively (a move holds both streams').
type Subscriber struct {
	s      atomic.Pointer[Stream] // the stream it reads (or waits in)
	notify chan struct{}
	next   atomic.Uint64 // sequence number of the next frame to deliver
	// waitKey: deliver nothing until a video keyframe (join, drop or move).
	waitKey   bool
	configVer uint64
	cut       bool          // guarded by s.mu: Next returns io.EOF at once
	cutCh     chan struct{} // closed by signalCutLocked
	cutSent   bool          // guarded by s.mu: cutCh is closed
	waiting   atomic.Bool   // blocked in Next (so holding no frame it was given)
	drops     atomic.Int64
	delivered int64
	egress    atomic.Pointer[host.EgressStats] // latest ReportEgress, Extra owned
}

// movedConfigVer makes the next Configs report a change after a move to
// another stream, whatever that stream's own version counter says.
const movedConfigVer = ^uint64(0)

// subscribe attaches a new subscriber: to a live stream at its newest
// keyframe, or to a stream whose subscribers wait for a reconnect.
func (s *Stream) subscribe() (*Subscriber, error) {
	sub := &Subscriber{notify: make(chan struct{}, 1), cutCh: make(chan struct{})}
	sub.s.Store(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && !s.awaiting {
		return nil, io.EOF
	}
	// Join at the newest keyframe still in the ring; without one, wait for
	// the next keyframe (audio-only streams start at once).
	if s.hasKey && s.lastKey >= s.tail {
		sub.next.Store(s.lastKey)
	} else {
		sub.next.Store(s.seq)
		sub.waitKey = s.hasVideo || (s.wait != nil && s.wait.video)
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

// attachMovedLocked makes sub, coming from a stream that ended, read s
// from s's first keyframe when the ring still holds it, else from its
// newest, else from the next one. Both streams' locks are held.
func (s *Stream) attachMovedLocked(sub *Subscriber, hadVideo bool) {
	sub.s.Store(s)
	sub.configVer = movedConfigVer
	sub.waitKey = false
	switch {
	case s.hasFirstKey && s.firstKey >= s.tail:
		sub.next.Store(s.firstKey)
	case s.hasKey && s.lastKey >= s.tail:
		sub.next.Store(s.lastKey)
	default:
		sub.next.Store(s.seq)
		sub.waitKey = s.hasVideo || hadVideo || (s.wait != nil && s.wait.video)
	}
	s.subs[sub] = struct{}{}
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}

// lockStream locks the stream sub currently belongs to (read lock when
// read is set) and returns it; sub cannot move while it is held.
func (sub *Subscriber) lockStream(read bool) *Stream {
	for {
		s := sub.s.Load()
		if read {
			s.mu.RLock()
		} else {
			s.mu.Lock()
		}
		if sub.s.Load() == s {
			return s
		}
		if read {
			s.mu.RUnlock()
		} else {
			s.mu.Unlock()
		}
	}
}

// Configs returns the stream's codec configuration and whether it changed
// since the last call (true on the first call when any is set, and after
// the subscriber moved to a returning publisher's stream).
func (sub *Subscriber) Configs() (video host.VideoConfig, audio host.AudioConfig, changed bool) {
	s := sub.lockStream(true)
	defer s.mu.RUnlock()
	changed = s.configVer != sub.configVer
	sub.configVer = s.configVer
	return s.video, s.audio, changed
}

// Next blocks until the next frame and returns it with a reference the
// caller must Release, before it calls Next again. It returns io.EOF when
// the stream has ended and the subscriber has had every frame it could get
// (with ReconnectWait: and no publisher returned in time), when the
// subscriber was cut, or ctx's error.
func (sub *Subscriber) Next(ctx context.Context) (*host.Frame, error) {
	for {
		s := sub.lockStream(true)
		if sub.cut {
			s.mu.RUnlock()
			return nil, io.EOF
		}
		f := sub.pickLocked(s)
		end := f == nil && s.closed && !s.awaiting && sub.next.Load() >= s.seq
		s.mu.RUnlock()
		if f != nil {
			sub.delivered++
			s.totals.FramesOut.Add(1)
			return f, nil
		}
		if end {
			return nil, io.EOF
		}
		sub.waiting.Store(true)
		select {
		case <-sub.notify:
			sub.waiting.Store(false)
		case <-ctx.Done():
			sub.waiting.Store(false)
			return nil, ctx.Err()
		}
	}
}

// pickLocked returns the next deliverable frame (retained), or nil. s is
// sub's stream, read-locked.
func (sub *Subscriber) pickLocked(s *Stream) *host.Frame {
	next := sub.next.Load()
	if next < s.tail && s.tail < s.seq {
		// The publisher moves laggards on as it evicts; this only covers
		// a subscriber it could not see.
		sub.overrunLocked(s)
		next = sub.next.Load()
	}
	ringLen := uint64(len(s.ring))
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
		return f
	}
	sub.next.Store(next)
	return nil
}

// overrunLocked moves a subscriber that fell behind the ring's tail to the
// newest keyframe still in the ring (or to the next one) and counts the
// frames it skips as drops, now, exactly once: its position only moves
// forward. Called by the publisher under the write lock as it evicts.
func (sub *Subscriber) overrunLocked(s *Stream) {
	old := sub.next.Load()
	next := s.seq
	if s.hasKey && s.lastKey >= s.tail {
		next = s.lastKey
		sub.waitKey = false
	} else {
		sub.waitKey = s.hasVideo
	}
	sub.next.Store(next)
	if n := int64(next - old); n > 0 {
		sub.drops.Add(n)
		s.drops.Add(n)
		s.totals.Drops.Add(n)
	}
}

// Cut returns a channel that is closed when the host stops waiting for
// this subscriber: the stream ended and it had not caught up when
// CloseWait ran out, or it was still attached (and not blocked in Next)
// while the unpublish waited for frames to come back, or the hub closed.
// A writer blocked on a slow peer should give up then and release its
// frame, so the publisher can free its memory. A subscriber that caught
// up gets io.EOF from Next without being cut, so it can finish its output
// cleanly.
func (sub *Subscriber) Cut() <-chan struct{} { return sub.cutCh }

func (sub *Subscriber) signalCutLocked() {
	if !sub.cutSent {
		sub.cutSent = true
		close(sub.cutCh)
	}
}

// Drops is how many frames this subscriber lost by falling behind. They
// are counted when the publisher evicts them, not when the subscriber
// next reads.
func (sub *Subscriber) Drops() int64 { return sub.drops.Load() }

// ReportEgress implements host.EgressReporter: the stream's Info lists
// the player with st until it closes. st.Extra is copied (the caller may
// reuse its map); the copy is replaced whole by the next report, never
// written into, so Info may hand it out.
func (sub *Subscriber) ReportEgress(st host.EgressStats) {
	st.Extra = maps.Clone(st.Extra)
	sub.egress.Store(&st)
}

// Close leaves the stream. Frames already returned by Next must still be
// released by the caller.
func (sub *Subscriber) Close() {
	s := sub.lockStream(false)
	delete(s.subs, sub)
	s.mu.Unlock()
}

// Metadata implements host.Subscriber.
func (sub *Subscriber) Metadata() []byte {
	s := sub.lockStream(true)
	defer s.mu.RUnlock()
	return s.metadata
}
