package flv

import (
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
)

// FrameType is the video frame type of a tag body's first byte.
type FrameType uint8

// Video frame types.
const (
	FrameKey          FrameType = 1 // a seekable frame (IDR/IRAP for AVC/HEVC)
	FrameInter        FrameType = 2
	FrameDisposable   FrameType = 3 // H.263 only
	FrameGeneratedKey FrameType = 4 // reserved for server use
	FrameCommand      FrameType = 5 // video info/command frame, no video data
)

// IsKey reports whether f is a key frame (1) or a generated key frame (4).
func (f FrameType) IsKey() bool { return f == FrameKey || f == FrameGeneratedKey }

// PacketType says what a video tag body carries, normalised over the legacy
// AVCPacketType and the Enhanced RTMP VideoPacketType.
type PacketType uint8

// Video packet types.
const (
	// PacketSequenceHeader: a decoder configuration record (legacy
	// AVCPacketType 0, enhanced SequenceStart) at DataOffset.
	PacketSequenceHeader PacketType = iota
	// PacketFrame: coded frame data at DataOffset, length-prefixed NAL units
	// for AVC/HEVC (legacy AVCPacketType 1, enhanced CodedFrames and
	// CodedFramesX). Also used for legacy codecs other than AVC/HEVC, whose
	// data starts right after the first byte.
	PacketFrame
	// PacketEndOfSequence: no data (legacy AVCPacketType 2, enhanced
	// SequenceEnd).
	PacketEndOfSequence
	// PacketMetadata: AMF-encoded metadata such as HDR information
	// (enhanced Metadata).
	PacketMetadata
	// PacketMPEG2TSSequenceStart: a codec configuration carried as in
	// MPEG-2 TS (enhanced MPEG2TSSequenceStart, used by AV1).
	PacketMPEG2TSSequenceStart
	// PacketCommand: a video info/command frame; VideoTag.Command holds the
	// command (0 start of client-side seeking, 1 end) and no data follows.
	PacketCommand
)

func (p PacketType) String() string {
	switch p {
	case PacketSequenceHeader:
		return "SequenceHeader"
	case PacketFrame:
		return "Frame"
	case PacketEndOfSequence:
		return "EndOfSequence"
	case PacketMetadata:
		return "Metadata"
	case PacketMPEG2TSSequenceStart:
		return "MPEG2TSSequenceStart"
	case PacketCommand:
		return "Command"
	}
	return fmt.Sprintf("PacketType(%d)", uint8(p))
}

// Legacy video codec ids.
const (
	CodecIDAVC  = 7
	CodecIDHEVC = 12 // not in Adobe's spec: the extension Chinese CDNs and ffmpeg forks use
)

// Enhanced RTMP video packet types.
const (
	exSequenceStart        = 0
	exCodedFrames          = 1
	exSequenceEnd          = 2
	exCodedFramesX         = 3
	exMetadata             = 4
	exMPEG2TSSequenceStart = 5
	exMultitrack           = 6
)

// VideoTag is the decoded header of a video tag body.
type VideoTag struct {
	Codec      codec.Codec // H264, H265, AV1, VP9, or Unknown
	FrameType  FrameType
	PacketType PacketType
	// CTS is the composition time offset in milliseconds (PTS - DTS),
	// from the 24-bit signed field of legacy AVC/HEVC tags and of enhanced
	// CodedFrames for avc1/hvc1; 0 otherwise.
	CTS int32
	// DataOffset is where the data starts within the body: the decoder
	// configuration record for PacketSequenceHeader, the length-prefixed
	// NAL units for PacketFrame (pass it to codec.SplitAVCC).
	DataOffset int

	Enhanced bool   // the body uses the Enhanced RTMP header (IsExHeader)
	CodecID  uint8  // the legacy codec id; 0 when Enhanced
	FourCC   FourCC // the Enhanced RTMP FourCC; 0 when legacy or for a command
	Command  uint8  // the command when PacketType is PacketCommand
	// TimestampNanoOffset is the Enhanced RTMP ModEx TimestampOffsetNano,
	// in nanoseconds to add to the tag timestamp.
	TimestampNanoOffset uint32
}

// ParseVideo decodes the header of a video tag body (an RTMP video message
// body). The body may be split over m's buffers anywhere; m is only read.
//
// Legacy bodies with codec id 7 (AVC) or 12 (HEVC) carry AVCPacketType and a
// composition time; other legacy codec ids yield Codec Unknown and
// PacketFrame with DataOffset 1, without error. Enhanced RTMP bodies
// (IsExHeader) are decoded for every FourCC, including ModEx entries;
// unknown FourCCs yield Codec Unknown. Errors wrap ErrTruncated when the
// body is shorter than its header, ErrUnsupported for Multitrack, or report
// a reserved packet type.
func ParseVideo(m *gomem.Memory) (VideoTag, error) {
	var v VideoTag
	r := newBodyReader(m)
	b0, ok := r.u8()
	if !ok {
		return v, fmt.Errorf("flv: empty video tag body: %w", ErrTruncated)
	}
	if b0&0x80 == 0 {
		return v, parseLegacyVideo(&r, b0, &v)
	}
	v.Enhanced = true
	v.FrameType = FrameType(b0 >> 4 & 7)
	pt, nano, err := modEx(&r, b0&0x0f, "video")
	if err != nil {
		return v, err
	}
	v.TimestampNanoOffset = nano
	if pt != exMetadata && v.FrameType == FrameCommand {
		if v.Command, ok = r.u8(); !ok {
			return v, fmt.Errorf("flv: enhanced video command: %w", ErrTruncated)
		}
		v.PacketType = PacketCommand
		v.DataOffset = r.pos
		return v, nil
	}
	switch pt {
	case exSequenceStart:
		v.PacketType = PacketSequenceHeader
	case exCodedFrames, exCodedFramesX:
		v.PacketType = PacketFrame
	case exSequenceEnd:
		v.PacketType = PacketEndOfSequence
	case exMetadata:
		v.PacketType = PacketMetadata
	case exMPEG2TSSequenceStart:
		v.PacketType = PacketMPEG2TSSequenceStart
	case exMultitrack:
		return v, fmt.Errorf("flv: enhanced video Multitrack: %w", ErrUnsupported)
	default:
		return v, fmt.Errorf("flv: reserved enhanced video packet type %d", pt)
	}
	f, ok := r.be(4)
	if !ok {
		return v, fmt.Errorf("flv: enhanced video FourCC: %w", ErrTruncated)
	}
	v.FourCC = FourCC(f)
	switch v.FourCC {
	case FourCCAVC:
		v.Codec = codec.H264
	case FourCCHEVC:
		v.Codec = codec.H265
	case FourCCAV1:
		v.Codec = codec.AV1
	case FourCCVP9:
		v.Codec = codec.VP9
	}
	if pt == exCodedFrames && (v.FourCC == FourCCAVC || v.FourCC == FourCCHEVC) {
		cts, ok := r.be(3)
		if !ok {
			return v, fmt.Errorf("flv: enhanced video composition time: %w", ErrTruncated)
		}
		v.CTS = si24(cts)
	}
	v.DataOffset = r.pos
	return v, nil
}

func parseLegacyVideo(r *bodyReader, b0 byte, v *VideoTag) error {
	v.FrameType = FrameType(b0 >> 4)
	v.CodecID = b0 & 0x0f
	switch v.CodecID {
	case CodecIDAVC:
		v.Codec = codec.H264
	case CodecIDHEVC:
		v.Codec = codec.H265
	}
	if v.FrameType == FrameCommand {
		c, ok := r.u8()
		if !ok {
			return fmt.Errorf("flv: video command: %w", ErrTruncated)
		}
		v.Command, v.PacketType, v.DataOffset = c, PacketCommand, r.pos
		return nil
	}
	if v.Codec == codec.Unknown {
		v.PacketType, v.DataOffset = PacketFrame, r.pos
		return nil
	}
	pt, ok := r.u8()
	if !ok {
		return fmt.Errorf("flv: %v packet type: %w", v.Codec, ErrTruncated)
	}
	cts, ok := r.be(3)
	if !ok {
		return fmt.Errorf("flv: %v composition time: %w", v.Codec, ErrTruncated)
	}
	switch pt {
	case 0:
		v.PacketType = PacketSequenceHeader
	case 1:
		v.PacketType = PacketFrame
	case 2:
		v.PacketType = PacketEndOfSequence
	default:
		return fmt.Errorf("flv: reserved %v packet type %d", v.Codec, pt)
	}
	v.CTS = si24(cts)
	v.DataOffset = r.pos
	return nil
}

// AppendVideoHeader appends the tag body header that ParseVideo decodes
// into v (everything before DataOffset) to dst, for building FLV/RTMP video
// bodies on egress. v.DataOffset is ignored.
//
// Legacy headers (Enhanced false) use CodecID, or 7/12 when CodecID is 0
// and Codec is H264 or H265. Enhanced headers use FourCC, or the FourCC of
// Codec when FourCC is 0; a PacketFrame is written as CodedFramesX when CTS
// is 0 and as CodedFrames otherwise, and a non-zero TimestampNanoOffset as a
// ModEx entry. It fails for values the format cannot carry.
func AppendVideoHeader(dst []byte, v VideoTag) ([]byte, error) {
	if v.CTS < -1<<23 || v.CTS >= 1<<23 {
		return dst, fmt.Errorf("flv: composition time %d does not fit 24 bits", v.CTS)
	}
	if !v.Enhanced {
		return appendLegacyVideo(dst, v)
	}
	if v.FrameType > 7 {
		return dst, fmt.Errorf("flv: frame type %d does not fit 3 bits", v.FrameType)
	}
	var pt uint8
	switch v.PacketType {
	case PacketSequenceHeader:
		pt = exSequenceStart
	case PacketFrame:
		pt = exCodedFramesX
		if v.CTS != 0 {
			pt = exCodedFrames
		}
	case PacketEndOfSequence:
		pt = exSequenceEnd
	case PacketMetadata:
		pt = exMetadata
	case PacketMPEG2TSSequenceStart:
		pt = exMPEG2TSSequenceStart
	case PacketCommand:
		pt = exCodedFrames // any type but Metadata; the command replaces the FourCC
	default:
		return dst, fmt.Errorf("flv: cannot encode video %v", v.PacketType)
	}
	// A command frame type turns every packet type but Metadata into a
	// command.
	if (v.PacketType == PacketCommand) != (v.FrameType == FrameCommand && v.PacketType != PacketMetadata) {
		return dst, fmt.Errorf("flv: enhanced %v with frame type %d", v.PacketType, v.FrameType)
	}
	fourCC := v.FourCC
	if fourCC == 0 {
		switch v.Codec {
		case codec.H264:
			fourCC = FourCCAVC
		case codec.H265:
			fourCC = FourCCHEVC
		case codec.AV1:
			fourCC = FourCCAV1
		case codec.VP9:
			fourCC = FourCCVP9
		default:
			if v.PacketType != PacketCommand {
				return dst, fmt.Errorf("flv: no FourCC for codec %v", v.Codec)
			}
		}
	}
	if pt == exCodedFrames && v.PacketType == PacketFrame && fourCC != FourCCAVC && fourCC != FourCCHEVC {
		return dst, fmt.Errorf("flv: %v frames carry no composition time", fourCC)
	}
	first := 0x80 | byte(v.FrameType)<<4
	if v.TimestampNanoOffset != 0 {
		if v.TimestampNanoOffset >= 1<<24 {
			return dst, fmt.Errorf("flv: nanosecond offset %d does not fit 24 bits", v.TimestampNanoOffset)
		}
		dst = append(dst, first|modExPacketType)
		dst = appendModExNano(dst, v.TimestampNanoOffset, pt)
	} else {
		dst = append(dst, first|pt)
	}
	if v.PacketType == PacketCommand {
		return append(dst, v.Command), nil
	}
	dst = appendFourCC(dst, fourCC)
	if pt == exCodedFrames {
		dst = appendBE24(dst, uint32(v.CTS))
	}
	return dst, nil
}

func appendLegacyVideo(dst []byte, v VideoTag) ([]byte, error) {
	if v.FrameType > 7 || v.CodecID > 15 {
		return dst, fmt.Errorf("flv: frame type %d / codec id %d out of range", v.FrameType, v.CodecID)
	}
	if v.TimestampNanoOffset != 0 {
		return dst, fmt.Errorf("flv: legacy video header cannot carry a nanosecond offset")
	}
	id := v.CodecID
	if id == 0 {
		switch v.Codec {
		case codec.H264:
			id = CodecIDAVC
		case codec.H265:
			id = CodecIDHEVC
		}
	}
	dst = append(dst, byte(v.FrameType)<<4|id)
	if v.FrameType == FrameCommand || v.PacketType == PacketCommand {
		if v.FrameType != FrameCommand || v.PacketType != PacketCommand {
			return dst, fmt.Errorf("flv: legacy %v with frame type %d", v.PacketType, v.FrameType)
		}
		return append(dst, v.Command), nil
	}
	if id != CodecIDAVC && id != CodecIDHEVC {
		if v.PacketType != PacketFrame || v.CTS != 0 {
			return dst, fmt.Errorf("flv: legacy codec id %d carries only frames", id)
		}
		return dst, nil
	}
	var pt byte
	switch v.PacketType {
	case PacketSequenceHeader:
		pt = 0
	case PacketFrame:
		pt = 1
	case PacketEndOfSequence:
		pt = 2
	default:
		return dst, fmt.Errorf("flv: legacy video cannot carry %v", v.PacketType)
	}
	dst = append(dst, pt)
	return appendBE24(dst, uint32(v.CTS)), nil
}
