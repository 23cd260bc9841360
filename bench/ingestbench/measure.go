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
	proc       procCounters
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
	s.proc = readProc()
	return s, nil
}

// Result is one measured window of one row: one protocol, transport,
// clip, server, N pushers, paced or not.
type Result struct {
	Protocol    string // rtmp, rtsp, srt
	Transport   string // tcp or udp
	Clip        string // clip name (low, high, legacy, or the -clip file)
	ClipBitrate float64
	Server      string
	N           int
	Paced       bool
	// WindowName is steady (after the warm-up), early (seconds 5-15 after
	// the pushers started) or late (from 40 s).
	WindowName  string
	WindowStart time.Duration // from the pushers' start

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

	// Kernel counters of the process over the window (/proc/self).
	ProcKnown    bool
	ReadSyscalls int64 // syscr delta: read(2) calls (TCP); UDP's recvfrom is not counted
	ReadChars    int64 // rchar delta
	MinorFaults  int64 // minflt delta
	RSSEndKB     int64 // VmRSS at the end of the window
	RSSIdleKB    int64 // VmRSS with the server started and idle, before the pushers

	// The whole run: from before the pushers started (server idle) to
	// the end of the last window, connection setup included; GC cycles
	// the harness forced are not counted.
	Whole Whole
}

// Whole is a row's whole-run figures.
type Whole struct {
	Window     time.Duration
	Bytes      int64
	AllocBytes uint64
	Mallocs    uint64
	GCs        uint32
	CPU        time.Duration
	Faults     int64
}

// AllocPerByte is heap bytes allocated per ingested byte over the run.
func (w Whole) AllocPerByte() float64 { return float64(w.AllocBytes) / float64(w.Bytes) }

// CPUPerGB is CPU seconds per 10^9 bytes over the run.
func (w Whole) CPUPerGB() float64 { return w.CPU.Seconds() / (float64(w.Bytes) / 1e9) }

func diff(a, b snapshot) Result {
	r := Result{
		Window:     b.at.Sub(a.at),
		Bytes:      b.bytes - a.bytes,
		AllocBytes: b.totalAlloc - a.totalAlloc,
		Mallocs:    b.mallocs - a.mallocs,
		GCs:        b.numGC - a.numGC,
		User:       b.user - a.user,
		Sys:        b.sys - a.sys,
		Copied:     b.copied - a.copied,
		HeapInuse:  b.heapInuse,
	}
	if a.proc.ok && b.proc.ok {
		r.ProcKnown = true
		r.ReadSyscalls = b.proc.syscr - a.proc.syscr
		r.ReadChars = b.proc.rchar - a.proc.rchar
		r.MinorFaults = b.proc.minflt - a.proc.minflt
		r.RSSEndKB = b.proc.rssKB
	}
	return r
}

func wholeDiff(a, b snapshot, forcedGCs uint32) Whole {
	w := Whole{
		Window: b.at.Sub(a.at), Bytes: b.bytes - a.bytes,
		AllocBytes: b.totalAlloc - a.totalAlloc, Mallocs: b.mallocs - a.mallocs,
		CPU: b.user - a.user + b.sys - a.sys, Faults: b.proc.minflt - a.proc.minflt,
	}
	if g := b.numGC - a.numGC; g > forcedGCs {
		w.GCs = g - forcedGCs
	}
	return w
}

// BytesPerRead is the average read(2) size in the window (0 when no
// read was counted, as for UDP).
func (r Result) BytesPerRead() float64 {
	if r.ReadSyscalls <= 0 {
		return 0
	}
	return float64(r.ReadChars) / float64(r.ReadSyscalls)
}

// RSSPerStreamMB is (VmRSS at the end of the window - idle VmRSS) / N,
// in 10^6 bytes.
func (r Result) RSSPerStreamMB() float64 {
	if r.N == 0 || !r.ProcKnown {
		return 0
	}
	return float64(r.RSSEndKB-r.RSSIdleKB) * 1024 / 1e6 / float64(r.N)
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
