// Package codec holds pure helpers for the codecs zerocopy carries: views of
// NAL units inside pooled multi-buffer payloads (Span, SplitAVCC), decoder
// configuration records (AVCDecoderConfigurationRecord,
// HEVCDecoderConfigurationRecord), the AAC AudioSpecificConfig, and NAL type
// helpers.
//
// Nothing here copies payload bytes. Functions that take a *gomem.Memory
// only read it; Spans are offsets into it and stay meaningful exactly as long
// as the Memory's ranges are owned by whoever holds them. The hot-path calls
// (SplitAVCC, ByteAt, RangeSpan, AppendSpan, the keyframe checks) do not
// allocate when the caller's destination slices have capacity. Configuration
// parsers work on a contiguous []byte (sequence headers are small control
// data) and return sub-slices that alias it.
package codec

import "errors"

// ErrTruncated reports input that ends before the structure it describes:
// a NAL unit longer than the bytes left, a config record cut short.
var ErrTruncated = errors.New("codec: truncated input")

// Codec identifies a media codec.
type Codec uint8

// Codecs. AV1 and VP9 are recognised (for example from an Enhanced RTMP
// FourCC) but have no parsers here.
const (
	Unknown Codec = iota
	H264
	H265
	AAC
	AV1
	VP9
)

// String returns the codec's conventional name.
func (c Codec) String() string {
	switch c {
	case H264:
		return "H264"
	case H265:
		return "H265"
	case AAC:
		return "AAC"
	case AV1:
		return "AV1"
	case VP9:
		return "VP9"
	}
	return "unknown"
}

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == H264 || c == H265 || c == AV1 || c == VP9 }

// IsAudio reports whether c is an audio codec.
func (c Codec) IsAudio() bool { return c == AAC }
