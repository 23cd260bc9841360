// Package auth implements RTSP authentication (RFC 2326 section 16 via RFC
// 2617): the server side that challenges and checks Basic and Digest MD5
// credentials, and the client side that answers a camera's challenge.
//
// The server keeps no per-nonce state: a nonce carries its issue time and
// an HMAC under a key only this Server knows, so it can be checked for
// origin and age without a table a peer could grow. Secrets never appear in
// errors or in a Credentials' String form.
//
// This is not the plugin-wide auth hook (package auth at the module root):
// an RTSP session parses credentials here and hands them to that hook as
// host.AuthRequest.User and VerifyPassword.
package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/limit"
)

// Scheme is an HTTP authentication scheme.
type Scheme uint8

const (
	Basic Scheme = iota + 1
	Digest
)

func (s Scheme) String() string {
	switch s {
	case Basic:
		return "Basic"
	case Digest:
		return "Digest"
	}
	return "unknown"
}

// ErrStaleNonce reports a Digest answer made with a nonce this server
// issued but that has expired. Callers answer 401 with StaleChallenges, so
// the client retries with the same password without asking its user.
var ErrStaleNonce = errors.New("rtsp auth: stale nonce")

var errMalformed = errors.New("rtsp auth: malformed header")

// Server issues challenges for one realm and checks the answers. It is safe
// for concurrent use: it holds only its realm and nonce key.
type Server struct {
	realm string
	key   [32]byte
	now   func() time.Time // tests move the clock
}

// NewServer returns a Server for realm with a fresh random nonce key, so
// nonces from another Server (or an earlier process) are refused.
func NewServer(realm string) *Server {
	s := &Server{realm: realm, now: time.Now}
	rand.Read(s.key[:]) // never fails (crypto/rand crashes the program instead)
	return s
}

// Realm returns the realm the server challenges for.
func (s *Server) Realm() string { return s.realm }

// Challenges returns the WWW-Authenticate values of a 401, one header
// each: Digest with a fresh nonce first (clients pick the first scheme
// they support, and Digest never sends the password), then Basic.
func (s *Server) Challenges() []string {
	return []string{s.digestChallenge(false), "Basic realm=" + quote(s.realm)}
}

// StaleChallenges is Challenges for a request whose Digest answer failed
// with ErrStaleNonce: the Digest challenge carries stale=TRUE.
func (s *Server) StaleChallenges() []string {
	return []string{s.digestChallenge(true), "Basic realm=" + quote(s.realm)}
}

func (s *Server) digestChallenge(stale bool) string {
	// qop is not offered: many camera-class clients (older live555) do not
	// implement it, and RFC 2617 lets them answer without it. Answers that
	// do use qop=auth are accepted.
	c := "Digest realm=" + quote(s.realm) + ", nonce=\"" + s.newNonce() + "\""
	if stale {
		c += ", stale=TRUE"
	}
	return c
}

// Nonce layout: 8 bytes issue time (Unix seconds), 8 random bytes, then the
// first 16 bytes of HMAC-SHA256(key, time||random); hex encoded.
const (
	nonceRaw = 8 + 8 + 16
	nonceHex = 2 * nonceRaw
)

func (s *Server) newNonce() string {
	var b [nonceRaw]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.now().Unix()))
	rand.Read(b[8:16])
	copy(b[16:], s.mac(b[:16]))
	return hex.EncodeToString(b[:])
}

func (s *Server) mac(b []byte) []byte {
	h := hmac.New(sha256.New, s.key[:])
	h.Write(b)
	return h.Sum(nil)[:16]
}

// checkNonce reports whether n is a nonce this server issued and is still
// valid: nil, ErrStaleNonce, or an error for a forged one.
func (s *Server) checkNonce(n string) error {
	if len(n) != nonceHex {
		return fmt.Errorf("%w: nonce not issued here", errMalformed)
	}
	var b [nonceRaw]byte
	if _, err := hex.Decode(b[:], []byte(n)); err != nil {
		return fmt.Errorf("%w: nonce not issued here", errMalformed)
	}
	if !hmac.Equal(b[16:], s.mac(b[:16])) {
		return fmt.Errorf("%w: nonce not issued here", errMalformed)
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := s.now().Sub(issued)
	if age > NonceLifetime || age < -time.Minute {
		return ErrStaleNonce
	}
	return nil
}

// Credentials are the parsed contents of one Authorization header. Its
// secrets (a Basic password, a Digest response) are unexported, and String
// shows only the scheme and user, so logging a Credentials leaks nothing.
type Credentials struct {
	Scheme Scheme
	User   string
	// Digest only. URI is the digest-uri the client signed: the caller
	// checks it names the request's URL (see Server.Verify).
	Realm, Nonce, URI string
	QOP, NC, CNonce   string // "" without qop

	password string // Basic
	response string // Digest, lower-case hex
}

// String returns `Digest user="u"` (never a secret). It has a value
// receiver so that printing a Credentials value, not only a pointer, goes
// through it.
func (c Credentials) String() string {
	return fmt.Sprintf("%s user=%q", c.Scheme, c.User)
}

// GoString keeps %#v from printing the secrets too.
func (c Credentials) GoString() string { return "auth.Credentials{" + c.String() + "}" }

// Parse parses an Authorization header value. For Digest it checks the
// realm is the server's and the nonce is one it issued and still valid
// (ErrStaleNonce when it expired); the password is checked by Verify.
// Errors never contain the password or the response.
func (s *Server) Parse(header string) (*Credentials, error) {
	if err := limit.Check("MaxHeaderLength", int64(len(header)), MaxHeaderLength); err != nil {
		return nil, fmt.Errorf("rtsp auth: %w", err)
	}
	scheme, rest := splitScheme(header)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		return parseBasic(rest)
	case strings.EqualFold(scheme, "Digest"):
	default:
		return nil, fmt.Errorf("%w: unsupported scheme", errMalformed)
	}
	p, err := parseParams(rest)
	if err != nil {
		return nil, err
	}
	c := &Credentials{
		Scheme: Digest, User: p["username"], Realm: p["realm"], Nonce: p["nonce"], URI: p["uri"],
		QOP: p["qop"], NC: p["nc"], CNonce: p["cnonce"],
		response: strings.ToLower(p["response"]),
	}
	for _, k := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := p[k]; !ok {
			return nil, fmt.Errorf("%w: digest without %s", errMalformed, k)
		}
	}
	if alg, ok := p["algorithm"]; ok && !strings.EqualFold(alg, "MD5") {
		return nil, fmt.Errorf("%w: digest algorithm %q not supported", errMalformed, clip(alg))
	}
	if len(c.response) != 32 || !isHex(c.response) {
		return nil, fmt.Errorf("%w: digest response is not 32 hex digits", errMalformed)
	}
	switch c.QOP {
	case "":
		if c.NC != "" || c.CNonce != "" {
			return nil, fmt.Errorf("%w: nc or cnonce without qop", errMalformed)
		}
	case "auth":
		if len(c.NC) != 8 || !isHex(c.NC) || c.CNonce == "" {
			return nil, fmt.Errorf("%w: qop=auth needs nc (8 hex digits) and cnonce", errMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: qop %q not supported", errMalformed, clip(c.QOP))
	}
	if c.Realm != s.realm {
		return nil, fmt.Errorf("%w: realm %q is not ours", errMalformed, clip(c.Realm))
	}
	if err := s.checkNonce(c.Nonce); err != nil {
		return nil, err
	}
	return c, nil
}

func parseBasic(token string) (*Credentials, error) {
	token = strings.TrimSpace(token)
	dec, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: basic credentials are not base64", errMalformed)
	}
	user, pass, ok := strings.Cut(string(dec), ":")
	if !ok {
		return nil, fmt.Errorf("%w: basic credentials without ':'", errMalformed)
	}
	return &Credentials{Scheme: Basic, User: user, password: pass}, nil
}

// Verify reports, in constant time, whether the credentials were made with
// password: Basic compares the password sent, Digest recomputes the MD5
// response for method (the request's method, e.g. "ANNOUNCE") over the URI
// the client signed. Comparisons run over fixed-size digests, so neither
// the contents nor the length of password leak through timing.
func (c *Credentials) Verify(method, password string) bool {
	switch c.Scheme {
	case Basic:
		a, b := sha256.Sum256([]byte(c.password)), sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	case Digest:
		want := digestResponse(c.User, c.Realm, password, method, c.URI, c.Nonce, c.QOP, c.NC, c.CNonce)
		return subtle.ConstantTimeCompare([]byte(want), []byte(c.response)) == 1
	}
	return false
}

// ErrBadCredentials reports credentials that do not match (wrong user,
// password or digest-uri), from Server.Verify.
var ErrBadCredentials = errors.New("rtsp auth: bad credentials")

// Verify is the one-call check for a fixed user and password: it parses
// header, checks the user, that a Digest answer signed uri (the request's
// URL as received), and the password. The result is nil, ErrStaleNonce,
// ErrBadCredentials, or a parse error; none contains a secret.
func (s *Server) Verify(method, uri, header, user, pass string) error {
	c, err := s.Parse(header)
	if err != nil {
		return err
	}
	okUser := subtle.ConstantTimeCompare([]byte(c.User), []byte(user)) == 1
	okPass := c.Verify(method, pass)
	if !okUser || !okPass || (c.Scheme == Digest && c.URI != uri) {
		return ErrBadCredentials
	}
	return nil
}

func md5Hex(parts ...string) string {
	h := md5.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestResponse is RFC 2617 section 3.2.2.1 for algorithm MD5 and qop
// absent or "auth".
func digestResponse(user, realm, pass, method, uri, nonce, qop, nc, cnonce string) string {
	ha1 := md5Hex(user, realm, pass)
	ha2 := md5Hex(method, uri)
	if qop == "" {
		return md5Hex(ha1, nonce, ha2)
	}
	return md5Hex(ha1, nonce, nc, cnonce, qop, ha2)
}

// splitScheme splits "Digest a=b" into "Digest" and "a=b".
func splitScheme(h string) (scheme, rest string) {
	h = strings.TrimLeft(h, " \t")
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		return h, ""
	}
	return h[:i], h[i+1:]
}

// parseParams parses a comma-separated auth-param list: key=token or
// key="quoted \"string\"". Keys are lower-cased; a repeated key is an
// error, so two parsers can never disagree about which one counts.
func parseParams(s string) (map[string]string, error) {
	p := make(map[string]string, 8)
	n := 0
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return p, nil
		}
		n++
		if err := limit.Check("MaxParams", int64(n), MaxParams); err != nil {
			return nil, fmt.Errorf("rtsp auth: %w", err)
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: parameter without '='", errMalformed)
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		if key == "" || strings.ContainsAny(key, " \t,\"") {
			return nil, fmt.Errorf("%w: bad parameter name", errMalformed)
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i, closed := 1, false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted string", errMalformed)
			}
			val, s = b.String(), s[i:]
			if rest := strings.TrimLeft(s, " \t"); rest != "" && rest[0] != ',' {
				return nil, fmt.Errorf("%w: text after quoted string", errMalformed)
			}
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, dup := p[key]; dup {
			return nil, fmt.Errorf("%w: parameter %q repeated", errMalformed, clip(key))
		}
		p[key] = val
	}
}

func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clip bounds a peer value echoed in an error (never a secret), so an
// error string cannot carry a whole header into the logs.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
