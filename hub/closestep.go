package hub

import (
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Closing is a publisher's Close run in steps by the goroutine that owns
// its frames, for an owner that serves other streams too and must not
// block for CloseWait (the RTSP server's shared UDP goroutine, which
// reads every UDP publisher's datagrams into one allocator). It does
// what Close does, in the same order and with the same bounds, but never
// waits: each Step checks the clock and the frames given back so far and
// returns at once.
//
// Only the owning goroutine may call BeginClose and Step (they free
// payloads: FramePool.Reclaim is owner-only), and it calls Step until it
// reports done, typically on a timer tick.
type Closing struct {
	s     *Stream
	phase int // 0: subscribers catching up; 1: waiting for frames
	catch time.Time
	grace time.Time
	end   time.Time
	cut   int
}

// BeginClose starts closing s without waiting: it ends the publish (the
// context is cancelled with reason, the path is free for the next
// publisher, subscribers see the end once they have read everything) and
// returns the steps that remain (a *Closing; the result is an interface
// literal so that plugins behind the host seam can ask for the method
// without importing hub). The caller must not write to s again.
func (s *Stream) BeginClose(reason error) interface{ Step() (done, free bool) } {
	s.cancel(reason)
	if s.current != nil {
		s.frames.Discard(s.current)
		s.current = nil
	}
	s.hub.unpublish(s)
	return &Closing{s: s, catch: time.Now().Add(s.hub.opts.CloseWait)}
}

// Step advances the close and reports whether it is over; free is then
// what Close would have returned (false: frames are still held by readers
// and the allocator must be abandoned, not recycled). It never blocks.
func (c *Closing) Step() (done, free bool) {
	s := c.s
	now := time.Now()
	if c.phase == 0 {
		if now.Before(c.catch) && !s.subscribersDone() {
			return false, false
		}
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
				sub.cut = true
				sub.signalCutLocked()
			}
		}
		s.wakeLocked()
		s.mu.Unlock()
		for _, f := range held {
			f.Release()
		}
		c.phase = 1
		c.grace = now.Add(s.hub.opts.CloseWait / 2)
		c.end = now.Add(s.hub.opts.CloseWait)
	}
	if s.frames == nil {
		return c.finish(true)
	}
	s.frames.Reclaim()
	if s.frames.Outstanding() == 0 {
		return c.finish(true)
	}
	if !now.Before(c.grace) && c.cut == 0 {
		// As Close does half-way: cut every subscriber that may hold a
		// frame (one waiting for a reconnect holds none).
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
		c.cut = max(c.cut, 1)
	}
	if now.Before(c.end) {
		return false, false
	}
	s.hub.log.Error("stream closed with frames still held by subscribers after the close wait; its allocator must be abandoned, not recycled",
		"path", s.path, "framesHeld", s.frames.Outstanding(), "closeWait", s.hub.opts.CloseWait)
	return c.finish(false)
}

func (c *Closing) finish(free bool) (bool, bool) {
	c.s.hub.finishClose(c.s)
	return true, free
}
