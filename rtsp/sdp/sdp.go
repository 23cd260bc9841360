// Package sdp parses and writes the subset of SDP (RFC 8866, formerly 4566)
// that RTSP uses: the description a publisher sends with ANNOUNCE, the one
// a camera answers DESCRIBE with, and the one we answer DESCRIBE with.
//
// Parse is lenient where real peers differ (LF or CRLF, spaces after ';' in
// fmtp, unknown lines and attributes, upper/lower-case encoding names) and
// strict where ambiguity would hurt (a second m= port, a non-numeric RTP
// payload type, a version other than 0). Every count a peer controls is
// capped by a constant in limits.go. Parse copies what it keeps: nothing in
// a Session aliases the input.
package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// Session is one parsed session description.
type Session struct {
	// Origin is the o= value as sent ("- 0 0 IN IP4 127.0.0.1").
	Origin string
	// Name is the s= value.
	Name string
	// Connection is the session-level c= value ("IN IP4 0.0.0.0"), or "".
	Connection string
	// Timing is the t= value ("0 0"), or "".
	Timing string
	// Control is the session-level a=control: "", "*", an absolute URL or
	// a relative one. See ControlURL.
	Control string
	// Range is the a=range value ("npt=0-", "npt=now-"), or "".
	Range string
	// Bandwidth holds the session-level b= values ("AS:5050"), in order.
	Bandwidth []string
	// Attributes holds the other session-level a= lines, in order.
	Attributes []Attribute
	Medias     []Media
}

// Media is one m= section.
type Media struct {
	// Type is the media type as sent, lower-cased: "video", "audio",
	// "application", ...
	Type string
	// Port is the m= port (0 in RTSP; the transport comes from SETUP).
	Port int
	// Proto is the transport protocol as sent: "RTP/AVP", "RTP/AVPF", ...
	Proto string
	// Formats are the RTP payload types, in the order listed.
	Formats []int
	// Control is the media-level a=control, or "". See ControlURL.
	Control string
	// Connection is the media-level c= value, or "".
	Connection string
	// Bandwidth holds the media-level b= values, in order.
	Bandwidth []string
	// RTPMap maps payload type to its a=rtpmap. Static payload types
	// (PCMU=0, PCMA=8, ...) often come without one; see Encoding.
	RTPMap map[int]RTPMap
	// FMTP maps payload type to its a=fmtp parameters. Keys are
	// lower-cased; values are trimmed but otherwise as sent (base64 and hex
	// keep their case and '=' padding). A parameter without '=' (such as
	// telephone-event's "0-15") is a key with an empty value.
	FMTP map[int]map[string]string
	// Attributes holds the other a= lines of this section, in order.
	Attributes []Attribute
}

// RTPMap is one a=rtpmap value.
type RTPMap struct {
	// Encoding is the encoding name, upper-cased: encoding names are
	// case-insensitive and peers send both "H264" and "h264",
	// "MPEG4-GENERIC" and "mpeg4-generic".
	Encoding  string
	ClockRate int
	// Channels is the encoding parameter of audio (".../44100/2"), or 0
	// when absent, which for audio means one channel.
	Channels int
}

// Attribute is one a= line other than control, range, rtpmap and fmtp.
// Value is "" for a property attribute such as a=recvonly.
type Attribute struct {
	Key, Value string
}

// Attr returns the value of the first attribute named key (case-sensitive,
// as SDP attribute names are) and whether there was one.
func (m *Media) Attr(key string) (string, bool) { return findAttr(m.Attributes, key) }

// Attr returns the value of the first session-level attribute named key
// and whether there was one.
func (s *Session) Attr(key string) (string, bool) { return findAttr(s.Attributes, key) }

func findAttr(attrs []Attribute, key string) (string, bool) {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// staticTypes are the RFC 3551 static payload types a peer may list
// without an a=rtpmap.
var staticTypes = map[int]RTPMap{
	0:  {"PCMU", 8000, 1},
	3:  {"GSM", 8000, 1},
	4:  {"G723", 8000, 1},
	8:  {"PCMA", 8000, 1},
	9:  {"G722", 8000, 1},
	10: {"L16", 44100, 2},
	11: {"L16", 44100, 1},
	14: {"MPA", 90000, 0},
	18: {"G729", 8000, 1},
	26: {"JPEG", 90000, 0},
	32: {"MPV", 90000, 0},
	33: {"MP2T", 90000, 0},
}

// Encoding returns the rtpmap of payload type pt: the a=rtpmap sent, or
// for a static payload type without one, its RFC 3551 definition.
func (m *Media) Encoding(pt int) (RTPMap, bool) {
	if r, ok := m.RTPMap[pt]; ok {
		return r, true
	}
	if pt < 96 {
		r, ok := staticTypes[pt]
		return r, ok
	}
	return RTPMap{}, false
}

// ControlURL resolves a control attribute against base the way ffmpeg and
// gortsplib do, because cameras are built to match them: an absolute URL
// (rtsp://, rtsps://, rtspu://) is used as is; "" and "*" mean base itself;
// anything else is appended to base with one '/' between them. This is
// deliberately not RFC 3986 resolution, which would drop base's last path
// segment ("rtsp://h/live/x" + "trackID=1" must give
// "rtsp://h/live/x/trackID=1", which is what servers expect).
//
// base is the Content-Base header, else the session-level control when it
// is absolute, else the request URL; resolving the session control first
// and then each media's control against the result gives that order.
func ControlURL(base, control string) string {
	switch {
	case control == "" || control == "*":
		return base
	case isAbsoluteURL(control):
		return control
	case strings.HasSuffix(base, "/"):
		return base + control
	}
	return base + "/" + control
}

func isAbsoluteURL(s string) bool {
	for _, p := range []string{"rtsp://", "rtsps://", "rtspu://"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

var errSyntax = errors.New("sdp: syntax error")

// Parse parses a session description. It accepts CRLF and bare LF line
// ends and skips blank lines; the first line must be v=0. Unknown line
// types are ignored, unknown attributes are kept in Attributes. Input over
// a limit in limits.go is rejected with a *limit.LimitError before the
// structures it would grow are allocated.
func Parse(b []byte) (*Session, error) {
	if err := limit.Check("MaxSDPSize", int64(len(b)), MaxSDPSize); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	s := &Session{}
	var (
		media   *Media // nil while in the session section
		nattrs  int    // a= and b= lines kept in the current section
		lineNo  int
		sawV    bool
		sawPrev bool // a non-blank line came before
	)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNo++
		line = bytes.TrimRight(line, " \t\r")
		line = bytes.TrimLeft(line, " \t")
		// Measured without line end and padding, so that what Marshal
		// writes back (CRLF for LF) passes the same check.
		if err := limit.Check("MaxLineLength", int64(len(line)), MaxLineLength); err != nil {
			return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
		}
		if len(line) == 0 {
			continue
		}
		// RFC 8866 text excludes NUL and CR; a CR inside a line would also
		// come back as a line end after Marshal.
		if bytes.ContainsAny(line, "\r\x00") {
			return nil, fmt.Errorf("sdp line %d: %w: CR or NUL inside a line", lineNo, errSyntax)
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("sdp line %d: %w: not <type>=<value>", lineNo, errSyntax)
		}
		typ, val := line[0], string(line[2:])
		if !sawPrev {
			sawPrev = true
			if typ != 'v' {
				return nil, fmt.Errorf("sdp line %d: %w: first line is not v=", lineNo, errSyntax)
			}
		}
		switch typ {
		case 'v':
			if sawV || strings.TrimSpace(val) != "0" {
				return nil, fmt.Errorf("sdp line %d: %w: version %q", lineNo, errSyntax, val)
			}
			sawV = true
		case 'o':
			if media == nil {
				s.Origin = val
			}
		case 's':
			if media == nil {
				s.Name = val
			}
		case 't':
			if media == nil {
				s.Timing = val
			}
		case 'c':
			if media == nil {
				s.Connection = val
			} else {
				media.Connection = val
			}
		case 'b':
			nattrs++
			if err := limit.Check("MaxAttributes", int64(nattrs), MaxAttributes); err != nil {
				return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
			}
			if media == nil {
				s.Bandwidth = append(s.Bandwidth, val)
			} else {
				media.Bandwidth = append(media.Bandwidth, val)
			}
		case 'm':
			if err := limit.Check("MaxMedias", int64(len(s.Medias)+1), MaxMedias); err != nil {
				return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
			}
			m, err := parseMediaLine(val)
			if err != nil {
				return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
			}
			s.Medias = append(s.Medias, m)
			media = &s.Medias[len(s.Medias)-1]
			nattrs = 0
		case 'a':
			nattrs++
			if err := limit.Check("MaxAttributes", int64(nattrs), MaxAttributes); err != nil {
				return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
			}
			if err := parseAttribute(s, media, val); err != nil {
				return nil, fmt.Errorf("sdp line %d: %w", lineNo, err)
			}
		default:
			// i=, u=, e=, p=, z=, k=, r= and unknown types: nothing RTSP
			// needs, and ignoring them costs no memory.
		}
	}
	if !sawV {
		return nil, fmt.Errorf("sdp: %w: empty description", errSyntax)
	}
	return s, nil
}

// parseMediaLine parses "video 0 RTP/AVP 96 97".
func parseMediaLine(val string) (Media, error) {
	var m Media
	typ, rest, ok := cutField(val)
	if !ok {
		return m, fmt.Errorf("%w: m= without port", errSyntax)
	}
	port, rest, ok := cutField(rest)
	if !ok {
		return m, fmt.Errorf("%w: m= without proto", errSyntax)
	}
	proto, rest, _ := cutField(rest)
	m.Type = asciiCase(typ, false)
	m.Proto = proto
	if p, _, hasCount := strings.Cut(port, "/"); hasCount {
		port = p // "<port>/<number of ports>": RTSP ignores the count
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return m, fmt.Errorf("%w: m= port %q", errSyntax, port)
	}
	m.Port = n
	isRTP := strings.Contains(strings.ToUpper(proto), "RTP")
	for rest != "" {
		var f string
		f, rest, _ = cutField(rest)
		if f == "" {
			break
		}
		if !isRTP {
			continue // formats of non-RTP protocols are not payload types
		}
		if err := limit.Check("MaxFormats", int64(len(m.Formats)+1), MaxFormats); err != nil {
			return m, err
		}
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			return m, fmt.Errorf("%w: m= payload type %q", errSyntax, f)
		}
		m.Formats = append(m.Formats, pt)
	}
	return m, nil
}

// cutField splits off the first space-separated field; runs of spaces
// count as one separator.
func cutField(s string) (field, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, "", false
	}
	return s[:i], strings.TrimLeft(s[i+1:], " \t"), true
}

func parseAttribute(s *Session, m *Media, val string) error {
	key, value, _ := strings.Cut(val, ":")
	switch key {
	case "control":
		if m == nil {
			s.Control = strings.TrimSpace(value)
		} else {
			m.Control = strings.TrimSpace(value)
		}
		return nil
	case "range":
		if m == nil {
			s.Range = strings.TrimSpace(value)
			return nil
		}
	case "rtpmap":
		if m != nil {
			return parseRTPMap(m, value)
		}
	case "fmtp":
		if m != nil {
			return parseFMTP(m, value)
		}
	}
	a := Attribute{Key: key, Value: value}
	if m == nil {
		s.Attributes = append(s.Attributes, a)
	} else {
		m.Attributes = append(m.Attributes, a)
	}
	return nil
}

// parsePT parses the "<pt> " prefix of rtpmap and fmtp values.
func parsePT(value string) (int, string, error) {
	f, rest, _ := cutField(value)
	pt, err := strconv.Atoi(f)
	if err != nil || pt < 0 || pt > 127 {
		return 0, "", fmt.Errorf("%w: payload type %q", errSyntax, f)
	}
	return pt, rest, nil
}

// parseRTPMap parses "96 H264/90000" and "97 MPEG4-GENERIC/44100/2".
func parseRTPMap(m *Media, value string) error {
	pt, rest, err := parsePT(value)
	if err != nil {
		return fmt.Errorf("rtpmap: %w", err)
	}
	rest = strings.TrimSpace(rest)
	enc, rest, ok := strings.Cut(rest, "/")
	if !ok || enc == "" {
		return fmt.Errorf("rtpmap: %w: %q has no clock rate", errSyntax, value)
	}
	clock, chans, hasChans := strings.Cut(rest, "/")
	r := RTPMap{Encoding: asciiCase(enc, true)}
	if r.ClockRate, err = strconv.Atoi(strings.TrimSpace(clock)); err != nil || r.ClockRate <= 0 {
		return fmt.Errorf("rtpmap: %w: clock rate %q", errSyntax, clock)
	}
	if hasChans {
		if r.Channels, err = strconv.Atoi(strings.TrimSpace(chans)); err != nil || r.Channels <= 0 || r.Channels > 255 {
			return fmt.Errorf("rtpmap: %w: channels %q", errSyntax, chans)
		}
	}
	if m.RTPMap == nil {
		m.RTPMap = make(map[int]RTPMap, 1)
	}
	m.RTPMap[pt] = r
	return nil
}

// parseFMTP parses "96 packetization-mode=1; sprop-parameter-sets=Z2Q=,aOs=".
// Values may contain '=' (base64 padding), so each parameter splits at its
// first '=' only.
func parseFMTP(m *Media, value string) error {
	pt, rest, err := parsePT(value)
	if err != nil {
		return fmt.Errorf("fmtp: %w", err)
	}
	params := make(map[string]string, min(strings.Count(rest, ";")+1, MaxFMTPParams))
	for n := 0; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		// Count parameters sent, not distinct keys: repeats cost parse time.
		n++
		if err := limit.Check("MaxFMTPParams", int64(n), MaxFMTPParams); err != nil {
			return fmt.Errorf("fmtp %d: %w", pt, err)
		}
		k, v, _ := strings.Cut(p, "=")
		params[asciiCase(strings.TrimSpace(k), false)] = strings.TrimSpace(v)
	}
	if m.FMTP == nil {
		m.FMTP = make(map[int]map[string]string, 1)
	}
	m.FMTP[pt] = params
	return nil
}

// Marshal appends the description to dst with CRLF line ends and returns
// the extended slice. Empty mandatory fields get neutral defaults (o=- 0 0
// IN IP4 0.0.0.0, s=-, t=0 0) so a Session built from For* medias is valid
// as is. Per media, rtpmap and fmtp lines follow Formats order and fmtp
// keys are sorted, so the output is deterministic.
func (s *Session) Marshal(dst []byte) []byte {
	dst = append(dst, "v=0\r\n"...)
	dst = appendLine(dst, 'o', or(s.Origin, "- 0 0 IN IP4 0.0.0.0"))
	dst = appendLine(dst, 's', or(s.Name, "-"))
	if s.Connection != "" {
		dst = appendLine(dst, 'c', s.Connection)
	}
	dst = appendLine(dst, 't', or(s.Timing, "0 0"))
	for _, b := range s.Bandwidth {
		dst = appendLine(dst, 'b', b)
	}
	if s.Control != "" {
		dst = appendLine(dst, 'a', "control:"+s.Control)
	}
	if s.Range != "" {
		dst = appendLine(dst, 'a', "range:"+s.Range)
	}
	dst = appendAttrs(dst, s.Attributes)
	for i := range s.Medias {
		dst = s.Medias[i].marshal(dst)
	}
	return dst
}

func (m *Media) marshal(dst []byte) []byte {
	dst = append(dst, "m="...)
	dst = append(dst, or(m.Type, "application")...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(m.Port), 10)
	dst = append(dst, ' ')
	dst = append(dst, or(m.Proto, "RTP/AVP")...)
	for _, pt := range m.Formats {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(pt), 10)
	}
	dst = append(dst, "\r\n"...)
	if m.Connection != "" {
		dst = appendLine(dst, 'c', m.Connection)
	}
	for _, b := range m.Bandwidth {
		dst = appendLine(dst, 'b', b)
	}
	for _, pt := range m.Formats {
		r, ok := m.RTPMap[pt]
		if !ok {
			continue
		}
		dst = append(dst, "a=rtpmap:"...)
		dst = strconv.AppendInt(dst, int64(pt), 10)
		dst = append(dst, ' ')
		dst = append(dst, r.Encoding...)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(r.ClockRate), 10)
		if r.Channels > 0 {
			dst = append(dst, '/')
			dst = strconv.AppendInt(dst, int64(r.Channels), 10)
		}
		dst = append(dst, "\r\n"...)
	}
	for _, pt := range m.Formats {
		params, ok := m.FMTP[pt]
		if !ok || len(params) == 0 {
			continue
		}
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, "a=fmtp:"...)
		dst = strconv.AppendInt(dst, int64(pt), 10)
		dst = append(dst, ' ')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ';')
			}
			dst = append(dst, k...)
			if v := params[k]; v != "" {
				dst = append(dst, '=')
				dst = append(dst, v...)
			}
		}
		dst = append(dst, "\r\n"...)
	}
	if m.Control != "" {
		dst = appendLine(dst, 'a', "control:"+m.Control)
	}
	return appendAttrs(dst, m.Attributes)
}

func appendAttrs(dst []byte, attrs []Attribute) []byte {
	for _, a := range attrs {
		dst = append(dst, "a="...)
		dst = append(dst, a.Key...)
		if a.Value != "" {
			dst = append(dst, ':')
			dst = append(dst, a.Value...)
		}
		dst = append(dst, "\r\n"...)
	}
	return dst
}

func appendLine(dst []byte, typ byte, val string) []byte {
	dst = append(dst, typ, '=')
	dst = append(dst, val...)
	return append(dst, "\r\n"...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// asciiCase maps ASCII letters only: strings.ToUpper/ToLower would replace
// each invalid UTF-8 byte with a 3-byte U+FFFD, growing a peer's line past
// MaxLineLength on the way back out through Marshal.
func asciiCase(s string, upper bool) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 32
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c + 32
		}
	}
	return string(b)
}
