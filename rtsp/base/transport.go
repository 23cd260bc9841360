package base

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zcingest/zerocopy/limit"
)

// Transport is one transport spec of a Transport header (RFC 2326 12.39):
// RTP/AVP/TCP;unicast;interleaved=0-1 or
// RTP/AVP;unicast;client_port=a-b;server_port=c-d;mode=record.
type Transport struct {
	TCP         bool   // RTP/AVP/TCP (interleaved) rather than RTP/AVP[/UDP]
	Multicast   bool   // "multicast" (not served; parsed so it can be refused)
	Interleaved [2]int // channels, when HasInterleaved
	ClientPort  [2]int // when HasClientPort
	ServerPort  [2]int // when HasServerPort
	Mode        string // "record", "play" or "" (lower case)
	SSRC        string // as sent, when present

	HasInterleaved, HasClientPort, HasServerPort bool
}

// ParseTransports parses a Transport header value: comma-separated specs,
// in the client's order of preference. Specs whose profile is not RTP/AVP
// are skipped; a malformed parameter is ErrMalformed.
func ParseTransports(v string) ([]Transport, error) {
	var out []Transport
	n := 0
	for spec := range strings.SplitSeq(v, ",") {
		n++
		if err := limit.Check("MaxTransports", int64(n), MaxTransports); err != nil {
			return nil, fmt.Errorf("rtsp Transport: %w", err)
		}
		t, ok, err := parseTransport(strings.TrimSpace(spec))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, t)
		}
	}
	return out, nil
}

func parseTransport(spec string) (t Transport, ok bool, err error) {
	n := 0
	for i, p := range strings.Split(spec, ";") {
		n++
		if err := limit.Check("MaxTransportParams", int64(n), MaxTransportParams); err != nil {
			return t, false, fmt.Errorf("rtsp Transport: %w", err)
		}
		p = strings.TrimSpace(p)
		if i == 0 {
			switch strings.ToUpper(p) {
			case "RTP/AVP", "RTP/AVP/UDP":
			case "RTP/AVP/TCP":
				t.TCP = true
			default:
				return t, false, nil
			}
			continue
		}
		key, val, _ := strings.Cut(p, "=")
		switch strings.ToLower(key) {
		case "unicast":
		case "multicast":
			t.Multicast = true
		case "interleaved":
			if t.Interleaved, err = parseRange(val, 255); err != nil {
				return t, false, err
			}
			t.HasInterleaved = true
		case "client_port":
			if t.ClientPort, err = parseRange(val, 65535); err != nil {
				return t, false, err
			}
			t.HasClientPort = true
		case "server_port":
			if t.ServerPort, err = parseRange(val, 65535); err != nil {
				return t, false, err
			}
			t.HasServerPort = true
		case "mode":
			t.Mode = strings.ToLower(strings.Trim(val, `" `))
			if !validToken(t.Mode) {
				return t, false, fmt.Errorf("%w: Transport mode %q", ErrMalformed, clip([]byte(val)))
			}
		case "ssrc":
			if len(val) > 16 {
				return t, false, fmt.Errorf("%w: Transport ssrc %q", ErrMalformed, clip([]byte(val)))
			}
			t.SSRC = val
		}
		// Other parameters (ttl, destination, source, layers …) do not apply
		// to what is served and are ignored.
	}
	return t, true, nil
}

// parseRange parses "a-b" or "a" (then b = a+1), each in [0, hi].
func parseRange(v string, hi int) ([2]int, error) {
	a, b, two := strings.Cut(v, "-")
	x, err1 := strconv.Atoi(a)
	y := x + 1
	var err2 error
	if two {
		y, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || x < 0 || y < 0 || x > hi || y > hi {
		return [2]int{}, fmt.Errorf("%w: Transport range %q", ErrMalformed, clip([]byte(v)))
	}
	return [2]int{x, y}, nil
}

// Append appends the spec in header form.
func (t Transport) Append(dst []byte) []byte {
	if t.TCP {
		dst = append(dst, "RTP/AVP/TCP"...)
	} else {
		dst = append(dst, "RTP/AVP"...)
	}
	if t.Multicast {
		dst = append(dst, ";multicast"...)
	} else {
		dst = append(dst, ";unicast"...)
	}
	if t.HasInterleaved {
		dst = appendRange(append(dst, ";interleaved="...), t.Interleaved)
	}
	if t.HasClientPort {
		dst = appendRange(append(dst, ";client_port="...), t.ClientPort)
	}
	if t.HasServerPort {
		dst = appendRange(append(dst, ";server_port="...), t.ServerPort)
	}
	if t.SSRC != "" {
		dst = append(append(dst, ";ssrc="...), t.SSRC...)
	}
	if t.Mode != "" {
		dst = append(append(dst, ";mode="...), t.Mode...)
	}
	return dst
}

func (t Transport) String() string { return string(t.Append(nil)) }

func appendRange(dst []byte, r [2]int) []byte {
	dst = strconv.AppendInt(dst, int64(r[0]), 10)
	dst = append(dst, '-')
	return strconv.AppendInt(dst, int64(r[1]), 10)
}

// ParseSession splits a Session header value "id;timeout=60" into the id
// and the timeout in seconds (0 when absent).
func ParseSession(v string) (id string, timeout int) {
	id, rest, _ := strings.Cut(v, ";")
	id = strings.TrimSpace(id)
	for p := range strings.SplitSeq(rest, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "timeout") {
			if n, err := strconv.Atoi(val); err == nil && n > 0 && n < 1<<20 {
				timeout = n
			}
		}
	}
	return id, timeout
}
