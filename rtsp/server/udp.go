package server

// UDP transport: one RTP socket and one RTCP socket shared by every
// session, as mediamtx does, demultiplexed by source address (the
// client's IP and the client_port it gave in SETUP).
//
// Ownership. The RTP socket is read by one goroutine, the UDP goroutine,
// into blocks Malloc'd from its own allocator: each datagram is read
// straight into a fresh block and the exact packet range is handed to the
// sender's depacketizer; the unused tail of the block is freed at once.
// A range may be freed only on the goroutine that owns its allocator, so
// everything that ends up holding UDP payload runs on the UDP goroutine:
// each UDP publisher's Ingest (depacketizers and frame writer), its
// frames' reclamation and its publisher's Close. A publisher's TCP
// connection therefore never touches that state; it sends commands (start,
// stop) over a bounded queue and waits for the answer.
//
// Frames come back to their owner when readers release them, and a frame
// pool reclaims only when its owner writes; the UDP goroutine therefore
// wakes every UDPIdleTick even without traffic (a read deadline) to
// reclaim for every session and run queued commands.
//
// Ending a UDP publish. A publisher's Close waits (up to the host's close
// wait) for readers to hand its frames back, and frees them as they come:
// the waiting must not happen on the UDP goroutine, which every other UDP
// publisher depends on, while the freeing must. So when the publisher
// offers a stepped close (BeginClose, as hub streams do), the UDP
// goroutine begins it (cancel, unpublish: no waiting), keeps the steps in
// its closing list and advances them on every tick (each Step reclaims
// the frames given back so far and checks the clock, never blocking);
// the stopping TCP connection waits for the last step's answer.
// Every Free still happens on the UDP goroutine. A publisher without
// BeginClose (the m7s adapter's) is closed with the blocking Close on the
// UDP goroutine, which then stalls every UDP publisher for up to the
// close wait; the kernel's socket buffer absorbs short pauses, longer
// ones lose packets, which the depacketizers count.
//
// The RTCP socket is read by a second goroutine into a heap buffer
// (control data); it only keeps sessions alive. Players' RTP goes out
// through the shared RTP socket with WriteTo from their own goroutines.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

type udpServer struct {
	rtp, rtcp net.PacketConn
	rtpUDP    *net.UDPConn // rtp as a UDPConn, for allocation-free reads
	log       *slog.Logger
	alloc     *pool.Allocator // owned by the UDP goroutine

	cmds     chan func()
	quit     chan struct{}
	done     chan struct{}
	rtcpDone chan struct{}
	closed   atomic.Bool

	// UDP goroutine only:
	byAddr   map[netip.AddrPort]udpRoute
	byRTCP   map[netip.AddrPort]udpRoute // publishers' RTCP source addresses
	sessions map[*udpSession]struct{}
	closing  []*udpClosing
	lastRR   time.Time
	rtcpBuf  []byte
	// block is the Malloc'd block datagrams are read into back to back, and
	// off where the next one goes: whole-block accounting (pool/block.go)
	// then sees the RTP headers and FU bytes the depacketizers free as
	// counted pieces, instead of gomem fragmenting its free tree on each.
	block    []byte
	off      int
	deadline time.Time // the read deadline set last

	// Counters (atomic: read by tests and logs).
	Datagrams, Unknown, Truncated atomic.Int64
	balanced                      atomic.Bool
	inUse                         atomic.Int64
}

// stepCloser is a publisher whose Close can run in non-blocking steps on
// its owning goroutine (hub.Stream.BeginClose).
type stepCloser interface {
	BeginClose(reason error) interface{ Step() (done, free bool) }
}

// udpClosing is a UDP publish being closed in steps; done gets whether
// every frame came back.
type udpClosing struct {
	step interface{ Step() (done, free bool) }
	done chan bool
}

type udpRoute struct {
	s     *udpSession
	track int
}

type udpSession struct {
	c       *conn
	pub     host.Publisher
	ingest  *Ingest
	addrs   []netip.AddrPort
	rtcpAt  []netip.AddrPort
	last    atomic.Int64 // unix nanos of the last datagram
	read    int64
	rep     host.IngestReporter
	rtcpTo  []*net.UDPAddr
	ssrc    uint32
	started time.Time
}

func (u *udpSession) lastPacket() time.Time {
	if n := u.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return u.started
}

// StartUDP serves UDP transports on the given RTP and RTCP sockets (bound
// by the host). Close stops it.
func (s *Server) StartUDP(rtpConn, rtcpConn net.PacketConn) {
	u := &udpServer{rtp: rtpConn, rtcp: rtcpConn, log: s.log,
		alloc: pool.NewAllocator(UDPAllocatorSize),
		cmds:  make(chan func(), UDPCommandQueue), quit: make(chan struct{}), done: make(chan struct{}), rtcpDone: make(chan struct{}),
		byAddr: map[netip.AddrPort]udpRoute{}, byRTCP: map[netip.AddrPort]udpRoute{}, sessions: map[*udpSession]struct{}{}}
	u.rtpUDP, _ = rtpConn.(*net.UDPConn)
	s.udp = u
	go u.readRTP()
	go u.readRTCP()
}

// Close stops the UDP goroutines, after the host has closed the sockets
// and every connection has ended (plugin Dispose).
func (s *Server) Close() {
	if s.udp == nil {
		return
	}
	u := s.udp
	if u.closed.Swap(true) {
		return
	}
	close(u.quit)
	_ = u.rtp.Close()
	_ = u.rtcp.Close()
	<-u.done
	<-u.rtcpDone
}

// UDPAllocatorBalanced reports, once Close returned, whether the UDP
// goroutine's allocator got back every byte (tests).
func (s *Server) UDPAllocatorBalanced() (bool, int64) {
	if s.udp == nil {
		return true, 0
	}
	return s.udp.balanced.Load(), s.udp.inUse.Load()
}

func (u *udpServer) ports() [2]int {
	p := [2]int{}
	if a, ok := u.rtp.LocalAddr().(*net.UDPAddr); ok {
		p[0] = a.Port
	}
	if a, ok := u.rtcp.LocalAddr().(*net.UDPAddr); ok {
		p[1] = a.Port
	}
	return p
}

// do runs fn on the UDP goroutine and waits for it.
func (u *udpServer) do(fn func()) error {
	done := make(chan struct{})
	select {
	case u.cmds <- func() { fn(); close(done) }:
	case <-u.quit:
		return errors.New("rtsp udp: server stopped")
	}
	select {
	case <-done:
		return nil
	case <-u.done:
		return errors.New("rtsp udp: server stopped")
	}
}

func (u *udpServer) startPublish(c *conn, pub host.Publisher, tracks []Track) (*udpSession, error) {
	us := &udpSession{c: c, pub: pub, started: time.Now(), ssrc: c.setup[0].ssrc | 1}
	us.rep, _ = pub.(host.IngestReporter)
	for i := range c.setup {
		if c.setup[i].done {
			us.rtcpTo = append(us.rtcpTo, c.setup[i].clientRTCP)
		} else {
			us.rtcpTo = append(us.rtcpTo, nil)
		}
	}
	var err error
	derr := u.do(func() {
		if err = limit.Check("MaxUDPSessions", int64(len(u.byAddr)+len(tracks)), MaxUDPSessions); err != nil {
			return
		}
		for i := range c.setup {
			if !c.setup[i].done {
				continue
			}
			ap := c.setup[i].clientRTP.AddrPort()
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if _, taken := u.byAddr[ap]; taken {
				err = fmt.Errorf("rtsp udp: client address %v is already publishing", ap)
				return
			}
			us.addrs = append(us.addrs, ap)
		}
		us.ingest, err = NewIngest(u.alloc, pub, tracks)
		if err != nil {
			return
		}
		k := 0
		for i := range c.setup {
			if c.setup[i].done {
				u.byAddr[us.addrs[k]] = udpRoute{us, i}
				k++
				if a := c.setup[i].clientRTCP; a != nil {
					ap := a.AddrPort()
					ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
					if _, taken := u.byRTCP[ap]; !taken {
						u.byRTCP[ap] = udpRoute{us, i}
						us.rtcpAt = append(us.rtcpAt, ap)
					}
				}
			}
		}
		u.sessions[us] = struct{}{}
	})
	if derr != nil {
		return nil, derr
	}
	if err != nil {
		// The publisher was bound to the UDP allocator (or not at all);
		// closing it frees nothing of ours, on this goroutine or that one.
		_ = u.do(func() { pub.Close(err) })
		return nil, err
	}
	return us, nil
}

// stopPublish ends a UDP publish and returns its counters and whether
// every frame came back. The UDP goroutine only begins the close; this
// (the session's TCP connection goroutine) waits for its end.
func (u *udpServer) stopPublish(us *udpSession, reason error) (IngestStats, bool) {
	var st IngestStats
	var wait chan bool
	free := false
	if err := u.do(func() { st, wait, free = u.end(us, reason) }); err != nil {
		// The UDP goroutine is gone; it ended every session on its way out.
		return st, true
	}
	if wait == nil {
		return st, free
	}
	select {
	case free = <-wait:
	case <-u.done:
		// shutdown finished every close before the goroutine ended
		select {
		case free = <-wait:
		default:
			free = true
		}
	}
	return st, free
}

// end stops routing the session's packets, frees what its depacketizers
// hold and begins closing its publisher. With a stepped close it returns
// the channel that reports the end; otherwise it closes the publisher at
// once (blocking) and returns whether every frame came back.
func (u *udpServer) end(us *udpSession, reason error) (IngestStats, chan bool, bool) {
	if _, ok := u.sessions[us]; !ok {
		return IngestStats{}, nil, true
	}
	delete(u.sessions, us)
	for _, a := range us.addrs {
		delete(u.byAddr, a)
	}
	for _, a := range us.rtcpAt {
		delete(u.byRTCP, a)
	}
	st := us.ingest.Stats()
	us.ingest.Close()
	u.report(us)
	sc, ok := us.pub.(stepCloser)
	if !ok {
		return st, nil, us.pub.Close(reason)
	}
	cl := &udpClosing{step: sc.BeginClose(reason), done: make(chan bool, 1)}
	if !u.stepClose(cl) {
		u.closing = append(u.closing, cl)
	}
	return st, cl.done, false
}

// stepClose advances one close; true when it is over (done has its result).
func (u *udpServer) stepClose(cl *udpClosing) bool {
	done, free := cl.step.Step()
	if done {
		cl.done <- free
	}
	return done
}

// stepClosing advances every close under way (UDP goroutine).
func (u *udpServer) stepClosing() {
	k := 0
	for _, cl := range u.closing {
		if !u.stepClose(cl) {
			u.closing[k] = cl
			k++
		}
	}
	clear(u.closing[k:])
	u.closing = u.closing[:k]
}

// forget, register and unregister exist for symmetry with TCP; UDP
// players need no demultiplexing state (their RTCP only keeps the
// session alive, which the control connection does too).
func (u *udpServer) forget(c *conn)     {}
func (u *udpServer) register(c *conn)   {}
func (u *udpServer) unregister(c *conn) {}

func (u *udpServer) writeRTP(pkt []byte, to *net.UDPAddr) error {
	if u.rtpUDP != nil {
		_, err := u.rtpUDP.WriteToUDP(pkt, to)
		return err
	}
	_, err := u.rtp.WriteTo(pkt, to)
	return err
}

func (u *udpServer) writeRTCP(pkt []byte, to *net.UDPAddr) error {
	if to == nil {
		return nil
	}
	_, err := u.rtcp.WriteTo(pkt, to)
	return err
}

func (u *udpServer) report(us *udpSession) {
	if us.rep == nil {
		return
	}
	// The allocator is shared by every UDP session, so per-publisher
	// allocator figures would be meaningless; its balance is checked
	// when the UDP goroutine ends (Server.UDPAllocatorBalanced).
	us.rep.ReportIngest(host.IngestStats{BytesRead: us.read, BytesCopied: us.ingest.Stats().BytesCopied})
}

// readRTP is the UDP goroutine (see the file comment).
func (u *udpServer) readRTP() {
	defer close(u.done)
	socketOpen := true
	idle := time.NewTicker(UDPIdleTick)
	defer idle.Stop()
	for {
		if socketOpen {
			if err := u.readOne(); err != nil {
				if !timeout.Is(err) {
					socketOpen = false
				}
			}
		} else {
			// The host closed the socket (shutdown): keep answering
			// commands until every connection has ended and Close ran.
			select {
			case fn := <-u.cmds:
				fn()
			case <-idle.C:
				u.tick() // closes under way still need their steps
			case <-u.quit:
			}
		}
		u.drainCommands()
		select {
		case <-u.quit:
			u.shutdown()
			return
		default:
		}
		select {
		case <-idle.C:
			u.tick()
		default:
		}
	}
}

func (u *udpServer) drainCommands() {
	for {
		select {
		case fn := <-u.cmds:
			fn()
		default:
			return
		}
	}
}

// readOne reads one datagram straight into a block of the UDP goroutine's
// allocator and hands the exact packet range to its session.
func (u *udpServer) readOne() error {
	// Re-arming the deadline per datagram costs a timer update each; the
	// idle tick only needs it within half a tick.
	if now := time.Now(); u.deadline.Sub(now) < UDPIdleTick/2 {
		u.deadline = now.Add(UDPIdleTick)
		_ = u.rtp.SetReadDeadline(u.deadline)
	}
	if len(u.block)-u.off < UDPDatagramSize {
		u.retireBlock()
		u.block, u.off = pool.Malloc(u.alloc, UDPBlockSize), 0
	}
	blk := u.block[u.off : u.off+UDPDatagramSize]
	var n int
	var from netip.AddrPort
	var err error
	if u.rtpUDP != nil {
		n, from, err = u.rtpUDP.ReadFromUDPAddrPort(blk)
	} else {
		var a net.Addr
		n, a, err = u.rtp.ReadFrom(blk)
		if ua, ok := a.(*net.UDPAddr); ok {
			from = ua.AddrPort()
		}
	}
	if n <= 0 || n >= UDPDatagramSize {
		if n >= UDPDatagramSize {
			u.Truncated.Add(1)
		}
		return err // the space is read into again
	}
	u.Datagrams.Add(1)
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	r, ok := u.byAddr[from]
	if !ok {
		u.Unknown.Add(1)
		return err // the space is read into again
	}
	u.off += n // the packet's range now belongs to its session
	r.s.last.Store(time.Now().UnixNano())
	r.s.read += int64(n)
	if werr := r.s.ingest.WriteRTP(r.track, blk[:n:n]); werr != nil {
		// The publish failed (the host refused a frame): end the session's
		// connection; its teardown stops the publish through stop.
		u.log.Warn("rtsp udp publish failed", "path", r.s.c.path, "reason", werr)
		_ = r.s.c.nc.Close()
	}
	return err
}

// tick reclaims frames readers handed back, reports counters and sends
// receiver reports.
func (u *udpServer) tick() {
	rr := time.Since(u.lastRR) >= ReceiverReportInterval
	if rr {
		u.lastRR = time.Now()
	}
	u.stepClosing()
	for us := range u.sessions {
		us.ingest.Reclaim()
		u.report(us)
		if rr {
			us.ingest.ReceiverReports(us.ssrc, func(track int, pkt []byte) {
				if track < len(us.rtcpTo) {
					_ = u.writeRTCP(pkt, us.rtcpTo[track])
				}
			})
		}
	}
}

// retireBlock frees the unused tail of the current block; the packets read
// into it are freed by their owners, and the block goes back to gomem with
// the last of them.
func (u *udpServer) retireBlock() {
	if u.block != nil && u.off < len(u.block) {
		pool.Free(u.alloc, u.block[u.off:])
	}
	u.block, u.off = nil, 0
}

func (u *udpServer) shutdown() {
	u.retireBlock()
	for us := range u.sessions {
		u.end(us, errors.New("rtsp udp: server stopped"))
	}
	// Nothing else needs this goroutine now: finish every close here.
	for len(u.closing) > 0 {
		u.stepClosing()
		if len(u.closing) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if pool.Balanced(u.alloc) {
		u.balanced.Store(true)
		pool.Recycle(u.alloc)
		return
	}
	u.inUse.Store(pool.InUse(u.alloc))
	u.log.Error("rtsp udp allocator unbalanced at shutdown; abandoning it", "in_use", pool.InUse(u.alloc))
	pool.Abandon(u.alloc)
}

// readRTCP drains the RTCP socket. Reports from clients are control data
// read into a heap buffer; a publisher's (sender reports, which align its
// tracks) is copied and handed to the UDP goroutine, which owns the
// publisher's Ingest, as a command; when the command queue is full it is
// dropped (the next report comes within seconds).
func (u *udpServer) readRTCP() {
	defer close(u.rtcpDone)
	buf := make([]byte, UDPDatagramSize)
	var window time.Time
	passed := 0
	for {
		n, from, err := u.readRTCPFrom(buf)
		if err != nil && !timeout.Is(err) {
			return
		}
		if n < 8 || buf[1] != 200 { // only sender reports are acted on
			continue
		}
		if now := time.Now(); now.Sub(window) >= time.Second {
			window, passed = now, 0
		}
		if passed++; passed > MaxSenderReportsPerSecond {
			continue // a flood: drop rather than crowd the command queue
		}
		pkt := append([]byte(nil), buf[:n]...)
		select {
		case u.cmds <- func() {
			if r, ok := u.byRTCP[from]; ok {
				r.s.ingest.WriteRTCP(r.track, pkt)
			}
		}:
		default:
		}
	}
}

func (u *udpServer) readRTCPFrom(buf []byte) (int, netip.AddrPort, error) {
	var from netip.AddrPort
	if c, ok := u.rtcp.(*net.UDPConn); ok {
		n, ap, err := c.ReadFromUDPAddrPort(buf)
		return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), err
	}
	n, a, err := u.rtcp.ReadFrom(buf)
	if ua, ok := a.(*net.UDPAddr); ok {
		from = ua.AddrPort()
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	return n, from, err
}
