package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/srt/transport"
)

// pullConfig checks a configured srt:// URL and returns its dial address.
func pullConfig(cfg Config, rawURL string) (addr string, err error) {
	_, addr, err = dialConfig(cfg, rawURL)
	return addr, err
}

// dialConfig turns a configured srt:// URL into the dial address and the
// caller's configuration. The query takes libsrt's URL keys that matter to
// a caller in live mode: streamid, passphrase, pbkeylen, and latency,
// conntimeo and peeridletimeo in milliseconds (srt-live-transmit's units);
// mode may only be caller. Other keys (pkt_size, transtype …) are ignored,
// as libsrt's live defaults are what this caller does anyway.
func dialConfig(cfg Config, rawURL string) (transport.DialConfig, string, error) {
	c := transport.DialConfig{Latency: cfg.Latency, PeerIdleTimeout: cfg.ReadTimeout}
	if !strings.HasPrefix(rawURL, "srt://") {
		return c, "", errors.New("want an srt:// URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url errors quote the URL, which may carry a passphrase.
		return c, "", errors.New("malformed srt:// URL")
	}
	if u.Host == "" || u.Port() == "" {
		return c, "", errors.New("srt:// URL without host:port")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, "", errors.New("malformed srt:// URL query")
	}
	c.StreamID, c.Passphrase = q.Get("streamid"), q.Get("passphrase")
	if len(c.StreamID) > transport.MaxStreamID {
		return c, "", fmt.Errorf("streamid longer than %d bytes", transport.MaxStreamID)
	}
	if err := ValidatePassphrase(c.Passphrase); err != nil {
		return c, "", fmt.Errorf("passphrase: %w", err)
	}
	if m := q.Get("mode"); m != "" && m != "caller" {
		return c, "", fmt.Errorf("mode %q: a pull is a caller", m)
	}
	ms := func(key string, d *time.Duration) error {
		v := q.Get(key)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxURLMillis {
			return fmt.Errorf("%s=%q: want milliseconds, 1 to %d", key, v, maxURLMillis)
		}
		*d = time.Duration(n) * time.Millisecond
		return nil
	}
	for key, d := range map[string]*time.Duration{"latency": &c.Latency, "conntimeo": &c.ConnectTimeout, "peeridletimeo": &c.PeerIdleTimeout} {
		if err := ms(key, d); err != nil {
			return c, "", err
		}
	}
	if v := q.Get("pbkeylen"); v != "" {
		switch v {
		case "16", "24", "32":
			c.KeyLength, _ = strconv.Atoi(v)
		default:
			return c, "", fmt.Errorf("pbkeylen=%q: want 16, 24 or 32", v)
		}
	}
	return c, u.Host, nil
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

func (s *Server) pullOnce(path string, conf transport.DialConfig, addr string, st *ConnStats, log *slog.Logger, onDemand bool) error {
	conf.Log = log
	conn, err := transport.Dial(s.ctx, addr, conf)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	if !s.track(conn) {
		_ = conn.Close()
		return context.Canceled
	}
	defer func() {
		s.untrack(conn)
		_ = conn.Close()
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
	if onDemand && s.ctx.Err() == nil {
		if c, ok := pub.(host.SubscriberCounter); ok && c.Subscribers() == 0 {
			return errPullIdle
		}
	}
	return err
}

// idleWatch closes an on-demand pull's connection once the publish has
// had no subscriber for PullIdle.
func (s *Server) idleWatch(pub host.Publisher, conn *transport.Conn) (stop func()) {
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
