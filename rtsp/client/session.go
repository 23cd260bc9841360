package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/pool"
	rtspauth "github.com/zcingest/zerocopy/rtsp/auth"
	"github.com/zcingest/zerocopy/rtsp/base"
	"github.com/zcingest/zerocopy/rtsp/sdp"
	"github.com/zcingest/zerocopy/rtsp/server"
)

// errNoMedia: no RTP within the read timeout.
var errNoMedia = errors.New("rtsp pull: no RTP from the camera")

func isNoMedia(err error) bool { return errors.Is(err, errNoMedia) }

const userAgent = "zerocopy"

// session is one connection to the camera, run on one goroutine that owns
// alloc (see the package comment).
type session struct {
	cfg        Config
	log        *slog.Logger
	h          Host
	u          *url.URL
	reqURL     string // the camera URL without credentials
	user, pass string
	hasCreds   bool

	nc    net.Conn
	alloc *pool.Allocator
	br    *bufreader.Reader
	rd    *base.Reader
	resp  base.Response
	out   []byte
	cseq  int
	id    string
	keep  time.Duration // keep-alive interval
	chal  *rtspauth.Challenge
	kaMth string // keep-alive method
	pkt   gomem.Memory

	tracks  []server.Track
	setup   []trackSetup
	playURL string

	udp   *udpPair
	camIP netip.Addr
	byPT  [128]int8 // track+1 by RTP payload type (when payload types are unique)
	ptOK  bool
	udpRd int64

	pub     host.Publisher
	ingest  *server.Ingest
	batch   *rcvlowat.Batch // nil unless playing over TCP with batching
	rep     host.IngestReporter
	counter host.SubscriberCounter
	stopPub func() bool

	stats     Stats
	copied    int64
	lastRTP   time.Time
	lastKeep  time.Time
	lastMaint time.Time
	lastRR    time.Time
	rtcpBuf   []byte // a straddling RTCP frame made contiguous; or an interleaved RR
	rrSSRC    uint32
	wanted    time.Time

	mu        sync.Mutex
	cause     error // why the session was interrupted, first wins
	stopping  atomic.Bool
	hardStop  *time.Timer
	closeOnce sync.Once
	wg        sync.WaitGroup // the UDP session's helper goroutines
}

type trackSetup struct {
	done       bool
	channel    int // TCP: RTP channel, RTCP is channel+1
	serverPort int // UDP: the camera's RTP port, 0 when not given
}

// runSession connects once, plays until the session ends and frees
// everything. It returns the session's figures and when its stream last
// had a player.
func runSession(ctx context.Context, cfg Config, h Host, log *slog.Logger, wanted time.Time) (st Stats, lastWanted time.Time, err error) {
	u, user, pass, err := ParseURL(cfg.URL)
	if err != nil {
		return st, wanted, err
	}
	s := &session{cfg: cfg, log: log, h: h, u: u, reqURL: u.String(), user: user, pass: pass, hasCreds: user != "" || pass != "", wanted: wanted}
	s.stats.Transport = cfg.Transport
	d := net.Dialer{Timeout: cfg.RequestTimeout}
	s.nc, err = d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return st, wanted, fmt.Errorf("rtsp pull: dial %s: %w", u.Host, err)
	}
	if a, ok := s.nc.RemoteAddr().(*net.TCPAddr); ok {
		s.camIP = a.AddrPort().Addr().Unmap()
	}
	s.alloc = pool.NewAllocator(cfg.AllocatorSize)
	s.br = bufreader.New(s.nc, base.BufOptions(bufreader.Options{Allocator: s.alloc, BlockSize: cfg.BlockSize}))
	s.rd = base.NewReader(s.br, base.Options{})
	stopCtx := context.AfterFunc(ctx, func() { s.interrupt(context.Canceled) })
	err = s.run()
	stopCtx()
	err = s.finish(err)
	return s.stats, s.wanted, err
}

// interrupt makes the owning goroutine end the session: its blocked read
// returns at once (a past deadline) and it sends TEARDOWN on its way out.
// Should it not get out (it re-armed a deadline meanwhile), the sockets
// are closed after TeardownTimeout.
func (s *session) interrupt(cause error) {
	s.mu.Lock()
	if s.cause == nil {
		s.cause = cause
	}
	first := !s.stopping.Swap(true)
	if first {
		s.hardStop = time.AfterFunc(TeardownTimeout, s.closeSockets)
	}
	udp := s.udp
	s.mu.Unlock()
	past := time.Unix(1, 0)
	_ = s.nc.SetReadDeadline(past)
	if udp != nil {
		_ = udp.rtp.SetReadDeadline(past)
	}
}

func (s *session) stopCause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}

func (s *session) closeSockets() {
	s.closeOnce.Do(func() {
		_ = s.nc.Close()
		s.mu.Lock()
		udp := s.udp
		s.mu.Unlock()
		if udp != nil {
			udp.close()
		}
	})
}

// readErr names why a read failed: the interruption's cause, the read
// timeout, or the connection's error.
func (s *session) readErr(err error) error {
	if c := s.stopCause(); c != nil {
		return c
	}
	if timeout.Is(err) {
		return fmt.Errorf("%w for %v", errNoMedia, s.cfg.ReadTimeout)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("rtsp pull: camera closed the connection")
	}
	return fmt.Errorf("rtsp pull: %w", err)
}

func (s *session) run() error {
	if err := s.handshake(); err != nil {
		return err
	}
	if err := s.publish(); err != nil {
		return err
	}
	resp, err := s.request("PLAY", s.playURL, []base.Field{{Key: "Range", Value: "npt=0.000-"}})
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return statusErr("PLAY", resp)
	}
	s.stats.Played = true
	now := time.Now()
	s.lastRTP, s.lastKeep, s.lastMaint = now, now, now
	s.log.Info("rtsp pull playing", "transport", s.cfg.Transport, "tracks", len(s.setupTracks()))
	if s.udp != nil {
		return s.readUDP()
	}
	return s.readTCP()
}

// ---- requests ----

// send writes one request (CSeq, session, credentials filled in).
func (s *session) send(method, uri string, fields []base.Field) error {
	s.cseq++
	all := make([]base.Field, 0, len(fields)+3)
	all = append(all, base.Field{Key: "User-Agent", Value: userAgent})
	if s.id != "" {
		all = append(all, base.Field{Key: "Session", Value: s.id})
	}
	if s.chal != nil {
		a, err := s.chal.Answer(method, uri, s.user, s.pass)
		if err != nil {
			return fmt.Errorf("rtsp pull %s: %w", method, err)
		}
		all = append(all, base.Field{Key: "Authorization", Value: a})
	}
	all = append(all, fields...)
	s.out = base.AppendRequest(s.out[:0], method, uri, strconv.Itoa(s.cseq), all, nil)
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout))
	if _, err := s.nc.Write(s.out); err != nil {
		if c := s.stopCause(); c != nil {
			return c
		}
		return fmt.Errorf("rtsp pull %s: %w", method, err)
	}
	return nil
}

// request sends a request and waits for its response, answering one 401
// with the URL's credentials (again on a stale nonce). Interleaved frames
// arriving meanwhile are freed unread. The response is valid until the
// next request.
func (s *session) request(method, uri string, fields []base.Field) (*base.Response, error) {
	for attempt := 0; ; attempt++ {
		if err := s.send(method, uri, fields); err != nil {
			return nil, err
		}
		if err := s.readResponse(); err != nil {
			return nil, fmt.Errorf("rtsp pull %s: %w", method, err)
		}
		if s.resp.StatusCode != 401 || attempt >= 2 {
			if s.resp.StatusCode == 401 {
				return nil, fmt.Errorf("%w (%s)", ErrUnauthorized, method)
			}
			return &s.resp, nil
		}
		if !s.hasCreds {
			return nil, fmt.Errorf("%w: %s asks for credentials and the URL has none", ErrUnauthorized, method)
		}
		v, err := rtspauth.PickChallenge(s.resp.Header.Values("WWW-Authenticate"))
		if err != nil {
			return nil, fmt.Errorf("rtsp pull %s: %w", method, err)
		}
		c, err := rtspauth.ParseChallenge(v)
		if err != nil {
			return nil, fmt.Errorf("rtsp pull %s: %w", method, err)
		}
		if s.chal != nil && !c.Stale {
			// Answered already, and the answer was refused.
			return nil, fmt.Errorf("%w (%s)", ErrUnauthorized, method)
		}
		s.chal = &c
	}
}

// readResponse reads the response to the last request (by CSeq) within
// the request timeout.
func (s *session) readResponse() error {
	_ = s.nc.SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
	stale, frames := 0, 0
	for {
		il, err := s.rd.IsInterleaved()
		if err != nil {
			return s.readErr(err)
		}
		if il {
			frames++
			if frames > MaxInterleavedDuringRequest {
				return fmt.Errorf("%w: %d interleaved frames before a response", base.ErrMalformed, frames)
			}
			if _, _, err := s.rd.ReadInterleaved(&s.pkt); err != nil {
				return s.readErr(err)
			}
			pool.FreeMemory(s.alloc, &s.pkt)
			continue
		}
		if err := s.rd.ReadResponse(&s.resp); err != nil {
			return s.readErr(err)
		}
		if s.resp.Header.Get("CSeq") == strconv.Itoa(s.cseq) {
			return nil
		}
		stale++
		if stale > MaxStaleResponses {
			return fmt.Errorf("%w: no response with CSeq %d", base.ErrMalformed, s.cseq)
		}
	}
}

func statusErr(method string, resp *base.Response) error {
	return fmt.Errorf("rtsp pull %s: camera answered %d %s", method, resp.StatusCode, clip(resp.Reason))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// ---- handshake ----

func (s *session) handshake() error {
	resp, err := s.request("OPTIONS", s.reqURL, nil)
	if err != nil {
		return err
	}
	s.kaMth = "OPTIONS"
	if resp.StatusCode == 200 && strings.Contains(strings.ToUpper(resp.Header.Get("Public")), "GET_PARAMETER") {
		s.kaMth = "GET_PARAMETER"
	}
	resp, err = s.request("DESCRIBE", s.reqURL, []base.Field{{Key: "Accept", Value: "application/sdp"}})
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return statusErr("DESCRIBE", resp)
	}
	desc, err := sdp.Parse(resp.Body)
	if err != nil {
		return fmt.Errorf("rtsp pull DESCRIBE: %w", err)
	}
	tracks, err := server.TracksFromSDP(desc)
	if err != nil {
		return fmt.Errorf("rtsp pull DESCRIBE: %w", err)
	}
	baseURL := s.reqURL
	for _, k := range []string{"Content-Base", "Content-Location"} {
		if v := resp.Header.Get(k); v != "" {
			if bu, _, _, err := ParseURL(v); err == nil {
				baseURL = bu.String()
				break
			}
		}
	}
	s.tracks, s.setup = tracks, make([]trackSetup, len(tracks))
	s.playURL = sdp.ControlURL(baseURL, desc.Control)
	if s.cfg.Transport == UDP {
		if s.udp, err = listenUDPPair(s.nc.LocalAddr()); err != nil {
			return fmt.Errorf("rtsp pull: %w", err)
		}
	}
	k := 0
	for i := range tracks {
		if tracks[i].Kind == 0 {
			continue
		}
		if err := s.setupTrack(i, k, sdp.ControlURL(s.playURL, desc.Medias[i].Control)); err != nil {
			return err
		}
		if s.setup[i].done {
			k++
		}
	}
	if k == 0 {
		return errors.New("rtsp pull: the camera offers no track this server ingests (H.264 video, AAC audio)")
	}
	if s.udp != nil {
		s.routeByPT()
	}
	return nil
}

func (s *session) setupTrack(i, k int, uri string) error {
	var tr base.Transport
	if s.udp != nil {
		tr = base.Transport{HasClientPort: true, ClientPort: s.udp.ports()}
	} else {
		tr = base.Transport{TCP: true, HasInterleaved: true, Interleaved: [2]int{2 * k, 2*k + 1}}
	}
	resp, err := s.request("SETUP", uri, []base.Field{{Key: "Transport", Value: tr.String()}})
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == 461 && s.udp != nil:
		return errUDPRefused
	case resp.StatusCode != 200:
		// A camera may refuse one track (audio) and serve the others.
		s.log.Warn("rtsp pull: camera refused a track", "track", i, "status", resp.StatusCode)
		return nil
	}
	specs, err := base.ParseTransports(resp.Header.Get("Transport"))
	if err != nil {
		return fmt.Errorf("rtsp pull SETUP: %w", err)
	}
	ts := &s.setup[i]
	ts.channel = 2 * k
	if len(specs) > 0 {
		sp := specs[0]
		if s.udp == nil && sp.HasInterleaved {
			ts.channel = sp.Interleaved[0]
		}
		if s.udp != nil && sp.TCP {
			return errUDPRefused
		}
		if s.udp != nil && sp.HasServerPort {
			ts.serverPort = sp.ServerPort[0]
		}
	}
	if id, timeout := base.ParseSession(resp.Header.Get("Session")); id != "" {
		if s.id == "" {
			s.id = id
		}
		to := DefaultSessionTimeout
		if timeout > 0 {
			to = time.Duration(timeout) * time.Second
		}
		s.keep = max(to/2, MinKeepAlive)
	}
	if s.keep == 0 {
		s.keep = DefaultSessionTimeout / 2
	}
	ts.done = true
	return nil
}

func (s *session) setupTracks() []int {
	var idx []int
	for i := range s.setup {
		if s.setup[i].done {
			idx = append(idx, i)
		}
	}
	return idx
}

// routeByPT maps payload types to tracks for the shared UDP socket when
// they are unique; otherwise packets are routed by the camera's port.
func (s *session) routeByPT() {
	s.ptOK = true
	for _, i := range s.setupTracks() {
		pt := s.tracks[i].PayloadType & 0x7f
		if s.byPT[pt] != 0 {
			s.ptOK = false
		}
		s.byPT[pt] = int8(i + 1)
	}
}

// publish claims the path on the host and binds an Ingest of the SETUP
// tracks to the session's allocator.
func (s *session) publish() error {
	pub, err := s.h.Publish(host.PublishRequest{Path: s.cfg.Path, Protocol: "rtsp-pull", Remote: s.u.Host})
	if err != nil {
		return fmt.Errorf("rtsp pull: publish %s: %w", s.cfg.Path, err)
	}
	tracks := append([]server.Track(nil), s.tracks...)
	for i := range tracks {
		if !s.setup[i].done {
			tracks[i].Kind = 0
		}
	}
	in, err := server.NewIngest(s.alloc, pub, tracks)
	if err != nil {
		pub.Close(err)
		return fmt.Errorf("rtsp pull: %w", err)
	}
	s.pub, s.ingest = pub, in
	s.rep, _ = pub.(host.IngestReporter)
	s.counter, _ = pub.(host.SubscriberCounter)
	// The host ends a publish (kicked, timed out, shutting down) through
	// its context: the session then ends too.
	s.stopPub = context.AfterFunc(pub.Context(), func() {
		s.interrupt(fmt.Errorf("rtsp pull: the host ended the publish: %w", context.Cause(pub.Context())))
	})
	return nil
}

// ---- media ----

func (s *session) readTCP() error {
	s.br.SetReadTimeout(s.cfg.ReadTimeout)
	// Nothing waits on what else shares the socket (keep-alive answers,
	// RTCP): the batch's delay bounds how late it is read when the media
	// stalls, and an interruption's past deadline ends the read at once.
	s.batch = rcvlowat.Start(s.nc, s.cfg.ReadLowWater, s.cfg.ReadLowWaterDelay)
	s.ingest.SetReadBatch(s.batch)
	for {
		if s.stopping.Load() {
			return s.stopCause()
		}
		il, err := s.rd.IsInterleaved()
		if err != nil {
			return s.readErr(err)
		}
		if il {
			if err := s.interleaved(); err != nil {
				return err
			}
		} else {
			// A keep-alive's answer (or anything else the camera says).
			if err := s.rd.ReadResponse(&s.resp); err != nil {
				return s.readErr(err)
			}
			if s.resp.StatusCode != 200 {
				s.log.Debug("rtsp pull: camera answered a keep-alive", "status", s.resp.StatusCode)
			}
		}
		if err := s.maintain(time.Now()); err != nil {
			return err
		}
	}
}

// interleaved hands one '$' frame's RTP to its track as an owned range.
func (s *session) interleaved() error {
	ch, n, err := s.rd.ReadInterleaved(&s.pkt)
	if err != nil {
		return s.readErr(err)
	}
	defer pool.FreeMemory(s.alloc, &s.pkt) // no-op once ownership moved on
	track := -1
	for i := range s.setup {
		if s.setup[i].done && int(ch) == s.setup[i].channel {
			track = i
		}
	}
	if track < 0 {
		for i := range s.setup {
			if s.setup[i].done && int(ch) == s.setup[i].channel+1 && n > 0 {
				// The camera's RTCP (sender reports align its tracks):
				// control data, read in place or made contiguous in a
				// scratch (counted) when it straddles two blocks.
				b := s.pkt.Buffers[0]
				if len(s.pkt.Buffers) > 1 {
					s.rtcpBuf = s.rtcpBuf[:0]
					for _, p := range s.pkt.Buffers {
						s.rtcpBuf = append(s.rtcpBuf, p...)
					}
					s.copied += int64(n)
					b = s.rtcpBuf
				}
				s.ingest.WriteRTCP(i, b)
			}
		}
		return nil // RTCP, or a channel we did not ask for
	}
	if n == 0 {
		return nil
	}
	// The packet's ranges move to the depacketizer as they lie in the
	// reader's blocks (two when it straddles a boundary): no copy.
	s.lastRTP = time.Now()
	err = s.ingest.WriteRTPParts(track, s.pkt.Buffers)
	pool.ResetMemory(&s.pkt)
	if err != nil {
		return fmt.Errorf("rtsp pull %s: %w", s.cfg.Path, err)
	}
	return nil
}

func (s *session) readUDP() error {
	s.wg.Add(2)
	go s.udp.drainRTCP(&s.wg)
	go s.drainControl()
	var armed time.Time
	for {
		if s.stopping.Load() {
			return s.stopCause()
		}
		now := time.Now()
		if now.Sub(armed) >= UDPTick/2 {
			if !s.stopping.Load() {
				_ = s.udp.rtp.SetReadDeadline(now.Add(UDPTick))
			}
			armed = now
		}
		blk := pool.Malloc(s.alloc, MaxDatagram)
		n, from, err := s.udp.rtp.ReadFromUDPAddrPort(blk)
		switch {
		case n <= 0:
			pool.Free(s.alloc, blk)
		case n >= MaxDatagram:
			s.stats.Truncated++
			pool.Free(s.alloc, blk)
		default:
			s.udpRd += int64(n)
			if werr := s.routeUDP(blk, n, from); werr != nil {
				return werr
			}
		}
		if err != nil {
			if !timeout.Is(err) {
				return s.readErr(err)
			}
			armed = time.Time{}
		}
		if err := s.maintain(time.Now()); err != nil {
			return err
		}
	}
}

// routeUDP hands the datagram in blk[:n] to its track, or frees it.
func (s *session) routeUDP(blk []byte, n int, from netip.AddrPort) error {
	track := -1
	if from.Addr().Unmap() == s.camIP && n >= 12 {
		if s.ptOK {
			track = int(s.byPT[blk[1]&0x7f]) - 1
		} else {
			for _, i := range s.setupTracks() {
				if s.setup[i].serverPort == int(from.Port()) {
					track = i
				}
			}
		}
	}
	if track < 0 {
		s.stats.Foreign++
		pool.Free(s.alloc, blk)
		return nil
	}
	pool.Free(s.alloc, blk[n:])
	s.lastRTP = time.Now()
	if err := s.ingest.WriteRTP(track, blk[:n:n]); err != nil {
		return fmt.Errorf("rtsp pull %s: %w", s.cfg.Path, err)
	}
	return nil
}

// rtcp runs on the session's goroutine between packets: it passes the
// camera's sender reports that arrived over UDP to the Ingest, and sends
// receiver reports every ReceiverReportInterval (interleaved on each
// track's RTCP channel, or to the camera's RTCP port from ours).
func (s *session) rtcp(now time.Time) {
	if s.udp != nil {
		for {
			select {
			case pkt := <-s.udp.reports:
				s.ingest.WriteRTCP(-1, pkt)
				continue
			default:
			}
			break
		}
	}
	if now.Sub(s.lastRR) < server.ReceiverReportInterval {
		return
	}
	if s.rrSSRC == 0 {
		s.rrSSRC = uint32(now.UnixNano()) | 1
	}
	s.ingest.ReceiverReports(s.rrSSRC, func(track int, pkt []byte) {
		// The first report goes out as soon as a track has packets,
		// then one per interval.
		s.lastRR = now
		s.stats.ReceiverReports++
		ts := &s.setup[track]
		if s.udp != nil {
			if ts.serverPort > 0 {
				_, _ = s.udp.rtcp.WriteToUDPAddrPort(pkt, netip.AddrPortFrom(s.camIP, uint16(ts.serverPort+1)))
			}
			return
		}
		s.rtcpBuf = base.AppendInterleavedHeader(s.rtcpBuf[:0], uint8(ts.channel+1), len(pkt))
		s.rtcpBuf = append(s.rtcpBuf, pkt...)
		_ = s.nc.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout))
		_, _ = s.nc.Write(s.rtcpBuf)
	})
}

// drainControl reads the control connection of a UDP session after PLAY:
// keep-alive answers (discarded: control data, into a heap buffer, never
// the allocator). Its end is the camera's end.
func (s *session) drainControl() {
	defer s.wg.Done()
	if !s.stopping.Load() {
		_ = s.nc.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, RTCPBufferSize)
	for {
		if _, err := s.nc.Read(buf); err != nil {
			s.interrupt(errors.New("rtsp pull: camera closed the control connection"))
			return
		}
	}
}

// maintain runs between packets: the read timeout, keep-alives, frame
// reclamation, counters for the host, and the idle stop.
func (s *session) maintain(now time.Time) error {
	if now.Sub(s.lastMaint) < UDPTick {
		return nil
	}
	s.lastMaint = now
	if now.Sub(s.lastRTP) > s.cfg.ReadTimeout {
		return fmt.Errorf("%w for %v", errNoMedia, s.cfg.ReadTimeout)
	}
	if now.Sub(s.lastKeep) >= s.keep {
		s.lastKeep = now
		if err := s.send(s.kaMth, s.reqURL, nil); err != nil {
			return err
		}
	}
	s.ingest.Reclaim()
	s.report()
	s.rtcp(now)
	if s.counter != nil {
		if s.counter.Subscribers() > 0 {
			s.wanted = now
		} else if s.cfg.IdleStop > 0 && now.Sub(s.wanted) > s.cfg.IdleStop {
			return ErrIdle
		}
	}
	return nil
}

func (s *session) copiedSoFar() int64 {
	n := s.br.Stats().BytesCopied + s.rd.BytesCopied() + s.copied
	if s.ingest != nil {
		n += s.ingest.Stats().BytesCopied
	}
	return n
}

// report passes the session's cumulative counters to the publisher's
// metrics.
func (s *session) report() {
	if s.rep == nil {
		return
	}
	s.rep.ReportIngest(host.IngestStats{
		BytesRead:   s.br.Stats().BytesRead + s.udpRd,
		BytesCopied: s.copiedSoFar(),
		AllocMalloc: s.alloc.GetTotalMalloc(),
		AllocFree:   s.alloc.GetTotalFree(),
	})
}

// finish ends the session on its goroutine: TEARDOWN, sockets closed and
// helpers gone, then the Ingest and the publisher closed (which waits for
// readers to hand frames back and frees them), the reader recycled, and
// the allocator checked and recycled.
func (s *session) finish(runErr error) error {
	s.batch.Stop()
	s.batch = nil
	if s.ingest != nil {
		s.ingest.SetReadBatch(nil)
	}
	reason := runErr
	if c := s.stopCause(); c != nil && !errors.Is(c, context.Canceled) {
		reason = c
	}
	if s.id != "" && s.stats.Played && (errors.Is(runErr, context.Canceled) || errors.Is(runErr, ErrIdle)) {
		// Best effort: the camera frees its session now rather than at
		// its timeout.
		_ = s.nc.SetWriteDeadline(time.Now().Add(TeardownTimeout))
		_ = s.send("TEARDOWN", s.playURL, nil)
	}
	if s.stopPub != nil {
		s.stopPub()
	}
	s.stopping.Store(true)
	s.closeSockets()
	s.wg.Wait()
	s.mu.Lock()
	if s.hardStop != nil {
		s.hardStop.Stop()
	}
	s.mu.Unlock()
	leak := false
	if s.ingest != nil {
		st := s.ingest.Stats()
		s.ingest.Close()
		s.stats.VideoFrames, s.stats.AudioFrames = st.VideoFrames, st.AudioFrames
		s.stats.Lost, s.stats.Dropped, s.stats.Malformed = st.Lost, st.Dropped, st.Malformed
		s.stats.BytesCopied += st.BytesCopied
		s.ingest = nil
	}
	var pubReason error
	if !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, ErrIdle) {
		pubReason = reason
	}
	if s.pub != nil && !s.pub.Close(pubReason) {
		s.log.Error("rtsp pull: frames still held by readers; the session allocator is abandoned to the garbage collector")
		leak = true
	}
	pool.FreeMemory(s.alloc, &s.pkt)
	s.stats.BytesRead = s.br.Stats().BytesRead + s.udpRd
	s.stats.BytesCopied += s.br.Stats().BytesCopied + s.rd.BytesCopied() + s.copied
	s.br.Recycle()
	s.stats.AllocMalloc, s.stats.AllocFree = s.alloc.GetTotalMalloc(), s.alloc.GetTotalFree()
	if s.rep != nil {
		s.rep.ReportIngest(host.IngestStats{BytesRead: s.stats.BytesRead, BytesCopied: s.stats.BytesCopied,
			AllocMalloc: s.stats.AllocMalloc, AllocFree: s.stats.AllocFree})
	}
	switch {
	case leak:
		pool.Abandon(s.alloc)
	case pool.Balanced(s.alloc):
		s.stats.Balanced = true
		pool.Recycle(s.alloc)
	default:
		s.log.Error("rtsp pull: session allocator unbalanced at teardown; abandoning it", "in_use", pool.InUse(s.alloc))
		pool.Abandon(s.alloc)
	}
	if s.stats.Played || runErr != nil {
		s.log.Info("rtsp pull session ended", "reason", errText(reason), "transport", s.stats.Transport,
			"bytes_read", s.stats.BytesRead, "control_bytes_copied", s.stats.BytesCopied,
			"video_frames", s.stats.VideoFrames, "audio_frames", s.stats.AudioFrames,
			"rtp_lost", s.stats.Lost, "units_dropped", s.stats.Dropped, "rtp_malformed", s.stats.Malformed,
			"udp_truncated", s.stats.Truncated, "udp_foreign", s.stats.Foreign, "rtcp_reports_sent", s.stats.ReceiverReports,
			"alloc_malloc", s.stats.AllocMalloc, "alloc_free", s.stats.AllocFree, "balanced", s.stats.Balanced)
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}
