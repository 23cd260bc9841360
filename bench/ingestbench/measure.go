package ingestbench

import (
	"runtime"
	"syscall"
	"time"
)

// snapshot is one end of a measured window.
type snapshot struct {
	at         time.Time
	user, sys  time.Duration
	totalAlloc uint64
	mallocs    uint64
	numGC      uint32
	heapInuse  uint64
	bytes      int64
	copied     int64
}

// take reads the process's rusage and MemStats and the target's counters.
func take(t target) (snapshot, error) {
	var s snapshot
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.at = time.Now()
	s.user = time.Duration(ru.Utime.Nano())
	s.sys = time.Duration(ru.Stime.Nano())
	s.totalAlloc, s.mallocs, s.numGC, s.heapInuse = ms.TotalAlloc, ms.Mallocs, ms.NumGC, ms.HeapInuse
	s.bytes = t.bytesRead()
	s.copied, _ = t.bytesCopied()
	return s, nil
}

// Result is one row: one server, N pushers, paced or not.
type Result struct {
	Server string
	N      int
	Paced  bool

	Window      time.Duration // wall time between the snapshots
	Bytes       int64         // socket bytes ingested in the window
	AllocBytes  uint64        // heap bytes allocated (MemStats.TotalAlloc delta)
	Mallocs     uint64        // heap objects allocated (MemStats.Mallocs delta)
	GCs         uint32        // completed GC cycles (MemStats.NumGC delta)
	User, Sys   time.Duration // process CPU (getrusage RUSAGE_SELF delta)
	Copied      int64         // user-space bytes copied on the ingest path, when known
	CopiedKnown bool
	HeapInuse   uint64 // at the end of the window
	Profiled    bool   // a CPU or allocation profile was recorded (figures are inflated)
}

func diff(name string, n int, paced bool, a, b snapshot, copiedKnown bool) Result {
	return Result{
		Server: name, N: n, Paced: paced,
		Window:      b.at.Sub(a.at),
		Bytes:       b.bytes - a.bytes,
		AllocBytes:  b.totalAlloc - a.totalAlloc,
		Mallocs:     b.mallocs - a.mallocs,
		GCs:         b.numGC - a.numGC,
		User:        b.user - a.user,
		Sys:         b.sys - a.sys,
		Copied:      b.copied - a.copied,
		CopiedKnown: copiedKnown,
		HeapInuse:   b.heapInuse,
	}
}

// Mode is "paced" or "unpaced".
func (r Result) Mode() string {
	if r.Paced {
		return "paced"
	}
	return "unpaced"
}

// MB is the ingested volume in 10^6 bytes.
func (r Result) MB() float64 { return float64(r.Bytes) / 1e6 }

// MBps is the ingest rate in 10^6 bytes per second.
func (r Result) MBps() float64 { return r.MB() / r.Window.Seconds() }

// AllocPerByte is heap bytes allocated per ingested byte.
func (r Result) AllocPerByte() float64 { return float64(r.AllocBytes) / float64(r.Bytes) }

// MallocsPerMB is heap objects allocated per 10^6 ingested bytes.
func (r Result) MallocsPerMB() float64 { return float64(r.Mallocs) / r.MB() }

// CPU is user+sys time of the process.
func (r Result) CPU() time.Duration { return r.User + r.Sys }

// CPUPerGB is CPU seconds per 10^9 ingested bytes.
func (r Result) CPUPerGB() float64 { return r.CPU().Seconds() / (float64(r.Bytes) / 1e9) }
