package auth

import "time"

// Limits on peer-controlled Authorization and WWW-Authenticate values. Each
// says which abuse it blocks. Rejections are reported as *limit.LimitError
// naming the constant.
const (
	// MaxHeaderLength caps one Authorization or WWW-Authenticate value.
	// Real Digest answers are 200-400 bytes (the uri dominates); the cap
	// bounds the parse work and the strings kept from one header.
	MaxHeaderLength = 4096

	// MaxParams caps the auth-params of one header. A Digest answer has at
	// most ten (username, realm, nonce, uri, response, algorithm, cnonce,
	// nc, qop, opaque); the cap stops a header of thousands of tiny
	// parameters from growing the parameter map.
	MaxParams = 16

	// NonceLifetime is how long a nonce we issued stays valid. It bounds
	// how long a captured Digest answer can be replayed; a client holding
	// an older nonce gets a stale=TRUE challenge and retries without
	// asking the user again.
	NonceLifetime = 5 * time.Minute
)
