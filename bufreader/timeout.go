package bufreader

import "time"

// SetReadTimeout replaces Options.ReadTimeout; 0 disables the timeout and
// clears any deadline the reader armed. A protocol uses it when a
// connection changes role, for example an RTMP player, which legitimately
// sends nothing for long stretches.
func (r *Reader) SetReadTimeout(d time.Duration) {
	if r.deadline != nil && d <= 0 {
		_ = r.deadline.SetReadDeadline(time.Time{})
	}
	r.timeout = d
	r.deadline = nil
	if d > 0 {
		r.deadline, _ = r.src.(deadliner)
	}
	r.timed = r.deadline != nil
	r.armedAt = time.Time{}
}
