package zerocopym7s

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	rtspserver "github.com/zcingest/zerocopy/rtsp/server"
)

// RTSPConfig is the `zerocopy.rtsp` section. Its keys match the embedded
// host's `zerocopy.rtsp` section (publishing keys only: the adapter takes
// publishers; m7s's own egress serves players).
type RTSPConfig struct {
	Enable     bool   `default:"true" desc:"accept RTSP publishers (ANNOUNCE/RECORD) on listenaddr"`
	ListenAddr string `default:":8554" desc:"RTSP listen address (TCP); the plugin listens itself, not through m7s's tcp section"`
	// One RTP/RTCP port pair shared by every UDP session; an empty
	// rtpaddress or rtcpaddress disables UDP transports.
	RTPAddress     string        `default:":8000" desc:"UDP address for RTP of every session (empty: TCP only)"`
	RTCPAddress    string        `default:":8001" desc:"UDP address for RTCP of every session (empty: TCP only)"`
	SessionTimeout time.Duration `default:"60s" desc:"end a session whose client sends neither requests nor media for this long"`
	ReadTimeout    time.Duration `default:"15s" desc:"close a TCP publisher that sends nothing for this long"`
	WriteTimeout   time.Duration `default:"10s" desc:"bound on one control write to the peer"`
	SetupTimeout   time.Duration `default:"10s" desc:"fixed time from accept until RECORD"`
	AllocatorSize  int           `default:"4194304" desc:"arena a TCP publisher's allocator grows to at RECORD"`
	// Caps on concurrent connections, checked at accept; 0 means no cap.
	MaxConnections      int `default:"1024" desc:"open RTSP connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" desc:"open RTSP connections from one IP address (0: no cap)"`
}

// rtspListener is the plugin's RTSP side: its own TCP listener (m7s gives
// a plugin one tcp.listenaddr, which RTMP has), the shared UDP sockets,
// and one goroutine per connection running zerocopy's rtsp/server.
type rtspListener struct {
	plugin *ZeroCopyPlugin
	srv    *rtspserver.Server
	ln     net.Listener
	caps   connCaps

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startRTSP opens the RTSP listener and, when configured, the shared
// RTP/RTCP sockets. It runs in Start.
func (p *ZeroCopyPlugin) startRTSP() error {
	c := p.RTSP
	if !c.Enable || c.ListenAddr == "" {
		p.Info("rtsp disabled")
		return nil
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("zerocopy.rtsp: maxconnections and maxconnectionsperip must be >= 0")
	}
	log := p.Logger.With("protocol", "rtsp")
	r := &rtspListener{plugin: p, conns: map[net.Conn]struct{}{}}
	// No ReleaseAllocator: a publisher's Close gives every lent frame back
	// before it returns (unitPublisher), so the server recycles the
	// connection allocator itself, or abandons it when m7s did not
	// dispose in time.
	r.srv = rtspserver.New(rtspserver.Config{
		SessionTimeout: c.SessionTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		SetupTimeout: c.SetupTimeout, AllocatorSize: c.AllocatorSize, Auth: p.authz,
	}, &services{plugin: p, log: log}, log)
	ln, err := net.Listen("tcp", c.ListenAddr)
	if err != nil {
		return fmt.Errorf("zerocopy.rtsp.listenaddr: %w", err)
	}
	r.ln = ln
	if c.RTPAddress != "" && c.RTCPAddress != "" {
		rtpConn, err := net.ListenPacket("udp", c.RTPAddress)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("zerocopy.rtsp.rtpaddress: %w", err)
		}
		rtcpConn, err := net.ListenPacket("udp", c.RTCPAddress)
		if err != nil {
			_ = ln.Close()
			_ = rtpConn.Close()
			return fmt.Errorf("zerocopy.rtsp.rtcpaddress: %w", err)
		}
		r.srv.StartUDP(rtpConn, rtcpConn)
		log.Info("rtsp udp enabled", "rtp", rtpConn.LocalAddr().String(), "rtcp", rtcpConn.LocalAddr().String())
	}
	p.rtsp = r
	if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		p.PushAddr = append(p.PushAddr, fmt.Sprintf("rtsp://{hostName}:%s/{streamPath}", port))
	}
	r.wg.Add(1)
	go r.acceptLoop()
	p.Info("rtsp enabled", "listenaddr", ln.Addr().String())
	return nil
}

func (r *rtspListener) acceptLoop() {
	defer r.wg.Done()
	var backoff time.Duration
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			if r.isClosed() {
				return
			}
			// A transient failure (out of descriptors): back off rather
			// than spin, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			r.plugin.Warn("rtsp accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := r.plugin.RTSP
		ip, reason := r.caps.admit(nc.RemoteAddr(), c.MaxConnections, c.MaxConnectionsPerIP)
		if reason != "" {
			_ = nc.Close()
			r.plugin.totals.Refused.Add(1)
			if r.plugin.refusedLog.allow() {
				r.plugin.Warn("rtsp connection refused", "cap", reason, "remote", nc.RemoteAddr().String())
			}
			continue
		}
		if !r.track(nc) {
			_ = nc.Close()
			r.caps.release(ip)
			return
		}
		r.wg.Add(1)
		go r.serve(nc, ip)
	}
}

func (r *rtspListener) track(nc net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[nc] = struct{}{}
	return true
}

func (r *rtspListener) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// serve runs one connection with zerocopy's RTSP server session. A panic
// (a bug, never peer input by design) closes only this connection.
func (r *rtspListener) serve(nc net.Conn, ip string) {
	p := r.plugin
	log := p.Logger.With("protocol", "rtsp", "remote", nc.RemoteAddr().String())
	defer func() {
		if v := recover(); v != nil {
			log.Error("rtsp connection panicked", "panic", fmt.Sprint(v))
		}
		_ = nc.Close()
		r.mu.Lock()
		delete(r.conns, nc)
		r.mu.Unlock()
		r.caps.release(ip)
		r.wg.Done()
	}()
	p.totals.Connections.Add(1)
	st, err := r.srv.ServeConn(nc, log)
	reason := "peer closed the connection"
	if err != nil && !errors.Is(err, io.EOF) {
		reason = err.Error()
	}
	log.Info("rtsp connection closed", "reason", reason, "role", st.Role, "path", st.Path, "transport", st.Transport,
		"bytes_read", st.BytesRead, "control_bytes_copied", st.BytesCopied,
		"video_frames", st.VideoFrames, "audio_frames", st.AudioFrames,
		"rtp_lost", st.Lost, "units_dropped", st.Dropped, "rtp_malformed", st.Malformed,
		"alloc_malloc", st.AllocMalloc, "alloc_free", st.AllocFree)
	p.totals.AllocMalloc.Add(st.AllocMalloc)
	p.totals.AllocFree.Add(st.AllocFree)
}

// close stops accepting, closes every connection (each publisher's Close
// runs on its own goroutine and waits for m7s's dispose) and waits for
// them, then stops the UDP goroutines.
func (r *rtspListener) close() {
	r.mu.Lock()
	r.closed = true
	conns := make([]net.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	_ = r.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	r.wg.Wait()
	r.srv.Close()
	if ok, inUse := r.srv.UDPAllocatorBalanced(); !ok {
		r.plugin.totals.Unbalanced.Add(1)
		r.plugin.Error("rtsp udp allocator unbalanced at dispose", "in_use", inUse)
	}
}
