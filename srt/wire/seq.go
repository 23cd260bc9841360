package wire

// SeqMask is the 31-bit sequence number space of SRT data packets (the top
// bit of the first header word is the control flag). Message numbers and
// ACK numbers use their own widths.
const SeqMask = 0x7FFFFFFF

// seqThreshold is libsrt's m_iSeqNoTH, half the
// sequence space: two sequence numbers this far apart or further are taken
// to have wrapped (libsrt's CSeqNo::seqoff compares with < threshold).
const seqThreshold = 0x3FFFFFFF

// SeqAdd returns s advanced by n (which may be negative), wrapped into the
// 31-bit sequence space.
func SeqAdd(s uint32, n int32) uint32 {
	return (s + uint32(n)) & SeqMask
}

// SeqInc returns the sequence number following s.
func SeqInc(s uint32) uint32 {
	return (s + 1) & SeqMask
}

// SeqDiff returns b - a, the signed distance from a to b across the
// wrap: SeqDiff(0x7FFFFFFF, 0) is 1. Numbers whose plain difference is
// half the space or more are taken to have wrapped, exactly as libsrt's
// CSeqNo::seqoff does (so SeqDiff(0, 0x3FFFFFFF) is negative).
func SeqDiff(a, b uint32) int32 {
	d := int64(b&SeqMask) - int64(a&SeqMask)
	switch {
	case d < seqThreshold && d > -seqThreshold:
	case d > 0:
		d -= SeqMask + 1
	default:
		d += SeqMask + 1
	}
	return int32(d)
}

// SeqLess reports whether a comes before b in the wrapped 31-bit space.
func SeqLess(a, b uint32) bool {
	return SeqDiff(a, b) > 0
}

// SeqCmp returns -1, 0 or 1 as a is before, equal to or after b in the
// wrapped 31-bit space.
func SeqCmp(a, b uint32) int {
	d := SeqDiff(a, b)
	switch {
	case d > 0:
		return -1
	case d < 0:
		return 1
	}
	return 0
}
