package flv

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// VideoSequenceHeaderBody returns the FLV video tag body announcing c, for
// HTTP-FLV and RTMP play: c.SequenceHeader unchanged when the protocol
// received one (RTMP), else one derived from the parameter sets: a legacy
// AVC sequence header (AVCDecoderConfigurationRecord) for H.264, an
// Enhanced RTMP SequenceStart with FourCC 'hvc1' carrying an
// HEVCDecoderConfigurationRecord for H.265 (codec.HEVCConfigFromParameterSets),
// since legacy FLV has no standard HEVC codec id. Both use 4-byte NAL unit
// lengths, as AppendFrameBody writes them.
//
// A received header is returned as is (aliasing c); a derived one is newly
// allocated. Callers compare bodies to send only changes, so this runs on a
// configuration change, not per frame.
func VideoSequenceHeaderBody(c host.VideoConfig) ([]byte, error) {
	if len(c.SequenceHeader) > 0 {
		return c.SequenceHeader, nil
	}
	switch c.Codec {
	case codec.H264:
		if len(c.SPS) == 0 || len(c.SPS[0]) < 4 || len(c.PPS) == 0 {
			return nil, fmt.Errorf("flv: no H264 sequence header can be derived from %d SPS and %d PPS", len(c.SPS), len(c.PPS))
		}
		rec := codec.AVCConfig{Version: 1, Profile: c.SPS[0][1], Compatibility: c.SPS[0][2], Level: c.SPS[0][3], LengthSize: 4, SPS: c.SPS, PPS: c.PPS}
		body, err := AppendVideoHeader(nil, VideoTag{Codec: codec.H264, FrameType: FrameKey, PacketType: PacketSequenceHeader})
		if err != nil {
			return nil, err
		}
		return rec.Append(body)
	case codec.H265:
		rec, err := codec.HEVCConfigFromParameterSets(c.VPS, c.SPS, c.PPS)
		if err != nil {
			return nil, fmt.Errorf("flv: no H265 sequence header: %w", err)
		}
		body, err := AppendVideoHeader(nil, VideoTag{Enhanced: true, Codec: codec.H265, FrameType: FrameKey, PacketType: PacketSequenceHeader})
		if err != nil {
			return nil, err
		}
		return rec.Append(body)
	}
	return nil, fmt.Errorf("flv: no sequence header can be derived for %v", c.Codec)
}

// AudioSequenceHeaderBody returns the FLV audio tag body carrying c's
// AudioSpecificConfig: c.SequenceHeader unchanged when received, else the
// legacy AAC header (0xAF 0x00) followed by c.ASC, newly allocated.
func AudioSequenceHeaderBody(c host.AudioConfig) ([]byte, error) {
	if len(c.SequenceHeader) > 0 {
		return c.SequenceHeader, nil
	}
	if c.Codec != codec.AAC || len(c.ASC) == 0 {
		return nil, fmt.Errorf("flv: no audio sequence header can be derived for %v with a %d-byte ASC", c.Codec, len(c.ASC))
	}
	return append(AppendAACHeader(make([]byte, 0, 2+len(c.ASC)), true), c.ASC...), nil
}
