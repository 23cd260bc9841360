package ingestbench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
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

// JSONSchema is the version of the JSON that JSON writes (read by
// bench/cmd/charts, which documents the format).
const JSONSchema = 1

// JSONReport is the report as docs/bench/ingest.json holds it: the run's
// machine and settings and one row per protocol × server × N × mode.
type JSONReport struct {
	Schema  int         `json:"schema"`
	Kind    string      `json:"kind"` // "ingest"
	Date    string      `json:"date"` // RFC 3339, UTC
	Go      string      `json:"go"`
	Machine JSONMachine `json:"machine"`
	Setup   JSONSetup   `json:"setup"`
	Rows    []JSONRow   `json:"rows"`
	// Source says where the figures come from when a person, not the
	// harness, wrote the file (e.g. transcribed from an older report).
	Source string `json:"source,omitempty"`
}

// JSONMachine describes where a benchmark ran.
type JSONMachine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
}

// JSONSetup is how the ingest rows were measured.
type JSONSetup struct {
	Clip            string  `json:"clip"`
	ClipBitrateMbps float64 `json:"clipBitrateMbps"`
	WindowSeconds   float64 `json:"windowSeconds"`
	WarmupSeconds   float64 `json:"warmupSeconds"`
	Ns              []int   `json:"ns"`
	GOGC            string  `json:"gogc"`
}

// JSONRow is one measured row. CopiedBytes is null when the server does
// not report its copies.
type JSONRow struct {
	Protocol      string  `json:"protocol"` // rtmp (rtsp, srt later)
	Server        string  `json:"server"`   // floor, ours or a peer
	N             int     `json:"n"`
	Mode          string  `json:"mode"` // paced or unpaced
	WindowSeconds float64 `json:"windowSeconds"`
	Bytes         int64   `json:"bytes"` // socket bytes ingested in the window
	MBIngested    float64 `json:"mbIngested"`
	AllocPerByte  float64 `json:"allocPerByte"`
	MallocsPerMB  float64 `json:"mallocsPerMB"`
	GCCycles      uint32  `json:"gcCycles"`
	CPUSeconds    float64 `json:"cpuSeconds"`
	CPUPerGB      float64 `json:"cpuPerGB"`
	CopiedBytes   *int64  `json:"copiedBytes"`
	Profiled      bool    `json:"profiled,omitempty"`
}

// JSON is the report in the docs/bench/ingest.json format. Every row is
// RTMP: the harness measures RTMP ingest only.
func (rep *Report) JSON() ([]byte, error) {
	o := rep.Options
	j := JSONReport{
		Schema: JSONSchema, Kind: "ingest",
		Date: rep.Started.UTC().Format(time.RFC3339), Go: runtime.Version(),
		Machine: JSONMachine{CPU: cpuModel(), Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH},
		Setup: JSONSetup{
			Clip: fmt.Sprint(o.Clip), ClipBitrateMbps: rep.ClipBitrate / 1e6,
			WindowSeconds: o.Window.Seconds(), WarmupSeconds: o.Warmup.Seconds(), Ns: o.Ns, GOGC: envOr("GOGC", "100"),
		},
		Rows: []JSONRow{},
	}
	if o.ClipPath != "" {
		j.Setup.Clip = o.ClipPath
	}
	for _, r := range rep.Results {
		row := JSONRow{
			Protocol: "rtmp", Server: r.Server, N: r.N, Mode: r.Mode(), WindowSeconds: r.Window.Seconds(),
			Bytes: r.Bytes, MBIngested: r.MB(), AllocPerByte: r.AllocPerByte(), MallocsPerMB: r.MallocsPerMB(),
			GCCycles: r.GCs, CPUSeconds: r.CPU().Seconds(), CPUPerGB: r.CPUPerGB(), Profiled: r.Profiled,
		}
		switch {
		case r.CopiedKnown:
			row.CopiedBytes = &r.Copied
		case r.Server == ServerFloor:
			row.CopiedBytes = new(int64)
		}
		j.Rows = append(j.Rows, row)
	}
	return json.MarshalIndent(j, "", "  ")
}
