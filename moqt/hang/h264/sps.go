package h264

import (
	"errors"
	"fmt"
)

// SPS is what a player needs from a sequence parameter set (7.3.2.1.1).
type SPS struct {
	ProfileIDC  uint8 // profile_idc: 66 baseline, 77 main, 100 high, ...
	Constraints uint8 // constraint_set0..5 flags and reserved bits, as one byte
	LevelIDC    uint8 // level_idc: 31 is level 3.1
	// Width and Height are the displayed picture size in pixels, after the
	// SPS frame cropping.
	Width, Height int
	// TimeScale and UnitsInTick are the VUI timing info, zero when absent;
	// FrameRate derives the frame rate from them.
	TimeScale, UnitsInTick uint32
}

// Codec returns the WebCodecs codec string, "avc1.PPCCLL" in hex
// (RFC 6381 3.3): avc1.64001f is High profile, level 3.1.
func (s *SPS) Codec() string {
	return fmt.Sprintf("avc1.%02x%02x%02x", s.ProfileIDC, s.Constraints, s.LevelIDC)
}

// FrameRate returns the frame rate the VUI timing info states (time_scale /
// 2 num_units_in_tick, one frame being two fields), or 0 when absent.
func (s *SPS) FrameRate() float64 {
	if s.TimeScale == 0 || s.UnitsInTick == 0 {
		return 0
	}
	return float64(s.TimeScale) / float64(2*uint64(s.UnitsInTick))
}

// ErrSPS reports an SPS that could not be parsed.
var ErrSPS = errors.New("h264: bad SPS")

// Bounds that keep a hostile SPS from asking for absurd work or sizes.
const (
	maxMBs        = 1 << 16 // macroblocks per dimension (over 1 million pixels wide)
	maxPOCCycle   = 255     // num_ref_frames_in_pic_order_cnt_cycle (7.4.2.1.1)
	maxCropMargin = 1 << 20
)

// ParseSPS parses an SPS NAL unit (with its one-byte NAL header, without a
// start code).
func ParseSPS(nal []byte) (*SPS, error) {
	if NALType(nal) != TypeSPS {
		return nil, fmt.Errorf("%w: NAL type %d, want %d", ErrSPS, NALType(nal), TypeSPS)
	}
	rbsp := unescape(nal[1:])
	if len(rbsp) < 4 {
		return nil, fmt.Errorf("%w: %d bytes", ErrSPS, len(nal))
	}
	s := &SPS{ProfileIDC: rbsp[0], Constraints: rbsp[1], LevelIDC: rbsp[2]}
	r := bitReader{b: rbsp[3:]}
	r.ue() // seq_parameter_set_id

	chromaFormat := uint64(1) // 4:2:0 when not signalled
	separateColourPlanes := false
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chromaFormat = r.ue()
		if chromaFormat > 3 {
			return nil, fmt.Errorf("%w: chroma_format_idc %d", ErrSPS, chromaFormat)
		}
		if chromaFormat == 3 {
			separateColourPlanes = r.bit() == 1
		}
		r.ue()            // bit_depth_luma_minus8
		r.ue()            // bit_depth_chroma_minus8
		r.bit()           // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if r.bit() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					r.skipScalingList(size)
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	switch pocType := r.ue(); pocType {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.bit() // delta_pic_order_always_zero_flag
		r.se()  // offset_for_non_ref_pic
		r.se()  // offset_for_top_to_bottom_field
		n := r.ue()
		if n > maxPOCCycle {
			return nil, fmt.Errorf("%w: %d POC cycle offsets", ErrSPS, n)
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return nil, fmt.Errorf("%w: pic_order_cnt_type %d", ErrSPS, pocType)
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	widthMBs := r.ue() + 1
	heightMapUnits := r.ue() + 1
	frameMBsOnly := r.bit()
	if frameMBsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint64
	if r.bit() == 1 { // frame_cropping_flag
		cropL, cropR, cropT, cropB = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSPS, r.err)
	}
	if widthMBs > maxMBs || heightMapUnits > maxMBs {
		return nil, fmt.Errorf("%w: %dx%d macroblocks", ErrSPS, widthMBs, heightMapUnits)
	}
	if cropL > maxCropMargin || cropR > maxCropMargin || cropT > maxCropMargin || cropB > maxCropMargin {
		return nil, fmt.Errorf("%w: crop margins out of range", ErrSPS)
	}

	// Crop units (7.4.2.1.1, equations 7-19 to 7-22).
	fieldFactor := 2 - frameMBsOnly
	cropUnitX, cropUnitY := uint64(1), fieldFactor
	if chromaFormat != 0 && !separateColourPlanes {
		subWidth, subHeight := uint64(2), uint64(2) // 4:2:0
		switch chromaFormat {
		case 2:
			subHeight = 1
		case 3:
			subWidth, subHeight = 1, 1
		}
		cropUnitX, cropUnitY = subWidth, subHeight*fieldFactor
	}
	w := widthMBs * 16
	h := fieldFactor * heightMapUnits * 16
	cropW, cropH := cropUnitX*(cropL+cropR), cropUnitY*(cropT+cropB)
	if cropW >= w || cropH >= h {
		return nil, fmt.Errorf("%w: cropping %dx%d leaves nothing of %dx%d", ErrSPS, cropW, cropH, w, h)
	}
	s.Width, s.Height = int(w-cropW), int(h-cropH)

	if r.bit() == 1 { // vui_parameters_present_flag (E.1.1)
		r.vuiTiming(s)
	}
	return s, nil
}

// vuiTiming reads the VUI up to its timing info; a VUI cut short leaves the
// timing unset rather than failing the SPS.
func (r *bitReader) vuiTiming(s *SPS) {
	if r.bit() == 1 { // aspect_ratio_info_present_flag
		if r.bits(8) == 255 { // aspect_ratio_idc: Extended_SAR
			r.bits(16) // sar_width
			r.bits(16) // sar_height
		}
	}
	if r.bit() == 1 { // overscan_info_present_flag
		r.bit() // overscan_appropriate_flag
	}
	if r.bit() == 1 { // video_signal_type_present_flag
		r.bits(3)         // video_format
		r.bit()           // video_full_range_flag
		if r.bit() == 1 { // colour_description_present_flag
			r.bits(24) // colour_primaries, transfer_characteristics, matrix_coefficients
		}
	}
	if r.bit() == 1 { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.bit() == 1 { // timing_info_present_flag
		units, scale := r.bits(32), r.bits(32)
		if r.err == nil {
			s.UnitsInTick, s.TimeScale = uint32(units), uint32(scale)
		}
	}
}

// unescape removes the emulation prevention bytes (00 00 03 -> 00 00) of a
// NAL unit payload (7.4.1).
func unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

var errBits = errors.New("SPS ends early")

// bitReader reads big-endian bits; reading past the end sets err and
// returns zeros.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) bit() uint64 {
	if r.pos >= 8*len(r.b) {
		r.err = errBits
		return 0
	}
	v := r.b[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return uint64(v)
}

func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

// ue reads an unsigned exp-Golomb code (9.1); codes over 32 leading zeros
// are refused as corrupt.
func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		if zeros++; zeros > 32 {
			r.err = errors.New("exp-Golomb code too long")
			return 0
		}
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed exp-Golomb code (9.1.1).
func (r *bitReader) se() int64 {
	k := r.ue()
	if k%2 == 1 {
		return int64(k+1) / 2
	}
	return -int64(k / 2)
}

// skipScalingList reads past a scaling_list() of size entries (7.3.2.1.1.1).
func (r *bitReader) skipScalingList(size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
		if r.err != nil {
			return
		}
	}
}
