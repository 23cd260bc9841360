package zerocopy

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade"
	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/host"
)

// QUICConfig is the `zerocopy.quic` section: Monibuca v5's cascade over
// QUIC (ALPN "monibuca"). Every node with a listen address is a parent;
// one with a parent address is also a child of it.
//
// Limits carry min/max tags the config loader enforces.
type QUICConfig struct {
	Enable     bool          `default:"true" desc:"run the QUIC cascade (parent listener and, with parent set, the child)"`
	ListenAddr string        `default:"127.0.0.1:44944" desc:"UDP address children register at (m7s quic.listenaddr; empty: no parent listener)"`
	CertFile   string        `desc:"PEM certificate of the parent listener (empty with keyfile: a self-signed one in memory)"`
	KeyFile    string        `desc:"PEM key of the parent listener"`
	Secret     string        `desc:"registration secret: what children must present, and what this node presents to its parent (empty: only loopback children; never logged)"`
	Parent     string        `desc:"host:port of this node's parent (ZEROCOPY_QUIC_PARENT); set: this node is also a child"`
	Insecure   bool          `default:"false" desc:"as a child, accept the parent's certificate without verifying it (its self-signed one)"`
	Pull       []string      `desc:"paths a child keeps pulled from its parent at all times (reconnecting)"`
	StopDelay  time.Duration `default:"10s" min:"0s" max:"1h" desc:"STOPFLV an on-demand pull this long after its last local player left"`
	// A request line holds a stream path and its query: 64 bytes is too
	// small for real paths, 64 KiB is buffered per stream.
	MaxRequestLine int `default:"4096" min:"64" max:"65536" desc:"longest PULLFLV/STOPFLV/relayed request line, CRLF included"`
	// Each open stream is a goroutine and buffers; quic-go's own default
	// is 100.
	MaxStreams int `default:"100" min:"1" max:"10000" desc:"streams open at once on one cascade connection"`
	// Below a second keep-alives cost more than the media; above ten
	// minutes a vanished peer pins its pulls for too long.
	IdleTimeout      time.Duration `default:"30s" min:"1s" max:"10m" desc:"QUIC idle timeout of the child's connection (keep-alives every third of it)"`
	HandshakeTimeout time.Duration `default:"5s" min:"100ms" max:"1m" desc:"QUIC handshake, registration, and each stream's request line"`
	MaxChildren      int           `default:"64" min:"1" max:"100000" desc:"children registered with this parent at once"`
	WriteTimeout     time.Duration `default:"10s" min:"100ms" max:"1h" desc:"cut a child that cannot take a pull's data for this long"`
	ReadTimeout      time.Duration `default:"15s" min:"1s" max:"1h" desc:"end a pull whose parent sends nothing for this long"`
	// As zerocopy.rtmp.allocatorsize: the ring's frames live in it.
	AllocatorSize int `default:"65536" min:"65536" max:"67108864" desc:"arenas reserved for a pull when it publishes; they grow with the ring anyway"`
}

// apiServer is what a host offers to answer its parent's relayed HTTP
// requests (/api/streams). The embedded host does not offer it yet (see
// the seam proposal in the cascade report); without it every relayed
// request gets an error body.
type apiServer interface{ APIHandler() http.Handler }

func (p *ZeroCopy) startQUIC() error {
	c := p.cfg.QUIC
	cfg := cascade.Config{
		Secret: c.Secret, Auth: p.auth, Insecure: c.Insecure, StopDelay: c.StopDelay,
		MaxRequestLine: c.MaxRequestLine, MaxStreams: c.MaxStreams, MaxChildren: c.MaxChildren,
		HandshakeTimeout: c.HandshakeTimeout, IdleTimeout: c.IdleTimeout,
		WriteTimeout: c.WriteTimeout, ReadTimeout: c.ReadTimeout, AllocatorSize: c.AllocatorSize,
	}
	if a, ok := p.svc.(apiServer); ok {
		cfg.API = a.APIHandler()
	}
	if c.ListenAddr != "" {
		parent := cascade.NewParent(cfg, p.svc)
		conf := host.QUICConfig{ALPN: []string{wire.ALPN}, CertFile: c.CertFile, KeyFile: c.KeyFile,
			HandshakeTimeout: c.HandshakeTimeout, IdleTimeout: c.IdleTimeout, MaxIncomingStreams: int64(c.MaxStreams)}
		if _, err := p.svc.ListenQUIC("quic", c.ListenAddr, conf, func(conn *quic.Conn, log *slog.Logger) {
			parent.ServeConn(conn, log)
		}); err != nil {
			return err
		}
		p.quicParent = parent
	}
	if c.Parent != "" {
		child := cascade.NewChild(cfg, c.Parent, c.Pull, p.svc, p.log.With("cascade", "child"))
		if err := child.Start(); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
		p.quicChild = child
		p.svc.AddOnDemand(child.Demand)
	} else if len(c.Pull) > 0 {
		return fmt.Errorf("pull: %d paths listed but no parent is set", len(c.Pull))
	}
	return nil
}

// stopQUIC ends the child (its pulls, connection and goroutines); the
// host closed the parent's listener and connections already.
func (p *ZeroCopy) stopQUIC() {
	if p.quicChild != nil {
		p.quicChild.Close()
		p.quicChild = nil
	}
}

// QUICStats returns the cascade's counters (nil for a role not running).
func (p *ZeroCopy) QUICStats() (*cascade.ParentStats, *cascade.ChildStats) {
	var ps *cascade.ParentStats
	var cs *cascade.ChildStats
	if p.quicParent != nil {
		ps = p.quicParent.Stats()
	}
	if p.quicChild != nil {
		cs = p.quicChild.Stats()
	}
	return ps, cs
}
