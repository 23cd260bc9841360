// Package streamid parses the SRT streamid a caller sends in its
// conclusion handshake into a mode, a hub path and a query for the auth
// hook. Two forms are understood:
//
//	publish:/live/x            subscribe:/live/x   play:/live/x   (a ?key=… may follow the path)
//	#!::r=live/x,m=publish,u=alice,s=secret                        (SRT access-control form; m=request plays)
//
// In the access-control form s= is the key: it becomes Query "key=<s>",
// the same `?key=` every other protocol presents to the one auth hook.
package streamid

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// Mode is what the caller wants to do with the stream.
type Mode uint8

const (
	Publish Mode = iota + 1
	Play
)

func (m Mode) String() string {
	switch m {
	case Publish:
		return "publish"
	case Play:
		return "play"
	}
	return "unknown"
}

// ID is a parsed streamid.
type ID struct {
	Mode Mode
	// Path is the hub path: no leading or trailing slash, no query.
	Path string
	// Query is the raw query for the auth hook ("key=…" and whatever else
	// came after '?'). It may carry a secret: never log it.
	Query string
	// User is the u= of the access-control form, or "".
	User string
}

// Sentinels callers branch on to pick the SRT rejection code.
var (
	// ErrBadMode: the mode is unknown or not offered (m=bidirectional);
	// SRT's REJX_BAD_MODE.
	ErrBadMode = errors.New("srt streamid: unsupported mode")
	// ErrBadRequest: anything else malformed; SRT's REJX_BAD_REQUEST.
	ErrBadRequest = errors.New("srt streamid: malformed")
)

// Parse parses s. It never panics and allocates only the strings it
// returns (and a query when s= is present).
func Parse(s string) (ID, error) {
	if err := limit.Check("MaxLength", int64(len(s)), MaxLength); err != nil {
		return ID{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if strings.HasPrefix(s, "#!::") {
		return parseAccessControl(s[len("#!::"):])
	}
	mode, rest, ok := strings.Cut(s, ":")
	if !ok {
		return ID{}, fmt.Errorf("%w: want mode:path or #!::r=…,m=…", ErrBadRequest)
	}
	var id ID
	switch mode {
	case "publish":
		id.Mode = Publish
	case "subscribe", "play", "read", "request":
		id.Mode = Play
	default:
		return ID{}, fmt.Errorf("%w %q", ErrBadMode, clip(mode))
	}
	path, query, _ := strings.Cut(rest, "?")
	p, err := cleanPath(path)
	if err != nil {
		return ID{}, err
	}
	id.Path, id.Query = p, query
	return id, nil
}

// parseAccessControl parses the key=value list after "#!::".
func parseAccessControl(s string) (ID, error) {
	var (
		id               ID
		resource, secret string
		haveR, haveS     bool
		mode             = "request" // the SRT access-control default
	)
	for n := 0; s != ""; n++ {
		if n == MaxKeys {
			return ID{}, fmt.Errorf("%w: %w", ErrBadRequest, &limit.LimitError{Name: "MaxKeys", Limit: MaxKeys, Got: int64(n + 1)})
		}
		var pair string
		pair, s, _ = strings.Cut(s, ",")
		key, val, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return ID{}, fmt.Errorf("%w: pair without key=value", ErrBadRequest)
		}
		switch key {
		case "r":
			resource, haveR = val, true
		case "m":
			mode = val
		case "u":
			id.User = val
		case "s":
			secret, haveS = val, true
		case "t":
			// Only live streams are served.
			if val != "stream" {
				return ID{}, fmt.Errorf("%w: type %q", ErrBadMode, clip(val))
			}
		default:
			// h= (host) and keys of other applications are ignored, as the
			// access-control spec asks.
		}
	}
	switch mode {
	case "publish":
		id.Mode = Publish
	case "request":
		id.Mode = Play
	default:
		return ID{}, fmt.Errorf("%w %q", ErrBadMode, clip(mode))
	}
	if !haveR {
		return ID{}, fmt.Errorf("%w: no resource (r=)", ErrBadRequest)
	}
	path, query, _ := strings.Cut(resource, "?")
	p, err := cleanPath(path)
	if err != nil {
		return ID{}, err
	}
	id.Path, id.Query = p, query
	if haveS {
		// The secret is the key every protocol presents as ?key=…; it
		// wins over a key in the resource's own query.
		k := "key=" + url.QueryEscape(secret)
		if id.Query == "" {
			id.Query = k
		} else {
			id.Query = k + "&" + id.Query
		}
	}
	return id, nil
}

// cleanPath turns "/live/x/" into "live/x", refusing what the hub must
// never see as a path.
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("%w: empty path", ErrBadRequest)
	}
	if err := limit.Check("MaxPathLength", int64(len(p)), MaxPathLength); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '\\' || c == '#' || c == '%' {
			return "", fmt.Errorf("%w: path byte %#x", ErrBadRequest, c)
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: path segment %q", ErrBadRequest, seg)
		}
	}
	return p, nil
}

// clip shortens peer text quoted in an error.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
