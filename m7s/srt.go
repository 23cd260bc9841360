package zerocopym7s

import (
	"fmt"
	"net"
	"time"

	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/srt"
)

// SRTConfig is the `zerocopy.srt` section. Its keys match the embedded
// host's `zerocopy.srt` section (publishing keys only: m7s's own egress
// serves players, so SRT subscribe is refused).
type SRTConfig struct {
	Enable      bool          `default:"true" desc:"accept SRT publishers (UDP listener)"`
	ListenAddr  string        `default:":6000" desc:"SRT listen address (UDP); m7s's stock srt plugin must not use it"`
	Passphrase  string        `desc:"require this SRT passphrase (AES) of every caller, 10 to 79 bytes (never logged)"`
	Latency     time.Duration `default:"120ms" desc:"SRT latency offered to callers: how long a lost packet is waited for"`
	ReadTimeout time.Duration `default:"10s" desc:"close a publisher that sends no data for this long (also the SRT peer idle timeout)"`
	AuthTimeout time.Duration `default:"2s" desc:"how long the auth hook may take to decide one SRT caller"`
	// Caps enforced before a handshake is answered; 0 means no cap.
	MaxConnections      int `default:"1024" desc:"open SRT connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" desc:"open SRT connections from one IP address (0: no cap)"`
	MaxPESSize          int `default:"4194304" desc:"largest PES (access unit) a publisher may send"`
}

// startSRT opens the SRT listener. It runs in Start; m7s's UDP auto-listen
// is not used (it is broken upstream).
func (p *ZeroCopyPlugin) startSRT() error {
	c := p.SRT
	if !c.Enable || c.ListenAddr == "" {
		p.Info("srt disabled")
		return nil
	}
	log := p.Logger.With("protocol", "srt")
	srv, err := srt.New(srt.Config{
		ListenAddr: c.ListenAddr, Passphrase: c.Passphrase, Latency: c.Latency,
		ReadTimeout: c.ReadTimeout, AuthTimeout: c.AuthTimeout,
		MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP,
		Auth:  p.authz,
		Demux: mpegts.Options{MaxPESSize: c.MaxPESSize},
	}, &services{plugin: p, log: log}, log)
	if err != nil {
		return fmt.Errorf("zerocopy.srt.%w", err)
	}
	addr, err := srv.Listen()
	if err != nil {
		return fmt.Errorf("zerocopy.srt.listenaddr: %w", err)
	}
	p.srt = srv
	if _, port, err := net.SplitHostPort(addr.String()); err == nil {
		p.PushAddr = append(p.PushAddr, fmt.Sprintf("srt://{hostName}:%s?streamid=publish:/{streamPath}", port))
	}
	p.Info("srt enabled", "listenaddr", addr.String())
	return nil
}

// stopSRT closes the listener and every SRT connection and waits for
// them; each publisher's Close gives every SRT packet back to its pool on
// the way out.
func (p *ZeroCopyPlugin) stopSRT() {
	if p.srt == nil {
		return
	}
	p.srt.Close()
	t := p.srt.Totals()
	p.Info("srt stopped", "accepted", t.Accepted.Load(), "rejected", t.Rejected.Load(),
		"packets", t.Packets.Load(), "decommissioned", t.Decommissioned.Load(),
		"packets_abandoned", t.PacketsAbandoned.Load())
}
