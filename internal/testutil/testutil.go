// Package testutil holds helpers shared by the tests of several packages:
// a concurrency-safe log sink and the goroutine-baseline check every test
// of a server component ends with.
package testutil

import (
	"bytes"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// LogBuffer is a log sink safe for concurrent writers.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// WaitGoroutines fails t unless the goroutine count falls back to base
// within five seconds; the failure lists every goroutine's stack.
func WaitGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines: %d, baseline %d; stacks:\n%s", n, base, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loopbackSections puts each protocol other than RTMP on kernel-chosen
// loopback ports, in a `zerocopy:` subsection's indentation.
var loopbackSections = []struct{ name, yaml string }{
	{"rtsp", "  rtsp:\n    listenaddr: 127.0.0.1:0\n    rtpaddress: 127.0.0.1:0\n    rtcpaddress: 127.0.0.1:0\n"},
	{"quic", "  quic:\n    listenaddr: 127.0.0.1:0\n"},
	{"srt", "  srt:\n    listenaddr: 127.0.0.1:0\n"},
}

// LoopbackProtocolsExcept returns the config YAML, at the indentation of a
// `zerocopy:` subsection, that puts every protocol other than RTMP and the
// ones named on kernel-chosen loopback ports. A test config that left them
// out would bind the fixed default ports (8554, 8000/8001, 44944 …), which
// collide when test binaries run in parallel. A test that writes its own
// section for a protocol names it here, so the key is not defined twice.
func LoopbackProtocolsExcept(names ...string) string {
	var b strings.Builder
	for _, s := range loopbackSections {
		if !slices.Contains(names, s.name) {
			b.WriteString(s.yaml)
		}
	}
	return b.String()
}

// LoopbackEnv is the same as environment overrides, for tests that start
// the host through a config loader with an environ: append it after the
// test's own entries (the first entry for a name wins, and the environment
// overrides the file).
var LoopbackEnv = []string{
	"ZEROCOPY_RTSP_LISTENADDR=127.0.0.1:0",
	"ZEROCOPY_RTSP_RTPADDRESS=127.0.0.1:0",
	"ZEROCOPY_RTSP_RTCPADDRESS=127.0.0.1:0",
	"ZEROCOPY_QUIC_LISTENADDR=127.0.0.1:0",
	"ZEROCOPY_SRT_LISTENADDR=127.0.0.1:0",
}

// LoopbackProtocols is LoopbackProtocolsExcept with no exception.
var LoopbackProtocols = LoopbackProtocolsExcept()
