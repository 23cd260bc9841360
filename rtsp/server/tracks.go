package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/rtsp/sdp"
)

// Track is one media of a session description, resolved to what the
// depacketizers and packetizers need.
type Track struct {
	Kind        host.Kind // 0 for a media that is not served (kept so SETUP indexes match)
	Codec       codec.Codec
	PayloadType uint8
	ClockRate   int
	Channels    int
	// Control is the media's a=control as announced ("trackID=0", an
	// absolute URL, or "").
	Control string
	Video   host.VideoConfig
	Audio   host.AudioConfig
	// AAC AU-header field widths (RFC 3640).
	SizeLength, IndexLength, IndexDeltaLength int
	// PacketizationMode is H.264's (0 or 1).
	PacketizationMode int
	// MaxDONDiff is H.265's sprop-max-don-diff (non-zero: DONL fields,
	// refused by the depacketizer).
	MaxDONDiff int
}

// TracksFromSDP resolves the medias of an announced (or described)
// session. Medias of codecs that are not served come back with Kind 0 and
// are ignored when set up. At most MaxTracks medias are accepted.
func TracksFromSDP(s *sdp.Session) ([]Track, error) {
	if err := limit.Check("MaxTracks", int64(len(s.Medias)), MaxTracks); err != nil {
		return nil, fmt.Errorf("rtsp SDP: %w", err)
	}
	tracks := make([]Track, len(s.Medias))
	for i := range s.Medias {
		m := &s.Medias[i]
		t := &tracks[i]
		t.Control = m.Control
		if len(m.Formats) == 0 {
			continue
		}
		pt := m.Formats[0]
		t.PayloadType = uint8(pt)
		enc, ok := m.Encoding(pt)
		if !ok {
			continue
		}
		t.ClockRate, t.Channels = enc.ClockRate, enc.Channels
		fmtp := m.FMTP[pt]
		var err error
		switch {
		case m.Type == "video" && enc.Encoding == "H264":
			t.Kind, t.Codec = host.Video, codec.H264
			t.Video.Codec = codec.H264
			t.Video.SPS, t.Video.PPS, err = sdp.H264ParamSets(fmtp)
			if err == nil {
				t.PacketizationMode, err = sdp.H264PacketizationMode(fmtp)
			}
		case m.Type == "video" && (enc.Encoding == "H265" || enc.Encoding == "HEVC"):
			t.Kind, t.Codec = host.Video, codec.H265
			t.Video.Codec = codec.H265
			t.Video.VPS, t.Video.SPS, t.Video.PPS, err = sdp.H265ParamSets(fmtp)
			if err == nil {
				t.MaxDONDiff, err = sdp.H265MaxDONDiff(fmtp)
			}
			if err == nil && t.MaxDONDiff != 0 {
				// Every payload would carry a DONL field (RFC 7798 4.4)
				// the depacketizer does not parse: refuse the session
				// rather than misread payload.
				err = fmt.Errorf("sprop-max-don-diff %d: %w", t.MaxDONDiff, ErrDONL)
			}
		case m.Type == "audio" && enc.Encoding == "MPEG4-GENERIC":
			t.Kind, t.Codec = host.Audio, codec.AAC
			t.Audio.Codec = codec.AAC
			t.Audio.ASC, t.SizeLength, t.IndexLength, t.IndexDeltaLength, err = sdp.AACConfig(fmtp)
			if err == nil {
				var asc codec.AudioSpecificConfig
				if asc.Unmarshal(t.Audio.ASC) == nil {
					t.Audio.SampleRate, t.Audio.Channels = asc.SampleRate, asc.Channels()
				}
			}
		}
		if errors.Is(err, sdp.ErrNoConfig) {
			t.Kind, err = 0, nil // refused rather than waiting for in-band configuration
		}
		if err != nil {
			return nil, fmt.Errorf("rtsp SDP media %d (%s %s): %w", i, m.Type, enc.Encoding, err)
		}
		if t.ClockRate <= 0 || t.ClockRate > 1_000_000 {
			t.Kind = 0 // no usable clock: not served
		}
	}
	return tracks, nil
}

// BuildSDP returns the description a player gets from DESCRIBE for a
// stream with configurations v and a (a zero Codec means no such track),
// and the tracks it describes, with controls trackID=0 and trackID=1.
func BuildSDP(v host.VideoConfig, a host.AudioConfig) ([]byte, []Track) {
	s := sdp.Session{Name: "zerocopy", Control: "*", Range: "npt=now-", Connection: "IN IP4 0.0.0.0"}
	var tracks []Track
	first := func(sets [][]byte) []byte {
		if len(sets) > 0 {
			return sets[0]
		}
		return nil
	}
	add := func(m sdp.Media, t Track) {
		t.Control = fmt.Sprintf("trackID=%d", len(tracks))
		m.Control = t.Control
		s.Medias = append(s.Medias, m)
		tracks = append(tracks, t)
	}
	switch v.Codec {
	case codec.H264:
		add(sdp.ForH264(96, first(v.SPS), first(v.PPS)), Track{Kind: host.Video, Codec: codec.H264, PayloadType: 96, ClockRate: 90000, Video: v, PacketizationMode: 1})
	case codec.H265:
		add(sdp.ForH265(96, first(v.VPS), first(v.SPS), first(v.PPS)), Track{Kind: host.Video, Codec: codec.H265, PayloadType: 96, ClockRate: 90000, Video: v})
	}
	if a.Codec == codec.AAC && len(a.ASC) > 0 {
		rate, ch := a.SampleRate, a.Channels
		var asc codec.AudioSpecificConfig
		if asc.Unmarshal(a.ASC) == nil {
			rate, ch = asc.SampleRate, asc.Channels()
		}
		if rate > 0 {
			add(sdp.ForAAC(97, a.ASC, rate, ch), Track{Kind: host.Audio, Codec: codec.AAC, PayloadType: 97, ClockRate: rate, Channels: ch, Audio: a,
				SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3})
		}
	}
	return s.Marshal(nil), tracks
}

// trackIndex finds which track a SETUP URL names: by its control (the
// URL's last path element, or the whole URL when the control is
// absolute), else the only track when there is one.
func trackIndex(tracks []Track, url string) int {
	for i, t := range tracks {
		if t.Control == "" || t.Control == "*" {
			continue
		}
		if url == t.Control || strings.HasSuffix(url, "/"+t.Control) {
			return i
		}
	}
	if len(tracks) == 1 {
		return 0
	}
	return -1
}
