package ingestbench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Targets for our server, from the issue (headline: 32 paced streams).
const (
	TargetAllocPerByte = 0.001 // heap bytes allocated per ingested byte
	TargetMallocsPerMB = 1.0   // heap objects per 10^6 ingested bytes
	TargetGCs          = 0     // GC cycles in the window
	TargetCPUVsFloor   = 1.15  // CPU per GB relative to the floor (same N and mode)
)

// floor returns the floor row for the same N and mode, or nil.
func (rep *Report) floor(r Result) *Result {
	for i := range rep.Results {
		f := &rep.Results[i]
		if f.Server == ServerFloor && f.N == r.N && f.Paced == r.Paced {
			return f
		}
	}
	return nil
}

// VsFloor is r's CPU per GB divided by the floor's (0 when there is no
// floor row).
func (rep *Report) VsFloor(r Result) float64 {
	f := rep.floor(r)
	if f == nil || f.CPUPerGB() == 0 {
		return 0
	}
	return r.CPUPerGB() / f.CPUPerGB()
}

// Misses lists the targets r misses (our server only).
func (rep *Report) Misses(r Result) []string {
	if r.Server != ServerOurs {
		return nil
	}
	var m []string
	if v := r.AllocPerByte(); v > TargetAllocPerByte {
		m = append(m, fmt.Sprintf("alloc %.3g B/B > %g", v, TargetAllocPerByte))
	}
	if v := r.MallocsPerMB(); v > TargetMallocsPerMB {
		m = append(m, fmt.Sprintf("%.3g mallocs/MB > %g", v, TargetMallocsPerMB))
	}
	if r.GCs > TargetGCs {
		m = append(m, fmt.Sprintf("%d GC > %d", r.GCs, TargetGCs))
	}
	if v := rep.VsFloor(r); v > TargetCPUVsFloor {
		m = append(m, fmt.Sprintf("CPU %.2f× floor > %.2f×", v, TargetCPUVsFloor))
	}
	return m
}

// PacedMisses lists the targets missed by our paced rows (the issue's
// targets are stated for paced streams).
func (rep *Report) PacedMisses() []string {
	var out []string
	for _, r := range rep.Results {
		if r.Server == ServerOurs && r.Paced {
			for _, m := range rep.Misses(r) {
				out = append(out, fmt.Sprintf("ours N=%d paced: %s", r.N, m))
			}
		}
	}
	return out
}

// Table is the results as a Markdown table, one row per server × N × mode.
func (rep *Report) Table() string {
	var b strings.Builder
	b.WriteString("| server | N | mode | window s | MB ingested | MB/s | alloc B/B | mallocs/MB | GC cycles | CPU s | CPU-s/GB | ÷ floor | bytes copied | ours' targets |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rep.Results {
		vs := "—"
		if r.Server != ServerFloor {
			if v := rep.VsFloor(r); v > 0 {
				vs = fmt.Sprintf("%.2f×", v)
			}
		}
		copied := "n/a (≥1 per byte)"
		switch {
		case r.CopiedKnown:
			copied = fmt.Sprintf("%d (control path)", r.Copied)
		case r.Server == ServerFloor:
			copied = "0"
		}
		targets := ""
		if r.Server == ServerOurs {
			if m := rep.Misses(r); len(m) > 0 {
				targets = "MISS: " + strings.Join(m, "; ")
			} else if rep.floor(r) == nil {
				targets = "ok (no floor row for the CPU target)"
			} else {
				targets = "ok"
			}
		}
		name := r.Server
		if r.Profiled {
			name += " (profiled)"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %.1f | %.2f | %s | %s | %d | %.3f | %.3g | %s | %s | %s |\n",
			name, r.N, r.Mode(), r.Window.Seconds(), r.MB(), r.MBps(), num(r.AllocPerByte()), num(r.MallocsPerMB()),
			r.GCs, r.CPU().Seconds(), r.CPUPerGB(), vs, copied, targets)
	}
	return b.String()
}

// num prints small ratios readably: 0, 3 significant digits, or %.0f.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Markdown is the full report: settings, method, table, targets.
func (rep *Report) Markdown() string {
	o := rep.Options
	var b strings.Builder
	b.WriteString("# RTMP ingest benchmark (ingestbench)\n\n")
	fmt.Fprintf(&b, "- date: %s\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- go: %s, GOMAXPROCS=%d, CPUs=%d, GOGC=%s, cpu: %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), envOr("GOGC", "100"), cpuModel())
	fmt.Fprintf(&b, "- clip: %s; measured %.2f Mbit/s\n", o.Clip, rep.ClipBitrate/1e6)
	fmt.Fprintf(&b, "- pushers: ffmpeg `-stream_loop -1 -i clip.flv -c copy -f flv rtmp://127.0.0.1:<port>/live/s<i>`, with `-re` when paced\n")
	fmt.Fprintf(&b, "- per row: all N pushers publishing, %v warm-up, forced GC, then a %v measured window; pushers are killed only after the window\n", o.Warmup, o.Window)
	b.WriteString("\n")
	b.WriteString(rep.Table())
	b.WriteString(`
How to read it:
- Every figure is a delta over the measured window of the harness process, which hosts only the server under test (the pushers are separate ffmpeg processes). CPU is getrusage user+sys; alloc, mallocs and GC cycles are runtime.MemStats deltas (TotalAlloc, Mallocs, NumGC). MB = 10^6 bytes, GB = 10^9 bytes.
- MB ingested = socket bytes the server read: ours from the hub totals (cross-checked against ` + "`zerocopy_socket_bytes_read_total`" + ` on /metrics), gortmplib through a counting net.Conn under its ServerConn, the floor as the sum of its reads.
- floor = the same ffmpeg pushers into a server that does the RTMP setup with gortmplib before the window and then only reads each socket into a reused 64 KiB buffer and discards it (no parsing, no deadlines, no acks): the kernel copy, the syscalls and the netpoller, which no user-space server avoids. ÷ floor = CPU-s/GB divided by the floor's for the same N and mode.
- gortmplib = a minimal server on gortmplib v1.0.1: ServerConn + Reader, a per-message read deadline, every H.264 access unit and AAC frame delivered to a callback that only counts it.
- bytes copied = user-space copies on the ingest path. Ours counts control-path copies only (commands, sequence headers, header fields straddling blocks); media payloads are not copied by construction. gortmplib copies every byte at least once (bufio into message bodies), which it does not report.
- unpaced rows (no -re) show a throughput ceiling on this machine; the pushers compete with the server for the same cores, so MB/s there depends on the core count.
`)
	fmt.Fprintf(&b, "\nTargets for ours (the issue states them for 32 paced streams): alloc ≤ %g B/B, ≤ %g malloc per MB, %d GC cycles, CPU-s/GB ≤ %.2f× the floor.\n",
		TargetAllocPerByte, TargetMallocsPerMB, TargetGCs, TargetCPUVsFloor)
	if m := rep.PacedMisses(); len(m) > 0 {
		b.WriteString("Missed (paced rows):\n")
		for _, s := range m {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	} else {
		b.WriteString("All paced rows of ours meet them.\n")
	}
	for _, r := range rep.Results {
		if r.Profiled {
			b.WriteString("\nRows marked (profiled) ran with a CPU and/or allocation profiler on; their CPU and allocation figures are inflated.\n")
			break
		}
	}
	return b.String()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
