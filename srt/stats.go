package srt

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/srt/transport"
)

// ConnStats is what one SRT connection did, logged when it closes.
type ConnStats struct {
	Role   string // "publish", "play" or "pull"
	Path   string
	Remote string
	// BytesRead is the TS payload bytes read (SRT packet payloads).
	BytesRead int64
	// BytesSent is the TS bytes written to a player.
	BytesSent int64
	// EgressBytesCopied counts the bytes a player's TS packets were copied
	// to assemble contiguous 1316-byte messages for the transport's Write
	// (which copies them once more into its send buffer). Ingest copies
	// nothing.
	EgressBytesCopied int64
	VideoFrames       int64
	AudioFrames       int64
	// Packets and Decommissioned count SRT packets wrapped and given back
	// to their pool; they are equal once the connection is done.
	Packets        int64
	Decommissioned int64
	// Resyncs counts TS sync losses skipped; SkippedBytes the bytes lost
	// to them and to TS packets split across SRT packets whose second half
	// never came (a lost SRT packet).
	Resyncs      int64
	SkippedBytes int64
	// CarryPackets counts TS packets split across two SRT packets (a
	// payload size that is not a multiple of 188) and completed by copying
	// them into a carry packet; CarryBytesCopied the bytes so copied (the
	// only media copy on the ingest path, 188 bytes per split packet).
	CarryPackets     int64
	CarryBytesCopied int64
	DemuxErrors      int64 // TS input the demuxer refused (over a limit) and dropped
	// From the demuxer: control bytes it copied (PSI sections, headers
	// straddling TS packets, parameter sets), continuity gaps, access
	// units dropped, malformed input dropped.
	ControlBytesCopied, CCGaps, DroppedAUs, Malformed int64
	// IgnoredPrograms and IgnoredStreams: what the publisher's latest PAT
	// and PMT offered beyond the one program, video and audio stream
	// followed.
	IgnoredPrograms, IgnoredStreams int
	PlayDrops                       int64 // frames the host skipped for a slow player
	AllocMalloc                     int64
	AllocFree                       int64
	SRT                             SRTStats
}

// SRTStats is the SRT transport's own view of a connection.
type SRTStats struct {
	PktRecv, PktRecvLoss, PktRecvDrop, PktRecvRetrans uint64
	PktSent, PktSendLoss, PktSendDrop, PktRetrans     uint64
	RTTms                                             float64
	RecvBufMs, SendBufMs                              uint64
	RecvBufPkts, SendBufPkts                          uint64
}

func srtStats(c *transport.Conn) SRTStats {
	s := c.Stats()
	return SRTStats{
		PktRecv: s.PktRecv, PktRecvLoss: s.PktRecvLoss, PktRecvDrop: s.PktRecvDrop, PktRecvRetrans: s.PktRecvRetrans,
		PktSent: s.PktSent, PktSendLoss: s.PktSendLoss, PktSendDrop: s.PktSendDrop, PktRetrans: s.PktRetrans,
		RTTms: float64(s.RTT) / float64(time.Millisecond), RecvBufMs: s.RecvBufMs, SendBufMs: s.SendBufMs,
		RecvBufPkts: s.RecvBufPkts, SendBufPkts: s.SendBufPkts,
	}
}

// Extra is the SRT statistics as named gauges, for a host that shows
// per-stream extras (see the report's proposed IngestStats.Extra).
func (s SRTStats) Extra() map[string]float64 {
	return map[string]float64{
		"srt_pkt_recv": float64(s.PktRecv), "srt_pkt_recv_loss": float64(s.PktRecvLoss),
		"srt_pkt_recv_drop": float64(s.PktRecvDrop), "srt_pkt_recv_retrans": float64(s.PktRecvRetrans),
		"srt_rtt_ms": s.RTTms, "srt_recv_buf_ms": float64(s.RecvBufMs),
	}
}

// PlayExtra is the send side of the SRT statistics as named gauges, what
// matters for a player's connection (its host shows them per player):
// packets sent, lost and retransmitted, dropped as too late, the RTT and
// the unacknowledged send buffer.
func (s SRTStats) PlayExtra() map[string]float64 {
	return map[string]float64{
		"srt_pkt_sent": float64(s.PktSent), "srt_pkt_send_loss": float64(s.PktSendLoss),
		"srt_pkt_send_drop": float64(s.PktSendDrop), "srt_pkt_retrans": float64(s.PktRetrans),
		"srt_rtt_ms": s.RTTms, "srt_send_buf_ms": float64(s.SendBufMs), "srt_send_buf_pkts": float64(s.SendBufPkts),
	}
}

func (st *ConnStats) logAttrs(reason string) []any {
	return []any{"reason", reason, "role", st.Role, "path", st.Path, "remote", st.Remote,
		"bytes_read", st.BytesRead, "bytes_sent", st.BytesSent, "egress_bytes_copied", st.EgressBytesCopied,
		"video_frames", st.VideoFrames, "audio_frames", st.AudioFrames,
		"packets", st.Packets, "decommissioned", st.Decommissioned, "ts_resyncs", st.Resyncs, "skipped_bytes", st.SkippedBytes,
		"carry_packets", st.CarryPackets, "carry_bytes_copied", st.CarryBytesCopied, "demux_errors", st.DemuxErrors,
		"control_bytes_copied", st.ControlBytesCopied, "cc_gaps", st.CCGaps, "dropped_units", st.DroppedAUs, "malformed", st.Malformed,
		"ignored_programs", st.IgnoredPrograms, "ignored_streams", st.IgnoredStreams,
		"play_drops", st.PlayDrops, "alloc_malloc", st.AllocMalloc, "alloc_free", st.AllocFree,
		slog.Group("srt",
			"pkt_recv", st.SRT.PktRecv, "recv_loss", st.SRT.PktRecvLoss, "recv_drop", st.SRT.PktRecvDrop, "recv_retrans", st.SRT.PktRecvRetrans,
			"pkt_sent", st.SRT.PktSent, "send_loss", st.SRT.PktSendLoss, "send_drop", st.SRT.PktSendDrop, "retrans", st.SRT.PktRetrans,
			"rtt_ms", st.SRT.RTTms, "recv_buf_ms", st.SRT.RecvBufMs, "send_buf_ms", st.SRT.SendBufMs),
	}
}

// Totals are the server's counters over every connection.
type Totals struct {
	Accepted, Rejected   atomic.Int64
	Packets              atomic.Int64 // SRT packets wrapped by publishers
	Decommissioned       atomic.Int64 // and given back
	PacketsAbandoned     atomic.Int64 // never decommissioned because readers kept frames past the close wait
	EgressBytesCopied    atomic.Int64
	BytesRead, BytesSent atomic.Int64
}
