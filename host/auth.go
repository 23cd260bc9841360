package host

import (
	"context"
	"errors"
)

// Action is what a client asks to do with a stream.
type Action uint8

const (
	ActionPublish Action = iota + 1
	ActionPlay
)

func (a Action) String() string {
	switch a {
	case ActionPublish:
		return "publish"
	case ActionPlay:
		return "play"
	}
	return "unknown"
}

// AuthRequest is one publish or play attempt, as every protocol presents it
// to the one auth hook. The key travels as `?key=<value>` in Query for every
// protocol (RTMP stream name, HTTP-FLV URL, RTSP URL, SRT streamid).
type AuthRequest struct {
	Action   Action
	Protocol string // "rtmp", "httpflv", "rtsp", "srt", "quic"
	Path     string // hub path, e.g. "live/x" (no query, no leading slash)
	// Query is the raw query string that came with the path (without '?').
	// It may carry secrets: never log it.
	Query  string
	Remote string // the peer's address, host:port
	// User is the user name of credentials the protocol carried (RTSP
	// Basic or Digest), or "".
	User string
	// VerifyPassword, when the protocol carried credentials, reports in
	// constant time whether they were made with password: for Basic it
	// compares the password sent, for Digest it recomputes the response.
	// It lets a key-based Authorizer accept the key as a password without
	// the key ever leaving it (Digest cannot be checked any other way).
	// nil when no credentials came.
	VerifyPassword func(password string) bool
}

// Authorizer decides every publish and play (m7s: the server's
// OnAuthPubs/OnAuthSubs hooks). It is called on the connection's goroutine
// and may block (an HTTP callback), bounded by ctx. A nil error allows the
// request; a refusal wraps ErrUnauthorized (credentials missing or wrong:
// HTTP 401) or ErrForbidden (credentials fine, action not allowed: HTTP
// 403). Any other error is a failure to decide and refuses too.
type Authorizer interface {
	Authorize(ctx context.Context, req AuthRequest) error
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, req AuthRequest) error

// Authorize implements Authorizer.
func (f AuthorizerFunc) Authorize(ctx context.Context, req AuthRequest) error { return f(ctx, req) }

// AllowAll is the Authorizer used when none is set.
var AllowAll Authorizer = AuthorizerFunc(func(context.Context, AuthRequest) error { return nil })

// Sentinels an Authorizer wraps; protocols branch on them to pick their
// refusal (HTTP 401 vs 403, RTMP NetStream.Publish.BadName vs .Failed).
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)
