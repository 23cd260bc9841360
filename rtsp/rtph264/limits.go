package rtph264

// Limits on peer-controlled sizes. Each names the abuse it blocks. The
// access-unit limits (size, ranges, units) live in package rtp, which
// enforces them for every payload format.
const (
	// MaxSPSSize caps the in-band SPS this package copies to parse (for the
	// reorder depth): a real SPS is under 100 bytes; a huge fake one must not
	// cost a large copy per keyframe.
	MaxSPSSize = 512
)
