package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/zcingest/zerocopy/host"
)

// Config is the plugin's `auth:` section: shared keys and an optional
// external decision. Keys and callback combine: both must allow.
type Config struct {
	PublishKey string        `desc:"if set, publishers must add ?key=<value> to the stream path (compared in constant time, never logged)"`
	PlayKey    string        `desc:"if set, players must add ?key=<value> to the stream path, for every protocol including HTTP-FLV"`
	URL        string        `desc:"if set, every publish and play is POSTed here as JSON {action, protocol, path, query, remote}; 2xx allows"`
	Timeout    time.Duration `default:"2s" min:"1ms" max:"1m" desc:"how long the auth callback may take; no answer in time refuses"`
	CacheTTL   time.Duration `default:"10s" min:"0s" max:"1h" desc:"how long a callback's answer is reused for the same request (0: ask every time)"`
}

// New builds the Authorizer cfg describes: Keys, then the callback if URL
// is set. With nothing configured it is host.AllowAll. log receives the
// callback's failures (never keys or queries).
func New(cfg Config, log *slog.Logger) (host.Authorizer, error) {
	keys := Keys{PublishKey: cfg.PublishKey, PlayKey: cfg.PlayKey}
	var chain Chain
	if keys.PublishKey != "" || keys.PlayKey != "" {
		chain = append(chain, keys)
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry credentials: name the key, not the value.
			return nil, errors.New("url: want an http:// or https:// URL")
		}
		chain = append(chain, NewCallback(cfg.URL, cfg.Timeout, cfg.CacheTTL, log))
	}
	switch len(chain) {
	case 0:
		return host.AllowAll, nil
	case 1:
		return chain[0], nil
	}
	return chain, nil
}

// Chain allows a request only if every Authorizer in it does; it stops at
// the first refusal.
type Chain []host.Authorizer

// Authorize implements host.Authorizer.
func (c Chain) Authorize(ctx context.Context, req host.AuthRequest) error {
	for _, a := range c {
		if err := a.Authorize(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

// StatusFor maps an Authorizer's error to the HTTP status a refusal gets:
// 401 (ErrUnauthorized), 403 (ErrForbidden) or 503 for a failure to decide
// (the callback timed out or could not be reached: the client may retry).
func StatusFor(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, host.ErrUnauthorized):
		return 401
	case errors.Is(err, host.ErrForbidden):
		return 403
	}
	return 503
}
