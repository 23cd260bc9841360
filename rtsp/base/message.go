// Package base is the RTSP 1.0 wire format (RFC 2326): requests,
// responses, their headers, and the '$'-framed interleaved binary data that
// shares the TCP connection with them. It has no session logic.
//
// Reading goes through a bufreader.Reader, so interleaved RTP packets are
// taken from the reader's pooled blocks as owned ranges (no copy); only
// control data (request lines, headers, bodies) is copied, and counted.
package base

import (
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/limit"
)

// Version is the only protocol version spoken.
const Version = "RTSP/1.0"

// ErrMalformed is wrapped by every parse error of peer input that is not a
// limit: the connection cannot be resynchronised after it.
var ErrMalformed = errors.New("rtsp: malformed message")

// Header is a message's header fields with canonical keys
// (textproto.CanonicalMIMEHeaderKey: "CSeq" is stored as "Cseq"). Use Get.
type Header = textproto.MIMEHeader

// Request is one RTSP request. Its strings and Body are the Request's own
// (copies), valid until the next ReadRequest into the same Request, which
// reuses Body's storage.
type Request struct {
	Method string
	URL    string // as sent: absolute rtsp:// URL or "*"
	Header Header
	Body   []byte
}

// Response is one RTSP response (read by clients). Body follows the same
// rule as Request.Body.
type Response struct {
	StatusCode int
	Reason     string
	Header     Header
	Body       []byte
}

// Options are ReaderOptions; zero fields take the limits in limits.go.
type Options struct {
	MaxBodySize          int
	MaxInterleavedLength int
}

// Reader reads RTSP messages and interleaved frames from a bufreader. It
// is not safe for concurrent use; it runs on the connection's goroutine,
// which owns the bufreader's allocator.
type Reader struct {
	br     *bufreader.Reader
	opts   Options
	copied int64
	hdr    [4]byte
}

// BufOptions returns bufreader options carrying this package's line and
// header limits, to build the connection's reader with.
func BufOptions(o bufreader.Options) bufreader.Options {
	o.MaxLineLength = MaxLineLength
	o.MaxHeaderFields = MaxHeaderFields
	o.MaxHeaderBytes = MaxHeaderBytes
	o.MaxBuffered = max(o.MaxBuffered, MaxBodySize, MaxInterleavedLength)
	return o
}

// NewReader returns a Reader over br. br should have been built with
// BufOptions so line and header limits apply.
func NewReader(br *bufreader.Reader, opts Options) *Reader {
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = MaxBodySize
	}
	if opts.MaxInterleavedLength <= 0 {
		opts.MaxInterleavedLength = MaxInterleavedLength
	}
	return &Reader{br: br, opts: opts}
}

// BytesCopied counts the control bytes this Reader copied (request and
// header lines, bodies) on top of what the bufreader counts itself.
func (r *Reader) BytesCopied() int64 { return r.copied }

// IsInterleaved reports whether the next byte starts an interleaved frame
// ('$'). It waits for that byte.
func (r *Reader) IsInterleaved() (bool, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return false, err
	}
	return b[0] == '$', nil
}

// ReadInterleaved reads one '$' channel length(2) frame and appends its
// payload to dst as ranges taken from the reader's blocks: ownership passes
// to the caller, who frees them with pool.Free on the reader's allocator.
// It returns the channel and the payload length. A length past
// MaxInterleavedLength is a *limit.LimitError, and nothing is consumed.
func (r *Reader) ReadInterleaved(dst *gomem.Memory) (channel uint8, n int, err error) {
	h, err := r.br.Peek(4)
	if err != nil {
		return 0, 0, err
	}
	if h[0] != '$' {
		return 0, 0, fmt.Errorf("%w: interleaved frame starts with %#x, not '$'", ErrMalformed, h[0])
	}
	channel, n = h[1], int(h[2])<<8|int(h[3])
	if err := limit.Check("MaxInterleavedLength", int64(n), int64(r.opts.MaxInterleavedLength)); err != nil {
		return channel, 0, fmt.Errorf("rtsp interleaved channel %d: %w", channel, err)
	}
	// An error after the header is consumed (the peer stalls mid-frame
	// past the read timeout) leaves the stream mid-frame: it is fatal for
	// the connection, which is what a read error is for us anyway.
	if err := r.br.Skip(4); err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return channel, 0, nil
	}
	if err := r.br.TakeInto(dst, n); err != nil {
		return channel, 0, fmt.Errorf("rtsp interleaved channel %d: %w", channel, err)
	}
	return channel, n, nil
}

// ReadRequest reads one request (line, headers, body) into req.
func (r *Reader) ReadRequest(req *Request) error {
	line, err := r.br.ReadLine()
	if err != nil {
		return wrapEOF(err)
	}
	r.copied += int64(len(line))
	method, rest, ok1 := strings.Cut(string(line), " ")
	url, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || url == "" || strings.ContainsAny(url, " \t") || !validToken(method) {
		return fmt.Errorf("%w: request line %q", ErrMalformed, clip(line))
	}
	if proto != Version {
		return fmt.Errorf("%w: protocol %q, want %s", ErrMalformed, clip([]byte(proto)), Version)
	}
	req.Method, req.URL = method, url
	req.Header, req.Body, err = r.readHeaderAndBody(req.Body)
	return err
}

// ReadResponse reads one response into resp.
func (r *Reader) ReadResponse(resp *Response) error {
	line, err := r.br.ReadLine()
	if err != nil {
		return wrapEOF(err)
	}
	r.copied += int64(len(line))
	proto, rest, ok := strings.Cut(string(line), " ")
	if !ok || proto != Version {
		return fmt.Errorf("%w: status line %q", ErrMalformed, clip(line))
	}
	code, reason, _ := strings.Cut(rest, " ")
	c, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || c < 100 {
		return fmt.Errorf("%w: status code %q", ErrMalformed, clip([]byte(code)))
	}
	resp.StatusCode, resp.Reason = c, reason
	resp.Header, resp.Body, err = r.readHeaderAndBody(resp.Body)
	return err
}

func (r *Reader) readHeaderAndBody(body []byte) (Header, []byte, error) {
	h, err := r.br.ReadMIMEHeader()
	if err != nil {
		var le *limit.LimitError
		if errors.As(err, &le) {
			return h, body[:0], fmt.Errorf("rtsp header: %w", err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return h, body[:0], wrapEOF(err)
		}
		return h, body[:0], fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for k, vs := range h {
		r.copied += int64(len(k))
		for _, v := range vs {
			r.copied += int64(len(v))
		}
	}
	n, err := ContentLength(h, r.opts.MaxBodySize)
	if err != nil {
		return h, body[:0], err
	}
	body = body[:0]
	if n == 0 {
		return h, body, nil
	}
	err = r.br.ReadRange(n, func(b []byte) { body = append(body, b...) })
	if err != nil {
		return h, body[:0], wrapEOF(err)
	}
	r.copied += int64(n)
	return h, body, nil
}

// ContentLength returns the body length the header announces: 0 when
// absent. A negative, non-numeric or conflicting value is ErrMalformed; one
// above maxBody is a *limit.LimitError (MaxBodySize).
func ContentLength(h Header, maxBody int) (int, error) {
	vs := h["Content-Length"]
	if len(vs) == 0 {
		return 0, nil
	}
	n := -1
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") { // "Content-Length: 5, 5" is two values
			part = strings.TrimSpace(part)
			if part == "" || len(part) > 10 || strings.Trim(part, "0123456789") != "" {
				return 0, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip([]byte(part)))
			}
			v, _ := strconv.ParseInt(part, 10, 64)
			if n >= 0 && int(v) != n {
				return 0, fmt.Errorf("%w: conflicting Content-Length values %d and %d", ErrMalformed, n, v)
			}
			n = int(v)
			if err := limit.Check("MaxBodySize", v, int64(maxBody)); err != nil {
				return 0, fmt.Errorf("rtsp body: %w", err)
			}
		}
	}
	return n, nil
}

// CSeq returns the request's CSeq header ("" when absent).
func (req *Request) CSeq() string { return req.Header.Get("CSeq") }

func wrapEOF(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("rtsp: connection closed mid-message: %w", err)
	}
	return err
}

// clip bounds what an error quotes from peer input.
func clip(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Field is one header field to write. Key is written as given.
type Field struct{ Key, Value string }

// AppendResponse appends a complete response to dst: status line, CSeq
// (when non-empty), fields, Content-Length when body is non-empty, and body.
func AppendResponse(dst []byte, code int, cseq string, fields []Field, body []byte) []byte {
	dst = append(dst, Version...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(code)...)
	dst = append(dst, "\r\n"...)
	return appendTail(dst, cseq, fields, body)
}

// AppendRequest appends a complete request to dst (for clients).
func AppendRequest(dst []byte, method, url, cseq string, fields []Field, body []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, url...)
	dst = append(dst, ' ')
	dst = append(dst, Version...)
	dst = append(dst, "\r\n"...)
	return appendTail(dst, cseq, fields, body)
}

func appendTail(dst []byte, cseq string, fields []Field, body []byte) []byte {
	if cseq != "" {
		dst = append(dst, "CSeq: "...)
		dst = append(dst, cseq...)
		dst = append(dst, "\r\n"...)
	}
	for _, f := range fields {
		dst = append(dst, f.Key...)
		dst = append(dst, ": "...)
		dst = append(dst, sanitize(f.Value)...)
		dst = append(dst, "\r\n"...)
	}
	if len(body) > 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// sanitize keeps a value on its line: a CR or LF from anywhere (an echoed
// peer value) cannot inject headers.
func sanitize(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	return v
}

// AppendInterleavedHeader appends the 4-byte '$' channel length header of
// an interleaved frame carrying n bytes (n <= 65535).
func AppendInterleavedHeader(dst []byte, channel uint8, n int) []byte {
	return append(dst, '$', channel, byte(n>>8), byte(n))
}

// StatusText returns the reason phrase of an RTSP status code.
func StatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 453:
		return "Not Enough Bandwidth"
	case 454:
		return "Session Not Found"
	case 455:
		return "Method Not Valid in This State"
	case 459:
		return "Aggregate Operation Not Allowed"
	case 461:
		return "Unsupported Transport"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "RTSP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}
