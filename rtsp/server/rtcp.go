package server

import (
	"github.com/zcingest/zerocopy/rtsp/base"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// rxStats is what a receiver report needs about one incoming track.
type rxStats struct {
	started  bool
	ssrc     uint32
	baseSeq  uint16
	maxSeq   uint16
	cycles   uint32
	received uint32
	// at the previous report, for the fraction lost
	expectedPrior, receivedPrior uint32
}

func (r *rxStats) update(seq uint16, ssrc uint32) {
	if !r.started {
		r.started, r.ssrc, r.baseSeq, r.maxSeq = true, ssrc, seq, seq
	}
	r.received++
	if d := seq - r.maxSeq; d != 0 && d < 0x8000 {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
}

// report returns the RFC 3550 reception report block for the track.
func (r *rxStats) report() rtp.ReceptionReport {
	ext := r.cycles | uint32(r.maxSeq)
	expected := ext - uint32(r.baseSeq) + 1
	lost := int32(expected - r.received)
	ei, ri := expected-r.expectedPrior, r.received-r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var frac uint8
	if ei > 0 && ei > ri {
		frac = uint8((ei - ri) << 8 / ei)
	}
	return rtp.ReceptionReport{SSRC: r.ssrc, FractionLost: frac, CumulativeLost: lost, ExtendedMax: ext}
}

// ReceiverReports builds one RTCP receiver report (with an SDES CNAME) per
// track that has received packets, sender ssrc, and calls send with each:
// a publisher's or camera's session sends them every
// ReceiverReportInterval. pkt is the Ingest's scratch: the bytes stop being
// valid when send returns.
func (in *Ingest) ReceiverReports(ssrc uint32, send func(track int, pkt []byte)) {
	for i := range in.tracks {
		t := &in.tracks[i]
		if !t.rx.started {
			continue
		}
		in.rtcp = rtp.AppendReceiverReport(in.rtcp[:0], ssrc, []rtp.ReceptionReport{t.rx.report()})
		in.rtcp = rtp.AppendSourceDesc(in.rtcp, ssrc, "zerocopy")
		send(i, in.rtcp)
	}
}

// sendReceiverReports sends RTCP receiver reports to a TCP-interleaved
// publisher on each track's RTCP channel.
func (c *conn) sendReceiverReports() {
	if c.ingest == nil {
		return
	}
	c.ingest.ReceiverReports(c.setup[0].ssrc|1, func(track int, pkt []byte) {
		hdr := base.AppendInterleavedHeader(nil, uint8(c.setup[track].channel+1), len(pkt))
		_ = c.writeInterleaved(hdr, [][]byte{pkt})
	})
}
