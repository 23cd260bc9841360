package codec

// Limits on peer-controlled counts. Each says what it protects against.
// Rejections are reported as *limit.LimitError naming the constant.
const (
	// MaxNALUsPerFrame caps the NAL units SplitAVCC accepts in one access
	// unit (empty ones included). HEVC level 6.2 allows at most 600 slice
	// segments per picture and H.264 levels are of the same order; with
	// parameter sets, SEI and AUDs a real frame stays far below this. The cap
	// bounds how far a hostile frame of tiny NAL units can grow the caller's
	// Span slice (16 bytes each) and how long the split loop runs.
	MaxNALUsPerFrame = 1024

	// MaxParameterSets caps the entries kept per list (VPS, SPS, PPS, SEI) of
	// one decoder configuration record. H.265 allows at most 16 VPS, 16 SPS
	// and 64 PPS; encoders send one or two of each. The wire counts go up to
	// 65535 (HEVC numNalus), so without the cap a small record could make us
	// grow a slice per zero-length entry.
	MaxParameterSets = 64
)
