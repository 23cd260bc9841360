package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/srt/transport"
)

// player feeds one SRT player from a host subscriber: the TS muxer writes
// headers from its own scratch around views of each frame's units, and the
// player assembles them into 1316-byte messages (seven TS packets) because
// the transport's Write takes contiguous bytes. That assembly is one copy
// per egress byte, counted in EgressBytesCopied; Write then copies the
// message into its send buffer's packet slot (kept for retransmission).
type player struct {
	conn *transport.Conn
	st   *ConnStats
	srv  *Server
	msg  []byte // the message being assembled, cap payloadSize
	// sendFn is p.send bound once, so WriteFrame gets no new closure per frame.
	sendFn func(pieces [][]byte) error
	// drops is the sender's dropped-packet count at the last stats
	// interval; dropStreak how many intervals in a row it grew.
	drops      uint64
	dropStreak int
}

// errStreamEnded is a player's close reason when its stream ended.
var errStreamEnded = errors.New("stream ended")

// errSendFailed: the transport's Write never blocks; it fails when the
// connection is closed.
var errSendFailed = errors.New("srt send failed")

func (s *Server) runPlay(conn *transport.Conn, path string, st *ConnStats, log *slog.Logger) error {
	// A player sends only control packets, which ReadPacket processes
	// (ACKs and NAKs feed the sender) and never returns; it returns
	// io.EOF when the connection closes (peer shutdown, peer idle
	// timeout, server close). That is how the player learns its peer left
	// while it waits for frames, so this goroutine must run for as long
	// as the player does.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		for {
			pkt, err := conn.ReadPacket()
			if err != nil {
				return
			}
			pkt.Decommission() // a player sends no media; drop it
		}
	}()
	defer func() { _ = conn.Close(); <-readDone }()

	sub, err := s.svc.Subscribe(path)
	if err != nil {
		return fmt.Errorf("srt play %s: %w", path, err)
	}
	defer sub.Close()
	p := &player{conn: conn, st: st, srv: s, msg: make([]byte, 0, payloadSize)}
	p.sendFn = p.send
	err = p.loop(ctx, sub)
	if errors.Is(err, io.EOF) && ctx.Err() == nil {
		// The stream ended: closing now would discard what the peer has
		// not yet acknowledged (Close drops the send buffer), so the
		// player would lose the stream's last frames to a late loss.
		start := time.Now()
		left := drainSend(conn, s.cfg.Latency)
		log.Debug("srt play drained at stream end", "took", time.Since(start), "unacknowledged", left)
		err = errStreamEnded
	}
	st.PlayDrops = sub.Drops()
	st.SRT = srtStats(conn)
	select {
	case <-sub.Cut():
		err = fmt.Errorf("cut off by the host (the stream ended before the player caught up, or shutdown): %w", err)
	default:
	}
	return err
}

func (p *player) loop(ctx context.Context, sub host.Subscriber) error {
	var mux *mpegts.Muxer
	next := time.Now() // report from the first frame: the host lists the player at once
	for {
		f, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return io.EOF // the peer left
			}
			return err
		}
		if v, a, changed := sub.Configs(); changed || mux == nil {
			// New parameter sets (or a returning publisher): a new muxer
			// announces them in fresh PAT/PMT and in-band before the next
			// keyframe.
			mux = mpegts.NewMuxer(v, a)
		}
		err = mux.WriteFrame(f, p.sendFn)
		if err == nil {
			err = p.flush()
		}
		f.Release()
		if err != nil {
			return err
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(statsInterval)
			stats := srtStats(p.conn)
			if rep, ok := sub.(host.EgressReporter); ok {
				rep.ReportEgress(host.EgressStats{Protocol: "srt", Remote: p.st.Remote, Extra: stats.PlayExtra()})
			}
			// The sender drops what stays unacknowledged past the
			// peer's latency plus transport.SendDropDelay, so its
			// buffer stays bounded; a peer that keeps it dropping
			// (it stopped acknowledging: frozen, or far too slow) is
			// cut instead of being fed a stream it never gets.
			if stats.PktSendDrop > p.drops {
				p.dropStreak++
			} else {
				p.dropStreak = 0
			}
			p.drops = stats.PktSendDrop
			if p.dropStreak >= MaxSendDropIntervals {
				return fmt.Errorf("player not acknowledging: %d packets dropped unacknowledged, in each of the last %d intervals of %v (MaxSendDropIntervals)",
					stats.PktSendDrop, MaxSendDropIntervals, statsInterval)
			}
		}
	}
}

// send appends whole TS packets to the message being assembled, writing
// each full message. pieces are valid only during the call: they are
// copied (counted) into the message buffer.
func (p *player) send(pieces [][]byte) error {
	for _, b := range pieces {
		for len(b) > 0 {
			n := min(len(b), payloadSize-len(p.msg))
			p.msg = append(p.msg, b[:n]...)
			b = b[n:]
			p.st.EgressBytesCopied += int64(n)
			p.srv.totals.EgressBytesCopied.Add(int64(n))
			if len(p.msg) == payloadSize {
				if err := p.flush(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// flush writes the assembled message, if any: whole TS packets only, so a
// frame's last message may be shorter than seven packets (lower latency
// than waiting for the next frame).
func (p *player) flush() error {
	if len(p.msg) == 0 {
		return nil
	}
	n, err := p.conn.Write(p.msg)
	p.msg = p.msg[:0]
	if err != nil {
		return fmt.Errorf("%w: %w", errSendFailed, err)
	}
	p.st.BytesSent += int64(n)
	p.srv.totals.BytesSent.Add(int64(n))
	return nil
}

// drainSend waits, bounded, until the peer acknowledged everything written
// and its latency window has passed, so it can still deliver the last
// packets after our shutdown arrives.
func drainSend(conn *transport.Conn, latency time.Duration) (unacknowledged uint64) {
	deadline := time.Now().Add(drainWait + latency)
	for time.Now().Before(deadline) {
		if unacknowledged = srtStats(conn).SendBufPkts; unacknowledged == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(max(0, min(latency, time.Until(deadline))))
	return unacknowledged
}
