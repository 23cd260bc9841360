// Package zerocopym7s installs the ZeroCopy plugin into a Monibuca v5
// (m7s.live/v5) build. A blank import is enough:
//
//	import _ "github.com/zcingest/zerocopy/m7s"
//
// The plugin's config section is `zerocopy:` in m7s's config.yaml. Each
// protocol has its own subsection with `enable` and a listen address: RTMP,
// RTSP and SRT. Their read paths are zerocopy's: media payloads stay in the
// memory they were read into (pooled blocks, or the SRT transport's packet slots)
// and are attached to m7s's own frames, so m7s's subscribers (HTTP-FLV,
// HLS, recording) work unchanged and no media byte is copied on the way in.
// RTMP payloads become m7s RTMP frames; RTSP and SRT access units become
// m7s's codec-unit frames (format.H26xFrame, format.RawAudio) whose NAL
// units are views of the payload. The stock rtmp, rtsp and srt plugins must
// be disabled (the rtmp one's AMF0 decoder has no depth limit).
//
// Ownership (RTMP): each connection owns one allocator, which is also the
// one handed to m7s's track writers. Payload ranges are lent to m7s's ring
// frames with the recycle-index mechanism, so m7s's Recycle leaves them
// alone; they are freed through pool, on the publishing goroutine, when
// m7s hands the same slot back for writing (see lentRanges). The allocator
// is recycled once both the session and every m7s publisher it fed have let
// go of it, after m7s has disposed its ring. RTSP and SRT: see
// unitPublisher (units.go).
package zerocopym7s

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	task "github.com/langhuihui/gotask"
	"m7s.live/v5"

	"github.com/zcingest/zerocopy/auth"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/session"
	"github.com/zcingest/zerocopy/srt"
)

// ZeroCopyPlugin is the m7s plugin. m7s names it "ZeroCopy" (the type name
// minus "Plugin") and reads its config from the `zerocopy:` section.
type ZeroCopyPlugin struct {
	m7s.Plugin
	Auth auth.Config `desc:"who may publish through the plugin (?key=<value> on the stream name); m7s's own plugins guard playback"`
	RTMP RTMPConfig  `desc:"zero-copy RTMP ingest (publish only; m7s's own plugins serve playback)"`
	RTSP RTSPConfig  `desc:"zero-copy RTSP ingest (ANNOUNCE/RECORD over TCP and UDP; m7s's own plugins serve playback)"`
	SRT  SRTConfig   `desc:"zero-copy SRT ingest (publish only; m7s's own plugins serve playback)"`

	rtsp *rtspListener
	srt  *srt.Server

	totals Totals
	// authz decides every publish; Start builds it from the auth section.
	authz      host.Authorizer
	conns      connCaps
	refusedLog rateLog
}

// RTMPConfig is the `zerocopy.rtmp` section. Its keys match the embedded
// host's `zerocopy.rtmp` section, so one config works with both hosts.
type RTMPConfig struct {
	Enable     bool   `default:"true" desc:"accept RTMP publishers on listenaddr"`
	ListenAddr string `default:":1935" desc:"RTMP listen address; m7s's TCP listener serves it through OnTCPConnect (tune it under zerocopy.tcp)"`
	// PublishKey is the deprecated spelling of auth.publishkey, used only
	// when that is empty.
	PublishKey         string        `desc:"deprecated: use zerocopy.auth.publishkey (never logged)"`
	HandshakeTimeout   time.Duration `default:"5s" desc:"fixed time from accept allowed for the RTMP handshake"`
	SetupTimeout       time.Duration `default:"10s" desc:"fixed time from accept until a publish has started"`
	ReadTimeout        time.Duration `default:"15s" desc:"close a publishing connection that sends nothing for this long"`
	WriteTimeout       time.Duration `default:"10s" desc:"bound on one control write to the peer"`
	CloseWait          time.Duration `default:"10s" desc:"how long an unpublish on a live connection waits for m7s to dispose the stream"`
	MaxReassemblyBytes int           `default:"8388608" desc:"bytes held in partially received messages per connection"`
	MaxMessageLength   int           `default:"8388608" desc:"largest message a peer may announce"`
	MaxChunkStreams    int           `default:"64" desc:"chunk stream ids one connection may use"`
	AllocatorSize      int           `default:"1048576" desc:"arena a connection's allocator grows to when it starts publishing (until then it has 64 KiB); payloads lent to m7s's ring live in it"`
	ReadLowWater       int           `default:"4096" desc:"Linux: bytes queued before a publisher's reader wakes (SO_RCVLOWAT; at most 20 ms of the stream); 0 wakes it for every segment"`
	ReadLowWaterDelay  time.Duration `default:"200ms" desc:"a publisher silent this long is read at once again"`
	// Caps on concurrent connections, checked in OnTCPConnect; a refused
	// connection is closed at once and counted. 0 means no cap.
	MaxConnections      int `default:"1024" desc:"open RTMP connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" desc:"open RTMP connections from one IP address (0: no cap)"`
}

// defaultYaml turns Nagle off on the plugin's TCP listener (m7s turns it on
// unless nodelay is set); RTMP control replies are small writes.
const defaultYaml = `tcp:
  nodelay: true`

var _ = m7s.InstallPlugin[ZeroCopyPlugin](m7s.PluginMeta{
	DefaultYaml: defaultYaml,
})

// Start runs before m7s opens the plugin's listeners. It points m7s's TCP
// listener (zerocopy.tcp.listenaddr, served by OnTCPConnect) at the RTMP
// address, or turns it off when RTMP is disabled.
func (p *ZeroCopyPlugin) Start() error {
	a, err := auth.New(p.authConfig(), p.Logger)
	if err != nil {
		return fmt.Errorf("zerocopy.auth.%w", err)
	}
	p.authz = a
	if p.RTMP.MaxConnections < 0 || p.RTMP.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("zerocopy.rtmp: maxconnections and maxconnectionsperip must be >= 0")
	}
	if err := p.startRTSP(); err != nil {
		return err
	}
	if err := p.startSRT(); err != nil {
		p.stopRTSP()
		return err
	}
	tcp := &p.GetCommonConf().TCP
	if !p.RTMP.Enable || p.RTMP.ListenAddr == "" {
		tcp.ListenAddr, tcp.ListenAddrTLS = "", ""
		p.Info("rtmp disabled")
		return nil
	}
	tcp.ListenAddr = p.RTMP.ListenAddr
	if _, port, err := net.SplitHostPort(p.RTMP.ListenAddr); err == nil {
		p.PushAddr = append(p.PushAddr, fmt.Sprintf("rtmp://{hostName}:%s/{streamPath}", port))
	}
	p.Info("rtmp enabled", "listenaddr", p.RTMP.ListenAddr)
	return nil
}

// Dispose closes the RTSP and SRT listeners and their connections (m7s
// closes the RTMP listener it runs for the plugin itself).
func (p *ZeroCopyPlugin) Dispose() {
	p.stopRTSP()
	p.stopSRT()
}

func (p *ZeroCopyPlugin) stopRTSP() {
	if p.rtsp != nil {
		p.rtsp.close()
		p.rtsp = nil
	}
}

// OnTCPConnect serves one accepted connection with zerocopy's RTMP session
// (m7s's ITCPPlugin). The returned task is the connection: its context is
// the parent of every m7s publisher the connection starts.
func (p *ZeroCopyPlugin) OnTCPConnect(conn net.Conn) task.ITask {
	ip, reason := p.conns.admit(conn.RemoteAddr(), p.RTMP.MaxConnections, p.RTMP.MaxConnectionsPerIP)
	if reason != "" {
		p.totals.Refused.Add(1)
		return &refusedConn{plugin: p, conn: conn, reason: reason}
	}
	c := &rtmpConn{plugin: p, conn: conn, ip: ip}
	c.lease.holders = 1 // the session's own hold, released at its teardown
	c.lease.last = c.lent.freeAll
	c.Logger = p.Logger.With("remote", conn.RemoteAddr().String())
	return c
}

func (p *ZeroCopyPlugin) sessionConfig() session.Config {
	c := p.RTMP
	return session.Config{
		Chunk: chunk.Options{
			MaxReassemblyBytes: c.MaxReassemblyBytes,
			MaxMessageLength:   c.MaxMessageLength,
			MaxChunkStreams:    c.MaxChunkStreams,
		},
		HandshakeTimeout:  c.HandshakeTimeout,
		SetupTimeout:      c.SetupTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		AllocatorSize:     c.AllocatorSize,
		ReadLowWater:      rcvlowat.ConfigSize(c.ReadLowWater),
		ReadLowWaterDelay: c.ReadLowWaterDelay,
		Auth:              p.authz,
	}
}

// authConfig is the auth section with the deprecated zerocopy.rtmp.publishkey
// folded in when zerocopy.auth.publishkey is empty; its use is logged, never
// its value.
func (p *ZeroCopyPlugin) authConfig() auth.Config {
	c := p.Auth
	if k := p.RTMP.PublishKey; k != "" {
		if c.PublishKey == "" {
			c.PublishKey = k
			p.Warn("deprecated config key: use zerocopy.auth.publishkey", "key", "zerocopy.rtmp.publishkey")
		} else {
			p.Warn("deprecated config key ignored: zerocopy.auth.publishkey is set", "key", "zerocopy.rtmp.publishkey")
		}
	}
	if c.PlayKey != "" {
		p.Warn("zerocopy.auth.playkey has no effect in m7s: zerocopy serves no play here; guard m7s's subscribers with m7s's own auth")
	}
	return c
}

// Refusal reasons of the connection caps.
const (
	refusedListener = "maxconnections"
	refusedPerIP    = "maxconnectionsperip"
)

// connCaps counts the plugin's open RTMP connections, in all and per
// remote IP, for the caps in RTMPConfig. Caps limit concurrent connections
// only: a burst of short connections is served once it ends.
type connCaps struct {
	mu    sync.Mutex
	total int
	perIP map[string]int
}

// admit counts a new connection from addr, or names the cap it would
// exceed. The returned ip is what release takes.
func (c *connCaps) admit(addr net.Addr, maxTotal, maxPerIP int) (ip, refused string) {
	ip = addr.String()
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case maxTotal > 0 && c.total >= maxTotal:
		return ip, refusedListener
	case maxPerIP > 0 && c.perIP[ip] >= maxPerIP:
		return ip, refusedPerIP
	}
	if c.perIP == nil {
		c.perIP = map[string]int{}
	}
	c.total++
	c.perIP[ip]++
	return ip, ""
}

// release uncounts a connection admit counted.
func (c *connCaps) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip)
	}
}

// rateLog lets one log line through per second.
type rateLog struct {
	mu   sync.Mutex
	last time.Time
}

func (r *rateLog) allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.last) >= time.Second {
		r.last = now
		return true
	}
	return false
}

// refusedConn is the task OnTCPConnect returns for a connection over a
// cap (m7s adds whatever it returns): it closes the connection and ends.
// The log line is rate-limited, so a flood cannot flood the log.
type refusedConn struct {
	task.Task
	plugin *ZeroCopyPlugin
	conn   net.Conn
	reason string
}

// Run closes the connection; returning nil completes the task.
func (r *refusedConn) Run() error {
	_ = r.conn.Close()
	if r.plugin.refusedLog.allow() {
		r.plugin.Warn("rtmp connection refused", "cap", r.reason, "remote", r.conn.RemoteAddr().String(),
			"refused_total", r.plugin.totals.Refused.Load())
	}
	return nil
}

// Totals are the plugin's ingest counters since start. BytesCopied counts
// control data only (command bodies, straddling header integers, sequence
// headers); media bytes are never copied.
type Totals struct {
	Connections atomic.Int64
	Publishes   atomic.Int64
	BytesRead   atomic.Int64
	BytesCopied atomic.Int64
	FramesIn    atomic.Int64
	FramesDrop  atomic.Int64
	AllocMalloc atomic.Int64
	AllocFree   atomic.Int64
	// RecycledInDispose counts allocators recycled in an m7s publisher's
	// dispose (the session let go first); RecycledAtTeardown those recycled
	// when the session let go last (after a publisher's dispose, or with no
	// publish at all).
	RecycledInDispose  atomic.Int64
	RecycledAtTeardown atomic.Int64
	Unbalanced         atomic.Int64
	// Refused counts connections closed at accept by the caps.
	Refused atomic.Int64
}

type totalsJSON struct {
	Connections int64 `json:"connections"`
	Publishes   int64 `json:"publishes"`
	BytesRead   int64 `json:"bytesRead"`
	BytesCopied int64 `json:"bytesCopied"`
	FramesIn    int64 `json:"framesIn"`
	FramesDrop  int64 `json:"framesDropped"`
	AllocMalloc int64 `json:"allocMalloc"`
	AllocFree   int64 `json:"allocFree"`
	InDispose   int64 `json:"allocatorsRecycledInDispose"`
	AtTeardown  int64 `json:"allocatorsRecycledAtTeardown"`
	Unbalanced  int64 `json:"allocatorsUnbalanced"`
	Refused     int64 `json:"connectionsRefused"`
}

// API_Stats serves the totals as JSON at /zerocopy/api/stats (m7s maps
// handler methods by name).
func (p *ZeroCopyPlugin) API_Stats(w http.ResponseWriter, r *http.Request) {
	t := &p.totals
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(totalsJSON{
		Connections: t.Connections.Load(), Publishes: t.Publishes.Load(),
		BytesRead: t.BytesRead.Load(), BytesCopied: t.BytesCopied.Load(),
		FramesIn: t.FramesIn.Load(), FramesDrop: t.FramesDrop.Load(),
		AllocMalloc: t.AllocMalloc.Load(), AllocFree: t.AllocFree.Load(),
		InDispose: t.RecycledInDispose.Load(), AtTeardown: t.RecycledAtTeardown.Load(),
		Unbalanced: t.Unbalanced.Load(), Refused: t.Refused.Load(),
	})
}

func reasonText(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}
