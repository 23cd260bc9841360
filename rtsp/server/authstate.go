package server

import (
	rtspauth "github.com/zcingest/zerocopy/rtsp/auth"
)

// authState issues challenges and parses answers for one server (its
// Digest nonces are tied to it).
type authState struct{ srv *rtspauth.Server }

func newAuthState(realm string) *authState { return &authState{srv: rtspauth.NewServer(realm)} }

// challenges are the WWW-Authenticate values of a 401: Digest, then Basic.
func (a *authState) challenges() []string { return a.srv.Challenges() }

// verifier parses an Authorization header and returns the user and a
// constant-time password check for the plugin's hook (host.AuthRequest).
// Credentials that do not parse, carry a stale or foreign nonce, or sign
// another URI come back with a check that always fails. The password is
// never logged: Credentials prints only the scheme and user.
func (a *authState) verifier(method, uri, header string) (string, func(string) bool) {
	cr, err := a.srv.Parse(header)
	if err != nil || cr == nil {
		return "", nil
	}
	if cr.Scheme == rtspauth.Digest && cr.URI != uri {
		return cr.User, func(string) bool { return false }
	}
	return cr.User, func(pw string) bool { return cr.Verify(method, pw) }
}
