package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// Challenge is one parsed WWW-Authenticate value.
type Challenge struct {
	Scheme Scheme
	Realm  string
	// Digest only.
	Nonce, Opaque string
	// QOPAuth reports that the server offered qop "auth"; the answer then
	// uses it (with a cnonce and nc), as RFC 2617 asks.
	QOPAuth bool
	// Stale reports stale=TRUE: the previous answer's password was right
	// but its nonce expired; answer again with the same password.
	Stale bool
}

// ErrNoChallenge reports that none of a 401's WWW-Authenticate values is
// a scheme we can answer (Basic, or Digest with MD5 and qop auth or none).
var ErrNoChallenge = errors.New("rtsp auth: no supported challenge")

// ParseChallenge parses one WWW-Authenticate value. A Digest challenge
// with an algorithm other than MD5, or that offers only qop=auth-int, is
// refused with ErrNoChallenge.
func ParseChallenge(v string) (Challenge, error) {
	if err := limit.Check("MaxHeaderLength", int64(len(v)), MaxHeaderLength); err != nil {
		return Challenge{}, fmt.Errorf("rtsp auth: %w", err)
	}
	scheme, rest := splitScheme(v)
	var c Challenge
	switch {
	case strings.EqualFold(scheme, "Basic"):
		c.Scheme = Basic
	case strings.EqualFold(scheme, "Digest"):
		c.Scheme = Digest
	default:
		return c, ErrNoChallenge
	}
	p, err := parseParams(rest)
	if err != nil {
		return c, err
	}
	c.Realm = p["realm"]
	if c.Scheme == Basic {
		return c, nil
	}
	var ok bool
	if c.Nonce, ok = p["nonce"]; !ok {
		return c, fmt.Errorf("%w: digest challenge without nonce", errMalformed)
	}
	if _, ok := p["realm"]; !ok {
		return c, fmt.Errorf("%w: digest challenge without realm", errMalformed)
	}
	c.Opaque = p["opaque"]
	c.Stale = strings.EqualFold(p["stale"], "true")
	if alg, ok := p["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
		return c, fmt.Errorf("%w: digest algorithm %q", ErrNoChallenge, clip(alg))
	}
	if q, ok := p["qop"]; ok {
		for _, o := range strings.Split(q, ",") {
			if strings.EqualFold(strings.TrimSpace(o), "auth") {
				c.QOPAuth = true
			}
		}
		if !c.QOPAuth {
			return c, fmt.Errorf("%w: digest qop %q", ErrNoChallenge, clip(q))
		}
	}
	return c, nil
}

// PickChallenge returns the value to answer among a 401's WWW-Authenticate
// values: the first Digest one we support, else the first Basic one, else
// ErrNoChallenge. Digest wins because Basic sends the password itself.
func PickChallenge(values []string) (string, error) {
	basic := -1
	for i, v := range values {
		c, err := ParseChallenge(v)
		if err != nil {
			continue
		}
		if c.Scheme == Digest {
			return v, nil
		}
		if basic < 0 {
			basic = i
		}
	}
	if basic < 0 {
		return "", ErrNoChallenge
	}
	return values[basic], nil
}

// Answer returns the Authorization value answering challenge (one
// WWW-Authenticate value, see PickChallenge) for a request of method on
// uri. A Digest answer to a qop=auth challenge carries a fresh random
// cnonce and nc=00000001. Errors never contain pass.
func Answer(challenge, method, uri, user, pass string) (string, error) {
	c, err := ParseChallenge(challenge)
	if err != nil {
		return "", err
	}
	return c.Answer(method, uri, user, pass)
}

// Answer returns the Authorization value answering c; see the function
// Answer.
func (c Challenge) Answer(method, uri, user, pass string) (string, error) {
	// CR, LF and other controls in what we put in a header would let a
	// configured URL or user name inject headers into the request.
	for _, s := range [...]string{method, uri, user, c.Realm, c.Nonce, c.Opaque} {
		if hasCTL(s) {
			return "", fmt.Errorf("%w: control character in method, uri, user or challenge", errMalformed)
		}
	}
	if hasCTL(pass) && c.Scheme == Basic {
		return "", fmt.Errorf("%w: control character in password", errMalformed)
	}
	switch c.Scheme {
	case Basic:
		if strings.Contains(user, ":") {
			return "", fmt.Errorf("%w: basic user name contains ':'", errMalformed)
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), nil
	case Digest:
	default:
		return "", ErrNoChallenge
	}
	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(quote(user))
	b.WriteString(", realm=")
	b.WriteString(quote(c.Realm))
	b.WriteString(", nonce=")
	b.WriteString(quote(c.Nonce))
	b.WriteString(", uri=")
	b.WriteString(quote(uri))
	qop, nc, cnonce := "", "", ""
	if c.QOPAuth {
		var r [8]byte
		rand.Read(r[:])
		qop, nc, cnonce = "auth", "00000001", hex.EncodeToString(r[:])
	}
	b.WriteString(`, response="`)
	b.WriteString(digestResponse(user, c.Realm, pass, method, uri, c.Nonce, qop, nc, cnonce))
	b.WriteByte('"')
	if c.Opaque != "" {
		b.WriteString(", opaque=")
		b.WriteString(quote(c.Opaque))
	}
	if qop != "" {
		b.WriteString(`, qop=auth, nc=` + nc + `, cnonce="` + cnonce + `"`)
	}
	return b.String(), nil
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
