package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// maxCacheEntries caps the callback's decision cache, so a flood of
// distinct paths or keys cannot grow it without bound.
const maxCacheEntries = 4096

// maxCallbackBody bounds what is read of a callback's answer (only the
// status is used; the rest is drained so the connection can be reused).
const maxCallbackBody = 64 << 10

// Callback asks an external HTTP endpoint, as mediamtx's external
// authentication does: it POSTs {action, protocol, path, query, remote} as
// JSON and allows on 2xx. 401 refuses as host.ErrUnauthorized, any other
// status as host.ErrForbidden; no answer within the timeout is a failure
// to decide. Answers are cached for ttl (allow and refuse alike) per
// action, protocol, path, query and remote IP.
type Callback struct {
	url     string
	timeout time.Duration
	ttl     time.Duration
	client  *http.Client
	log     *slog.Logger

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

type cacheKey struct {
	action   host.Action
	protocol string
	path     string
	query    string
	ip       string
}

type cacheEntry struct {
	err     error
	expires time.Time
}

// callbackBody is what the endpoint receives.
type callbackBody struct {
	Action   string `json:"action"`
	Protocol string `json:"protocol"`
	Path     string `json:"path"`
	Query    string `json:"query"`
	Remote   string `json:"remote"`
}

// NewCallback returns a Callback for url. A nil log discards.
func NewCallback(url string, timeout, ttl time.Duration, log *slog.Logger) *Callback {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Callback{
		url: url, timeout: timeout, ttl: ttl, log: log,
		client: &http.Client{
			Timeout: timeout,
			// An auth endpoint that redirects is misconfigured; following
			// it could send the query (with its key) elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache: map[cacheKey]cacheEntry{},
	}
}

// Authorize implements host.Authorizer.
func (c *Callback) Authorize(ctx context.Context, req host.AuthRequest) error {
	ip, _, err := net.SplitHostPort(req.Remote)
	if err != nil {
		ip = req.Remote
	}
	key := cacheKey{req.Action, req.Protocol, req.Path, req.Query, ip}
	now := time.Now()
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.cache[key]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.err
		}
	}
	err = c.ask(ctx, req)
	if c.ttl > 0 && (err == nil || isRefusal(err)) {
		c.store(key, cacheEntry{err: err, expires: now.Add(c.ttl)}, now)
	}
	return err
}

func isRefusal(err error) bool {
	return StatusFor(err) == 401 || StatusFor(err) == 403
}

// store adds e, first dropping expired entries when the cache is full and,
// if it is still full, an arbitrary one.
func (c *Callback) store(k cacheKey, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= maxCacheEntries {
		for k, old := range c.cache {
			if !now.Before(old.expires) {
				delete(c.cache, k)
			}
		}
		for k := range c.cache {
			if len(c.cache) < maxCacheEntries {
				break
			}
			delete(c.cache, k)
		}
	}
	c.cache[k] = e
}

// cacheLen is for tests.
func (c *Callback) cacheLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cache)
}

func (c *Callback) ask(ctx context.Context, req host.AuthRequest) error {
	body, err := json.Marshal(callbackBody{
		Action: req.Action.String(), Protocol: req.Protocol, Path: req.Path, Query: req.Query, Remote: req.Remote,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("auth callback: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(hr)
	if err != nil {
		// The error text of a failed request repeats the URL, which may
		// carry credentials; keep only what kind of failure it was.
		reason := "request failed"
		if ctx.Err() != nil {
			reason = "no answer within " + c.timeout.String()
		}
		c.log.Warn("auth callback failed", "reason", reason, "action", req.Action.String(), "protocol", req.Protocol, "path", req.Path)
		return fmt.Errorf("%s %s %s: auth callback: %s", req.Protocol, req.Action, req.Path, reason)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCallbackBody))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s %s: auth callback answered %d: %w", req.Protocol, req.Action, req.Path, resp.StatusCode, host.ErrUnauthorized)
	}
	return fmt.Errorf("%s %s %s: auth callback answered %d: %w", req.Protocol, req.Action, req.Path, resp.StatusCode, host.ErrForbidden)
}
