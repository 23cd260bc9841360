package rtp

import "time"

// TicksToDuration converts ticks of a rate-Hz clock to a duration without
// floating point and without overflow for any int64 tick count a stream can
// reach (whole seconds and the remainder are converted apart). The result
// is truncated toward zero to the nanosecond.
func TicksToDuration(ticks int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(ticks/r)*time.Second + time.Duration(ticks%r*int64(time.Second)/r)
}

// DurationToTicks is the inverse of TicksToDuration, rounded to the nearest
// tick, so DurationToTicks(TicksToDuration(t, r), r) == t for every rate up
// to 500 MHz.
func DurationToTicks(d time.Duration, rate int) int64 {
	r := int64(rate)
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	half := int64(time.Second / 2)
	if rem < 0 {
		half = -half
	}
	return sec*r + (rem*r+half)/int64(time.Second)
}

// NTPToDuration converts a 64-bit NTP timestamp (seconds since 1900 in the
// high word, a binary fraction in the low word) to a duration since 1900.
func NTPToDuration(ntp uint64) time.Duration {
	sec, frac := int64(ntp>>32), int64(ntp&0xffffffff)
	return time.Duration(sec)*time.Second + time.Duration(frac*int64(time.Second)>>32)
}

// DurationToNTP is the inverse of NTPToDuration (to within a nanosecond).
func DurationToNTP(d time.Duration) uint64 {
	sec, rem := uint64(d/time.Second), uint64(d%time.Second)
	return sec<<32 | ((rem<<32)+uint64(time.Second)-1)/uint64(time.Second)
}

// ntpUnixOffset is the NTP time of the Unix epoch.
const ntpUnixOffset = 2208988800 * time.Second

// NTPTime returns the NTP timestamp of t, for sender reports.
func NTPTime(t time.Time) uint64 {
	return DurationToNTP(time.Duration(t.UnixNano()) + ntpUnixOffset)
}

// Clock turns one track's 32-bit RTP timestamps into durations from the
// track's first packet. It unwraps the 32-bit counter (a step of less than
// 2^31 ticks either way is taken as forward or backward, so wraps and
// reordered packets both come out right) and converts with integer
// arithmetic, so no drift accumulates over long streams.
//
// A sender report's (NTP, RTP) pair anchors the track to the sender's wall
// clock; two anchored tracks of one session can then be put on one timeline
// with Offset. A Clock is used on one goroutine.
type Clock struct {
	rate    int
	started bool
	last    uint32 // last timestamp seen
	ext     int64  // last, unwrapped, relative to the first packet

	anchored bool
	start    time.Duration // NTP time (since 1900) of the first packet
	pending  bool          // an anchor arrived before the first packet
	pendNTP  uint64
	pendTS   uint32
}

// NewClock returns a clock for a rate-Hz RTP clock (90000 for video, the
// sample rate for audio). rate must be positive.
func NewClock(rate int) *Clock {
	if rate <= 0 {
		panic("rtp: NewClock with a non-positive rate")
	}
	return &Clock{rate: rate}
}

// Rate returns the clock rate in Hz.
func (c *Clock) Rate() int { return c.rate }

// Duration returns the time of ts since the first timestamp this clock
// saw (which is 0), unwrapping across 32-bit wraps. A timestamp behind the
// previous one (reordering) yields an earlier time, possibly negative.
func (c *Clock) Duration(ts uint32) time.Duration {
	if !c.started {
		c.started, c.last, c.ext = true, ts, 0
		if c.pending {
			c.pending = false
			c.Anchor(c.pendNTP, c.pendTS)
		}
		return 0
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return TicksToDuration(c.ext, c.rate)
}

// Peek is Duration without recording ts: the time ts would map to now.
// Before the first packet it returns 0.
func (c *Clock) Peek(ts uint32) time.Duration {
	if !c.started {
		return 0
	}
	return TicksToDuration(c.ext+int64(int32(ts-c.last)), c.rate)
}

// Anchor records a sender report's NTP timestamp and the RTP timestamp of
// the same instant. The latest anchor wins (sender clocks drift a little).
func (c *Clock) Anchor(ntp uint64, rtpTS uint32) {
	if !c.started {
		c.pending, c.pendNTP, c.pendTS = true, ntp, rtpTS
		return
	}
	c.anchored = true
	c.start = NTPToDuration(ntp) - c.Peek(rtpTS)
}

// Start returns the sender's NTP wall-clock time (as a duration since 1900)
// of this track's first packet, once a sender report has anchored the clock
// and a packet has arrived.
func (c *Clock) Start() (ntp time.Duration, ok bool) {
	return c.start, c.anchored
}

// Offset returns how much to add to track c's times to put them on track
// ref's timeline (both from one sender, so one NTP clock): the difference
// of their first packets' wall-clock times. ok is false until both are
// anchored.
func Offset(ref, c *Clock) (d time.Duration, ok bool) {
	if !ref.anchored || !c.anchored {
		return 0, false
	}
	return c.start - ref.start, true
}
