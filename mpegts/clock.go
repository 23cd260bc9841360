package mpegts

import "time"

const (
	mask33    = 1<<33 - 1
	clockRate = 90000
)

// signed33 interprets a 33-bit difference as signed.
func signed33(d int64) int64 {
	d &= mask33
	if d >= 1<<32 {
		d -= 1 << 33
	}
	return d
}

func ticks(d time.Duration) int64 {
	return int64(d/time.Second)*clockRate + int64(d%time.Second)*clockRate/int64(time.Second)
}

func duration(t int64) time.Duration {
	return time.Duration(t/clockRate)*time.Second + time.Duration(t%clockRate)*time.Second/clockRate
}

// tsClock unwraps the 33-bit 90 kHz timestamps of all followed streams on
// one shared timeline, so audio and video stay in sync across the wrap and
// across rebases. Streams interleave within a second or two, far below the
// 2^32-tick (13 h) ambiguity, so each value is unwrapped against the latest
// one seen on any stream.
type tsClock struct {
	started bool
	lastRaw int64 // latest 33-bit value
	ext     int64 // its unwrapped, rebased value; 0 is the first timestamp
	disc    bool  // a discontinuity was signalled (flag or PCR jump)
}

// extend returns the timeline position of raw and whether it rebased: a
// step beyond MaxTimestampJump, or after a signalled discontinuity a
// backward step or one beyond MaxFlaggedStep, continues the timeline from
// where it was instead of jumping.
func (c *tsClock) extend(raw int64) (int64, bool) {
	raw &= mask33
	if !c.started {
		c.started, c.lastRaw, c.ext, c.disc = true, raw, 0, false
		return 0, false
	}
	d := signed33(raw - c.lastRaw)
	maxJump := ticks(MaxTimestampJump)
	rebase := d > maxJump || d < -maxJump || c.disc && (d < 0 || d > ticks(MaxFlaggedStep))
	c.disc = false
	if rebase {
		d = 0
	}
	c.lastRaw = raw
	c.ext += d
	return c.ext, rebase
}

// stamp sets s's timestamps from a PES header's raw PTS and DTS (equal
// when the header has no DTS), keeping the stream's DTS monotonic and
// non-negative.
func (d *Demuxer) stamp(s *stream, ptsRaw, dtsRaw int64) {
	ext, rebased := d.clock.extend(dtsRaw)
	if rebased {
		d.stats.Discontinuities++
	}
	off := signed33(ptsRaw - dtsRaw)
	if off < 0 || off > ticks(MaxPTSDelay) {
		off = 0
	}
	dts, pts := duration(ext), duration(ext+off)
	if dts < 0 { // before the first timestamp seen (another stream's)
		pts -= dts
		dts = 0
	}
	if s.started && dts < s.lastDTS {
		delta := s.lastDTS - dts
		dts += delta
		pts += delta
	}
	s.dts, s.pts, s.started, s.lastDTS = dts, pts, true, dts
}

// notePCR marks a discontinuity when the PCR steps by more than
// MaxPCRStep.
//
// The first PCR, when it comes before any PES timestamp (as it does from
// conforming muxers, which put it in the first video packet), is the
// timeline's zero: every DTS arrives after the PCR of its packet, so audio
// and video both start at or after zero and keep their offset. Without it
// the first timestamp seen is zero, and a stream starting earlier is
// clamped to zero for its first frames.
func (d *Demuxer) notePCR(base int64) {
	if !d.clock.started {
		d.clock.started, d.clock.lastRaw = true, base&mask33
	}
	if d.havePCR {
		if st := signed33(base - d.lastPCR); st > ticks(MaxPCRStep) || st < -ticks(MaxPCRStep) {
			d.clock.disc = true
		}
	}
	d.lastPCR, d.havePCR = base, true
}
