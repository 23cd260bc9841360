package rtph264

import (
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// pk is one test packet before it is Malloc'd.
type pk rtptest.Pkt

func (p pk) bytes() []byte { return rtptest.Pkt(p).Bytes() }

// frame builds a FormatUnits frame whose units cross buffers.
func frame(pts int64, units ...[]byte) *host.Frame {
	return rtptest.Frame(host.Video, codec.H264, 2, pts, units...)
}

// newDep builds a 90000 Hz depacketizer with opts for the shared checks.
func newDep(opts ...Option) rtptest.NewDep {
	return func(a *pool.Allocator) (rtp.Depacketizer, error) { return NewDepacketizer(a, 90000, opts...) }
}

// seeds are the table cases' packets.
func seeds() [][][]byte {
	var s [][][]byte
	for _, c := range depCases() {
		s = append(s, rtptest.Packets(c.pkts))
	}
	return s
}
