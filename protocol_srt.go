package zerocopy

import (
	"fmt"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/srt"
)

// SRTConfig is the `zerocopy.srt` section. Numeric and duration fields
// carry min/max tags the config loader enforces.
type SRTConfig struct {
	Enable     bool   `default:"true" desc:"accept SRT publishers and players (UDP listener)"`
	ListenAddr string `default:"127.0.0.1:6000" desc:"SRT listen address (UDP)"`
	// The passphrase bounds (10..79 bytes) are checked at start.
	Passphrase string `desc:"require this SRT passphrase (AES) of every caller, 10 to 79 bytes (never logged)"`
	// Latency: below 20 ms SRT cannot retransmit anything; beyond 10 s it
	// is a recording, not live.
	Latency time.Duration `default:"120ms" min:"20ms" max:"10s" desc:"SRT latency offered to callers and pulls: how long a lost packet is waited for (packets in order are delivered at once)"`
	// An hour of silence is already a dead peer.
	ReadTimeout time.Duration `default:"10s" min:"1s" max:"1h" desc:"close a publisher that sends no data for this long (also the SRT peer idle timeout)"`
	AuthTimeout time.Duration `default:"2s" min:"100ms" max:"1m" desc:"how long the auth hook may take to decide one SRT caller"`
	// Caps enforced before a handshake is answered; 0 means no cap. A
	// million is beyond any file descriptor limit.
	MaxConnections      int `default:"1024" min:"0" max:"1048576" desc:"open SRT connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" min:"0" max:"1048576" desc:"open SRT connections from one IP address (0: no cap)"`
	// Pull lists "path=srt://host:port?…" items: the hub path and the URL
	// it is pulled from in caller mode (streamid, passphrase, latency in
	// the URL's query). A list, not a mapping: the config loader takes
	// scalars, lists and structs only. Write it as a YAML sequence (an
	// environment value splits on commas, which access-control streamids
	// contain).
	Pull         []string      `desc:"pull paths from SRT listeners: [live/cam=srt://host:port?streamid=…] (URLs never logged)"`
	PullOnDemand bool          `default:"false" desc:"start a pull only when a player asks for its path (and end it pullidle after the last one left)"`
	PullIdle     time.Duration `default:"10s" min:"1s" max:"1h" desc:"an on-demand pull ends after this long without players"`
	PullRetry    time.Duration `default:"1s" min:"10ms" max:"1m" desc:"first wait before redialing a pull (doubles up to pullretrymax)"`
	PullRetryMax time.Duration `default:"30s" min:"10ms" max:"1h" desc:"longest wait between pull redials"`
	// A PES larger than this is dropped: 4 MiB holds any sane keyframe;
	// 64 MiB per stream is already more than a publisher should pin.
	MaxPESSize int `default:"4194304" min:"65536" max:"67108864" desc:"largest PES (access unit) a publisher may send"`
}

// startSRT opens the SRT listener and starts the configured pulls.
func (p *ZeroCopy) startSRT() error {
	c := p.cfg.SRT
	if err := srt.ValidatePassphrase(c.Passphrase); err != nil {
		return fmt.Errorf("passphrase: %w", err)
	}
	pulls, err := parsePulls(c.Pull)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	log := p.log.With("protocol", "srt")
	srv, err := srt.New(srt.Config{
		ListenAddr: c.ListenAddr, Passphrase: c.Passphrase, Latency: c.Latency,
		ReadTimeout: c.ReadTimeout, AuthTimeout: c.AuthTimeout,
		MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP,
		Auth: p.auth, // the plugin's one hook
		Pull: pulls, PullOnDemand: c.PullOnDemand, PullIdle: c.PullIdle,
		PullRetry: c.PullRetry, PullRetryMax: max(c.PullRetryMax, c.PullRetry),
		Demux: mpegts.Options{MaxPESSize: c.MaxPESSize},
	}, p.svc, log)
	if err != nil {
		return err
	}
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	log.Info("listening", "listener", "srt", "udp", addr.String())
	// The SRT transport binds its own UDP socket, so the host's listener
	// list lacks it unless it is told.
	if a, ok := p.svc.(host.EndpointAdvertiser); ok {
		a.AdvertiseEndpoint(host.Endpoint{Name: "srt", Addr: addr, Title: "SRT", Container: "mpegts", URL: srt.URL})
	}
	p.srt = srv
	srv.StartPulls()
	return nil
}

// stopSRT closes the listener, the pulls and every SRT connection and
// waits for their goroutines; each publisher closes its publish and gives
// every SRT packet back to its pool on the way out.
func (p *ZeroCopy) stopSRT() {
	if p.srt == nil {
		return
	}
	p.srt.Close()
	t, ls := p.srt.Totals(), p.srt.ListenerStats()
	p.log.Info("srt stopped", "accepted", t.Accepted.Load(), "rejected", t.Rejected.Load(),
		"packets", t.Packets.Load(), "decommissioned", t.Decommissioned.Load(), "packets_abandoned", t.PacketsAbandoned.Load(),
		"egress_bytes_copied", t.EgressBytesCopied.Load(), "datagrams", ls.Datagrams, "malformed_datagrams", ls.Malformed,
		"dropped_pool_exhausted", ls.PoolExhausted, "dropped_queue_full", ls.QueueFull, "dropped_unknown_socket", ls.UnknownSocket)
}

// parsePulls turns "path=srt://…" items into a path → URL map.
func parsePulls(items []string) (map[string]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(items))
	for i, it := range items {
		path, rest, ok := strings.Cut(it, "=srt://")
		path = strings.Trim(strings.TrimSpace(path), "/")
		if !ok || path == "" {
			return nil, fmt.Errorf("item %d: want path=srt://host:port?…", i)
		}
		if _, dup := m[path]; dup {
			return nil, fmt.Errorf("item %d: path %s listed twice", i, path)
		}
		m[path] = "srt://" + rest
	}
	return m, nil
}
