package bufreader

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"

	"github.com/zcingest/zerocopy/limit"
)

// errMalformedHeader is wrapped with the offending line's position.
var errMalformedHeader = errors.New("bufreader: malformed MIME header line")

// ReadMIMEHeader reads a MIME-style header block (as used by RTSP and HTTP)
// up to and including the empty line that ends it. Keys are trimmed of spaces
// and tabs and canonicalised; values are trimmed of spaces and tabs.
// Continuation lines (starting with a space or tab) are joined to the
// previous value with one space. Both "\r\n" and "\n" line ends are
// accepted. The number of fields is capped by MaxHeaderFields and the total
// size by MaxHeaderBytes, each line by MaxLineLength; exceeding one gives a
// *limit.LimitError. The returned map and strings are the caller's (they are
// copies, not views).
func (r *Reader) ReadMIMEHeader() (textproto.MIMEHeader, error) {
	h := make(textproto.MIMEHeader)
	total, fields := 0, 0
	var lastKey string
	for {
		line, err := r.ReadLine()
		if err != nil {
			return h, err
		}
		total += len(line) + 2
		if total > r.maxHeaderBytes {
			return h, &limit.LimitError{Name: "MaxHeaderBytes", Limit: int64(r.maxHeaderBytes), Got: int64(total)}
		}
		if len(line) == 0 {
			return h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if lastKey == "" {
				return h, fmt.Errorf("%w: continuation line before any field", errMalformedHeader)
			}
			vs := h[lastKey]
			cont := trimSpaceTab(line)
			if len(cont) > 0 {
				last := vs[len(vs)-1]
				if last == "" {
					vs[len(vs)-1] = string(cont)
				} else {
					vs[len(vs)-1] = last + " " + string(cont)
				}
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return h, fmt.Errorf("%w: missing colon", errMalformedHeader)
		}
		key := trimSpaceTab(line[:colon])
		if len(key) == 0 || !validKey(key) {
			return h, fmt.Errorf("%w: invalid field name", errMalformedHeader)
		}
		fields++
		if fields > r.maxHeaderFields {
			return h, &limit.LimitError{Name: "MaxHeaderFields", Limit: int64(r.maxHeaderFields), Got: int64(fields)}
		}
		lastKey = textproto.CanonicalMIMEHeaderKey(string(key))
		h[lastKey] = append(h[lastKey], string(trimSpaceTab(line[colon+1:])))
	}
}

func trimSpaceTab(b []byte) []byte {
	return bytes.Trim(b, " \t")
}

// validKey accepts RFC 7230 token characters.
func validKey(k []byte) bool {
	for _, c := range k {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}
