package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/zcingest/zerocopy/host"
)

// pullConfig turns a configured srt:// URL into the dial address and
// gosrt configuration (streamid, passphrase, latency … from its query).
func pullConfig(cfg Config, rawURL string) (addr string, err error) {
	_, addr, err = dialConfig(cfg, rawURL)
	return addr, err
}

func dialConfig(cfg Config, rawURL string) (gosrt.Config, string, error) {
	c := gosrt.DefaultConfig()
	if cfg.Latency > 0 {
		c.Latency = cfg.Latency
	}
	if cfg.ReadTimeout > 0 {
		c.PeerIdleTimeout = cfg.ReadTimeout
	}
	if !strings.HasPrefix(rawURL, "srt://") {
		return c, "", errors.New("want an srt:// URL")
	}
	addr, err := c.UnmarshalURL(rawURL)
	if err != nil {
		// url errors quote the URL, which may carry a passphrase.
		return c, "", errors.New("malformed srt:// URL or query")
	}
	if addr == "" {
		return c, "", errors.New("srt:// URL without host:port")
	}
	if err := c.Validate(); err != nil {
		return c, "", err
	}
	return c, addr, nil
}

// StartPulls starts every configured pull, or, with PullOnDemand, only
// registers them for players' demand. Either way a player asking for a
// configured path that is not being pulled right now starts (or restarts)
// its pull at once.
func (s *Server) StartPulls() {
	if len(s.cfg.Pull) == 0 {
		return
	}
	s.svc.AddOnDemand(s.onDemand)
	if s.cfg.PullOnDemand {
		return
	}
	for path := range s.cfg.Pull {
		s.startPull(path, false)
	}
}

func (s *Server) onDemand(path string) bool {
	if _, ok := s.cfg.Pull[path]; !ok {
		return false
	}
	return s.startPull(path, s.cfg.PullOnDemand)
}

// startPull starts path's pull goroutine unless one runs; it reports
// whether one runs now.
func (s *Server) startPull(path string, onDemand bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.pulls[path] {
		return true
	}
	s.pulls[path] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runPull(path, onDemand)
		s.mu.Lock()
		delete(s.pulls, path)
		s.mu.Unlock()
	}()
	return true
}

// runPull dials, publishes and reads until the server closes, redialing
// with a doubling backoff (reset after a pull that delivered data). An
// on-demand pull ends once it has had no player for PullIdle.
func (s *Server) runPull(path string, onDemand bool) {
	log := s.log.With("role", "pull", "path", path)
	conf, addr, _ := dialConfig(s.cfg, s.cfg.Pull[path]) // validated in New
	wait := s.cfg.PullRetry
	for s.ctx.Err() == nil {
		st := &ConnStats{Role: "pull", Path: path, Remote: addr}
		err := s.pullOnce(path, conf, addr, st, log, onDemand)
		log.Info("srt connection closed", st.logAttrs(reasonOf(err))...)
		if errors.Is(err, errPullIdle) {
			return
		}
		if st.BytesRead > 0 {
			wait = s.cfg.PullRetry
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.PullRetryMax)
	}
}

var errPullIdle = errors.New("on-demand pull without players")

func (s *Server) pullOnce(path string, conf gosrt.Config, addr string, st *ConnStats, log *slog.Logger, onDemand bool) error {
	conn, err := gosrt.Dial("srt", addr, conf)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	if !s.track(conn) {
		closeDialer(conn)
		return context.Canceled
	}
	drained := false
	defer func() {
		s.untrack(conn)
		if drained {
			_ = conn.Close()
		} else {
			closeDialer(conn)
		}
	}()
	pub, err := s.svc.Publish(host.PublishRequest{Path: path, Protocol: "srt", Remote: addr})
	if err != nil {
		return fmt.Errorf("publish %s: %w", path, err)
	}
	log.Info("srt pull started", "remote", addr)
	if onDemand {
		stop := s.idleWatch(pub, conn)
		defer stop()
	}
	err = s.runPublish(conn, pub, st, log)
	// ReadPacket took the dialer reader's last word already.
	drained = errors.Is(err, gosrt.ErrClientClosed)
	if onDemand && s.ctx.Err() == nil {
		if c, ok := pub.(host.SubscriberCounter); ok && c.Subscribers() == 0 {
			return errPullIdle
		}
	}
	return err
}

// idleWatch closes an on-demand pull's connection once the publish has
// had no subscriber for PullIdle.
func (s *Server) idleWatch(pub host.Publisher, conn gosrt.Conn) (stop func()) {
	c, ok := pub.(host.SubscriberCounter)
	if !ok {
		return func() {}
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(min(time.Second, s.cfg.PullIdle))
		defer tick.Stop()
		idleSince := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				if c.Subscribers() > 0 {
					idleSince = now
				} else if now.Sub(idleSince) >= s.cfg.PullIdle {
					_ = conn.Close()
					return
				}
			}
		}
	}()
	return func() { close(done); <-ended }
}

// closeDialer closes a gosrt dialer and waits (bounded) for its socket
// reader: gosrt v0.11's reader goroutine reports its end with a blocking
// send that only Close (if it comes late enough) or a later Read/ReadPacket
// receives, so without this drain it can outlive the connection forever.
func closeDialer(conn gosrt.Conn) {
	_ = conn.Close()
	deadline := time.Now().Add(dialDrainWait)
	for time.Now().Before(deadline) {
		if _, err := conn.ReadPacket(); errors.Is(err, gosrt.ErrClientClosed) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
