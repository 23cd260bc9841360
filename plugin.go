// Package zerocopy is the ZeroCopy media-server plugin: protocol read paths
// whose media payloads travel from the socket into pooled blocks and on to
// the host's frame writers without a copy.
//
// A blank import installs it into the host registry:
//
//	import _ "github.com/zcingest/zerocopy"
//
// Its config section is `zerocopy:`; each protocol has its own subsection
// with `enable` and a listen address. This package is thin glue: the codecs
// and sessions live in one package per protocol layer (bufreader, rtmp/…).
package zerocopy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/zcingest/zerocopy/auth"
	"github.com/zcingest/zerocopy/cascade"
	"github.com/zcingest/zerocopy/host"
	rtspserver "github.com/zcingest/zerocopy/rtsp/server"
	"github.com/zcingest/zerocopy/srt"
)

// Config is the `zerocopy:` section. Keys are the lowercased field names.
type Config struct {
	Enable bool        `default:"true" desc:"turn the whole plugin off with false"`
	Auth   auth.Config `desc:"who may publish and play, for every protocol and the host's HTTP-FLV (?key=<value> on the stream path)"`
	RTMP   RTMPConfig  `desc:"RTMP ingest and play"`
	RTSP   RTSPConfig  `desc:"RTSP ingest (ANNOUNCE/RECORD) and play, over TCP interleaved and UDP"`
	QUIC   QUICConfig  `desc:"Monibuca cascade over QUIC: parent (origin) listener and child (edge) of zerocopy.quic.parent"`
	SRT    SRTConfig   `desc:"SRT ingest (publish), play and pull (listener and caller, UDP)"`
}

// ZeroCopy is the plugin.
type ZeroCopy struct {
	cfg *Config
	svc host.Services
	log *slog.Logger
	// auth decides every publish and play; Start sets it before any
	// protocol starts and installs it in the host too.
	auth host.Authorizer
	// rtsp is the RTSP server while it runs (its UDP goroutines end in
	// Dispose).
	rtsp *rtspserver.Server
	// quicParent and quicChild are the cascade roles while they run.
	quicParent *cascade.Parent
	quicChild  *cascade.Child
	// srt is the SRT server while it runs: it binds its own UDP socket,
	// so Dispose closes it and waits for its connections.
	srt *srt.Server
}

func init() {
	if err := host.InstallPlugin(host.PluginMeta{
		Name:      "ZeroCopy",
		NewConfig: func() any { return new(Config) },
		New: func(c any) (host.Plugin, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("zerocopy: config is %T, want *zerocopy.Config", c)
			}
			return &ZeroCopy{cfg: cfg}, nil
		},
	}); err != nil {
		panic(err)
	}
}

// Start builds the auth hook, installs it in the host, and opens a
// listener for every enabled protocol. Its errors name the config key.
func (p *ZeroCopy) Start(svc host.Services) error {
	p.svc, p.log = svc, svc.Logger()
	if err := p.start(); err != nil {
		// The host disposes only plugins that started: stop what did
		// (UDP readers, the cascade child, SRT's own listener) here.
		p.Dispose()
		return err
	}
	return nil
}

func (p *ZeroCopy) start() error {
	a, err := auth.New(p.authConfig(), p.log)
	if err != nil {
		return fmt.Errorf("zerocopy.auth.%w", err)
	}
	p.auth = a
	p.svc.SetAuthorizer(a)
	if p.cfg.RTMP.Enable {
		if err := p.startRTMP(); err != nil {
			return keyError("zerocopy.rtmp", err)
		}
	}
	if p.cfg.RTSP.Enable {
		if err := p.startRTSP(); err != nil {
			return keyError("zerocopy.rtsp", err)
		}
	}
	if p.cfg.QUIC.Enable {
		if err := p.startQUIC(); err != nil {
			return keyError("zerocopy.quic", err)
		}
	}
	if p.cfg.SRT.Enable {
		if err := p.startSRT(); err != nil {
			return keyError("zerocopy.srt", err)
		}
	}
	return nil
}

// authConfig is the auth section with the deprecated zerocopy.rtmp keys
// folded in: each is used only when its zerocopy.auth key is empty, and
// either way its use is logged (never its value).
func (p *ZeroCopy) authConfig() auth.Config {
	c := p.cfg.Auth
	for _, alias := range []struct {
		old, key string
		val      string
		dst      *string
	}{
		{"zerocopy.rtmp.publishkey", "zerocopy.auth.publishkey", p.cfg.RTMP.PublishKey, &c.PublishKey},
		{"zerocopy.rtmp.playkey", "zerocopy.auth.playkey", p.cfg.RTMP.PlayKey, &c.PlayKey},
	} {
		if alias.val == "" {
			continue
		}
		if *alias.dst == "" {
			*alias.dst = alias.val
			p.log.Warn("deprecated config key: use "+alias.key, "key", alias.old)
		} else {
			p.log.Warn("deprecated config key ignored: "+alias.key+" is set", "key", alias.old)
		}
	}
	return c
}

// keyError names the config key behind a protocol's start error: a
// listen failure is the section's listenaddr.
func keyError(section string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "listen" {
		return fmt.Errorf("%s.listenaddr: %w", section, oe)
	}
	return fmt.Errorf("%s: %w", section, err)
}

// Dispose ends the RTSP UDP goroutines; everything else is released
// already: the host closes the listeners and waits for every connection
// goroutine, and each connection frees its own memory.
func (p *ZeroCopy) Dispose() { p.stopRTSPPulls(); p.stopRTSP(); p.stopQUIC(); p.stopSRT() }
