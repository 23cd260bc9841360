package zerocopy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	rtspserver "github.com/zcingest/zerocopy/rtsp/server"
)

// RTSPConfig is the `zerocopy.rtsp` section. Numeric and duration fields
// carry min/max tags the config loader enforces; a timeout of 0s takes the
// server's default.
type RTSPConfig struct {
	Enable     bool   `default:"true" desc:"accept RTSP publishers (ANNOUNCE/RECORD) and players (DESCRIBE/PLAY)"`
	ListenAddr string `default:"127.0.0.1:8554" desc:"RTSP listen address (TCP)"`
	// One RTP/RTCP port pair shared by every UDP session; an empty
	// rtcpaddress (or rtpaddress) disables UDP transports.
	RTPAddress  string `default:"127.0.0.1:8000" desc:"UDP address for RTP of every session (empty: TCP only)"`
	RTCPAddress string `default:"127.0.0.1:8001" desc:"UDP address for RTCP of every session (empty: TCP only)"`
	// Timeouts: a session living past an hour of silence is a dead peer;
	// setup beyond five minutes is no real client.
	SessionTimeout time.Duration `default:"60s" min:"0s" max:"1h" desc:"end a session whose client sends neither requests nor media for this long"`
	ReadTimeout    time.Duration `default:"15s" min:"0s" max:"1h" desc:"close a TCP publisher that sends nothing for this long"`
	WriteTimeout   time.Duration `default:"10s" min:"0s" max:"1h" desc:"close a player that cannot take data for this long"`
	SetupTimeout   time.Duration `default:"10s" min:"0s" max:"5m" desc:"fixed time from accept until RECORD or PLAY"`
	// Below 64 KiB the arena is smaller than a connection starts with;
	// above 64 MiB a ring is misconfigured.
	AllocatorSize int `default:"65536" min:"65536" max:"67108864" desc:"arenas reserved for a TCP publisher at RECORD; they grow with the ring anyway"`
	// Read batching (Linux), as zerocopy.rtmp's: the kernel wakes the
	// reader of a TCP-interleaved publisher (after RECORD) or camera pull
	// (after PLAY) once this many bytes are queued (SO_RCVLOWAT), lowered
	// to 20 ms of the stream's own bitrate, instead of once per TCP
	// segment. Requests on the same socket (TEARDOWN, keep-alives) wait at
	// most ReadLowWaterDelay when the media stalls. 64 KiB is far beyond
	// 20 ms of any stream.
	ReadLowWater      int           `default:"4096" min:"0" max:"65536" desc:"bytes queued before a TCP publisher's or pull's reader wakes (SO_RCVLOWAT, Linux; 20 ms of the stream at most); 0 wakes it for every segment"`
	ReadLowWaterDelay time.Duration `default:"200ms" min:"10ms" max:"2s" desc:"a TCP publisher or camera silent this long is read at once again (the mark drops to one byte)"`
	// Caps the host enforces on the listener; 0 means no cap.
	MaxConnections      int `default:"1024" min:"0" max:"1048576" desc:"open RTSP connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" min:"0" max:"1048576" desc:"open RTSP connections from one IP address (0: no cap)"`
	// Pulling from cameras (protocol_rtsp_pull.go). The config loader has
	// no maps yet, so each entry is "stream/path=rtsp://user:pass@camera/…".
	Pull          []string      `desc:"cameras to pull, each stream/path=rtsp://user:pass@host:port/path (credentials are never logged)"`
	PullTransport string        `default:"tcp" desc:"how pulled RTP travels: tcp (interleaved), udp, or auto (UDP, then TCP when refused or silent)"`
	PullRetry     time.Duration `default:"1s" min:"100ms" max:"1m" desc:"first reconnection delay after a camera drops; it doubles up to pullretrymax"`
	PullRetryMax  time.Duration `default:"30s" min:"1s" max:"10m" desc:"longest reconnection delay"`
	PullTimeout   time.Duration `default:"10s" min:"1s" max:"5m" desc:"reconnect when a camera sends no RTP for this long"`
	PullOnDemand  bool          `default:"false" desc:"pull a camera only while a player asks for its path"`
	PullStopDelay time.Duration `default:"10s" min:"0s" max:"1h" desc:"on-demand pulls stop this long after the last player leaves"`
}

// startRTSP opens the RTSP listener and, when configured, the shared
// RTP/RTCP sockets.
func (p *ZeroCopy) startRTSP() error {
	c := p.cfg.RTSP
	srv := rtspserver.New(rtspserver.Config{
		SessionTimeout: c.SessionTimeout,
		ReadTimeout:    c.ReadTimeout,
		WriteTimeout:   c.WriteTimeout,
		SetupTimeout:   c.SetupTimeout,
		AllocatorSize:  c.AllocatorSize,
		// 0 (off) becomes the server's negative value; its 0 is the default.
		ReadLowWater:      rcvlowat.ConfigSize(c.ReadLowWater),
		ReadLowWaterDelay: c.ReadLowWaterDelay,
		Auth:              p.auth, // the plugin's one hook
	}, p.svc, p.log.With("protocol", "rtsp"))
	if c.RTPAddress != "" && c.RTCPAddress != "" {
		rtpConn, err := p.svc.ListenUDP("rtsp-rtp", c.RTPAddress)
		if err != nil {
			return fmt.Errorf("rtpaddress: %w", err)
		}
		rtcpConn, err := p.svc.ListenUDP("rtsp-rtcp", c.RTCPAddress)
		if err != nil {
			_ = rtpConn.Close()
			return fmt.Errorf("rtcpaddress: %w", err)
		}
		srv.StartUDP(rtpConn, rtcpConn)
	}
	p.rtsp = srv
	if err := p.startRTSPPulls(); err != nil {
		return err
	}
	opts := host.ListenOptions{MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP}
	_, err := p.svc.ListenTCP("rtsp", c.ListenAddr, opts, func(conn net.Conn, log *slog.Logger) {
		st, err := srv.ServeConn(conn, log)
		reason := "peer closed the connection"
		if err != nil && !errors.Is(err, io.EOF) {
			reason = err.Error()
		}
		log.Info("rtsp connection closed", "reason", reason, "role", st.Role, "path", st.Path, "transport", st.Transport,
			"bytes_read", st.BytesRead, "bytes_sent", st.BytesSent, "control_bytes_copied", st.BytesCopied,
			"video_frames", st.VideoFrames, "audio_frames", st.AudioFrames,
			"rtp_lost", st.Lost, "units_dropped", st.Dropped, "rtp_malformed", st.Malformed, "play_drops", st.PlayDrops,
			"rtcp_reports_in", st.ReceiverReportsIn,
			"alloc_malloc", st.AllocMalloc, "alloc_free", st.AllocFree)
	})
	return err
}

// stopRTSP ends the UDP goroutines (the host has closed the sockets and
// waited for every connection).
func (p *ZeroCopy) stopRTSP() {
	if p.rtsp != nil {
		p.rtsp.Close()
		if ok, inUse := p.rtsp.UDPAllocatorBalanced(); !ok {
			p.log.Error("rtsp udp allocator unbalanced at dispose", "in_use", inUse)
		}
	}
}
