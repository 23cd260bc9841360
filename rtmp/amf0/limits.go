package amf0

// Limits on what one decode may build. AMF0 lengths (strings, long strings)
// are checked against the bytes actually present before anything is
// allocated, and counts (strict array, ECMA array) are never used to
// pre-size anything, so allocation stays proportional to the input.
const (
	// MaxDepth bounds container nesting (objects, ECMA arrays, strict
	// arrays, typed objects). It blocks stack exhaustion from deeply nested
	// input: gortmplib's decoder, which has no such cap, overflows the stack
	// on a few megabytes of "03 00 00" repeated.
	MaxDepth = 32

	// MaxValues bounds the number of values (every property value and array
	// element, nested ones included) that one Decode or DecodeAll builds. A
	// one-byte null costs 16 bytes as a Value, so it caps the memory
	// amplification of a message full of tiny values; real commands and
	// metadata (even with a keyframe index) stay far below it.
	MaxValues = 1 << 16
)
