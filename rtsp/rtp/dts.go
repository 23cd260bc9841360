package rtp

import "time"

// DTSStep is the decode-time step DTSDeriver gives the first frames of a
// stream, before a reorder window of real presentation times exists. It is
// one millisecond so that FLV's millisecond timestamps still tell them apart
// while shifting the track by at most MaxReorderDepth ms.
const DTSStep = time.Millisecond

// DTSDeriver derives decode timestamps for a video track whose RTP packets
// carry only presentation times (RTP has no DTS, but FLV and MPEG-TS need
// one when B-frames reorder pictures).
//
// Method: with a reorder depth of N pictures (H.264 max_num_reorder_frames,
// H.265 sps_max_num_reorder_pics), picture i of the decode order is
// presented no earlier than position i-N of the presentation order. So once
// N+1 pictures have arrived, the smallest presentation time not yet used is
// a valid decode time: DTS(i) is the (i-N)-th smallest PTS, which is <=
// PTS(i) and strictly increasing. The window holds N+1 times in a fixed
// array, so nothing is allocated. The first N pictures have no such time
// yet; they get the first PTS minus (N-i) DTSSteps, and every PTS is
// shifted by N DTSSteps at the start so those stay >= 0.
//
// Limits: the method is exact when the declared depth is right and the
// stream starts at a picture nothing earlier is presented after (an IDR).
// A stream that reorders deeper than declared, or leading pictures that are
// presented before the random access point they follow, produce a picture
// whose PTS is not above the previous DTS; Next then reports !ok (the caller
// drops that picture, which no decoder joining there could use anyway) and
// deepens the window by one, so the stream corrects itself. DTS is
// additionally clamped to be strictly increasing (by 1 ns at least).
type DTSDeriver struct {
	depth    int
	shift    time.Duration
	count    int64
	first    time.Duration
	prev     time.Duration
	pending  [MaxReorderDepth + 1]time.Duration // sorted ascending
	np       int
	Deepened int64 // times a misordered picture deepened the window
}

// SetDepth sets the reorder depth, clamped to [0, MaxReorderDepth]. Called
// before the first picture it also fixes the start shift.
func (d *DTSDeriver) SetDepth(n int) {
	n = max(0, min(n, MaxReorderDepth))
	d.depth = n
	if d.count == 0 {
		d.shift = time.Duration(n) * DTSStep
	}
}

// Depth returns the reorder depth in use.
func (d *DTSDeriver) Depth() int { return d.depth }

// Next takes the next picture's presentation time (in decode order) and
// returns the shifted PTS and its DTS. ok is false when no DTS can be both
// <= PTS and above the previous DTS (see the type's doc).
func (d *DTSDeriver) Next(pts time.Duration) (outPTS, dts time.Duration, ok bool) {
	pts += d.shift
	i := d.count
	if i == 0 {
		d.first = pts
	}
	// insert pts, keeping the window sorted; a full window loses its minimum
	if d.np == len(d.pending) {
		copy(d.pending[:], d.pending[1:])
		d.np--
	}
	k := d.np
	for k > 0 && d.pending[k-1] > pts {
		d.pending[k] = d.pending[k-1]
		k--
	}
	d.pending[k] = pts
	d.np++
	var cand time.Duration
	switch {
	case d.np > d.depth:
		for d.np > d.depth+1 { // the depth shrank: forget the oldest
			d.pop()
		}
		cand = d.pop()
	case i < int64(d.depth):
		cand = d.first - time.Duration(int64(d.depth)-i)*DTSStep
	default: // the depth grew: no time is free yet
		cand = d.prev + 1
	}
	cand = min(cand, pts)
	if i > 0 && cand <= d.prev {
		cand = d.prev + 1
	}
	if cand > pts {
		d.remove(pts)
		d.Deepened++
		d.SetDepth(d.depth + 1)
		return pts, 0, false
	}
	d.count++
	d.prev = cand
	return pts, cand, true
}

func (d *DTSDeriver) pop() time.Duration {
	v := d.pending[0]
	copy(d.pending[:], d.pending[1:d.np])
	d.np--
	return v
}

func (d *DTSDeriver) remove(v time.Duration) {
	for k := 0; k < d.np; k++ {
		if d.pending[k] == v {
			copy(d.pending[k:], d.pending[k+1:d.np])
			d.np--
			return
		}
	}
}
