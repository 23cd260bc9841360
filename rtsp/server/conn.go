package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/base"
	"github.com/zcingest/zerocopy/rtsp/sdp"
)

type state uint8

const (
	stateInit state = iota
	stateAnnounced
	stateRecording
	statePlayReady
	statePlaying
)

// conn is one TCP control connection and the (at most one) session it
// carries.
type conn struct {
	s     *Server
	nc    net.Conn
	log   *slog.Logger
	start time.Time

	alloc *pool.Allocator
	br    *bufreader.Reader
	rd    *base.Reader
	req   base.Request
	pkt   gomem.Memory

	wmu    sync.Mutex // responses (read loop) vs. interleaved media (player)
	halted atomic.Bool
	out    []byte
	wbufs  [][]byte     // writev pieces, reused under wmu
	sent   atomic.Int64 // bytes written

	// session
	id        string
	st        state
	path      string
	query     string
	authed    host.Action // the action the session's path was authorized for
	tracks    []Track
	setup     []trackSetup
	setups    int
	udpMode   bool
	tcpMode   bool
	requests  int
	authFails int

	pub      host.Publisher
	ingest   *Ingest
	batch    *rcvlowat.Batch // nil unless recording over TCP with batching
	udpSess  *udpSession
	stopKick func() bool
	player   *player
	pins     [][]byte
	copied   int64  // straddling RTCP packets made contiguous (counted copies)
	rtcpBuf  []byte // a straddling RTCP packet made contiguous
	stats    Stats
	reporter host.IngestReporter
	leak     bool
	lastRR   time.Time
	udpRead  func() int64
}

// trackSetup is what SETUP chose for one track.
type trackSetup struct {
	done       bool
	channel    int          // TCP: RTP channel (RTCP is channel+1)
	clientRTP  *net.UDPAddr // UDP: where the client receives/sends RTP
	clientRTCP *net.UDPAddr
	ssrc       uint32
}

// ServeConn runs one RTSP connection until it ends and returns why (io.EOF
// for a clean close) with the connection's figures. It never panics on
// peer input; the caller closes nc.
func (s *Server) ServeConn(nc net.Conn, log *slog.Logger) (Stats, error) {
	c := &conn{s: s, nc: nc, log: log, start: time.Now()}
	c.alloc = pool.NewAllocator(InitialAllocatorSize)
	c.br = bufreader.New(nc, base.BufOptions(bufreader.Options{Allocator: c.alloc, BlockSize: s.cfg.BlockSize}))
	c.rd = base.NewReader(c.br, base.Options{})
	err := c.run()
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		err = io.EOF
	}
	c.teardown(err)
	return c.stats, err
}

func (c *conn) run() error {
	_ = c.nc.SetReadDeadline(c.start.Add(c.s.cfg.SetupTimeout))
	for {
		il, err := c.rd.IsInterleaved()
		if err != nil {
			if timeout.Is(err) && c.alive() {
				continue
			}
			if timeout.Is(err) && c.st != stateRecording && c.st != statePlaying {
				return fmt.Errorf("rtsp: no RECORD or PLAY within %v of connecting: %w", c.s.cfg.SetupTimeout, err)
			}
			return err
		}
		if il {
			if err := c.interleaved(); err != nil {
				return err
			}
			continue
		}
		if err := c.rd.ReadRequest(&c.req); err != nil {
			return err
		}
		if err := c.handle(&c.req); err != nil {
			return err
		}
	}
}

// alive is asked when a read times out: a UDP session whose control
// connection is quiet lives while its media flows, up to the session
// timeout. Only whole messages are waited for (nothing half-read).
func (c *conn) alive() bool {
	if !c.udpMode || c.br.Buffered() != 0 || (c.st != stateRecording && c.st != statePlaying) {
		return false
	}
	if c.udpSess != nil && time.Since(c.udpSess.lastPacket()) > c.s.cfg.SessionTimeout {
		return false
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.SessionTimeout))
	return c.udpSess != nil || c.st == statePlaying
}

// interleaved handles one '$' frame: RTP of a recording track goes to its
// depacketizer as taken ranges; RTCP is read and freed; a channel no SETUP
// gave ends the connection.
func (c *conn) interleaved() error {
	ch, n, err := c.rd.ReadInterleaved(&c.pkt)
	if err != nil {
		return err
	}
	defer pool.FreeMemory(c.alloc, &c.pkt) // no-op when ownership moved on
	track, rtcp := -1, false
	for i := range c.setup {
		if c.setup[i].done && c.tcpMode && (int(ch) == c.setup[i].channel || int(ch) == c.setup[i].channel+1) {
			track, rtcp = i, int(ch) == c.setup[i].channel+1
		}
	}
	if track < 0 {
		return fmt.Errorf("%w: channel %d (%d bytes)", ErrChannelNotSetup, ch, n)
	}
	if c.st == statePlaying && rtcp && n >= 8 && c.pkt.Buffers[0][0]>>6 == 2 {
		// A player's RTCP: receiver reports are only counted (nothing
		// is retransmitted or adapted). Read in place.
		if t := c.pkt.Buffers[0][1]; t == 201 || t == 200 {
			c.stats.ReceiverReportsIn++
		}
	}
	if c.st != stateRecording || c.ingest == nil || n == 0 {
		return nil
	}
	if rtcp {
		// A publisher's sender reports align its tracks. Control data:
		// read in place, or made contiguous in a scratch (counted) when
		// it straddles two blocks; freed by the deferred FreeMemory.
		b := c.pkt.Buffers[0]
		if len(c.pkt.Buffers) > 1 {
			c.rtcpBuf = c.rtcpBuf[:0]
			for _, p := range c.pkt.Buffers {
				c.rtcpBuf = append(c.rtcpBuf, p...)
			}
			c.copied += int64(n)
			b = c.rtcpBuf
		}
		c.ingest.WriteRTCP(track, b)
		return nil
	}
	// The packet's ranges move to the depacketizer as they lie in the
	// reader's blocks, two when it straddles a block boundary: no byte is
	// copied (rtp.Parts).
	err = c.ingest.WriteRTPParts(track, c.pkt.Buffers)
	pool.ResetMemory(&c.pkt)
	if err != nil {
		return fmt.Errorf("rtsp record %s: %w", c.path, err)
	}
	c.reportIngest()
	if time.Since(c.lastRR) >= ReceiverReportInterval {
		c.lastRR = time.Now()
		c.sendReceiverReports()
	}
	return nil
}

// ---- requests ----

func (c *conn) handle(req *base.Request) error {
	c.requests++
	if c.st != stateRecording && c.st != statePlaying {
		if err := limit.Check("MaxRequestsBeforeMedia", int64(c.requests), MaxRequestsBeforeMedia); err != nil {
			return fmt.Errorf("rtsp %s: %w", req.Method, err)
		}
	}
	cseq := req.CSeq()
	if len(cseq) > 16 || strings.Trim(cseq, "0123456789") != "" {
		c.reply(400, "", nil, nil)
		return fmt.Errorf("%w: CSeq %q", base.ErrMalformed, cseq)
	}
	if id := req.Header.Get("Session"); id != "" && req.Method != "OPTIONS" && req.Method != "GET_PARAMETER" {
		if sid, _ := base.ParseSession(id); c.id == "" || sid != c.id {
			return c.reply(454, cseq, nil, nil)
		}
	}
	if c.udpMode {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.SessionTimeout))
	}
	var err error
	switch req.Method {
	case "OPTIONS":
		err = c.reply(200, cseq, []base.Field{{Key: "Public", Value: "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, RECORD, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"}}, nil)
	case "GET_PARAMETER", "SET_PARAMETER":
		err = c.reply(200, cseq, c.sessionField(), nil)
	case "ANNOUNCE":
		err = c.announce(req, cseq)
	case "DESCRIBE":
		err = c.describe(req, cseq)
	case "SETUP":
		err = c.setupTrack(req, cseq)
	case "RECORD":
		err = c.record(req, cseq)
	case "PLAY":
		err = c.play(req, cseq)
	case "PAUSE":
		err = c.pause(cseq)
	case "TEARDOWN":
		c.endSession(nil)
		err = c.reply(200, cseq, nil, nil)
	default:
		err = c.reply(501, cseq, nil, nil)
	}
	return err
}

// reply writes a response under the writer lock.
func (c *conn) reply(code int, cseq string, fields []base.Field, body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.halted.Load() {
		return errWritesHalted
	}
	c.out = base.AppendResponse(c.out[:0], code, cseq, fields, body)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	n, err := c.nc.Write(c.out)
	c.sent.Add(int64(n))
	if err != nil {
		return fmt.Errorf("rtsp write: %w", err)
	}
	return nil
}

var errWritesHalted = errors.New("rtsp: writes stopped")

func (c *conn) sessionField() []base.Field {
	if c.id == "" {
		return nil
	}
	return []base.Field{{Key: "Session", Value: c.id + ";timeout=" + strconv.Itoa(int(c.s.cfg.SessionTimeout/time.Second))}}
}

// parseURL returns the hub path and the raw query of a request URL
// (rtsp://host:8554/live/x?key=K → "live/x", "key=K"), with a SETUP
// control suffix left on the path.
func parseURL(raw string) (path, query string, err error) {
	if err := limit.Check("MaxURLLength", int64(len(raw)), MaxURLLength); err != nil {
		return "", "", err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") {
		return "", "", fmt.Errorf("%w: request URL", base.ErrMalformed)
	}
	path = strings.Trim(u.Path, "/")
	if path == "" || strings.Contains(path, "..") {
		return "", "", fmt.Errorf("%w: stream path", base.ErrMalformed)
	}
	return path, u.RawQuery, nil
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *conn) announce(req *base.Request, cseq string) error {
	if c.st != stateInit {
		return c.reply(455, cseq, nil, nil)
	}
	path, query, err := parseURL(req.URL)
	if err != nil {
		_ = c.reply(400, cseq, nil, nil)
		return fmt.Errorf("rtsp ANNOUNCE: %w", err)
	}
	if ok, err := c.authorize(req, cseq, host.ActionPublish, path, query); !ok {
		return err
	}
	desc, err := sdp.Parse(req.Body)
	if err != nil {
		_ = c.reply(400, cseq, nil, nil)
		return fmt.Errorf("rtsp ANNOUNCE %s: %w", path, err)
	}
	tracks, err := TracksFromSDP(desc)
	if err != nil {
		_ = c.reply(400, cseq, nil, nil)
		return fmt.Errorf("rtsp ANNOUNCE %s: %w", path, err)
	}
	served := 0
	for _, t := range tracks {
		if t.Kind != 0 {
			served++
		}
	}
	if served == 0 {
		return c.reply(415, cseq, nil, nil)
	}
	c.path, c.query, c.tracks = path, query, tracks
	c.setup = make([]trackSetup, len(tracks))
	c.id = newSessionID()
	c.st = stateAnnounced
	return c.reply(200, cseq, c.sessionField(), nil)
}

func (c *conn) describe(req *base.Request, cseq string) error {
	if c.st != stateInit && c.st != statePlayReady {
		return c.reply(455, cseq, nil, nil)
	}
	path, query, err := parseURL(req.URL)
	if err != nil {
		_ = c.reply(400, cseq, nil, nil)
		return fmt.Errorf("rtsp DESCRIBE: %w", err)
	}
	if ok, err := c.authorize(req, cseq, host.ActionPlay, path, query); !ok {
		return err
	}
	sub, err := c.s.host.Subscribe(path)
	if err != nil {
		return c.reply(404, cseq, nil, nil)
	}
	// The configs are known once the publisher announced them; a
	// subscriber joining right after the publish waits for the first
	// frame to be sure.
	v, a, _ := sub.Configs()
	if v.Codec == 0 || a.Codec == 0 {
		// A publisher that learns a configuration in band (SRT's ADTS,
		// an RTSP publisher without sprop) may not have it yet: read a
		// little of the stream, until both are known, an audio frame
		// came (its configuration is then as known as it gets), or
		// DescribeAudioSpan of video passed without audio (video only).
		ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.SetupTimeout/2)
		first := time.Duration(-1)
		for {
			f, err := sub.Next(ctx)
			if err != nil {
				break
			}
			kind, dts := f.Kind, f.DTS
			f.Release()
			v, a, _ = sub.Configs()
			if (v.Codec != 0 && a.Codec != 0) || kind == host.Audio {
				break
			}
			if first < 0 {
				first = dts
			}
			if v.Codec != 0 && dts-first >= DescribeAudioSpan {
				break
			}
		}
		cancel()
	}
	sub.Close()
	body, tracks := BuildSDP(v, a)
	if len(tracks) == 0 {
		return c.reply(404, cseq, nil, nil)
	}
	c.path, c.query, c.tracks = path, query, tracks
	c.setup = make([]trackSetup, len(tracks))
	c.st = statePlayReady
	contentBase := strings.TrimSuffix(req.URL, "/") + "/"
	return c.reply(200, cseq, []base.Field{{Key: "Content-Type", Value: "application/sdp"}, {Key: "Content-Base", Value: contentBase}}, body)
}

func (c *conn) setupTrack(req *base.Request, cseq string) error {
	c.setups++
	if err := limit.Check("MaxSetups", int64(c.setups), MaxSetups); err != nil {
		_ = c.reply(453, cseq, nil, nil)
		return fmt.Errorf("rtsp SETUP: %w", err)
	}
	if c.st != stateAnnounced && c.st != statePlayReady {
		if c.st == stateInit {
			// A player may SETUP without DESCRIBE: describe the stream now.
			return c.reply(455, cseq, nil, nil)
		}
		return c.reply(455, cseq, nil, nil)
	}
	i := trackIndex(c.tracks, req.URL)
	if i < 0 || c.tracks[i].Kind == 0 {
		return c.reply(404, cseq, nil, nil)
	}
	specs, err := base.ParseTransports(req.Header.Get("Transport"))
	if err != nil {
		_ = c.reply(400, cseq, nil, nil)
		return fmt.Errorf("rtsp SETUP: %w", err)
	}
	var chosen *base.Transport
	for k := range specs {
		t := &specs[k]
		if t.Multicast {
			continue
		}
		if t.TCP && !c.udpMode {
			chosen = t
			break
		}
		if !t.TCP && t.HasClientPort && !c.tcpMode && c.s.udp != nil {
			chosen = t
			break
		}
	}
	if chosen == nil {
		return c.reply(461, cseq, nil, nil)
	}
	ts := &c.setup[i]
	if ts.ssrc == 0 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		ts.ssrc = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | 1
	}
	resp := base.Transport{TCP: chosen.TCP, Mode: chosen.Mode}
	if chosen.TCP {
		ch := chosen.Interleaved[0]
		if !chosen.HasInterleaved {
			ch = 2 * i
		}
		for k := range c.setup {
			if k != i && c.setup[k].done && (c.setup[k].channel == ch || c.setup[k].channel == ch+1 || c.setup[k].channel+1 == ch) {
				return c.reply(461, cseq, nil, nil)
			}
		}
		if ch > 254 {
			return c.reply(461, cseq, nil, nil)
		}
		ts.channel = ch
		c.tcpMode = true
		resp.HasInterleaved, resp.Interleaved = true, [2]int{ch, ch + 1}
	} else {
		ip := remoteIP(c.nc)
		ts.clientRTP = &net.UDPAddr{IP: ip, Port: chosen.ClientPort[0]}
		ts.clientRTCP = &net.UDPAddr{IP: ip, Port: chosen.ClientPort[1]}
		c.udpMode = true
		resp.HasClientPort, resp.ClientPort = true, chosen.ClientPort
		resp.HasServerPort, resp.ServerPort = true, c.s.udp.ports()
	}
	resp.SSRC = fmt.Sprintf("%08X", ts.ssrc)
	ts.done = true
	if c.id == "" {
		c.id = newSessionID()
	}
	return c.reply(200, cseq, append(c.sessionField(), base.Field{Key: "Transport", Value: resp.String()}), nil)
}

func remoteIP(nc net.Conn) net.IP {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

func (c *conn) setupTracks() []int {
	var idx []int
	for i := range c.setup {
		if c.setup[i].done {
			idx = append(idx, i)
		}
	}
	return idx
}

func (c *conn) record(req *base.Request, cseq string) error {
	if c.st != stateAnnounced || len(c.setupTracks()) == 0 {
		return c.reply(455, cseq, nil, nil)
	}
	pub, err := c.s.host.Publish(host.PublishRequest{Path: c.path, Protocol: "rtsp", Remote: c.nc.RemoteAddr().String()})
	if err != nil {
		_ = c.reply(403, cseq, nil, nil)
		return fmt.Errorf("rtsp RECORD %s: %w", c.path, err)
	}
	// Only the tracks that were SETUP are ingested.
	tracks := append([]Track(nil), c.tracks...)
	for i := range tracks {
		if !c.setup[i].done {
			tracks[i].Kind = 0
		}
	}
	c.pub = pub
	c.reporter, _ = pub.(host.IngestReporter)
	c.stats.Role, c.stats.Path = "publish", c.path
	conn := c.nc
	if c.udpMode {
		c.stats.Transport = "udp"
		us, err := c.s.udp.startPublish(c, pub, tracks)
		if err != nil {
			c.pub = nil
			_ = c.reply(500, cseq, nil, nil)
			return fmt.Errorf("rtsp RECORD %s: %w", c.path, err)
		}
		c.udpSess = us
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.SessionTimeout))
	} else {
		c.stats.Transport = "tcp"
		c.growArena()
		in, err := NewIngest(c.alloc, pub, tracks)
		if err != nil {
			pub.Close(err)
			c.pub = nil
			_ = c.reply(500, cseq, nil, nil)
			return fmt.Errorf("rtsp RECORD %s: %w", c.path, err)
		}
		c.ingest = in
		c.br.SetReadTimeout(c.s.cfg.ReadTimeout)
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
		// Requests share the socket with the media (TEARDOWN, keep-alives,
		// RTCP); the batch's delay bounds how late one that comes while
		// the media is stalled is read.
		c.batch = rcvlowat.Start(c.nc, c.s.cfg.ReadLowWater, c.s.cfg.ReadLowWaterDelay)
		in.SetReadBatch(c.batch)
	}
	// The host ends a publish (kick, timeout, shutdown) by cancelling its
	// context: closing the socket ends the read loop, which frees in order.
	c.stopKick = context.AfterFunc(pub.Context(), func() { _ = conn.Close() })
	c.st = stateRecording
	c.log.Info("rtsp publish started", "path", c.path, "transport", c.stats.Transport)
	return c.reply(200, cseq, c.sessionField(), nil)
}

// endSession ends whatever the session does (publish or play) and forgets
// it, so the connection may ANNOUNCE or DESCRIBE again.
func (c *conn) endSession(reason error) {
	if c.player != nil {
		c.player.stop()
		c.stats.PlayDrops += c.player.sub.Drops()
		c.player = nil
		c.halted.Store(false) // the player is gone; responses may flow again
	}
	if c.pub != nil {
		c.stopKick()
		if c.udpSess != nil {
			st, free := c.s.udp.stopPublish(c.udpSess, reason)
			c.addIngestStats(st)
			c.udpSess = nil
			_ = free
		} else {
			c.batch.Stop()
			c.batch = nil
			c.ingest.SetReadBatch(nil)
			c.reportIngest()
			st := c.ingest.Stats()
			c.ingest.Close()
			c.addIngestStats(st)
			if !c.pub.Close(reason) && c.s.cfg.ReleaseAllocator == nil && !c.leak {
				c.log.Error("publisher frames still held by readers; the connection allocator is abandoned to the garbage collector", "path", c.path)
				c.leak = true
			}
			c.ingest = nil
		}
		c.log.Info("rtsp publish ended", "path", c.path, "reason", reasonText(reason))
		c.pub = nil
	}
	if c.udpMode && c.s.udp != nil {
		c.s.udp.forget(c)
	}
	c.st, c.tracks, c.setup, c.setups, c.id = stateInit, nil, nil, 0, ""
	c.udpMode, c.tcpMode = false, false
	c.br.SetReadTimeout(0)
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.SetupTimeout))
}

func (c *conn) addIngestStats(st IngestStats) {
	c.stats.VideoFrames += st.VideoFrames
	c.stats.AudioFrames += st.AudioFrames
	c.stats.Lost += st.Lost
	c.stats.Dropped += st.Dropped
	c.stats.Malformed += st.Malformed
	c.stats.BytesCopied += st.BytesCopied
}

func reasonText(err error) string {
	if err == nil {
		return "teardown"
	}
	return err.Error()
}

func (c *conn) copiedSoFar() int64 {
	n := c.br.Stats().BytesCopied + c.rd.BytesCopied() + c.copied
	if c.ingest != nil {
		n += c.ingest.Stats().BytesCopied
	}
	return n
}

// reportIngest passes the connection's cumulative counters to the
// publisher's metrics (the host sums them per publisher).
func (c *conn) reportIngest() {
	if c.reporter == nil || c.ingest == nil {
		return
	}
	c.reporter.ReportIngest(host.IngestStats{
		BytesRead:   c.br.Stats().BytesRead,
		BytesCopied: c.copiedSoFar(),
		AllocMalloc: c.alloc.GetTotalMalloc(),
		AllocFree:   c.alloc.GetTotalFree(),
	})
}

func (c *conn) teardown(runErr error) {
	reason := runErr
	if c.pub != nil {
		if cause := context.Cause(c.pub.Context()); cause != nil {
			reason = cause
		}
		if errors.Is(reason, io.EOF) {
			reason = errors.New("rtsp: peer closed the connection while publishing")
		}
	}
	c.endSession(reason)
	c.halted.Store(true)
	pool.FreeMemory(c.alloc, &c.pkt)
	pool.FreePins(c.alloc, c.pins)
	c.pins = nil
	c.stats.BytesRead = c.br.Stats().BytesRead
	c.stats.BytesCopied += c.br.Stats().BytesCopied + c.rd.BytesCopied() + c.copied
	c.br.Recycle()
	if c.reporter != nil && c.stats.Transport == "tcp" {
		c.reporter.ReportIngest(host.IngestStats{BytesRead: c.stats.BytesRead, BytesCopied: c.stats.BytesCopied,
			AllocMalloc: c.alloc.GetTotalMalloc(), AllocFree: c.alloc.GetTotalFree()})
	}
	c.stats.BytesSent = c.sent.Load()
	c.stats.AllocMalloc, c.stats.AllocFree = c.alloc.GetTotalMalloc(), c.alloc.GetTotalFree()
	if c.s.cfg.ReleaseAllocator != nil {
		c.s.cfg.ReleaseAllocator(c.alloc)
		return
	}
	switch {
	case c.leak:
		pool.Abandon(c.alloc)
	case pool.Balanced(c.alloc):
		pool.Recycle(c.alloc)
	default:
		c.log.Error("connection allocator unbalanced at teardown; abandoning it", "in_use", pool.InUse(c.alloc))
		pool.Abandon(c.alloc)
	}
}

// growArena gives a connection that starts publishing the arenas its ring
// needs, pinned so gomem never drops them (pool.ReserveArenas explains why).
func (c *conn) growArena() {
	if c.pins == nil {
		c.pins = pool.ReserveArenas(c.alloc, c.s.cfg.AllocatorSize)
	}
}
