package codec

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/limit"
)

// H264NALType is nal_unit_type of an H.264 NAL unit header (ITU-T H.264
// Table 7-1).
type H264NALType uint8

// H.264 NAL unit types.
const (
	H264NonIDR      H264NALType = 1 // coded slice of a non-IDR picture
	H264DataPartA   H264NALType = 2
	H264DataPartB   H264NALType = 3
	H264DataPartC   H264NALType = 4
	H264IDR         H264NALType = 5 // coded slice of an IDR picture
	H264SEI         H264NALType = 6
	H264SPS         H264NALType = 7
	H264PPS         H264NALType = 8
	H264AUD         H264NALType = 9
	H264EndOfSeq    H264NALType = 10
	H264EndOfStream H264NALType = 11
	H264Filler      H264NALType = 12
	H264SPSExt      H264NALType = 13
	H264Prefix      H264NALType = 14
	H264SubsetSPS   H264NALType = 15
)

// H264Type returns the NAL unit type encoded in the first byte of an H.264
// NAL unit.
func H264Type(header byte) H264NALType { return H264NALType(header & 0x1f) }

// IsVCL reports whether t carries coded slice data.
func (t H264NALType) IsVCL() bool { return t >= H264NonIDR && t <= H264IDR }

// String returns the short name of t.
func (t H264NALType) String() string {
	switch t {
	case H264NonIDR:
		return "NonIDR"
	case H264DataPartA:
		return "DataPartA"
	case H264DataPartB:
		return "DataPartB"
	case H264DataPartC:
		return "DataPartC"
	case H264IDR:
		return "IDR"
	case H264SEI:
		return "SEI"
	case H264SPS:
		return "SPS"
	case H264PPS:
		return "PPS"
	case H264AUD:
		return "AUD"
	case H264EndOfSeq:
		return "EndOfSeq"
	case H264EndOfStream:
		return "EndOfStream"
	case H264Filler:
		return "Filler"
	case H264SPSExt:
		return "SPSExt"
	case H264Prefix:
		return "Prefix"
	case H264SubsetSPS:
		return "SubsetSPS"
	}
	return "H264NAL(" + strconv.Itoa(int(t)) + ")"
}

// H264IsKeyframe reports whether any of the NAL units (Spans of m, as
// returned by SplitAVCC) is an IDR slice. It does not allocate.
func H264IsKeyframe(m *gomem.Memory, nalus []Span) bool {
	for _, s := range nalus {
		if s.Len > 0 && H264Type(ByteAt(m, s.Off)) == H264IDR {
			return true
		}
	}
	return false
}

// IsKeyframe dispatches to H264IsKeyframe or H265IsKeyframe; it returns
// false for other codecs.
func IsKeyframe(c Codec, m *gomem.Memory, nalus []Span) bool {
	switch c {
	case H264:
		return H264IsKeyframe(m, nalus)
	case H265:
		return H265IsKeyframe(m, nalus)
	}
	return false
}

// AVCConfig is an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3),
// the body of an FLV/RTMP AVC sequence header and of an MP4 avcC box.
type AVCConfig struct {
	Version       uint8 // configurationVersion, always 1
	Profile       uint8 // AVCProfileIndication (profile_idc)
	Compatibility uint8 // profile_compatibility (constraint flags)
	Level         uint8 // AVCLevelIndication (level_idc)
	LengthSize    int   // NAL unit length prefix width in bytes: lengthSizeMinusOne + 1
	// SPS and PPS alias the parsed input. Unmarshal reuses their capacity.
	SPS, PPS [][]byte

	// The High-profile extension (profiles 100, 110, 122, 144). HasExt is
	// false when the record ends after the PPS list, which many muxers do.
	HasExt               bool
	ChromaFormat         uint8 // chroma_format_idc
	BitDepthLumaMinus8   uint8
	BitDepthChromaMinus8 uint8
	SPSExt               [][]byte
}

// ParseAVCConfig parses an AVCDecoderConfigurationRecord. The returned
// config's parameter sets alias b.
func ParseAVCConfig(b []byte) (AVCConfig, error) {
	var c AVCConfig
	err := c.Unmarshal(b)
	return c, err
}

func avcHighProfile(p uint8) bool { return p == 100 || p == 110 || p == 122 || p == 144 }

// Unmarshal parses an AVCDecoderConfigurationRecord into c, reusing the
// capacity of c's slices. The parameter sets alias b. Bytes after the record
// are ignored. On error c is left in an unspecified state.
func (c *AVCConfig) Unmarshal(b []byte) error {
	if len(b) < 7 {
		return fmt.Errorf("codec: AVC config of %d bytes, need at least 7: %w", len(b), ErrTruncated)
	}
	if b[0] != 1 {
		return fmt.Errorf("codec: AVC config version %d, want 1", b[0])
	}
	c.Version, c.Profile, c.Compatibility, c.Level = b[0], b[1], b[2], b[3]
	c.LengthSize = int(b[4]&3) + 1
	for _, l := range [...]*[][]byte{&c.SPS, &c.PPS, &c.SPSExt} {
		clear(*l) // drop references into the previous input
		*l = (*l)[:0]
	}
	var err error
	p := 6
	if c.SPS, p, err = parseSets(b, p, int(b[5]&0x1f), c.SPS, "SPS"); err != nil {
		return err
	}
	if p >= len(b) {
		return fmt.Errorf("codec: AVC config ends before the PPS count: %w", ErrTruncated)
	}
	n := int(b[p])
	if c.PPS, p, err = parseSets(b, p+1, n, c.PPS, "PPS"); err != nil {
		return err
	}
	c.HasExt, c.ChromaFormat, c.BitDepthLumaMinus8, c.BitDepthChromaMinus8 = false, 0, 0, 0
	if avcHighProfile(c.Profile) && len(b)-p >= 4 {
		// The extension is optional in practice; a malformed one is ignored
		// rather than failing a record whose mandatory part is fine.
		ext, _, err := parseSets(b, p+4, int(b[p+3]), c.SPSExt, "SPSExt")
		if err == nil {
			c.HasExt = true
			c.ChromaFormat = b[p] & 3
			c.BitDepthLumaMinus8 = b[p+1] & 7
			c.BitDepthChromaMinus8 = b[p+2] & 7
			c.SPSExt = ext
		}
	}
	return nil
}

// parseSets reads n entries of (u16 length, bytes) from b at p, appending
// sub-slices of b to dst.
func parseSets(b []byte, p, n int, dst [][]byte, what string) ([][]byte, int, error) {
	if n > MaxParameterSets {
		return dst, p, &limit.LimitError{Name: "MaxParameterSets", Limit: MaxParameterSets, Got: int64(n)}
	}
	for i := range n {
		if len(b)-p < 2 {
			return dst, p, fmt.Errorf("codec: %s %d length cut short: %w", what, i, ErrTruncated)
		}
		l := int(b[p])<<8 | int(b[p+1])
		p += 2
		if l == 0 {
			return dst, p, fmt.Errorf("codec: %s %d is empty", what, i)
		}
		if len(b)-p < l {
			return dst, p, fmt.Errorf("codec: %s %d claims %d bytes, %d left: %w", what, i, l, len(b)-p, ErrTruncated)
		}
		dst = append(dst, b[p:p+l:p+l])
		p += l
	}
	return dst, p, nil
}

var errTooManySets = errors.New("codec: too many parameter sets for the record's count field")

// Append appends the encoded record to dst. The High-profile extension is
// written when HasExt is set and Profile is one that defines it. It fails when a list does not
// fit its count field (31 SPS, 255 PPS or SPSExt), a parameter set is empty
// or longer than 65535 bytes, or LengthSize is not 1..4.
func (c *AVCConfig) Append(dst []byte) ([]byte, error) {
	if c.LengthSize < 1 || c.LengthSize > 4 {
		return dst, fmt.Errorf("codec: AVC length size %d not in 1..4", c.LengthSize)
	}
	if len(c.SPS) > 31 || len(c.PPS) > 255 || len(c.SPSExt) > 255 {
		return dst, errTooManySets
	}
	dst = append(dst, 1, c.Profile, c.Compatibility, c.Level, 0xfc|byte(c.LengthSize-1), 0xe0|byte(len(c.SPS)))
	var err error
	if dst, err = appendSets(dst, c.SPS); err != nil {
		return dst, err
	}
	dst = append(dst, byte(len(c.PPS)))
	if dst, err = appendSets(dst, c.PPS); err != nil {
		return dst, err
	}
	if c.HasExt && avcHighProfile(c.Profile) {
		dst = append(dst, 0xfc|c.ChromaFormat&3, 0xf8|c.BitDepthLumaMinus8&7, 0xf8|c.BitDepthChromaMinus8&7, byte(len(c.SPSExt)))
		dst, err = appendSets(dst, c.SPSExt)
	}
	return dst, err
}

func appendSets(dst []byte, sets [][]byte) ([]byte, error) {
	var err error
	for _, s := range sets {
		if dst, err = appendSet(dst, s); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendSet(dst []byte, s []byte) ([]byte, error) {
	if len(s) == 0 || len(s) > 0xffff {
		return dst, fmt.Errorf("codec: parameter set of %d bytes cannot be encoded", len(s))
	}
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...), nil
}
