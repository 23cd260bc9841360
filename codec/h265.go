package codec

import (
	"fmt"
	"strconv"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/limit"
)

// H265NALType is nal_unit_type of an H.265 NAL unit header (ITU-T H.265
// Table 7-1).
type H265NALType uint8

// H.265 NAL unit types.
const (
	H265TrailN    H265NALType = 0
	H265TrailR    H265NALType = 1
	H265BLAWLP    H265NALType = 16
	H265BLAWRADL  H265NALType = 17
	H265BLANLP    H265NALType = 18
	H265IDRWRADL  H265NALType = 19
	H265IDRNLP    H265NALType = 20
	H265CRA       H265NALType = 21
	H265VPS       H265NALType = 32
	H265SPS       H265NALType = 33
	H265PPS       H265NALType = 34
	H265AUD       H265NALType = 35
	H265EOS       H265NALType = 36
	H265EOB       H265NALType = 37
	H265Filler    H265NALType = 38
	H265SEIPrefix H265NALType = 39
	H265SEISuffix H265NALType = 40
	h265IRAPFirst H265NALType = 16
	h265IRAPLast  H265NALType = 23 // 22 and 23 are reserved IRAP types
	h265VCLLast   H265NALType = 31
)

// H265Type returns the NAL unit type encoded in the first byte of an H.265
// NAL unit.
func H265Type(header byte) H265NALType { return H265NALType(header >> 1 & 0x3f) }

// IsIRAP reports whether t is an intra random access point (BLA, IDR, CRA
// or a reserved IRAP type, 16..23): a picture a decoder can start from.
func (t H265NALType) IsIRAP() bool { return t >= h265IRAPFirst && t <= h265IRAPLast }

// IsVCL reports whether t carries coded slice data (0..31).
func (t H265NALType) IsVCL() bool { return t <= h265VCLLast }

// String returns the short name of t.
func (t H265NALType) String() string {
	switch t {
	case H265TrailN:
		return "TRAIL_N"
	case H265TrailR:
		return "TRAIL_R"
	case H265BLAWLP:
		return "BLA_W_LP"
	case H265BLAWRADL:
		return "BLA_W_RADL"
	case H265BLANLP:
		return "BLA_N_LP"
	case H265IDRWRADL:
		return "IDR_W_RADL"
	case H265IDRNLP:
		return "IDR_N_LP"
	case H265CRA:
		return "CRA"
	case H265VPS:
		return "VPS"
	case H265SPS:
		return "SPS"
	case H265PPS:
		return "PPS"
	case H265AUD:
		return "AUD"
	case H265EOS:
		return "EOS"
	case H265EOB:
		return "EOB"
	case H265Filler:
		return "FD"
	case H265SEIPrefix:
		return "SEI_PREFIX"
	case H265SEISuffix:
		return "SEI_SUFFIX"
	}
	return "H265NAL(" + strconv.Itoa(int(t)) + ")"
}

// H265IsKeyframe reports whether any of the NAL units (Spans of m, as
// returned by SplitAVCC) is an IRAP picture. It does not allocate.
func H265IsKeyframe(m *gomem.Memory, nalus []Span) bool {
	for _, s := range nalus {
		if s.Len > 0 && H265Type(ByteAt(m, s.Off)).IsIRAP() {
			return true
		}
	}
	return false
}

// HEVCConfig is an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3),
// the body of an HEVC sequence header in FLV/RTMP and of an MP4 hvcC box.
type HEVCConfig struct {
	Version                uint8 // configurationVersion: 1 (some early muxers wrote 0)
	ProfileSpace           uint8 // general_profile_space (2 bits)
	Tier                   uint8 // general_tier_flag (1 bit)
	Profile                uint8 // general_profile_idc (5 bits)
	ProfileCompatibility   uint32
	ConstraintIndicator    uint64 // general_constraint_indicator_flags (48 bits)
	Level                  uint8  // general_level_idc
	MinSpatialSegmentation uint16 // 12 bits
	ParallelismType        uint8  // 2 bits
	ChromaFormat           uint8  // 2 bits
	BitDepthLumaMinus8     uint8  // 3 bits
	BitDepthChromaMinus8   uint8  // 3 bits
	AvgFrameRate           uint16
	ConstantFrameRate      uint8 // 2 bits
	NumTemporalLayers      uint8 // 3 bits
	TemporalIDNested       bool
	LengthSize             int // NAL unit length prefix width in bytes: lengthSizeMinusOne + 1
	// VPS, SPS, PPS and SEI (prefix and suffix SEI arrays) alias the parsed
	// input; arrays of other NAL types are skipped. Unmarshal reuses their
	// capacity.
	VPS, SPS, PPS, SEI [][]byte
}

// hevcFixedSize is the record's size up to and including numOfArrays.
const hevcFixedSize = 23

// ParseHEVCConfig parses an HEVCDecoderConfigurationRecord. The returned
// config's parameter sets alias b.
func ParseHEVCConfig(b []byte) (HEVCConfig, error) {
	var c HEVCConfig
	err := c.Unmarshal(b)
	return c, err
}

// Unmarshal parses an HEVCDecoderConfigurationRecord into c, reusing the
// capacity of c's slices. The NAL units alias b. Bytes after the record are
// ignored. On error c is left in an unspecified state.
func (c *HEVCConfig) Unmarshal(b []byte) error {
	if len(b) < hevcFixedSize {
		return fmt.Errorf("codec: HEVC config of %d bytes, need at least %d: %w", len(b), hevcFixedSize, ErrTruncated)
	}
	if b[0] > 1 {
		return fmt.Errorf("codec: HEVC config version %d, want 1", b[0])
	}
	c.Version = b[0]
	c.ProfileSpace, c.Tier, c.Profile = b[1]>>6, b[1]>>5&1, b[1]&0x1f
	c.ProfileCompatibility = uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
	c.ConstraintIndicator = 0
	for _, x := range b[6:12] {
		c.ConstraintIndicator = c.ConstraintIndicator<<8 | uint64(x)
	}
	c.Level = b[12]
	c.MinSpatialSegmentation = uint16(b[13]&0x0f)<<8 | uint16(b[14])
	c.ParallelismType = b[15] & 3
	c.ChromaFormat = b[16] & 3
	c.BitDepthLumaMinus8 = b[17] & 7
	c.BitDepthChromaMinus8 = b[18] & 7
	c.AvgFrameRate = uint16(b[19])<<8 | uint16(b[20])
	c.ConstantFrameRate = b[21] >> 6
	c.NumTemporalLayers = b[21] >> 3 & 7
	c.TemporalIDNested = b[21]&4 != 0
	c.LengthSize = int(b[21]&3) + 1
	for _, l := range [...]*[][]byte{&c.VPS, &c.SPS, &c.PPS, &c.SEI} {
		clear(*l) // drop references into the previous input
		*l = (*l)[:0]
	}
	arrays := int(b[22])
	p := hevcFixedSize
	for i := range arrays {
		if len(b)-p < 3 {
			return fmt.Errorf("codec: HEVC config array %d header cut short: %w", i, ErrTruncated)
		}
		typ := H265NALType(b[p] & 0x3f)
		n := int(b[p+1])<<8 | int(b[p+2])
		p += 3
		var dst *[][]byte
		switch typ {
		case H265VPS:
			dst = &c.VPS
		case H265SPS:
			dst = &c.SPS
		case H265PPS:
			dst = &c.PPS
		case H265SEIPrefix, H265SEISuffix:
			dst = &c.SEI
		}
		if dst == nil {
			// Skip an array we do not keep, still checking every length.
			for j := range n {
				if len(b)-p < 2 {
					return fmt.Errorf("codec: HEVC %v %d length cut short: %w", typ, j, ErrTruncated)
				}
				l := int(b[p])<<8 | int(b[p+1])
				if len(b)-p-2 < l {
					return fmt.Errorf("codec: HEVC %v %d claims %d bytes, %d left: %w", typ, j, l, len(b)-p-2, ErrTruncated)
				}
				p += 2 + l
			}
			continue
		}
		if len(*dst)+n > MaxParameterSets {
			return &limit.LimitError{Name: "MaxParameterSets", Limit: MaxParameterSets, Got: int64(len(*dst) + n)}
		}
		var err error
		if *dst, p, err = parseSets(b, p, n, *dst, typ.String()); err != nil {
			return err
		}
	}
	return nil
}

// Append appends the encoded record to dst: arrays for VPS, SPS, PPS and one
// per SEI type present, each with array_completeness set. It fails when a
// NAL unit is empty or longer than 65535 bytes, or LengthSize is not 1..4.
func (c *HEVCConfig) Append(dst []byte) ([]byte, error) {
	if c.LengthSize < 1 || c.LengthSize > 4 {
		return dst, fmt.Errorf("codec: HEVC length size %d not in 1..4", c.LengthSize)
	}
	dst = append(dst, c.Version,
		c.ProfileSpace<<6|(c.Tier&1)<<5|c.Profile&0x1f,
		byte(c.ProfileCompatibility>>24), byte(c.ProfileCompatibility>>16), byte(c.ProfileCompatibility>>8), byte(c.ProfileCompatibility),
		byte(c.ConstraintIndicator>>40), byte(c.ConstraintIndicator>>32), byte(c.ConstraintIndicator>>24),
		byte(c.ConstraintIndicator>>16), byte(c.ConstraintIndicator>>8), byte(c.ConstraintIndicator),
		c.Level,
		0xf0|byte(c.MinSpatialSegmentation>>8&0x0f), byte(c.MinSpatialSegmentation),
		0xfc|c.ParallelismType&3,
		0xfc|c.ChromaFormat&3,
		0xf8|c.BitDepthLumaMinus8&7,
		0xf8|c.BitDepthChromaMinus8&7,
		byte(c.AvgFrameRate>>8), byte(c.AvgFrameRate),
		c.ConstantFrameRate<<6|(c.NumTemporalLayers&7)<<3|b2u8(c.TemporalIDNested)<<2|byte(c.LengthSize-1),
	)
	numAt := len(dst)
	dst = append(dst, 0)
	var err error
	arrays := 0
	for _, a := range [...]struct {
		typ  H265NALType
		sets [][]byte
	}{{H265VPS, c.VPS}, {H265SPS, c.SPS}, {H265PPS, c.PPS}} {
		if len(a.sets) == 0 {
			continue
		}
		if dst, err = appendHEVCArray(dst, a.typ, a.sets); err != nil {
			return dst, err
		}
		arrays++
	}
	// SEI entries are grouped by type: suffix SEI in one array, the rest
	// (prefix SEI) in another.
	for _, suffix := range [...]bool{false, true} {
		typ := H265SEIPrefix
		if suffix {
			typ = H265SEISuffix
		}
		n := 0
		for _, s := range c.SEI {
			if isSuffixSEI(s) == suffix {
				n++
			}
		}
		if n == 0 {
			continue
		}
		dst = append(dst, 0x80|byte(typ), byte(n>>8), byte(n))
		for _, s := range c.SEI {
			if isSuffixSEI(s) != suffix {
				continue
			}
			if dst, err = appendSet(dst, s); err != nil {
				return dst, err
			}
		}
		arrays++
	}
	if arrays > 0xff {
		return dst, errTooManySets
	}
	dst[numAt] = byte(arrays)
	return dst, nil
}

func appendHEVCArray(dst []byte, typ H265NALType, sets [][]byte) ([]byte, error) {
	if len(sets) > 0xffff {
		return dst, errTooManySets
	}
	dst = append(dst, 0x80|byte(typ), byte(len(sets)>>8), byte(len(sets)))
	return appendSets(dst, sets)
}

func isSuffixSEI(s []byte) bool { return len(s) > 0 && H265Type(s[0]) == H265SEISuffix }

func b2u8(b bool) byte {
	if b {
		return 1
	}
	return 0
}
