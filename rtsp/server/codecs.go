package server

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
	"github.com/zcingest/zerocopy/rtsp/rtph264"
)

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
	}
	return nil, nil // codec not (yet) depacketized: its packets are freed unread
}

// newPacketizer builds the track's packetizer for PLAY.
func (t *Track) newPacketizer(ssrc uint32) (rtp.Packetizer, error) {
	switch t.Codec {
	case codec.H264:
		return rtph264.NewPacketizer(t.PayloadType, ssrc, t.ClockRate, MTU), nil
	}
	return nil, fmt.Errorf("rtsp: no packetizer for %v", t.Codec)
}
