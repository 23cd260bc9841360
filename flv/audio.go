package flv

import (
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
)

// AudioPacketType says what an audio tag body carries, normalised over the
// legacy AACPacketType and the Enhanced RTMP AudioPacketType.
type AudioPacketType uint8

// Audio packet types.
const (
	// AudioRaw: coded audio at DataOffset (legacy AAC raw, enhanced
	// CodedFrames, and the whole body after the first byte for legacy
	// formats other than AAC).
	AudioRaw AudioPacketType = iota
	// AudioSequenceHeader: the codec configuration at DataOffset, the
	// AudioSpecificConfig for AAC (legacy AACPacketType 0, enhanced
	// SequenceStart).
	AudioSequenceHeader
	// AudioSequenceEnd: no data (enhanced SequenceEnd).
	AudioSequenceEnd
	// AudioMultichannelConfig: an Enhanced RTMP channel layout at DataOffset.
	AudioMultichannelConfig
	// AudioSilence: an empty body, which RTMP uses to signal silence.
	AudioSilence
)

func (p AudioPacketType) String() string {
	switch p {
	case AudioRaw:
		return "Raw"
	case AudioSequenceHeader:
		return "SequenceHeader"
	case AudioSequenceEnd:
		return "SequenceEnd"
	case AudioMultichannelConfig:
		return "MultichannelConfig"
	case AudioSilence:
		return "Silence"
	}
	return fmt.Sprintf("AudioPacketType(%d)", uint8(p))
}

// Sound formats of the legacy header.
const (
	SoundFormatExHeader = 9 // Enhanced RTMP: a FourCC follows
	SoundFormatAAC      = 10
)

// Enhanced RTMP audio packet types.
const (
	exAudioSequenceStart      = 0
	exAudioCodedFrames        = 1
	exAudioSequenceEnd        = 2
	exAudioMultichannelConfig = 4
	exAudioMultitrack         = 5
)

// AudioTag is the decoded header of an audio tag body.
type AudioTag struct {
	Codec       codec.Codec // AAC, or Unknown
	SoundFormat uint8       // the legacy SoundFormat nibble (10 AAC, 2 MP3, 9 enhanced, ...)
	// SoundRate, SoundSize and SoundType are the legacy flag bits (for AAC
	// always 3, 1, 1; the real parameters are in the AudioSpecificConfig).
	// They are 0 for enhanced bodies.
	SoundRate, SoundSize, SoundType uint8
	PacketType                      AudioPacketType
	// DataOffset is where the data starts within the body: the
	// AudioSpecificConfig for AudioSequenceHeader, a raw AAC frame for
	// AudioRaw.
	DataOffset int

	Enhanced            bool   // the body uses the Enhanced RTMP header
	FourCC              FourCC // the Enhanced RTMP FourCC
	TimestampNanoOffset uint32 // the Enhanced RTMP ModEx TimestampOffsetNano
}

// ParseAudio decodes the header of an audio tag body (an RTMP audio message
// body). The body may be split over m's buffers anywhere; m is only read.
//
// Sound format 10 (AAC) carries AACPacketType 0 (AudioSpecificConfig) or 1
// (raw). Other legacy formats yield Codec Unknown and AudioRaw with
// DataOffset 1, without error. Enhanced RTMP bodies (sound format 9) are
// decoded for every FourCC ('mp4a' is AAC). An empty body is AudioSilence.
// Errors wrap ErrTruncated, ErrUnsupported (Multitrack), or report a
// reserved packet type.
func ParseAudio(m *gomem.Memory) (AudioTag, error) {
	var a AudioTag
	r := newBodyReader(m)
	b0, ok := r.u8()
	if !ok {
		a.PacketType = AudioSilence
		return a, nil
	}
	a.SoundFormat = b0 >> 4
	if a.SoundFormat != SoundFormatExHeader {
		a.SoundRate, a.SoundSize, a.SoundType = b0>>2&3, b0>>1&1, b0&1
		a.PacketType = AudioRaw
		if a.SoundFormat == SoundFormatAAC {
			a.Codec = codec.AAC
			pt, ok := r.u8()
			if !ok {
				return a, fmt.Errorf("flv: AAC packet type: %w", ErrTruncated)
			}
			switch pt {
			case 0:
				a.PacketType = AudioSequenceHeader
			case 1:
			default:
				return a, fmt.Errorf("flv: reserved AAC packet type %d", pt)
			}
		}
		a.DataOffset = r.pos
		return a, nil
	}
	a.Enhanced = true
	pt, nano, err := modEx(&r, b0&0x0f, "audio")
	if err != nil {
		return a, err
	}
	a.TimestampNanoOffset = nano
	switch pt {
	case exAudioSequenceStart:
		a.PacketType = AudioSequenceHeader
	case exAudioCodedFrames:
		a.PacketType = AudioRaw
	case exAudioSequenceEnd:
		a.PacketType = AudioSequenceEnd
	case exAudioMultichannelConfig:
		a.PacketType = AudioMultichannelConfig
	case exAudioMultitrack:
		return a, fmt.Errorf("flv: enhanced audio Multitrack: %w", ErrUnsupported)
	default:
		return a, fmt.Errorf("flv: reserved enhanced audio packet type %d", pt)
	}
	f, ok := r.be(4)
	if !ok {
		return a, fmt.Errorf("flv: enhanced audio FourCC: %w", ErrTruncated)
	}
	a.FourCC = FourCC(f)
	if a.FourCC == FourCCAAC {
		a.Codec = codec.AAC
	}
	a.DataOffset = r.pos
	return a, nil
}

// AppendAudioHeader appends the tag body header that ParseAudio decodes
// into a (everything before DataOffset) to dst. a.DataOffset is ignored.
// Legacy AAC headers carry SoundRate/SoundSize/SoundType as given (use
// AppendAACHeader for the conventional 0xAF). Enhanced headers use FourCC,
// or 'mp4a' when Codec is AAC and FourCC is 0.
func AppendAudioHeader(dst []byte, a AudioTag) ([]byte, error) {
	if a.PacketType == AudioSilence {
		return dst, nil
	}
	if !a.Enhanced {
		if a.SoundFormat > 15 || a.SoundFormat == SoundFormatExHeader || a.SoundRate > 3 || a.SoundSize > 1 || a.SoundType > 1 {
			return dst, fmt.Errorf("flv: legacy audio flags out of range")
		}
		if a.TimestampNanoOffset != 0 {
			return dst, fmt.Errorf("flv: legacy audio header cannot carry a nanosecond offset")
		}
		dst = append(dst, a.SoundFormat<<4|a.SoundRate<<2|a.SoundSize<<1|a.SoundType)
		if a.SoundFormat != SoundFormatAAC {
			if a.PacketType != AudioRaw {
				return dst, fmt.Errorf("flv: legacy sound format %d carries only raw audio", a.SoundFormat)
			}
			return dst, nil
		}
		switch a.PacketType {
		case AudioSequenceHeader:
			return append(dst, 0), nil
		case AudioRaw:
			return append(dst, 1), nil
		}
		return dst, fmt.Errorf("flv: legacy AAC cannot carry %v", a.PacketType)
	}
	var pt uint8
	switch a.PacketType {
	case AudioSequenceHeader:
		pt = exAudioSequenceStart
	case AudioRaw:
		pt = exAudioCodedFrames
	case AudioSequenceEnd:
		pt = exAudioSequenceEnd
	case AudioMultichannelConfig:
		pt = exAudioMultichannelConfig
	default:
		return dst, fmt.Errorf("flv: cannot encode audio %v", a.PacketType)
	}
	fourCC := a.FourCC
	if fourCC == 0 {
		if a.Codec != codec.AAC {
			return dst, fmt.Errorf("flv: no FourCC for codec %v", a.Codec)
		}
		fourCC = FourCCAAC
	}
	first := byte(SoundFormatExHeader << 4)
	if a.TimestampNanoOffset != 0 {
		if a.TimestampNanoOffset >= 1<<24 {
			return dst, fmt.Errorf("flv: nanosecond offset %d does not fit 24 bits", a.TimestampNanoOffset)
		}
		dst = append(dst, first|modExPacketType)
		dst = appendModExNano(dst, a.TimestampNanoOffset, pt)
	} else {
		dst = append(dst, first|pt)
	}
	return appendFourCC(dst, fourCC), nil
}

// AppendAACHeader appends the conventional 2-byte legacy AAC body header
// (0xAF: AAC, 44 kHz, 16-bit, stereo flags; then the AACPacketType).
func AppendAACHeader(dst []byte, sequenceHeader bool) []byte {
	if sequenceHeader {
		return append(dst, 0xaf, 0)
	}
	return append(dst, 0xaf, 1)
}
