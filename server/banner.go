package server

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/zcingest/zerocopy/host"
)

// TestSourcePath is the stream path the banner's test source publishes to.
const TestSourcePath = "live/test"

// testSourceArgs is the ffmpeg command line, without the output, that
// generates a test pattern with a tone and encodes it for live streaming:
// 640x360 at 25 fps (cheap enough to leave running on a laptop core),
// H.264 with a fixed 2 s GOP (-g 50, no scene-cut keyframes) tuned for low
// latency, and AAC. -re paces each generated input to real time. No
// argument needs quoting, so the line is copy-paste runnable in any shell.
var testSourceArgs = []string{
	"ffmpeg",
	"-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
	"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
	"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
	"-g", "50", "-sc_threshold", "0", "-b:v", "1M",
	"-c:a", "aac", "-b:a", "96k",
}

// TestSourceCommand is the ffmpeg command that publishes the generated test
// source to url: over RTMP for rtmp:// URLs, over RTSP (interleaved TCP)
// for rtsp:// URLs.
func TestSourceCommand(url string) string {
	if strings.HasPrefix(url, "rtsp://") {
		return testSourceCommand(url, "-f", "rtsp", "-rtsp_transport", "tcp")
	}
	return testSourceCommand(url, "-f", "flv")
}

// testSourceCommand is the test source command with output options out
// before url. A URL with characters a shell treats specially (an SRT
// query, the key placeholder) is quoted.
func testSourceCommand(url string, out ...string) string {
	args := append(append(append([]string(nil), testSourceArgs...), out...), shellQuote(url))
	return strings.Join(args, " ")
}

// shellQuote returns s as one shell word: unchanged when every character
// means itself to a POSIX shell (and to zsh, whose globbing fails a
// command on an unmatched '?'), else in single quotes.
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@%+,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keyQuery is the query shown URLs carry in place of a key the auth hook
// requires. It is literal text, never the key: the page and the banner
// cannot see the key, and would not show it if they could.
const keyQuery = "key=<key>"

// keyPlaceholder is keyQuery as it follows a URL's path.
const keyPlaceholder = "?" + keyQuery

// Banner lists what the server listens on, with ready-to-paste commands:
// a test source that needs no file, and the URLs to play it.
func Banner(s *Server) string {
	var b strings.Builder
	addrs := s.Addrs()
	names := make([]string, 0, len(addrs))
	for n := range addrs {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("zerocopy is listening:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-6s %s\n", n, addrs[n])
	}
	http := urlHost(addrs["http"], "")
	fmt.Fprintf(&b, "\nStatus page: http://%s/\n", http)

	ctx := context.Background()
	type publish struct{ title, cmd string }
	var pubs []publish
	if rtmp, ok := addrs["rtmp"]; ok {
		pubs = append(pubs, publish{"RTMP", TestSourceCommand(s.streamURL(ctx, "rtmp", host.ActionPublish, urlHost(rtmp, ""), TestSourcePath, ""))})
	}
	if rtsp, ok := addrs["rtsp"]; ok {
		pubs = append(pubs, publish{"RTSP", TestSourceCommand(s.streamURL(ctx, "rtsp", host.ActionPublish, urlHost(rtsp, ""), TestSourcePath, ""))})
	}
	for _, e := range s.advertised() {
		if e.Container != "" {
			u := s.endpointURL(ctx, e.Name, e.URL, host.ActionPublish, urlHost(e.Addr, ""), TestSourcePath, "")
			pubs = append(pubs, publish{e.Title, testSourceCommand(u, "-f", e.Container)})
		}
	}
	if len(pubs) > 0 {
		b.WriteString("\nPublish a test source (test pattern and tone, no file needed):\n")
		for i, p := range pubs {
			if i > 0 {
				fmt.Fprintf(&b, "or over %s:\n", p.title)
			}
			fmt.Fprintf(&b, "  %s\n", p.cmd)
		}
	}
	b.WriteString("\nPlay:\n")
	for _, u := range s.playURLs(ctx, TestSourcePath, "", "") {
		if u.Protocol == "rtsp" {
			fmt.Fprintf(&b, "  ffplay -rtsp_transport tcp %s\n", shellQuote(u.URL))
		} else {
			fmt.Fprintf(&b, "  ffplay %s\n", shellQuote(u.URL))
		}
	}
	if strings.Contains(b.String(), keyPlaceholder) {
		fmt.Fprintf(&b, "  (a key is required: replace %s with yours)\n", keyPlaceholder)
	}
	b.WriteString("\nInspect:\n")
	fmt.Fprintf(&b, "  curl http://%s/api/streams\n", http)
	fmt.Fprintf(&b, "  curl http://%s/metrics\n", http)
	return b.String()
}

// urlHost is the host:port to put in a URL for a listener bound to a:
// its own address, except that an unspecified address (0.0.0.0, ::) is
// replaced by reqHost (the host the client reached us by, when it is a
// plain host name or IP) or by 127.0.0.1.
func urlHost(a net.Addr, reqHost string) string {
	if a == nil {
		return ""
	}
	h, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
		return a.String()
	}
	h = "127.0.0.1"
	if rh, _, err := net.SplitHostPort(reqHost); err == nil {
		reqHost = rh
	}
	if plainHost(reqHost) {
		h = reqHost
	}
	return net.JoinHostPort(h, port)
}

// plainHost reports whether h is a host name or an IP literal (no port,
// user info, path or anything a Host header should not carry).
func plainHost(h string) bool {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
