package server

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
	"github.com/zcingest/zerocopy/rtsp/rtpaac"
	"github.com/zcingest/zerocopy/rtsp/rtph264"
	"github.com/zcingest/zerocopy/rtsp/rtph265"
)

// clocked is what every payload package's depacketizer offers besides
// rtp.Depacketizer: its track clock, anchored by sender reports for A/V
// alignment.
type clocked interface{ Clock() *rtp.Clock }

// newDepacketizer builds the track's depacketizer on alloc, or nil for a
// track that is not served.
func (t *Track) newDepacketizer(alloc *pool.Allocator) (rtp.Depacketizer, error) {
	switch {
	case t.Kind == 0:
		return nil, nil
	case t.Codec == codec.H264:
		var opts []rtph264.Option
		if len(t.Video.SPS) > 0 {
			opts = append(opts, rtph264.WithSPS(t.Video.SPS[0]))
		}
		opts = append(opts, rtph264.WithPacketizationMode(t.PacketizationMode))
		return rtph264.NewDepacketizer(alloc, t.ClockRate, opts...)
	case t.Codec == codec.H265:
		// sprop-max-don-diff > 0 means DONL fields in every payload: the
		// depacketizer refuses it (the track fails at RECORD, not
		// silently misread).
		opts := []rtph265.Option{rtph265.WithMaxDONDiff(t.MaxDONDiff)}
		if len(t.Video.SPS) > 0 {
			opts = append(opts, rtph265.WithSPS(t.Video.SPS[0]))
		}
		return rtph265.NewDepacketizer(alloc, t.ClockRate, opts...)
	case t.Codec == codec.AAC:
		return rtpaac.NewDepacketizer(alloc, t.ClockRate, rtpaac.WithAUHeader(t.SizeLength, t.IndexLength, t.IndexDeltaLength))
	}
	return nil, nil // codec not depacketized: its packets are freed unread
}

// newPacketizer builds the track's packetizer for PLAY.
func (t *Track) newPacketizer(ssrc uint32) (rtp.Packetizer, error) {
	switch t.Codec {
	case codec.H264:
		return rtph264.NewPacketizer(t.PayloadType, ssrc, t.ClockRate, MTU), nil
	case codec.H265:
		return rtph265.NewPacketizer(t.PayloadType, ssrc, t.ClockRate, MTU), nil
	case codec.AAC:
		return rtpaac.NewPacketizer(t.PayloadType, ssrc, t.ClockRate, MTU), nil
	}
	return nil, fmt.Errorf("rtsp: no packetizer for %v", t.Codec)
}
