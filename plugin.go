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
	"fmt"
	"log/slog"

	"github.com/zcingest/zerocopy/host"
)

// Config is the `zerocopy:` section. Keys are the lowercased field names.
type Config struct {
	Enable bool       `default:"true" desc:"turn the whole plugin off with false"`
	RTMP   RTMPConfig `desc:"RTMP ingest and play"`
}

// ZeroCopy is the plugin.
type ZeroCopy struct {
	cfg *Config
	svc host.Services
	log *slog.Logger
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

// Start opens a listener for every enabled protocol.
func (p *ZeroCopy) Start(svc host.Services) error {
	p.svc, p.log = svc, svc.Logger()
	if p.cfg.RTMP.Enable {
		if err := p.startRTMP(); err != nil {
			return err
		}
	}
	return nil
}

// Dispose has nothing to release: the host closes the listeners and waits
// for every connection goroutine, and each connection frees its own memory.
func (p *ZeroCopy) Dispose() {}
