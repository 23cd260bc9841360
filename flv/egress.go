package flv

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// nalLengthSize is the NAL unit length prefix AppendFrameBody writes, and
// the LengthSize of the records VideoSequenceHeaderBody derives.
const nalLengthSize = 4

// maxCTS is the largest composition time the 24-bit signed field holds.
const maxCTS = 1<<23 - 1

// AppendFrameBody appends the FLV tag body of f (the RTMP message body) to
// pieces as a list of slices for one vectored write, and returns the grown
// scratch and pieces and the body's size in bytes. It is the one FLV
// framing shared by HTTP-FLV and RTMP play, for every frame format:
//
//   - host.FormatFLV: f.Payload's own buffers, unchanged.
//   - host.FormatUnits H.264: the legacy AVC packet header (frame type and
//     codec id 7, AVCPacketType 1, the composition time PTS-DTS in ms,
//     clamped to [0, 2^23-1]), then per NAL unit a 4-byte big-endian length
//     and the unit itself.
//   - host.FormatUnits H.265: the same with the Enhanced RTMP header
//     (FourCC 'hvc1', CodedFrames with the composition time, or
//     CodedFramesX when it is 0).
//   - host.FormatUnits AAC: the legacy AAC header 0xAF 0x01, then the
//     access unit.
//
// Access unit delimiters (H.264 type 9, H.265 type 35) are left out: FLV
// does not use them. In-band parameter sets and SEI stay.
//
// Headers and lengths are appended to scratch and the pieces point into
// it; the media bytes are pieces that alias f.Payload (a unit spanning
// several payload buffers becomes several pieces): nothing is copied.
// Reuse scratch and pieces across frames (pass them back sliced to 0):
// once they have grown to the largest frame, nothing is allocated. Keep
// them per subscriber: the pieces stop being valid when scratch is next
// appended to or f is released.
//
// The timestamp of the tag itself (its DTS in ms) is the caller's. Errors
// report a codec or format FLV cannot carry, or a body larger than
// MaxDataSize (a *limit.LimitError); pieces is then returned unchanged.
func AppendFrameBody(scratch []byte, pieces [][]byte, f *host.Frame) ([]byte, [][]byte, int, error) {
	n0 := len(pieces)
	switch f.Format {
	case host.FormatFLV:
		if f.Payload.Size > MaxDataSize {
			return scratch, pieces, 0, dataSizeError(f.Payload.Size)
		}
		for _, b := range f.Payload.Buffers {
			if len(b) > 0 {
				pieces = append(pieces, b)
			}
		}
		return scratch, pieces, f.Payload.Size, nil
	case host.FormatUnits:
	default:
		return scratch, pieces, 0, fmt.Errorf("flv: frame format %d cannot be sent as FLV", f.Format)
	}
	start := len(scratch)
	var err error
	switch f.Codec {
	case codec.AAC:
		scratch = AppendAACHeader(scratch, false)
	case codec.H264, codec.H265:
		ft := FrameInter
		if f.Keyframe {
			ft = FrameKey
		}
		// Differences of truncated milliseconds, so a reader adding CTS to
		// the tag's DTS gets f.PTS truncated to milliseconds.
		cts := int64(f.PTS/time.Millisecond - f.DTS/time.Millisecond)
		cts = min(max(cts, 0), maxCTS)
		v := VideoTag{Codec: f.Codec, FrameType: ft, PacketType: PacketFrame, CTS: int32(cts), Enhanced: f.Codec == codec.H265}
		if scratch, err = AppendVideoHeader(scratch, v); err != nil {
			return scratch[:start], pieces, 0, err
		}
	default:
		return scratch, pieces, 0, fmt.Errorf("flv: %v frames cannot be sent as FLV", f.Codec)
	}
	size := len(scratch) - start
	pieces = append(pieces, scratch[start:len(scratch):len(scratch)])
	audio := f.Codec == codec.AAC
	for _, u := range f.Units {
		if u.Len <= 0 || u.Off < 0 || u.End() > f.Payload.Size {
			clear(pieces[n0:])
			return scratch[:start], pieces[:n0], 0, fmt.Errorf("flv: unit %+v outside a %d-byte payload", u, f.Payload.Size)
		}
		if audio {
			pieces = codec.AppendSpan(pieces, &f.Payload, u)
			size += u.Len
			continue
		}
		if isAUD(f.Codec, codec.ByteAt(&f.Payload, u.Off)) {
			continue
		}
		at := len(scratch)
		scratch = append(scratch, byte(u.Len>>24), byte(u.Len>>16), byte(u.Len>>8), byte(u.Len))
		pieces = append(pieces, scratch[at:at+nalLengthSize:at+nalLengthSize])
		pieces = codec.AppendSpan(pieces, &f.Payload, u)
		size += nalLengthSize + u.Len
	}
	if size > MaxDataSize {
		clear(pieces[n0:])
		return scratch[:start], pieces[:n0], 0, dataSizeError(size)
	}
	return scratch, pieces, size, nil
}

// isAUD reports whether a NAL unit whose first byte is header is an access
// unit delimiter.
func isAUD(c codec.Codec, header byte) bool {
	if c == codec.H265 {
		return codec.H265Type(header) == codec.H265AUD
	}
	return codec.H264Type(header) == codec.H264AUD
}
