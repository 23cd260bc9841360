package hub

import (
	"context"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// catchUpPoll is how often a blocking Close looks at its subscribers while
// they catch up: they report no progress, and a few milliseconds of
// end-of-stream latency is cheaper than a wake-up per frame they read.
const catchUpPoll = 5 * time.Millisecond

// Closing is a publisher's close in steps, run by the goroutine that owns
// its frames. It is the one implementation of closing a stream: Close
// drives it to the end and sleeps between steps; an owner that serves
// other streams too and must not block for CloseWait (the RTSP server's
// shared UDP goroutine, which reads every UDP publisher's datagrams into
// one allocator) calls Step itself, typically on a timer tick. Each Step
// checks the clock and the frames given back so far and returns at once.
//
// The close runs in two phases, each bounded by CloseWait:
//  1. Subscribers catch up (read everything published). Then the ring's
//     references are dropped, and subscribers still behind are cut.
//  2. Readers give every frame back. Half-way through, every subscriber
//     that may still hold one is cut (one that waits for a reconnect holds
//     none and is kept); when the wait ends, frames still held make the
//     close report not free.
//
// Only the owning goroutine may call BeginClose and Step (they free
// payloads: FramePool.Reclaim is owner-only), and it calls Step until it
// reports done.
type Closing struct {
	s      *Stream
	phase  int       // 0: subscribers catching up; 1: waiting for frames
	catch  time.Time // end of phase 0
	grace  time.Time // phase 1: cut the subscribers that hold frames
	end    time.Time // phase 1: give up on the frames still held
	cutAll bool      // the half-way cut is done
	cut    int       // subscribers the half-way cut ended, for the log
}

// BeginClose starts closing s without waiting: it ends the publish (the
// context is cancelled with reason, the path is free for the next
// publisher, subscribers see the end once they have read everything) and
// returns the steps that remain (a *Closing; the result is an interface
// literal so that plugins behind the host seam can ask for the method
// without importing hub). The caller must not write to s again.
func (s *Stream) BeginClose(reason error) interface{ Step() (done, free bool) } {
	return s.beginClose(reason)
}

func (s *Stream) beginClose(reason error) *Closing {
	s.cancel(reason)
	if s.current != nil {
		s.frames.Discard(s.current)
		s.current = nil
	}
	s.hub.unpublish(s)
	return &Closing{s: s, catch: time.Now().Add(s.hub.opts.CloseWait)}
}

// Step advances the close and reports whether it is over; free then
// reports whether the allocator is balanced and may be recycled (false:
// frames are still held by readers and the allocator must be abandoned,
// not recycled). It never blocks.
func (c *Closing) Step() (done, free bool) {
	s := c.s
	now := time.Now()
	if c.phase == 0 {
		if now.Before(c.catch) && !s.subscribersDone() {
			return false, false
		}
		c.dropRing()
		c.phase = 1
		c.grace = now.Add(s.hub.opts.CloseWait / 2)
		c.end = now.Add(s.hub.opts.CloseWait)
	}
	if s.frames == nil {
		return c.finish(true)
	}
	// Also after the wait: a frame given back just as it ended is not a
	// leak.
	s.frames.Reclaim()
	if s.frames.Outstanding() == 0 {
		return c.finish(true)
	}
	if !now.Before(c.grace) && !c.cutAll {
		c.cutHolders()
	}
	if now.Before(c.end) {
		return false, false
	}
	s.hub.log.Error("stream closed with frames still held by subscribers after the close wait; its allocator must be abandoned, not recycled",
		"path", s.path, "framesHeld", s.frames.Outstanding(), "closeWait", s.hub.opts.CloseWait, "subscribersCut", c.cut)
	return c.finish(false)
}

// dropRing empties the ring once subscribers caught up (or CloseWait ran
// out) and cuts the subscribers still behind.
func (c *Closing) dropRing() {
	s := c.s
	s.mu.Lock()
	held := make([]*host.Frame, 0, s.seq-s.tail)
	for ; s.tail < s.seq; s.tail++ {
		i := s.tail % uint64(len(s.ring))
		held = append(held, s.ring[i])
		s.ring[i] = nil
	}
	s.ringBytes = 0
	for sub := range s.subs {
		if sub.next.Load() < s.seq {
			// Fell behind: it gets io.EOF, and its writer should give up now.
			sub.cut = true
			sub.signalCutLocked()
		}
	}
	s.wakeLocked()
	s.mu.Unlock()
	for _, f := range held {
		f.Release()
	}
}

// cutHolders runs half-way through the wait for frames: it cuts off every
// subscriber that may hold one, such as one that had caught up but is
// blocked writing its last frame to a stalled peer. A subscriber blocked
// in Next while the stream waits for a reconnect holds none
// (host.Subscriber: release before the next Next) and is kept.
func (c *Closing) cutHolders() {
	s := c.s
	s.mu.Lock()
	for sub := range s.subs {
		if s.awaiting && sub.waiting.Load() {
			continue
		}
		sub.cut = true
		sub.signalCutLocked()
		c.cut++
	}
	s.wakeLocked()
	s.mu.Unlock()
	c.cutAll = true
}

// wait blocks until the next Step may make progress: for a while
// (catchUpPoll) while subscribers catch up, then until every frame is
// back or the next deadline of the wait for them (the half-way cut, then
// the end). Only Close, which may block, calls it.
func (c *Closing) wait() {
	s := c.s
	if c.phase == 0 {
		time.Sleep(max(0, min(catchUpPoll, time.Until(c.catch))))
		return
	}
	if s.frames == nil {
		return
	}
	until := c.end
	if !c.cutAll {
		until = c.grace
	}
	ctx, cancel := context.WithDeadline(context.Background(), until)
	defer cancel()
	// FramePool.Close frees the frames given back as they arrive and
	// returns once all are back or ctx ends; Step then sees which.
	_ = s.frames.Close(ctx)
}

func (c *Closing) finish(free bool) (bool, bool) {
	c.s.hub.finishClose(c.s)
	return true, free
}
