// Package auth is the plugin's one publish/play hook: shared keys compared
// in constant time, and (optionally) an external HTTP decision. Every
// protocol and the host's own egress ask it through host.Authorizer.
package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"

	"github.com/zcingest/zerocopy/host"
)

// Keys checks `?key=<value>` against a publish key and a play key. An empty
// key allows that action to everyone.
type Keys struct {
	PublishKey string
	PlayKey    string
}

// Authorize implements host.Authorizer. The key is never logged or put in
// an error.
func (k Keys) Authorize(_ context.Context, req host.AuthRequest) error {
	want := k.PlayKey
	if req.Action == host.ActionPublish {
		want = k.PublishKey
	}
	if want == "" {
		return nil
	}
	// Credentials (RTSP Basic or Digest) whose password is the key count
	// as presenting it; the user name is not checked.
	if req.VerifyPassword != nil && req.VerifyPassword(want) {
		return nil
	}
	q, err := url.ParseQuery(req.Query)
	if err != nil {
		return fmt.Errorf("%s %s %s: malformed query: %w", req.Protocol, req.Action, req.Path, host.ErrUnauthorized)
	}
	got := q.Get("key")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return fmt.Errorf("%s %s %s: key missing or wrong: %w", req.Protocol, req.Action, req.Path, host.ErrUnauthorized)
	}
	return nil
}
