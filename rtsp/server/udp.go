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
// Cost: a publisher's Close waits (bounded by the host's close wait) for
// readers to return its frames; while it does, the UDP goroutine reads
// nothing, so every UDP publisher stalls for that long when one ends.
// The kernel's socket buffer absorbs the pause; a longer one loses
// packets, which the depacketizers count.
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
	sessions map[*udpSession]struct{}
	lastRR   time.Time
	rtcpBuf  []byte

	// Counters (atomic: read by tests and logs).
	Datagrams, Unknown, Truncated atomic.Int64
	balanced                      atomic.Bool
	inUse                         atomic.Int64
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
		byAddr: map[netip.AddrPort]udpRoute{}, sessions: map[*udpSession]struct{}{}}
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

// stopPublish ends a UDP publish on the UDP goroutine and returns its
// counters and whether every frame came back.
func (u *udpServer) stopPublish(us *udpSession, reason error) (IngestStats, bool) {
	var st IngestStats
	free := false
	if err := u.do(func() { st, free = u.end(us, reason) }); err != nil {
		// The UDP goroutine is gone; it ended every session on its way out.
		return st, true
	}
	return st, free
}

func (u *udpServer) end(us *udpSession, reason error) (IngestStats, bool) {
	if _, ok := u.sessions[us]; !ok {
		return IngestStats{}, true
	}
	delete(u.sessions, us)
	for _, a := range us.addrs {
		delete(u.byAddr, a)
	}
	st := us.ingest.Stats()
	us.ingest.Close()
	u.report(us)
	free := us.pub.Close(reason)
	return st, free
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
				if !isTimeout(err) {
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
	_ = u.rtp.SetReadDeadline(time.Now().Add(UDPIdleTick))
	blk := pool.Malloc(u.alloc, UDPDatagramSize)
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
		pool.Free(u.alloc, blk)
		return err
	}
	u.Datagrams.Add(1)
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	r, ok := u.byAddr[from]
	if !ok {
		u.Unknown.Add(1)
		pool.Free(u.alloc, blk)
		return err
	}
	pool.Free(u.alloc, blk[n:])
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
	for us := range u.sessions {
		us.ingest.Reclaim()
		u.report(us)
		if rr {
			us.ingest.receiverReports(us.ssrc, func(track int, pkt []byte) {
				if track < len(us.rtcpTo) {
					_ = u.writeRTCP(pkt, us.rtcpTo[track])
				}
			})
		}
	}
}

func (u *udpServer) shutdown() {
	for us := range u.sessions {
		u.end(us, errors.New("rtsp udp: server stopped"))
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
// read into one reused heap buffer; they keep a session alive.
func (u *udpServer) readRTCP() {
	defer close(u.rtcpDone)
	buf := make([]byte, UDPDatagramSize)
	for {
		_, _, err := u.rtcp.ReadFrom(buf)
		if err != nil && !isTimeout(err) {
			return
		}
	}
}
