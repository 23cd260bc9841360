package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/base"
)

// authorize asks the plugin's one hook about a publish or play. It
// answers the request itself when refused (401 with challenges, 403) and
// then reports false with the error that should end the connection, or
// nil when the client may retry with credentials.
func (c *conn) authorize(req *base.Request, cseq string, action host.Action, path, query string) (bool, error) {
	if c.s.cfg.Auth == nil {
		c.authed = action
		return true, nil
	}
	ar := host.AuthRequest{Action: action, Protocol: "rtsp", Path: path, Query: query, Remote: c.nc.RemoteAddr().String()}
	if h := req.Header.Get("Authorization"); h != "" {
		ar.User, ar.VerifyPassword = c.s.auth.verifier(req.Method, req.URL, h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.AuthTimeout)
	err := c.s.cfg.Auth.Authorize(ctx, ar)
	cancel()
	if err == nil {
		c.authed = action
		return true, nil
	}
	c.authFails++
	time.Sleep(AuthFailureDelay) // slows guessing; the connection is the guesser's own
	kind, code := ErrAuthFailed, 503
	var fields []base.Field
	switch {
	case errors.Is(err, host.ErrUnauthorized):
		kind, code = ErrUnauthorized, 401
		for _, ch := range c.s.auth.challenges() {
			fields = append(fields, base.Field{Key: "WWW-Authenticate", Value: ch})
		}
	case errors.Is(err, host.ErrForbidden):
		kind, code = ErrForbidden, 403
	}
	if werr := c.reply(code, cseq, fields, nil); werr != nil {
		return false, werr
	}
	refusal := fmt.Errorf("rtsp %s %s: %w: %w", action, path, kind, redacted{err, query})
	if code == 401 && c.authFails < MaxAuthFailures && ar.User == "" {
		// The usual first round: the client did not send credentials and
		// retries with them on the same connection.
		c.log.Debug("rtsp auth challenge sent", "path", path, "action", action.String())
		return false, nil
	}
	if code == 401 && c.authFails < MaxAuthFailures {
		c.log.Info("rtsp auth refused", "path", path, "action", action.String(), "reason", refusal)
		return false, nil
	}
	return false, refusal
}

// redacted is an Authorizer's error with the query's values blanked out,
// so a careless Authorizer cannot put a key into our logs.
type redacted struct {
	err   error
	query string
}

func (r redacted) Error() string {
	msg := r.err.Error()
	if r.query == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, r.query, "[query]")
	q, _ := url.ParseQuery(r.query)
	for _, vs := range q {
		for _, v := range vs {
			if len(v) >= 3 {
				msg = strings.ReplaceAll(msg, v, "[redacted]")
			}
		}
	}
	return msg
}

func (r redacted) Unwrap() error { return r.err }
