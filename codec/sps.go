package codec

import (
	"errors"
	"fmt"
)

// errSPSEnd is the sentinel the exp-Golomb reader sticks on once it runs
// out of bits; parsers check it once at the end instead of after each read.
var errSPSEnd = fmt.Errorf("codec: SPS cut short: %w", ErrTruncated)

// rbspReader reads MSB-first bits and exp-Golomb codes from a NAL unit's
// payload, skipping emulation prevention bytes (the 0x03 of 0x000003) on the
// fly, so a parameter set is parsed in place without an RBSP copy. Reading
// past the end returns zeros and sets err; it never panics.
type rbspReader struct {
	b     []byte
	i     int  // next byte
	cur   byte // current byte
	nbits int  // bits left in cur
	zeros int  // consecutive zero bytes just consumed
	err   error
}

func (r *rbspReader) bit() uint32 {
	if r.nbits == 0 {
		if r.i >= len(r.b) {
			r.err = errSPSEnd
			return 0
		}
		c := r.b[r.i]
		r.i++
		if r.zeros >= 2 && c == 3 { // emulation prevention byte
			r.zeros = 0
			if r.i >= len(r.b) {
				r.err = errSPSEnd
				return 0
			}
			c = r.b[r.i]
			r.i++
		}
		if c == 0 {
			r.zeros++
		} else {
			r.zeros = 0
		}
		r.cur, r.nbits = c, 8
	}
	r.nbits--
	return uint32(r.cur>>r.nbits) & 1
}

// bits reads n <= 32 bits.
func (r *rbspReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *rbspReader) flag() bool { return r.bit() == 1 }

// ue reads an unsigned exp-Golomb code. Codes longer than 32 bits (values
// no syntax element here may take) set err.
func (r *rbspReader) ue() uint32 {
	n := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		n++
		if n > 31 {
			r.err = errors.New("codec: exp-Golomb code longer than 32 bits")
			return 0
		}
	}
	return (1<<n - 1) + r.bits(n)
}

// se reads a signed exp-Golomb code.
func (r *rbspReader) se() int32 {
	v := r.ue()
	if v&1 == 1 {
		return int32((v + 1) / 2)
	}
	return -int32(v / 2)
}

// H264SPSInfo holds the fields of an H.264 sequence parameter set that
// depacketizers need: the profile and level, the POC type and the picture
// reorder depth (for deriving DTS), the frame rate when the VUI signals it.
type H264SPSInfo struct {
	Profile, Constraints, Level uint8
	ID                          uint32
	PicOrderCntType             uint32
	MaxNumRefFrames             uint32
	// HasReorder is set when the VUI's bitstream_restriction was present,
	// and MaxNumReorderFrames then holds max_num_reorder_frames.
	HasReorder          bool
	MaxNumReorderFrames uint32
	// NumUnitsInTick and TimeScale are the VUI timing info (0 when absent);
	// a frame lasts 2*NumUnitsInTick/TimeScale seconds.
	NumUnitsInTick, TimeScale uint32
	// Width and Height are the picture size in luma samples after the
	// SPS's frame cropping: what a decoder outputs and a player shows
	// (1920x1080 for a stream coded as 1920x1088). Both are 0 when the
	// cropping does not fit inside the coded picture.
	Width, Height int
}

// ReorderDepth returns how many frames may precede a frame in decode order
// yet follow it in presentation order: max_num_reorder_frames when the VUI
// has it; 0 when no reordering is possible (POC type 2, or the Baseline and
// Constrained Baseline profiles, which have no B slices); else
// max_num_ref_frames, which bounds the reorder depth of a conforming
// stream, capped at 16 (the largest DPB).
func (s *H264SPSInfo) ReorderDepth() int {
	switch {
	case s.HasReorder:
		return int(min(s.MaxNumReorderFrames, 16))
	case s.PicOrderCntType == 2, s.Profile == 66:
		return 0
	}
	return int(min(s.MaxNumRefFrames, 16))
}

// ParseH264SPS parses an H.264 SPS NAL unit (header byte included, no start
// code) up to the VUI's bitstream restriction, through the picture size and
// frame cropping. It never panics and does not allocate.
func ParseH264SPS(nal []byte) (H264SPSInfo, error) {
	var s H264SPSInfo
	if len(nal) < 4 {
		return s, fmt.Errorf("codec: H.264 SPS of %d bytes: %w", len(nal), ErrTruncated)
	}
	if H264Type(nal[0]) != H264SPS {
		return s, fmt.Errorf("codec: NAL type %v is not an SPS", H264Type(nal[0]))
	}
	r := &rbspReader{b: nal[1:]}
	s.Profile, s.Constraints, s.Level = uint8(r.bits(8)), uint8(r.bits(8)), uint8(r.bits(8))
	s.ID = r.ue()
	// ChromaArrayType: chroma_format_idc is 1 (4:2:0) unless the profile
	// codes it, and 0 when the colour planes are coded separately.
	chromaArrayType := uint32(1)
	switch s.Profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma := r.ue()
		chromaArrayType = chroma
		if chroma == 3 && r.flag() { // separate_colour_plane_flag
			chromaArrayType = 0
		}
		r.ue()        // bit_depth_luma_minus8
		r.ue()        // bit_depth_chroma_minus8
		r.bit()       // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if r.flag() {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	s.PicOrderCntType = r.ue()
	switch s.PicOrderCntType {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit() // delta_pic_order_always_zero_flag
		r.se()  // offset_for_non_ref_pic
		r.se()  // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return s, fmt.Errorf("codec: H.264 SPS num_ref_frames_in_pic_order_cnt_cycle %d > 255", n)
		}
		for range n {
			r.se()
			if r.err != nil {
				break
			}
		}
	case 2:
	default:
		return s, fmt.Errorf("codec: H.264 SPS pic_order_cnt_type %d", s.PicOrderCntType)
	}
	s.MaxNumRefFrames = r.ue()
	r.bit()                           // gaps_in_frame_num_value_allowed_flag
	widthMBs := uint64(r.ue()) + 1    // pic_width_in_mbs_minus1
	heightUnits := uint64(r.ue()) + 1 // pic_height_in_map_units_minus1
	frameMBsOnly := r.flag()
	if !frameMBsOnly {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	// A map unit is a macroblock pair (two rows) when fields may be coded.
	fieldFactor := uint64(2)
	if frameMBsOnly {
		fieldFactor = 1
	}
	// Crop offsets count chroma samples (times two rows for field
	// coding): CropUnitX and CropUnitY of H.264 7.4.2.1.1.
	cropUnitX, cropUnitY := uint64(1), fieldFactor
	switch chromaArrayType {
	case 1:
		cropUnitX, cropUnitY = 2, 2*fieldFactor
	case 2:
		cropUnitX = 2
	}
	var cropX, cropY uint64
	if r.flag() { // frame_cropping_flag
		cropX = uint64(r.ue()) + uint64(r.ue()) // left, right
		cropY = uint64(r.ue()) + uint64(r.ue()) // top, bottom
	}
	if r.err != nil {
		return s, r.err
	}
	s.Width, s.Height = croppedSize(widthMBs*16, cropX*cropUnitX, fieldFactor*heightUnits*16, cropY*cropUnitY)
	if !r.flag() { // vui_parameters_present_flag
		return s, r.err
	}
	if r.flag() { // aspect_ratio_info_present_flag
		if r.bits(8) == 255 { // Extended_SAR
			r.bits(32)
		}
	}
	if r.flag() { // overscan_info_present_flag
		r.bit()
	}
	if r.flag() { // video_signal_type_present_flag
		r.bits(4)
		if r.flag() { // colour_description_present_flag
			r.bits(24)
		}
	}
	if r.flag() { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.flag() { // timing_info_present_flag
		s.NumUnitsInTick, s.TimeScale = r.bits(32), r.bits(32)
		r.bit() // fixed_frame_rate_flag
	}
	nalHRD := r.flag()
	if nalHRD {
		skipHRD(r)
	}
	vclHRD := r.flag()
	if vclHRD {
		skipHRD(r)
	}
	if nalHRD || vclHRD {
		r.bit() // low_delay_hrd_flag
	}
	r.bit()       // pic_struct_present_flag
	if r.flag() { // bitstream_restriction_flag
		r.bit() // motion_vectors_over_pic_boundaries_flag
		r.ue()  // max_bytes_per_pic_denom
		r.ue()  // max_bits_per_mb_denom
		r.ue()  // log2_max_mv_length_horizontal
		r.ue()  // log2_max_mv_length_vertical
		s.MaxNumReorderFrames = r.ue()
		r.ue() // max_dec_frame_buffering
		s.HasReorder = r.err == nil
	}
	if r.err != nil {
		// The VUI is optional for our purposes: keep what the core gave.
		s.HasReorder, s.NumUnitsInTick, s.TimeScale = false, 0, 0
	}
	return s, nil
}

// maxPictureSide is the largest picture side croppedSize reports; larger
// values (which only a corrupt SPS codes) yield 0 so that Width and Height
// fit an int everywhere. No H.264 or H.265 level allows a side near it.
const maxPictureSide = 1 << 20

// croppedSize returns the coded size minus the crops, or 0, 0 when the
// crops leave no picture or a side exceeds maxPictureSide. The arguments
// come from exp-Golomb codes of at most 32 bits times small factors, so
// they cannot overflow a uint64.
func croppedSize(w, cropW, h, cropH uint64) (int, int) {
	if cropW >= w || cropH >= h || w-cropW > maxPictureSide || h-cropH > maxPictureSide {
		return 0, 0
	}
	return int(w - cropW), int(h - cropH)
}

func skipScalingList(r *rbspReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
			if r.err != nil {
				return
			}
		}
		if next != 0 {
			last = next
		}
	}
}

func skipHRD(r *rbspReader) {
	n := r.ue() // cpb_cnt_minus1
	if n > 31 {
		r.err = fmt.Errorf("codec: H.264 HRD cpb_cnt_minus1 %d > 31", n)
		return
	}
	r.bits(8) // bit_rate_scale, cpb_size_scale
	for range n + 1 {
		r.ue()
		r.ue()
		r.bit()
	}
	r.bits(20) // four 5-bit lengths and delays
}

// H265SPSInfo holds the fields of an H.265 sequence parameter set that
// depacketizers need.
type H265SPSInfo struct {
	ID                 uint32
	MaxSubLayersMinus1 uint8
	Profile, Level     uint8 // general_profile_idc, general_level_idc
	// MaxNumReorderPics is sps_max_num_reorder_pics of the highest sub-layer.
	MaxNumReorderPics uint32
	// Width and Height are pic_width_in_luma_samples and
	// pic_height_in_luma_samples minus the conformance window: the size a
	// decoder outputs. Both are 0 when the window does not fit inside the
	// coded picture.
	Width, Height int
}

// ReorderDepth returns sps_max_num_reorder_pics, capped at 16.
func (s *H265SPSInfo) ReorderDepth() int { return int(min(s.MaxNumReorderPics, 16)) }

// ParseH265SPS parses an H.265 SPS NAL unit (2-byte header included, no
// start code) up to sps_max_num_reorder_pics, through the picture size and
// conformance window. It never panics and does not allocate.
func ParseH265SPS(nal []byte) (H265SPSInfo, error) {
	var s H265SPSInfo
	if len(nal) < 3 {
		return s, fmt.Errorf("codec: H.265 SPS of %d bytes: %w", len(nal), ErrTruncated)
	}
	if H265Type(nal[0]) != H265SPS {
		return s, fmt.Errorf("codec: NAL type %v is not an SPS", H265Type(nal[0]))
	}
	r := &rbspReader{b: nal[2:]}
	r.bits(4) // sps_video_parameter_set_id
	s.MaxSubLayersMinus1 = uint8(r.bits(3))
	if s.MaxSubLayersMinus1 > 6 {
		return s, fmt.Errorf("codec: H.265 SPS sps_max_sub_layers_minus1 %d > 6", s.MaxSubLayersMinus1)
	}
	r.bit() // sps_temporal_id_nesting_flag
	// profile_tier_level(1, sps_max_sub_layers_minus1)
	r.bits(3) // general_profile_space, general_tier_flag
	s.Profile = uint8(r.bits(5))
	r.bits(32) // general_profile_compatibility_flags
	r.bits(32) // progressive..., 43 reserved bits and general_inbld_flag: 48 bits
	r.bits(16)
	s.Level = uint8(r.bits(8))
	var profilePresent, levelPresent [8]bool
	n := int(s.MaxSubLayersMinus1)
	for i := range n {
		profilePresent[i], levelPresent[i] = r.flag(), r.flag()
	}
	if n > 0 {
		for range 8 - n {
			r.bits(2)
		}
	}
	for i := range n {
		if profilePresent[i] {
			r.bits(32)
			r.bits(32)
			r.bits(24)
		}
		if levelPresent[i] {
			r.bits(8)
		}
	}
	s.ID = r.ue()
	chroma := r.ue()             // chroma_format_idc
	if chroma == 3 && r.flag() { // separate_colour_plane_flag
		chroma = 0 // ChromaArrayType: each plane is coded as monochrome
	}
	width := uint64(r.ue())  // pic_width_in_luma_samples
	height := uint64(r.ue()) // pic_height_in_luma_samples
	var cropW, cropH uint64
	if r.flag() { // conformance_window_flag
		// The offsets count chroma samples: SubWidthC and SubHeightC of
		// H.265 table 6-1.
		subW, subH := uint64(1), uint64(1)
		switch chroma {
		case 1:
			subW, subH = 2, 2
		case 2:
			subW = 2
		}
		cropW = (uint64(r.ue()) + uint64(r.ue())) * subW // left, right
		cropH = (uint64(r.ue()) + uint64(r.ue())) * subH // top, bottom
	}
	s.Width, s.Height = croppedSize(width, cropW, height, cropH)
	r.ue() // bit_depth_luma_minus8
	r.ue() // bit_depth_chroma_minus8
	r.ue() // log2_max_pic_order_cnt_lsb_minus4
	first := n
	if r.flag() { // sps_sub_layer_ordering_info_present_flag
		first = 0
	}
	for range n - first + 1 {
		r.ue() // sps_max_dec_pic_buffering_minus1
		s.MaxNumReorderPics = r.ue()
		r.ue() // sps_max_latency_increase_plus1
	}
	if r.err != nil {
		return s, r.err
	}
	return s, nil
}
