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
	args := append([]string(nil), testSourceArgs...)
	if strings.HasPrefix(url, "rtsp://") {
		args = append(args, "-f", "rtsp", "-rtsp_transport", "tcp", url)
	} else {
		args = append(args, "-f", "flv", url)
	}
	return strings.Join(args, " ")
}

// keyPlaceholder is what shown URLs carry in place of a key the auth hook
// requires. It is literal text, never the key: the page and the banner
// cannot see the key, and would not show it if they could.
const keyPlaceholder = "?key=<key>"

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
	rtmp, hasRTMP := addrs["rtmp"]
	rtsp, hasRTSP := addrs["rtsp"]
	if hasRTMP || hasRTSP {
		b.WriteString("\nPublish a test source (test pattern and tone, no file needed):\n")
		if hasRTMP {
			fmt.Fprintf(&b, "  %s\n", TestSourceCommand(s.streamURL(ctx, "rtmp", host.ActionPublish, urlHost(rtmp, ""), TestSourcePath, "")))
		}
		if hasRTSP {
			b.WriteString("or over RTSP:\n")
			fmt.Fprintf(&b, "  %s\n", TestSourceCommand(s.streamURL(ctx, "rtsp", host.ActionPublish, urlHost(rtsp, ""), TestSourcePath, "")))
		}
	}
	b.WriteString("\nPlay:\n")
	for _, u := range s.playURLs(ctx, TestSourcePath, "", "") {
		if u.Protocol == "rtsp" {
			fmt.Fprintf(&b, "  ffplay -rtsp_transport tcp %s\n", u.URL)
		} else {
			fmt.Fprintf(&b, "  ffplay %s\n", u.URL)
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
