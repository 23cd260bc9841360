// Package wire is the byte format of Monibuca v5's cascade (plugin/cascade
// at 34997f87), which runs over QUIC with ALPN "monibuca":
//
//   - Register: the child opens the connection's first stream and writes
//     its secret followed by one 0 byte. The parent answers Accepted
//     ({0,0}) or Refused ({1,0}) and closes that stream.
//   - Pull: the child opens a stream and writes "PULLFLV <path>\r\n"; the
//     parent answers on it with an FLV byte stream (file header and
//     PreviousTagSize0, an onMetaData script tag, then tags: no status
//     line). "STOPFLV <path>\r\n" on the same stream ends it.
//   - Relay: the parent opens a stream to the child carrying an HTTP
//     request: "<METHOD> <target>\r\n", header lines "Key: value\r\n", an
//     empty line, the body, then FIN. The child writes only the response
//     body (m7s carries no status line) and closes the stream.
//
// The package only parses and builds those bytes; it never panics on peer
// input and bounds every read.
package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// ALPN is the TLS application protocol of the cascade.
const ALPN = "monibuca"

// Methods the cascade adds to HTTP's.
const (
	MethodPull = "PULLFLV"
	MethodStop = "STOPFLV"
)

// Registration answers.
var (
	Accepted = [2]byte{0, 0}
	Refused  = [2]byte{1, 0}
)

// ErrBadRequest is wrapped by every malformed request line or header.
var ErrBadRequest = errors.New("cascade: malformed request")

// RequestLine is one parsed request line.
type RequestLine struct {
	// Method is PULLFLV, STOPFLV or an HTTP method (upper-case token).
	Method string
	// Path is, for PULLFLV and STOPFLV, the stream path without leading
	// '/' and without the query; for HTTP, the URL path (starting '/').
	Path string
	// Query is the raw query after '?', or "". It may carry secrets:
	// never log it.
	Query string
}

// IsStream reports whether the line is PULLFLV or STOPFLV.
func (r RequestLine) IsStream() bool { return r.Method == MethodPull || r.Method == MethodStop }

// ParseRequestLine parses one request line without its line ending:
// "METHOD SP target". m7s splits the line on spaces and takes the first two
// fields; we accept exactly two fields and reject anything a path should
// not hold (control bytes, "..", spaces), since the path reaches the hub.
func ParseRequestLine(line []byte) (RequestLine, error) {
	var r RequestLine
	if err := limit.Check("MaxRequestLine", int64(len(line)), MaxRequestLineCap); err != nil {
		return r, err
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return r, fmt.Errorf("%w: no space in request line", ErrBadRequest)
	}
	method, target := line[:sp], line[sp+1:]
	if err := limit.Check("MaxMethodLength", int64(len(method)), MaxMethodLength); err != nil {
		return r, err
	}
	if len(method) == 0 {
		return r, fmt.Errorf("%w: empty method", ErrBadRequest)
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return r, fmt.Errorf("%w: method is not an upper-case token", ErrBadRequest)
		}
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return r, fmt.Errorf("%w: space or control byte in target", ErrBadRequest)
		}
	}
	r.Method = string(method)
	t := string(target)
	t, r.Query, _ = strings.Cut(t, "?")
	if r.IsStream() {
		t = strings.TrimLeft(t, "/")
	} else if !strings.HasPrefix(t, "/") {
		return RequestLine{}, fmt.Errorf("%w: HTTP target %q does not start with '/'", ErrBadRequest, clip(t))
	}
	if r.IsStream() && t == "" {
		return RequestLine{}, fmt.Errorf("%w: empty stream path", ErrBadRequest)
	}
	if strings.Contains(t, "..") || strings.Contains(t, "//") || strings.HasSuffix(t, "/") && r.IsStream() {
		return RequestLine{}, fmt.Errorf("%w: path %q is not canonical", ErrBadRequest, clip(t))
	}
	r.Path = t
	return r, nil
}

// clip shortens peer text for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// AppendRequestLine appends "method path[?query]\r\n" to dst.
func AppendRequestLine(dst []byte, method, path, query string) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	if query != "" {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return append(dst, '\r', '\n')
}

// NewLineReader returns a bufio.Reader sized so that ReadLine can hold a
// line of maxLine bytes (CRLF included) and no more.
func NewLineReader(r io.Reader, maxLine int) *bufio.Reader {
	return bufio.NewReaderSize(r, max(maxLine, MinRequestLine))
}

// ReadLine reads one line ending in "\n" (a preceding '\r' is dropped) from
// br, which NewLineReader sized: a line that does not fit is a
// *limit.LimitError named MaxRequestLine. The bytes stop being valid at
// the next read from br.
func ReadLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, &limit.LimitError{Name: "MaxRequestLine", Limit: int64(br.Size()), Got: int64(br.Size() + 1)}
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// ReadHeader reads the header lines of a relayed HTTP request up to the
// empty line, calling field for each "Key: value". It stops at
// MaxHeaderFields lines or MaxHeaderBytes bytes with a *limit.LimitError.
func ReadHeader(br *bufio.Reader, field func(key, value string)) error {
	total := 0
	for n := 0; ; n++ {
		line, err := ReadLine(br)
		if err != nil {
			return err
		}
		total += len(line) + 2
		if err := limit.Check("MaxHeaderBytes", int64(total), MaxHeaderBytes); err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if err := limit.Check("MaxHeaderFields", int64(n+1), MaxHeaderFields); err != nil {
			return err
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 {
			return fmt.Errorf("%w: header line without a key", ErrBadRequest)
		}
		field(string(bytes.TrimSpace(k)), string(bytes.TrimSpace(v)))
	}
}

// ReadSecret reads the registration secret up to and without its 0 byte.
// It reads one byte at a time so as never to consume past the terminator
// (the stream carries nothing else, but the parent must not depend on it).
func ReadSecret(r io.Reader) (string, error) {
	var buf [MaxSecretLength + 1]byte
	for n := 0; ; {
		if n == len(buf) {
			return "", &limit.LimitError{Name: "MaxSecretLength", Limit: MaxSecretLength, Got: int64(n)}
		}
		k, err := r.Read(buf[n : n+1])
		if k == 1 {
			if buf[n] == 0 {
				return string(buf[:n]), nil
			}
			n++
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// AppendSecret appends the registration message: secret and a 0 byte. A
// secret containing a 0 byte cannot be sent.
func AppendSecret(dst []byte, secret string) ([]byte, error) {
	if strings.IndexByte(secret, 0) >= 0 {
		return dst, errors.New("cascade: secret contains a 0 byte")
	}
	if err := limit.Check("MaxSecretLength", int64(len(secret)), MaxSecretLength); err != nil {
		return dst, err
	}
	dst = append(dst, secret...)
	return append(dst, 0), nil
}
