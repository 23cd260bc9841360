package rtp

// SeqResult classifies a packet's sequence number.
type SeqResult uint8

const (
	SeqNext      SeqResult = iota // the next number (or the first packet)
	SeqGap                        // ahead of the next: packets in between are missing
	SeqLate                       // behind the highest seen and not seen before: reordered
	SeqDuplicate                  // seen before
	SeqReset                      // too far from the last to relate: the sender restarted or jumped
)

func (r SeqResult) String() string {
	switch r {
	case SeqNext:
		return "next"
	case SeqGap:
		return "gap"
	case SeqLate:
		return "late"
	case SeqDuplicate:
		return "duplicate"
	case SeqReset:
		return "reset"
	}
	return "?"
}

// Seq tracks one SSRC's sequence numbers: it detects gaps, reordering within
// SeqWindow packets and duplicates, counts the lost packets (a late arrival
// within the window takes its loss back) and keeps the extended highest
// number for receiver reports. The zero value is ready.
type Seq struct {
	started  bool
	max      uint16
	cycles   uint32 // wraps of max, shifted left by 16
	received uint64 // bit i: max-i has arrived
	lost     int64
	packets  int64
}

// Update records sequence number n and classifies it. missing is the count
// of numbers skipped over (SeqGap only).
func (s *Seq) Update(n uint16) (r SeqResult, missing int) {
	s.packets++
	if !s.started {
		s.started, s.max, s.received = true, n, 1
		return SeqNext, 0
	}
	d := n - s.max
	switch {
	case d == 0:
		return SeqDuplicate, 0
	case d < 0x8000: // forward
		if d > MaxSeqJump {
			s.restart(n)
			return SeqReset, 0
		}
		if n < s.max {
			s.cycles += 1 << 16
		}
		if d >= SeqWindow {
			s.received = 0
		} else {
			s.received <<= d
		}
		s.received |= 1
		s.max = n
		s.lost += int64(d - 1)
		if d == 1 {
			return SeqNext, 0
		}
		return SeqGap, int(d - 1)
	}
	back := s.max - n
	switch {
	case back < SeqWindow:
		bit := uint64(1) << back
		if s.received&bit != 0 {
			return SeqDuplicate, 0
		}
		s.received |= bit
		s.lost--
		return SeqLate, 0
	case back <= MaxSeqJump:
		return SeqLate, 0 // too old to tell: treat as a stale straggler
	}
	s.restart(n)
	return SeqReset, 0
}

func (s *Seq) restart(n uint16) {
	s.max, s.received = n, 1
}

// Lost returns the packets missing so far (late arrivals subtracted).
func (s *Seq) Lost() int64 { return s.lost }

// ExtendedMax returns the extended highest sequence number received (the
// wrap count in the high 16 bits), as a receiver report carries it.
func (s *Seq) ExtendedMax() uint32 { return s.cycles | uint32(s.max) }
