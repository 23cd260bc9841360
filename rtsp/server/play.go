package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/base"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// player feeds one PLAY session from a host subscriber on its own
// goroutine. It only reads frames owned by their publishers and never
// touches an allocator: RTP headers come from the packetizers' scratch,
// the 4-byte interleaved headers from hdr, payload pieces are views.
type player struct {
	c      *conn
	sub    host.Subscriber
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	video, audio int // track indexes, -1 when absent
	pk           []rtp.Packetizer
	hdr          []byte
	bufs         net.Buffers
	pieces       [][]byte
	sent         []packetCount
	udpCopy      []byte // UDP: one datagram assembled (counted in UDPBytesCopied)
	udpCopied    int64
	lastSR       time.Time
	rtcp         []byte
	// The sender reports' wall clock is the stream's own: the first frame
	// sent is at t0 with presentation time pts0, and a frame of PTS p at
	// t0+(p-pts0), for every track alike, so receivers line the tracks
	// up exactly as the publisher's timestamps do.
	t0    time.Time
	pts0  time.Duration
	begun bool
}

type packetCount struct {
	packets, octets uint32
	lastTS          uint32
	lastPTS         time.Duration // the PTS of the frame lastTS belongs to
	reported        bool          // a sender report went out for the track
}

func (c *conn) play(req *base.Request, cseq string) error {
	if c.st == statePlaying {
		return c.reply(200, cseq, c.sessionField(), nil)
	}
	if c.st != statePlayReady || len(c.setupTracks()) == 0 {
		return c.reply(455, cseq, nil, nil)
	}
	if c.authed != host.ActionPlay {
		if ok, err := c.authorize(req, cseq, host.ActionPlay, c.path, c.query); !ok {
			return err
		}
	}
	sub, err := c.s.host.Subscribe(c.path)
	if err != nil {
		return c.reply(404, cseq, nil, nil)
	}
	p := &player{c: c, sub: sub, done: make(chan struct{}), video: -1, audio: -1}
	p.pk = make([]rtp.Packetizer, len(c.tracks))
	p.sent = make([]packetCount, len(c.tracks))
	for _, i := range c.setupTracks() {
		t := c.tracks[i]
		pk, err := t.newPacketizer(c.setup[i].ssrc)
		if err != nil {
			continue // not served: its frames are skipped
		}
		p.pk[i] = pk
		switch t.Kind {
		case host.Video:
			p.video = i
		case host.Audio:
			p.audio = i
		}
	}
	c.stats.Role, c.stats.Path = "play", c.path
	c.stats.Transport = "tcp"
	if c.udpMode {
		c.stats.Transport = "udp"
		c.s.udp.register(c)
	}
	// RTP-Info is optional for players (ffmpeg and GStreamer both start
	// from the first packet's timestamp); the reply goes out before any
	// media so the client sees it first.
	if err := c.reply(200, cseq, append(c.sessionField(), base.Field{Key: "Range", Value: "npt=0.000-"}), nil); err != nil {
		sub.Close()
		return err
	}
	// A player sends little (RTCP, keep-alives): the session timeout
	// bounds its silence, not the publisher's read timeout.
	c.br.SetReadTimeout(0)
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.SessionTimeout))
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	c.player = p
	c.st = statePlaying
	c.log.Info("rtsp play started", "path", c.path, "transport", c.stats.Transport)
	go p.run(ctx)
	return nil
}

func (c *conn) pause(cseq string) error {
	if c.st != statePlaying {
		return c.reply(455, cseq, nil, nil)
	}
	// Live streams have no position to hold: pausing stops delivery; a
	// later PLAY starts again from the next keyframe.
	if c.player != nil {
		c.player.stop()
		c.stats.PlayDrops += c.player.sub.Drops()
		c.player = nil
	}
	c.halted.Store(false)
	c.st = statePlayReady
	return c.reply(200, cseq, c.sessionField(), nil)
}

func (p *player) run(ctx context.Context) {
	defer close(p.done)
	defer p.sub.Close()
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-p.sub.Cut():
			p.c.haltWrites()
		case <-stopWatch:
		}
	}()
	defer func() { close(stopWatch); <-watchDone }()
	p.err = p.loop(ctx)
	if ctx.Err() == nil {
		// The stream ended or the client stopped reading: end the
		// connection, so the read loop finishes too.
		p.c.log.Info("rtsp play ended", "path", p.c.path, "reason", p.err, "drops", p.sub.Drops())
		_ = p.c.nc.Close()
	}
}

func (p *player) loop(ctx context.Context) error {
	started := false
	for {
		f, err := p.sub.Next(ctx)
		if err != nil {
			return err
		}
		i := p.audio
		if f.Kind == host.Video {
			i = p.video
		}
		if i < 0 || (!started && !(f.Kind == host.Video && f.Keyframe) && p.video >= 0) {
			f.Release() // a player starts at a keyframe
			continue
		}
		started = true
		if !p.begun {
			p.begun, p.t0, p.pts0 = true, time.Now(), f.PTS
		}
		p.sent[i].lastPTS = f.PTS
		if ts, ok := p.pk[i].(interface{ Timestamp(time.Duration) uint32 }); ok && !p.sent[i].reported {
			// A track's first report goes out just before its first
			// frame, so a receiver aligns the tracks from the start.
			p.sent[i].lastTS = ts.Timestamp(f.PTS)
			p.senderReport(i)
		}
		err = p.pk[i].Packetize(f, func(pieces [][]byte) error { return p.send(i, f, pieces) })
		f.Release()
		if err != nil {
			return err
		}
		if time.Since(p.lastSR) >= SenderReportInterval {
			p.lastSR = time.Now()
			p.senderReports()
		}
	}
}

// send writes one RTP packet of track i.
func (p *player) send(i int, f *host.Frame, pieces [][]byte) error {
	n := 0
	for _, b := range pieces {
		n += len(b)
	}
	sc := &p.sent[i]
	sc.packets++
	sc.octets += uint32(max(n-12, 0))
	if len(pieces) > 0 && len(pieces[0]) >= 8 {
		b := pieces[0]
		sc.lastTS = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	}
	c := p.c
	if c.udpMode {
		return p.sendUDP(c.setup[i].clientRTP, pieces, n)
	}
	p.hdr = base.AppendInterleavedHeader(p.hdr[:0], uint8(c.setup[i].channel), n)
	return c.writeInterleaved(p.hdr, pieces)
}

// sendUDP writes one datagram: contiguous bytes are needed, so a packet
// of several pieces is assembled in the player's own buffer (one counted
// copy per packet: see Stats).
func (p *player) sendUDP(to *net.UDPAddr, pieces [][]byte, n int) error {
	var pkt []byte
	if len(pieces) == 1 {
		pkt = pieces[0]
	} else {
		p.udpCopy = p.udpCopy[:0]
		for _, b := range pieces {
			p.udpCopy = append(p.udpCopy, b...)
		}
		pkt = p.udpCopy
		p.udpCopied += int64(n)
	}
	return p.c.s.udp.writeRTP(pkt, to)
}

// senderReports sends an SR per track that has sent packets so players
// can map RTP time to wall-clock time (and align audio with video).
func (p *player) senderReports() {
	for i, pk := range p.pk {
		if pk != nil && p.sent[i].packets > 0 {
			p.senderReport(i)
		}
	}
}

// gridStamper is a packetizer whose timestamps run on its own sample clock
// rather than each frame's PTS (rtpaac): Slip is how far the last packet's
// timestamp lies from its frame's PTS.
type gridStamper interface{ Slip() time.Duration }

// senderReport sends track i's SR: the RTP timestamp of its last packet and
// that timestamp's time on the stream clock (see player.t0): the frame's
// PTS, moved by the packetizer's slip where it stamps on a sample grid, so
// the audio and video reports map RTP time to one wall clock exactly.
func (p *player) senderReport(i int) {
	c := p.c
	sc := &p.sent[i]
	sc.reported = true
	at := sc.lastPTS
	if g, ok := p.pk[i].(gridStamper); ok {
		at += g.Slip()
	}
	ntp := rtp.NTPTime(p.t0.Add(at - p.pts0))
	p.rtcp = rtp.AppendSenderReport(p.rtcp[:0], c.setup[i].ssrc, rtp.SenderInfo{NTPTime: ntp, RTPTime: sc.lastTS, PacketCount: sc.packets, OctetCount: sc.octets}, nil)
	p.rtcp = rtp.AppendSourceDesc(p.rtcp, c.setup[i].ssrc, "zerocopy")
	if c.udpMode {
		_ = c.s.udp.writeRTCP(p.rtcp, c.setup[i].clientRTCP)
		return
	}
	p.hdr = base.AppendInterleavedHeader(p.hdr[:0], uint8(c.setup[i].channel+1), len(p.rtcp))
	_ = c.writeInterleaved(p.hdr, [][]byte{p.rtcp})
}

// writeInterleaved writes hdr and pieces with one writev under the writer
// lock (responses share the connection).
func (c *conn) writeInterleaved(hdr []byte, pieces [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.halted.Load() {
		return errWritesHalted
	}
	bufs := append(c.wbufs[:0], hdr)
	bufs = append(bufs, pieces...)
	c.wbufs = bufs[:0]
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if c.halted.Load() {
		_ = c.nc.SetWriteDeadline(time.Unix(1, 0))
	}
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(c.nc)
	clear(bufs)
	c.sent.Add(n)
	if err != nil {
		return fmt.Errorf("rtsp write: %w", err)
	}
	return nil
}

// haltWrites stops every write on the connection for good, from any
// goroutine: a blocked write fails at once (expired deadline).
func (c *conn) haltWrites() {
	c.halted.Store(true)
	_ = c.nc.SetWriteDeadline(time.Unix(1, 0))
}

// stop ends the player and waits for its goroutine.
func (p *player) stop() {
	p.cancel()
	p.c.haltWrites()
	<-p.done
	if p.c.s.udp != nil && p.c.udpMode {
		p.c.s.udp.unregister(p.c)
	}
	p.c.stats.BytesCopied += p.udpCopied
	if p.err != nil && !errors.Is(p.err, context.Canceled) && !errors.Is(p.err, io.EOF) {
		p.c.log.Debug("rtsp player stopped", "reason", p.err)
	}
}
