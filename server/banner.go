package server

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// Banner lists what the server listens on, with ready-to-paste commands.
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
	http := addrs["http"].String()
	b.WriteString("\nTry:\n")
	if rtmp, ok := addrs["rtmp"]; ok {
		fmt.Fprintf(&b, "  ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://%s/live/test\n", hostPort(rtmp))
		fmt.Fprintf(&b, "  ffplay rtmp://%s/live/test\n", hostPort(rtmp))
	}
	fmt.Fprintf(&b, "  ffplay http://%s/live/test.flv\n", http)
	fmt.Fprintf(&b, "  curl http://%s/api/streams\n", http)
	fmt.Fprintf(&b, "  curl http://%s/metrics\n", http)
	return b.String()
}

func hostPort(a net.Addr) string { return a.String() }
