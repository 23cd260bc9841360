package codec

import (
	"fmt"

	"github.com/zcingest/zerocopy/limit"
)

// HEVCConfigFromParameterSets builds the HEVCDecoderConfigurationRecord
// that announces an H.265 stream whose parameter sets arrived without one
// (RTSP's sprop-vps/sps/pps, SRT's in-band NAL units): the profile, tier,
// level, compatibility and constraint flags come from the first SPS's
// profile_tier_level, the chroma format and bit depths from its body, the
// temporal layering from its header. LengthSize is 4. The fields the SPS
// does not give (min_spatial_segmentation, parallelismType, frame rate)
// are 0, which the format defines as "unknown".
//
// The returned config's VPS, SPS and PPS are the given slices (aliased,
// not copied). It never panics on malformed parameter sets: an SPS cut
// short is an error wrapping ErrTruncated.
func HEVCConfigFromParameterSets(vps, sps, pps [][]byte) (HEVCConfig, error) {
	var c HEVCConfig
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return c, fmt.Errorf("codec: HEVC config needs VPS, SPS and PPS, have %d, %d, %d", len(vps), len(sps), len(pps))
	}
	for _, l := range [...][][]byte{vps, sps, pps} {
		if len(l) > MaxParameterSets {
			return c, fmt.Errorf("codec: HEVC config from parameter sets: %w",
				&limit.LimitError{Name: "MaxParameterSets", Limit: MaxParameterSets, Got: int64(len(l))})
		}
	}
	s := sps[0]
	if len(s) < 3 || H265Type(s[0]) != H265SPS {
		return c, fmt.Errorf("codec: first H.265 SPS of %d bytes is not an SPS NAL unit", len(s))
	}
	r := nalBits{b: s[2:]} // after the 2-byte NAL unit header
	r.u(4)                 // sps_video_parameter_set_id
	maxSubLayersMinus1 := int(r.u(3))
	if maxSubLayersMinus1 > 6 {
		return c, fmt.Errorf("codec: H.265 SPS sps_max_sub_layers_minus1 %d > 6", maxSubLayersMinus1)
	}
	c.TemporalIDNested = r.u(1) == 1
	c.NumTemporalLayers = uint8(maxSubLayersMinus1 + 1)
	// profile_tier_level(1, sps_max_sub_layers_minus1): the general part.
	c.ProfileSpace = uint8(r.u(2))
	c.Tier = uint8(r.u(1))
	c.Profile = uint8(r.u(5))
	c.ProfileCompatibility = uint32(r.u(32))
	c.ConstraintIndicator = r.u(48)
	c.Level = uint8(r.u(8))
	// The sub-layer parts are skipped: the record carries only the general
	// profile.
	var profilePresent, levelPresent [6]bool
	for i := range maxSubLayersMinus1 {
		profilePresent[i], levelPresent[i] = r.u(1) == 1, r.u(1) == 1
	}
	if maxSubLayersMinus1 > 0 {
		r.u(2 * (8 - maxSubLayersMinus1)) // reserved_zero_2bits
	}
	for i := range maxSubLayersMinus1 {
		if profilePresent[i] {
			r.u(88) // sub_layer profile space .. sub_layer_inbld_flag
		}
		if levelPresent[i] {
			r.u(8)
		}
	}
	r.ue() // sps_seq_parameter_set_id
	chroma := r.ue()
	if chroma > 3 {
		return c, fmt.Errorf("codec: H.265 SPS chroma_format_idc %d > 3", chroma)
	}
	c.ChromaFormat = uint8(chroma)
	if chroma == 3 {
		r.u(1) // separate_colour_plane_flag
	}
	r.ue()           // pic_width_in_luma_samples
	r.ue()           // pic_height_in_luma_samples
	if r.u(1) == 1 { // conformance_window_flag: four offsets
		r.ue()
		r.ue()
		r.ue()
		r.ue()
	}
	luma, chromaDepth := r.ue(), r.ue()
	if r.err != nil {
		return c, r.err
	}
	// The spec allows 16-bit (minus 8 = 8), but the record's fields are 3
	// bits wide: such a stream cannot be announced.
	if luma > 7 || chromaDepth > 7 {
		return c, fmt.Errorf("codec: H.265 SPS bit depth minus 8 of %d/%d does not fit the record's 3 bits", luma, chromaDepth)
	}
	c.BitDepthLumaMinus8, c.BitDepthChromaMinus8 = uint8(luma), uint8(chromaDepth)
	c.Version = 1
	c.LengthSize = 4
	c.VPS, c.SPS, c.PPS = vps, sps, pps
	return c, nil
}

// nalBits reads MSB-first bits and exp-Golomb codes from a NAL unit's
// payload, dropping emulation prevention bytes (the 03 of 00 00 03) as it
// goes, so a parameter set is read in place. Past the end it returns zeros
// and sets err once; it never panics.
type nalBits struct {
	b     []byte
	i     int  // next byte of b
	cur   byte // the byte being read
	left  int  // bits of cur not yet read
	zeros int  // zero bytes just read, to spot emulation prevention
	err   error
}

func (r *nalBits) bit() uint64 {
	if r.left == 0 {
		if r.i < len(r.b) && r.zeros >= 2 && r.b[r.i] == 3 {
			r.i++ // emulation_prevention_three_byte
			r.zeros = 0
		}
		if r.i >= len(r.b) {
			if r.err == nil {
				r.err = fmt.Errorf("codec: H.265 SPS cut short at byte %d: %w", r.i, ErrTruncated)
			}
			return 0
		}
		r.cur = r.b[r.i]
		r.i++
		if r.cur == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.left = 8
	}
	r.left--
	return uint64(r.cur>>r.left) & 1
}

// u reads n <= 64 bits.
func (r *nalBits) u(n int) uint64 {
	var v uint64
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned exp-Golomb code. Codes longer than 32 bits (no
// field read here is that large) are an error, which also bounds the loop
// on a run of zeros.
func (r *nalBits) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		if zeros++; zeros > 31 {
			if r.err == nil {
				r.err = fmt.Errorf("codec: H.265 SPS exp-Golomb code longer than 32 bits")
			}
			return 0
		}
	}
	return uint32(1<<zeros - 1 + r.u(zeros))
}
