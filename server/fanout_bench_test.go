//go:build unix

package server_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanoutHTTPFLV100: one publisher, 100 HTTP-FLV players on
// loopback (raw TCP readers that discard). One op publishes one frame of
// the ffmpeg clip (looped, unpaced, but never more than half a ring ahead
// of the slowest player, so every frame reaches every player). Setup and
// teardown are outside the measured window.
//
// Custom metrics (over the measured window only):
//
//	allocs/frame/sub    Go heap allocations ÷ (frames × players), the whole process
//	payloadB/frame      frame payload bytes published ÷ frames
//	egressPayloadB/frame/sub  payload bytes written from frame memory ÷ (frames × players);
//	                    equal to payloadB/frame: the payloads go out of the frames' own memory
//	cpu-s/GB            process CPU time (getrusage, server and players) ÷ GB delivered
//	gc-cycles           completed GC cycles
func BenchmarkFanoutHTTPFLV100(b *testing.B) {
	const subs = 100
	f := newFanout(b, subs, 1024)
	// Warm up: fill the ring and grow every reused buffer and the
	// allocators' free lists to their steady size.
	for range 4 * 1024 {
		f.publishFrame()
	}
	f.drain()
	runtime.GC()

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	s0, cpu0 := f.snapshot(), cpuTime(b)
	b.ReportAllocs()
	b.SetBytes(0)
	b.ResetTimer()
	for b.Loop() {
		f.publishFrame()
	}
	f.drain() // the frames published count only once delivered
	b.StopTimer()
	cpu1 := cpuTime(b)
	runtime.ReadMemStats(&m1)
	s1 := f.snapshot()

	frames := float64(s1.framesIn - s0.framesIn)
	delivered := float64(s1.egressBytes - s0.egressBytes)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/(frames*subs), "allocs/frame/sub")
	b.ReportMetric(float64(s1.payloadIn-s0.payloadIn)/frames, "payloadB/frame")
	b.ReportMetric(float64(s1.egressPayload-s0.egressPayload)/(frames*subs), "egressPayloadB/frame/sub")
	b.ReportMetric((cpu1-cpu0).Seconds()/(delivered/1e9), "cpu-s/GB")
	b.ReportMetric(float64(m1.NumGC-m0.NumGC), "gc-cycles")
	if s1.drops != s0.drops {
		b.Errorf("%d frames dropped", s1.drops-s0.drops)
	}
	f.close()
}
