package zerocopy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/zcingest/zerocopy/internal/rcvlowat"
	rtspclient "github.com/zcingest/zerocopy/rtsp/client"
)

// rtspPulls are the plugin's camera pulls (zerocopy.rtsp.pull): always
// running, or started when a player asks for their path (pullondemand).
type rtspPulls struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cfgs    map[string]rtspclient.Config
	mu      sync.Mutex
	running map[string]bool
}

// pullSets maps each started plugin to its pulls, so Dispose can stop them
// (the plugin struct is not this file's to extend).
var pullSets sync.Map // *ZeroCopy → *rtspPulls

// startRTSPPulls checks the pull config and starts the pulls, or registers
// them with the host for on-demand starts. Errors name the config key.
func (p *ZeroCopy) startRTSPPulls() error {
	c := p.cfg.RTSP
	if len(c.Pull) == 0 {
		return nil
	}
	var tr rtspclient.Transport
	switch strings.ToLower(c.PullTransport) {
	case "", "tcp":
		tr = rtspclient.TCP
	case "udp":
		tr = rtspclient.UDP
	case "auto":
		tr = rtspclient.Auto
	default:
		return fmt.Errorf("pulltransport: %q: want tcp, udp or auto", c.PullTransport)
	}
	cfgs := map[string]rtspclient.Config{}
	for i, entry := range c.Pull {
		path, raw, ok := strings.Cut(entry, "=")
		path = strings.Trim(strings.TrimSpace(path), "/")
		if !ok || path == "" || strings.Contains(path, "..") {
			return fmt.Errorf("pull[%d]: want stream/path=rtsp://host/path, got %s", i, rtspclient.Redact(entry))
		}
		raw = strings.TrimSpace(raw)
		if _, _, _, err := rtspclient.ParseURL(raw); err != nil {
			return fmt.Errorf("pull[%d] (%s): %w", i, path, err)
		}
		if _, dup := cfgs[path]; dup {
			return fmt.Errorf("pull[%d]: path %s is configured twice", i, path)
		}
		cfg := rtspclient.Config{URL: raw, Path: path, Transport: tr, ReadTimeout: c.PullTimeout,
			RetryMin: c.PullRetry, RetryMax: c.PullRetryMax, AllocatorSize: c.AllocatorSize,
			ReadLowWater: rcvlowat.ConfigSize(c.ReadLowWater), ReadLowWaterDelay: c.ReadLowWaterDelay}
		if c.PullOnDemand {
			// A stop delay of 0 still lets the first player join.
			cfg.IdleStop = max(c.PullStopDelay, c.PullRetry)
		}
		cfgs[path] = cfg
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := &rtspPulls{ctx: ctx, cancel: cancel, cfgs: cfgs, running: map[string]bool{}}
	pullSets.Store(p, ps)
	if c.PullOnDemand {
		p.svc.AddOnDemand(func(path string) bool { return p.startPull(ps, path) })
		p.log.Info("rtsp pulls on demand", "paths", len(cfgs))
		return nil
	}
	for path := range cfgs {
		p.startPull(ps, path)
	}
	return nil
}

// startPull runs the pull of path on a goroutine of its own unless it runs
// already. It reports whether path is (now) being pulled.
func (p *ZeroCopy) startPull(ps *rtspPulls, path string) bool {
	cfg, ok := ps.cfgs[path]
	if !ok {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ctx.Err() != nil {
		return false
	}
	if ps.running[path] {
		return true
	}
	ps.running[path] = true
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		log := p.log.With("protocol", "rtsp-pull")
		log.Info("rtsp pull started", "path", path, "camera", rtspclient.Redact(cfg.URL), "on_demand", cfg.IdleStop > 0)
		_ = rtspclient.Run(ps.ctx, cfg, p.svc, log)
		ps.mu.Lock()
		delete(ps.running, path)
		ps.mu.Unlock()
	}()
	return true
}

// stopRTSPPulls stops every pull and waits for them (Dispose). Each pull
// sends TEARDOWN and frees its memory on its own goroutine.
func (p *ZeroCopy) stopRTSPPulls() {
	v, ok := pullSets.LoadAndDelete(p)
	if !ok {
		return
	}
	ps := v.(*rtspPulls)
	ps.mu.Lock()
	ps.cancel()
	ps.mu.Unlock()
	ps.wg.Wait()
}
