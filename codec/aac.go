package codec

import (
	"fmt"
)

// AAC audio object types (ISO/IEC 14496-3 Table 1.17) that matter here.
const (
	AACMain = 1
	AACLC   = 2
	AACSSR  = 3
	AACLTP  = 4
	AACSBR  = 5  // HE-AAC (explicit SBR signalling)
	AACPS   = 29 // HE-AACv2 (explicit PS signalling)
)

// aacSampleRates maps samplingFrequencyIndex 0..12 to Hz.
var aacSampleRates = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// AACSampleRate returns the rate of samplingFrequencyIndex idx (0..12), or
// 0 for a reserved or escape index.
func AACSampleRate(idx int) int {
	if idx < 0 || idx >= len(aacSampleRates) {
		return 0
	}
	return aacSampleRates[idx]
}

// AudioSpecificConfig is the part of an MPEG-4 AudioSpecificConfig (ISO/IEC
// 14496-3 1.6.2.1) a server needs: the body of an FLV/RTMP AAC sequence
// header.
type AudioSpecificConfig struct {
	// ObjectType is the core audio object type (2 = AAC-LC). With explicit
	// SBR/PS signalling (object type 5 or 29 on the wire) it is the
	// underlying core type and SBR (and PS) are set.
	ObjectType      int
	SampleRateIndex int // samplingFrequencyIndex: 0..12, or 15 when SampleRate was explicit
	SampleRate      int // core sampling rate in Hz
	ChannelConfig   int // channelConfiguration: 0 (described in-band) or 1..7
	FrameLength960  bool
	SBR, PS         bool
	ExtSampleRate   int // SBR output rate in Hz when SBR is set
}

// Channels returns the channel count of ChannelConfig, or 0 when the layout
// is described in-band (ChannelConfig 0) or reserved.
func (c *AudioSpecificConfig) Channels() int {
	switch {
	case c.ChannelConfig >= 1 && c.ChannelConfig <= 6:
		return c.ChannelConfig
	case c.ChannelConfig == 7:
		return 8
	}
	return 0
}

// ParseAudioSpecificConfig parses an AudioSpecificConfig.
func ParseAudioSpecificConfig(b []byte) (AudioSpecificConfig, error) {
	var c AudioSpecificConfig
	err := c.Unmarshal(b)
	return c, err
}

// bitReader reads MSB-first bits from a byte slice.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

// read returns the next n (<= 32) bits; the caller checks left() first.
func (r *bitReader) read(n int) int {
	v := 0
	for range n {
		v = v<<1 | int(r.b[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) objectType() (int, error) {
	if r.left() < 5 {
		return 0, fmt.Errorf("codec: AudioSpecificConfig object type cut short: %w", ErrTruncated)
	}
	t := r.read(5)
	if t == 31 {
		if r.left() < 6 {
			return 0, fmt.Errorf("codec: AudioSpecificConfig escaped object type cut short: %w", ErrTruncated)
		}
		t = 32 + r.read(6)
	}
	return t, nil
}

func (r *bitReader) sampleRate() (idx, hz int, err error) {
	if r.left() < 4 {
		return 0, 0, fmt.Errorf("codec: AudioSpecificConfig sampling frequency cut short: %w", ErrTruncated)
	}
	idx = r.read(4)
	switch {
	case idx == 15:
		if r.left() < 24 {
			return 0, 0, fmt.Errorf("codec: AudioSpecificConfig explicit sampling frequency cut short: %w", ErrTruncated)
		}
		hz = r.read(24)
		if hz == 0 {
			return 0, 0, fmt.Errorf("codec: AudioSpecificConfig explicit sampling frequency is 0")
		}
	case idx >= len(aacSampleRates):
		return 0, 0, fmt.Errorf("codec: AudioSpecificConfig reserved sampling frequency index %d", idx)
	default:
		hz = aacSampleRates[idx]
	}
	return idx, hz, nil
}

// Unmarshal parses an AudioSpecificConfig into c. Trailing bits (the rest
// of GASpecificConfig, backward-compatible SBR signalling) are ignored.
func (c *AudioSpecificConfig) Unmarshal(b []byte) error {
	*c = AudioSpecificConfig{}
	r := bitReader{b: b}
	aot, err := r.objectType()
	if err != nil {
		return err
	}
	if aot == 0 {
		return fmt.Errorf("codec: AudioSpecificConfig object type 0 (null)")
	}
	if c.SampleRateIndex, c.SampleRate, err = r.sampleRate(); err != nil {
		return err
	}
	if r.left() < 4 {
		return fmt.Errorf("codec: AudioSpecificConfig channel configuration cut short: %w", ErrTruncated)
	}
	c.ChannelConfig = r.read(4)
	if aot == AACSBR || aot == AACPS {
		c.SBR, c.PS = true, aot == AACPS
		if _, c.ExtSampleRate, err = r.sampleRate(); err != nil {
			return err
		}
		if aot, err = r.objectType(); err != nil {
			return err
		}
		if aot == 0 {
			return fmt.Errorf("codec: AudioSpecificConfig core object type 0 (null)")
		}
	}
	c.ObjectType = aot
	switch aot {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23:
		// GASpecificConfig starts with frameLengthFlag.
		if r.left() >= 1 {
			c.FrameLength960 = r.read(1) == 1
		}
	}
	return nil
}

// ADTSHeaderSize is the size of an ADTS header without CRC.
const ADTSHeaderSize = 7

// maxADTSFrame is the largest aac_frame_length (13 bits).
const maxADTSFrame = 1<<13 - 1

// AppendADTSHeader appends the 7-byte ADTS header (MPEG-4, no CRC, one raw
// data block) for a raw AAC frame of payloadLen bytes to dst. ADTS can only
// describe object types 1..4 with an indexed sampling rate and channel
// configuration 0..7, and frames up to 8191 bytes including the header;
// anything else is an error. For HE-AAC the header carries the core object
// type and rate (implicit SBR signalling).
func (c *AudioSpecificConfig) AppendADTSHeader(dst []byte, payloadLen int) ([]byte, error) {
	if c.ObjectType < 1 || c.ObjectType > 4 {
		return dst, fmt.Errorf("codec: ADTS cannot carry AAC object type %d", c.ObjectType)
	}
	if c.SampleRateIndex < 0 || c.SampleRateIndex >= len(aacSampleRates) {
		return dst, fmt.Errorf("codec: ADTS cannot carry sampling frequency index %d", c.SampleRateIndex)
	}
	if c.ChannelConfig < 0 || c.ChannelConfig > 7 {
		return dst, fmt.Errorf("codec: ADTS cannot carry channel configuration %d", c.ChannelConfig)
	}
	n := payloadLen + ADTSHeaderSize
	if payloadLen < 0 || n > maxADTSFrame {
		return dst, fmt.Errorf("codec: ADTS frame of %d bytes exceeds %d", n, maxADTSFrame)
	}
	profile := byte(c.ObjectType - 1)
	sfi := byte(c.SampleRateIndex)
	ch := byte(c.ChannelConfig)
	return append(dst,
		0xff,
		0xf1, // MPEG-4, layer 0, protection absent
		profile<<6|sfi<<2|ch>>2,
		(ch&3)<<6|byte(n>>11),
		byte(n>>3),
		byte(n&7)<<5|0x1f, // buffer fullness 0x7ff: variable rate
		0xfc,              // buffer fullness low bits, one raw data block
	), nil
}
