package sdp

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// ErrNoConfig reports that an fmtp carries no decoder configuration where
// one is required (mpeg4-generic without config=). Callers branch on it to
// refuse the track rather than wait for in-band configuration.
var ErrNoConfig = errors.New("sdp: no decoder configuration in fmtp")

// H264ParamSets returns the SPS and PPS NAL units (NAL header included, no
// start codes) of an H.264 fmtp's sprop-parameter-sets. Units of other
// types (some cameras add SEI) are skipped. A missing sprop-parameter-sets
// is not an error: the parameter sets then come in band, and both results
// are nil. The returned slices are fresh copies owned by the caller.
func H264ParamSets(fmtp map[string]string) (sps, pps [][]byte, err error) {
	v, ok := fmtp["sprop-parameter-sets"]
	if !ok {
		return nil, nil, nil
	}
	units, err := decodeParamSets("sprop-parameter-sets", v)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range units {
		switch u[0] & 0x1f {
		case 7:
			sps = append(sps, u)
		case 8:
			pps = append(pps, u)
		}
	}
	return sps, pps, nil
}

// H264PacketizationMode returns an H.264 fmtp's packetization-mode: 0
// (single NAL unit, the default when absent), 1 (non-interleaved) or 2
// (interleaved).
func H264PacketizationMode(fmtp map[string]string) (int, error) {
	v, ok := fmtp["packetization-mode"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 2 {
		return 0, fmt.Errorf("sdp: packetization-mode %q: %w", v, errSyntax)
	}
	return n, nil
}

// H265ParamSets returns the VPS, SPS and PPS NAL units (two-byte NAL
// header included) of an H.265 fmtp's sprop-vps, sprop-sps and sprop-pps.
// A unit whose NAL type does not match its list is an error; absent lists
// give nil (in-band parameter sets). The slices are owned by the caller.
func H265ParamSets(fmtp map[string]string) (vps, sps, pps [][]byte, err error) {
	lists := [3]struct {
		key string
		typ byte
		out *[][]byte
	}{{"sprop-vps", 32, &vps}, {"sprop-sps", 33, &sps}, {"sprop-pps", 34, &pps}}
	for _, l := range lists {
		v, ok := fmtp[l.key]
		if !ok {
			continue
		}
		units, err := decodeParamSets(l.key, v)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, u := range units {
			if len(u) < 2 || (u[0]>>1)&0x3f != l.typ {
				return nil, nil, nil, fmt.Errorf("sdp: %s holds a NAL unit of type %d: %w", l.key, (u[0]>>1)&0x3f, errSyntax)
			}
		}
		*l.out = units
	}
	return vps, sps, pps, nil
}

// H265MaxDONDiff returns sprop-max-don-diff (0 when absent). A non-zero
// value means every RTP payload carries a DONL field the depacketizer must
// skip (RFC 7798 section 4.4).
func H265MaxDONDiff(fmtp map[string]string) (int, error) {
	v, ok := fmtp["sprop-max-don-diff"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 32767 {
		return 0, fmt.Errorf("sdp: sprop-max-don-diff %q: %w", v, errSyntax)
	}
	return n, nil
}

// decodeParamSets decodes a comma list of base64 NAL units. Padding is
// optional (some cameras drop it); empty entries are skipped.
func decodeParamSets(key, v string) ([][]byte, error) {
	if err := limit.Check("MaxParamSets", int64(strings.Count(v, ",")+1), MaxParamSets); err != nil {
		return nil, fmt.Errorf("sdp %s: %w", key, err)
	}
	var out [][]byte
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if err := limit.Check("MaxParamSetSize", int64(base64.StdEncoding.DecodedLen(len(item))), MaxParamSetSize); err != nil {
			return nil, fmt.Errorf("sdp %s: %w", key, err)
		}
		b, err := base64.StdEncoding.DecodeString(item)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(item, "="))
		}
		if err != nil {
			return nil, fmt.Errorf("sdp %s: bad base64: %w", key, errSyntax)
		}
		if len(b) == 0 {
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// AACConfig returns the AudioSpecificConfig (decoded from config=) and the
// AU-header field widths of an mpeg4-generic fmtp (RFC 3640). When a width
// is absent, the mode's fixed value is used: AAC-hbr 13/3/3, AAC-lbr 6/2/2;
// other modes must send sizelength. A missing config= is ErrNoConfig. The
// returned slice is a fresh copy owned by the caller.
func AACConfig(fmtp map[string]string) (asc []byte, sizeLength, indexLength, indexDeltaLength int, err error) {
	size, index, delta := -1, -1, -1
	switch strings.ToLower(fmtp["mode"]) {
	case "aac-hbr":
		size, index, delta = 13, 3, 3
	case "aac-lbr":
		size, index, delta = 6, 2, 2
	}
	for _, f := range [3]struct {
		key string
		out *int
	}{{"sizelength", &size}, {"indexlength", &index}, {"indexdeltalength", &delta}} {
		v, ok := fmtp[f.key]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		// AU-header fields wider than 16 bits describe AUs over 64 KiB
		// or absurd index gaps; no encoder uses them.
		if err != nil || n < 0 || n > 16 {
			return nil, 0, 0, 0, fmt.Errorf("sdp: %s %q: %w", f.key, v, errSyntax)
		}
		*f.out = n
	}
	if size <= 0 {
		return nil, 0, 0, 0, fmt.Errorf("sdp: mpeg4-generic without sizelength: %w", errSyntax)
	}
	index, delta = max(index, 0), max(delta, 0)
	cfg, ok := fmtp["config"]
	if !ok || cfg == "" {
		return nil, 0, 0, 0, ErrNoConfig
	}
	if err := limit.Check("MaxAudioSpecificConfig", int64(hex.DecodedLen(len(cfg))), MaxAudioSpecificConfig); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("sdp config: %w", err)
	}
	asc, err = hex.DecodeString(cfg)
	if err != nil || len(asc) < 2 {
		return nil, 0, 0, 0, fmt.Errorf("sdp: config %q: %w", cfg, errSyntax)
	}
	return asc, size, index, delta, nil
}

// ForH264 returns a video Media for H.264 with payload type pt, in
// packetization mode 1, carrying sps and pps (NAL header included) in
// sprop-parameter-sets and profile-level-id when given. Set Control
// before marshaling.
func ForH264(pt int, sps, pps []byte) Media {
	p := map[string]string{"packetization-mode": "1"}
	var sets []string
	if len(sps) > 0 {
		sets = append(sets, base64.StdEncoding.EncodeToString(sps))
		if len(sps) >= 4 {
			p["profile-level-id"] = strings.ToUpper(hex.EncodeToString(sps[1:4]))
		}
	}
	if len(pps) > 0 {
		sets = append(sets, base64.StdEncoding.EncodeToString(pps))
	}
	if len(sets) > 0 {
		p["sprop-parameter-sets"] = strings.Join(sets, ",")
	}
	return rtpMedia("video", pt, RTPMap{"H264", 90000, 0}, p)
}

// ForH265 returns a video Media for H.265 with payload type pt, carrying
// the parameter sets given (two-byte NAL header included) in sprop-vps,
// sprop-sps and sprop-pps. Set Control before marshaling.
func ForH265(pt int, vps, sps, pps []byte) Media {
	p := map[string]string{}
	for _, s := range [3]struct {
		key string
		b   []byte
	}{{"sprop-vps", vps}, {"sprop-sps", sps}, {"sprop-pps", pps}} {
		if len(s.b) > 0 {
			p[s.key] = base64.StdEncoding.EncodeToString(s.b)
		}
	}
	return rtpMedia("video", pt, RTPMap{"H265", 90000, 0}, p)
}

// ForAAC returns an audio Media for AAC in mpeg4-generic AAC-hbr mode
// (13-bit AU sizes, 3-bit indexes: what ffmpeg and GStreamer send and
// expect) with payload type pt, the RTP clock at sampleRate and asc in
// config=. Set Control before marshaling.
func ForAAC(pt int, asc []byte, sampleRate, channels int) Media {
	p := map[string]string{
		"streamtype":       "5",
		"profile-level-id": "1",
		"mode":             "AAC-hbr",
		"sizelength":       "13",
		"indexlength":      "3",
		"indexdeltalength": "3",
		"config":           strings.ToUpper(hex.EncodeToString(asc)),
	}
	return rtpMedia("audio", pt, RTPMap{"MPEG4-GENERIC", sampleRate, channels}, p)
}

func rtpMedia(typ string, pt int, r RTPMap, fmtp map[string]string) Media {
	m := Media{
		Type:    typ,
		Proto:   "RTP/AVP",
		Formats: []int{pt},
		RTPMap:  map[int]RTPMap{pt: r},
	}
	if len(fmtp) > 0 {
		m.FMTP = map[int]map[string]string{pt: fmtp}
	}
	return m
}
