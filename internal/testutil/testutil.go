// Package testutil holds helpers shared by the tests of several packages:
// a concurrency-safe log sink and the goroutine-baseline check every test
// of a server component ends with.
package testutil

import (
	"bytes"
	"runtime"
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

// LoopbackProtocols is the config YAML, at the indentation of a
// `zerocopy:` subsection, that puts every protocol other than RTMP on
// kernel-chosen loopback ports. A test config that left them out would bind
// the fixed default ports (8554, 8000/8001 …), which collide when test
// binaries run in parallel.
const LoopbackProtocols = `  rtsp:
    listenaddr: 127.0.0.1:0
    rtpaddress: 127.0.0.1:0
    rtcpaddress: 127.0.0.1:0
`
