package ingestbench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets for our server (issue 5, RTMP; headline: 32 paced streams).
const (
	TargetAllocPerByte = 0.001 // heap bytes allocated per ingested byte
	TargetMallocsPerMB = 1.0   // heap objects per 10^6 ingested bytes
	TargetGCs          = 0     // GC cycles in the window
	TargetCPUVsFloor   = 1.15  // CPU per GB relative to the floor (same N and mode)
)

// Further targets: issue 12 (RTMP, against the retaining floor and the
// GOP-caching peer, whole run), issue 9 (RTSP) and issue 10 (SRT).
const (
	TargetCPUVsRetainFloor  = 1.15 // issue 12
	TargetCPUVsGortmplibGOP = 0.9  // issue 12
	TargetWholeAllocPerByte = 0.05 // issue 12, connection setup included
	TargetCPUVsTCPFloorRTSP = 1.2  // issue 9
	TargetCPUVsUDPFloorRTSP = 1.3  // issue 9
	TargetMallocsVsGosrt    = 1.01 // issue 10: ≤ gosrt's + 1%
)

// same reports whether f is the same row as r for another server.
func same(f, r *Result) bool {
	return f.Protocol == r.Protocol && f.Transport == r.Transport && f.Clip == r.Clip &&
		f.N == r.N && f.Paced == r.Paced && f.WindowName == r.WindowName
}

// peer returns server's row matching r, or nil.
func (rep *Report) peer(r Result, server string) *Result {
	for i := range rep.Results {
		f := &rep.Results[i]
		if f.Server == server && same(f, &r) && !f.Profiled {
			return f
		}
	}
	return nil
}

func (rep *Report) floor(r Result) *Result { return rep.peer(r, ServerFloor) }

// VsFloor is r's CPU per GB divided by the floor's (0 when there is no
// floor row).
func (rep *Report) VsFloor(r Result) float64 { return rep.vs(r, ServerFloor) }

// VsRetainFloor is r's CPU per GB divided by the retaining floor's.
func (rep *Report) VsRetainFloor(r Result) float64 { return rep.vs(r, ServerFloorRetain) }

func (rep *Report) vs(r Result, server string) float64 {
	f := rep.peer(r, server)
	if f == nil || f.CPUPerGB() == 0 {
		return 0
	}
	return r.CPUPerGB() / f.CPUPerGB()
}

// Misses lists the targets r misses (our server only), by protocol.
func (rep *Report) Misses(r Result) []string {
	if r.Server != ServerOurs {
		return nil
	}
	var m []string
	if v := r.AllocPerByte(); v > TargetAllocPerByte {
		m = append(m, fmt.Sprintf("alloc %.3g B/B > %g", v, TargetAllocPerByte))
	}
	if r.Protocol != ProtoSRT {
		if v := r.MallocsPerMB(); v > TargetMallocsPerMB {
			m = append(m, fmt.Sprintf("%.3g mallocs/MB > %g", v, TargetMallocsPerMB))
		}
		if r.GCs > TargetGCs {
			m = append(m, fmt.Sprintf("%d GC > %d", r.GCs, TargetGCs))
		}
	}
	switch r.Protocol {
	case ProtoRTMP, "":
		if v := rep.VsFloor(r); v > TargetCPUVsFloor {
			m = append(m, fmt.Sprintf("CPU %.2f× floor > %.2f×", v, TargetCPUVsFloor))
		}
		if v := rep.VsRetainFloor(r); v > TargetCPUVsRetainFloor {
			m = append(m, fmt.Sprintf("CPU %.2f× retaining floor > %.2f×", v, TargetCPUVsRetainFloor))
		}
		if v := rep.vs(r, ServerGortmplibGOP); v > TargetCPUVsGortmplibGOP {
			m = append(m, fmt.Sprintf("CPU %.2f× gortmplib-gop > %.2f×", v, TargetCPUVsGortmplibGOP))
		}
		if r.Whole.Bytes > 0 {
			if v := r.Whole.AllocPerByte(); v > TargetWholeAllocPerByte {
				m = append(m, fmt.Sprintf("whole run alloc %.3g B/B > %g", v, TargetWholeAllocPerByte))
			}
			if r.Whole.GCs > 0 {
				m = append(m, fmt.Sprintf("whole run %d GC > 0", r.Whole.GCs))
			}
		}
	case ProtoRTSP:
		limit := TargetCPUVsTCPFloorRTSP
		if r.Transport == "udp" {
			limit = TargetCPUVsUDPFloorRTSP
		}
		if v := rep.VsFloor(r); v > limit {
			m = append(m, fmt.Sprintf("CPU %.2f× %s floor > %.2f×", v, r.Transport, limit))
		}
	case ProtoSRT:
		if g := rep.peer(r, ServerGosrt); g != nil {
			if v, lim := r.MallocsPerMB(), g.MallocsPerMB()*TargetMallocsVsGosrt; v > lim {
				m = append(m, fmt.Sprintf("%.4g mallocs/MB > gosrt's %.4g + 1%%", v, g.MallocsPerMB()))
			}
			if v := rep.vs(r, ServerGosrt); v > 1 {
				m = append(m, fmt.Sprintf("CPU %.2f× gosrt > 1×", v))
			}
		}
		m = slices.DeleteFunc(m, func(s string) bool { return strings.HasPrefix(s, "alloc ") })
	}
	return m
}

// PacedMisses lists the targets missed by our paced rows (the issues'
// targets are stated for paced streams).
func (rep *Report) PacedMisses() []string {
	var out []string
	for _, r := range rep.Results {
		if r.Server == ServerOurs && r.Paced {
			for _, m := range rep.Misses(r) {
				out = append(out, fmt.Sprintf("ours %s N=%d paced %s %s: %s", r.Mode(), r.N, r.Clip, r.WindowName, m))
			}
		}
	}
	return out
}

// Mode is the row's transport and pacing, e.g. "tcp paced".
func (r Result) Mode() string {
	p := "unpaced"
	if r.Paced {
		p = "paced"
	}
	if r.Transport == "" {
		return p
	}
	return r.Transport + " " + p
}

// protocols lists the protocols of the results in run order.
func (rep *Report) protocols() []string {
	var out []string
	for _, r := range rep.Results {
		if !slices.Contains(out, r.Protocol) {
			out = append(out, r.Protocol)
		}
	}
	return out
}

// Table is the results as Markdown, one table per protocol, one row per
// server × clip × transport × pacing × N × window.
func (rep *Report) Table() string {
	var b strings.Builder
	for _, proto := range rep.protocols() {
		if len(rep.protocols()) > 1 || proto != ProtoRTMP {
			fmt.Fprintf(&b, "\n### %s\n\n", strings.ToUpper(proto))
		}
		b.WriteString("| server | protocol | mode | N | clip Mbit/s | window | window s | MB ingested | MB/s | alloc B/B | mallocs/MB | GC cycles | CPU s | CPU-s/GB | ÷ floor | ÷ retaining floor | read syscalls | bytes/read | minor faults | RSS/stream MB | whole-run alloc B/B | whole-run GC | bytes copied | ours' targets |\n")
		b.WriteString("|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, r := range rep.Results {
			if r.Protocol != proto {
				continue
			}
			ratio := func(server string) string {
				if r.Server == server {
					return "—"
				}
				if v := rep.vs(r, server); v > 0 {
					return fmt.Sprintf("%.2f×", v)
				}
				return "—"
			}
			copied := "n/a"
			switch {
			case r.CopiedKnown:
				copied = fmt.Sprintf("%d (control path)", r.Copied)
			case r.Server == ServerFloor || r.Server == ServerFloorRetain:
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
			reads, perRead, faults, rss := "n/a", "n/a", "n/a", "n/a"
			if r.ProcKnown {
				faults = fmt.Sprint(r.MinorFaults)
				rss = fmt.Sprintf("%.2f", r.RSSPerStreamMB())
				if r.Transport != "udp" {
					reads = fmt.Sprint(r.ReadSyscalls)
					perRead = fmt.Sprintf("%.0f", r.BytesPerRead())
				}
			}
			window := r.WindowName
			if r.WindowName != "steady" {
				window = fmt.Sprintf("%s (from %.0f s)", r.WindowName, r.WindowStart.Seconds())
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %.2f | %s | %.1f | %.1f | %.2f | %s | %s | %d | %.3f | %.3g | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n",
				name, r.Protocol, r.Mode(), r.N, r.ClipBitrate/1e6, window, r.Window.Seconds(), r.MB(), r.MBps(),
				num(r.AllocPerByte()), num(r.MallocsPerMB()), r.GCs, r.CPU().Seconds(), r.CPUPerGB(),
				ratio(ServerFloor), ratio(ServerFloorRetain), reads, perRead, faults, rss,
				num(r.Whole.AllocPerByte()), r.Whole.GCs, copied, targets)
		}
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

// Markdown is the full report: settings, method, tables, targets.
func (rep *Report) Markdown() string {
	o := rep.Options
	var b strings.Builder
	b.WriteString("# Ingest benchmark (ingestbench)\n\n")
	fmt.Fprintf(&b, "- date: %s\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- go: %s, GOMAXPROCS=%d, CPUs=%d, GOGC=%s, cpu: %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), envOr("GOGC", "100"), cpuModel())
	for _, c := range o.Clips {
		fmt.Fprintf(&b, "- clip %s: %s; measured %.2f Mbit/s\n", c.Name, c, rep.Bitrates[c.Name]/1e6)
	}
	b.WriteString("- pushers: `ffmpeg [-re] -stream_loop -1 -i clip.flv -c copy` then `-f flv rtmp://127.0.0.1:<port>/live/s<i>`, " +
		"`-f rtsp -rtsp_transport tcp|udp rtsp://127.0.0.1:<port>/live/s<i>`, or `-f mpegts \"srt://127.0.0.1:<port>?streamid=publish:/live/s<i>&pkt_size=1316\"` " +
		"(the SRT floor: `-f mpegts udp://127.0.0.1:<port>?pkt_size=1316`)\n")
	if o.Late > 0 {
		fmt.Fprintf(&b, "- per row: a %v run; windows early (%v to %v after the pushers started) and late (%v to %v); no GC forced after the pushers started\n",
			o.Late, EarlyStart, EarlyStart+EarlyLength, LateStart, o.Late-lateTail)
	} else {
		fmt.Fprintf(&b, "- per row: all N pushers publishing, %v warm-up, forced GC, then a %v steady window; pushers are killed only after the window\n", o.Warmup, o.Window)
	}
	fmt.Fprintf(&b, "- retaining floor, gortmplib-gop and gosrt-retain keep %v or %d MiB per stream (our ring's defaults); the retaining floor reads into %d KiB blocks\n",
		o.RetainDuration, o.RetainBytes>>20, o.RetainBlock>>10)
	b.WriteString(rep.Table())
	b.WriteString(`
How to read it:
- Window figures are deltas over the measured window of the harness process, which hosts only the server under test (the pushers are separate ffmpeg processes). CPU is getrusage user+sys; alloc, mallocs and GC cycles are runtime.MemStats deltas (TotalAlloc, Mallocs, NumGC). MB = 10^6 bytes, GB = 10^9 bytes.
- read syscalls and bytes/read: /proc/self/io syscr and rchar deltas (read(2) calls; UDP sockets are read with recvfrom, which /proc/PID/io does not count: n/a). minor faults: /proc/self/stat minflt delta. RSS/stream: (VmRSS at the end of the window − VmRSS with the server idle before the pushers) ÷ N.
- whole run: from the idle server before the pushers started to the end of the last window, connection setup included; GC cycles the harness forced are not counted.
- MB ingested = socket bytes the server read: ours from the hub totals (cross-checked against ` + "`zerocopy_socket_bytes_read_total`" + ` on /metrics; SRT's are published once a second), peers through a counting net.Conn / PacketConn under the library (gosrt: packet payloads), floors as the sum of their reads.
- floor = the same pushers into a server that does the protocol setup before the window (RTMP with gortmplib, RTSP by hand: OPTIONS/ANNOUNCE/SETUP/RECORD) and then only reads each socket (UDP: the shared sockets) into one reused 64 KiB buffer. SRT's floor gets the same MPEG-TS datagrams over plain UDP (SRT's handshake and ACKs need a real SRT peer). ÷ floor = CPU-s/GB ÷ the floor's for the same protocol, transport, clip, N, mode and window.
- retaining floor = the floor reading into a ring of blocks it keeps as long as our ring keeps frames (same bound) and releases in order, reusing the most recently released block: the memory cost any GOP-caching server pays.
- gortmplib = gortmplib v1.0.1 ServerConn + Reader, a per-message read deadline, every H.264 access unit and AAC frame delivered to a callback that counts it; gortmplib-gop also keeps them (no copy) for the same duration/bytes. gortsplib = gortsplib v5.6.4 Server, RECORD accepted, every packet depacketized into access units and discarded. gosrt = gosrt v0.11.0 listener, ReadPacket + Decommission; gosrt-retain keeps each packet as long as our ring keeps frames (same bound) before Decommission.
- bytes copied = user-space copies on the ingest path. Ours counts control-path copies only; media payloads are not copied by construction. The peers copy every byte at least once, which they do not report (n/a).
- unpaced rows (no -re) show a throughput ceiling on this machine; the pushers compete with the server for the same cores.
`)
	fmt.Fprintf(&b, "\nTargets for ours (stated for 32 paced streams): alloc ≤ %g B/B, ≤ %g malloc per MB, %d GC cycles; RTMP: CPU-s/GB ≤ %.2f× the floor and ≤ %.2f× the retaining floor and ≤ %.2f× gortmplib-gop, whole run ≤ %g B/B and 0 GC; RTSP: ≤ %.2f× the TCP floor, ≤ %.2f× the UDP floor; SRT: mallocs/MB ≤ gosrt's + 1%%, CPU ≤ gosrt's.\n",
		TargetAllocPerByte, TargetMallocsPerMB, TargetGCs, TargetCPUVsFloor, TargetCPUVsRetainFloor, TargetCPUVsGortmplibGOP, TargetWholeAllocPerByte,
		TargetCPUVsTCPFloorRTSP, TargetCPUVsUDPFloorRTSP)
	if m := rep.PacedMisses(); len(m) > 0 {
		b.WriteString("Missed (paced rows):\n")
		for _, s := range m {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	} else if len(rep.Results) > 0 {
		b.WriteString("All paced rows of ours meet them.\n")
	}
	if len(rep.Skipped) > 0 {
		b.WriteString("\nSkipped:\n")
		for _, s := range rep.Skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
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
	// Added with issue 12 (absent from older files).
	Clips            []JSONClip `json:"clips,omitempty"`
	Protocols        []string   `json:"protocols,omitempty"`
	LateRunSeconds   float64    `json:"lateRunSeconds,omitempty"` // 0: one steady window per row
	RetainSeconds    float64    `json:"retainSeconds,omitempty"`
	RetainBytes      int        `json:"retainBytes,omitempty"`
	RetainBlockBytes int        `json:"retainBlockBytes,omitempty"`
	Skipped          []string   `json:"skipped,omitempty"`
}

// JSONClip is one clip of the run.
type JSONClip struct {
	Name        string  `json:"name"`
	Spec        string  `json:"spec"`
	BitrateMbps float64 `json:"bitrateMbps"`
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

	// Added with issue 12. Transport is tcp or udp; Clip names the clip;
	// Window is steady, early or late (absent in older files: steady).
	Transport          string     `json:"transport,omitempty"`
	Clip               string     `json:"clip,omitempty"`
	ClipBitrateMbps    float64    `json:"clipBitrateMbps,omitempty"`
	Window             string     `json:"window,omitempty"`
	WindowStartSeconds float64    `json:"windowStartSeconds,omitempty"`
	MBps               float64    `json:"mbps,omitempty"`
	VsFloor            float64    `json:"vsFloor,omitempty"`
	VsRetainFloor      float64    `json:"vsRetainFloor,omitempty"`
	ReadSyscalls       *int64     `json:"readSyscalls,omitempty"` // null for UDP (recvfrom is not in /proc/PID/io)
	BytesPerRead       *float64   `json:"bytesPerRead,omitempty"`
	MinorFaults        *int64     `json:"minorFaults,omitempty"`
	RSSPerStreamMB     *float64   `json:"rssPerStreamMB,omitempty"`
	Whole              *JSONWhole `json:"whole,omitempty"`
}

// JSONWhole is a row's whole-run figures (connection setup included).
type JSONWhole struct {
	Seconds      float64 `json:"seconds"`
	Bytes        int64   `json:"bytes"`
	AllocPerByte float64 `json:"allocPerByte"`
	MallocsPerMB float64 `json:"mallocsPerMB"`
	GCCycles     uint32  `json:"gcCycles"`
	CPUPerGB     float64 `json:"cpuPerGB"`
	MinorFaults  int64   `json:"minorFaults"`
}

// JSON is the report in the docs/bench/ingest.json format.
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
	j.Setup.Protocols = o.Protocols
	j.Setup.LateRunSeconds = o.Late.Seconds()
	j.Setup.RetainSeconds, j.Setup.RetainBytes, j.Setup.RetainBlockBytes = o.RetainDuration.Seconds(), o.RetainBytes, o.RetainBlock
	j.Setup.Skipped = rep.Skipped
	for _, c := range o.Clips {
		j.Setup.Clips = append(j.Setup.Clips, JSONClip{Name: c.Name, Spec: c.String(), BitrateMbps: rep.Bitrates[c.Name] / 1e6})
	}
	if len(o.Clips) > 0 {
		j.Setup.Clip = o.Clips[0].String()
	}
	for _, r := range rep.Results {
		pacing := "unpaced"
		if r.Paced {
			pacing = "paced"
		}
		proto := r.Protocol
		if proto == "" {
			proto = ProtoRTMP // results built before the protocol field
		}
		row := JSONRow{
			Protocol: proto, Server: r.Server, N: r.N, Mode: pacing, WindowSeconds: r.Window.Seconds(),
			Bytes: r.Bytes, MBIngested: r.MB(), AllocPerByte: r.AllocPerByte(), MallocsPerMB: r.MallocsPerMB(),
			GCCycles: r.GCs, CPUSeconds: r.CPU().Seconds(), CPUPerGB: r.CPUPerGB(), Profiled: r.Profiled,
			Transport: r.Transport, Clip: r.Clip, ClipBitrateMbps: r.ClipBitrate / 1e6, Window: r.WindowName,
			WindowStartSeconds: r.WindowStart.Seconds(), MBps: r.MBps(),
			VsFloor: rep.VsFloor(r), VsRetainFloor: rep.VsRetainFloor(r),
		}
		if r.ProcKnown {
			faults, rss := r.MinorFaults, r.RSSPerStreamMB()
			row.MinorFaults, row.RSSPerStreamMB = &faults, &rss
			if r.Transport != "udp" {
				reads, per := r.ReadSyscalls, r.BytesPerRead()
				row.ReadSyscalls, row.BytesPerRead = &reads, &per
			}
		}
		if w := r.Whole; w.Bytes > 0 {
			row.Whole = &JSONWhole{Seconds: w.Window.Seconds(), Bytes: w.Bytes, AllocPerByte: w.AllocPerByte(),
				MallocsPerMB: float64(w.Mallocs) / (float64(w.Bytes) / 1e6), GCCycles: w.GCs, CPUPerGB: w.CPUPerGB(), MinorFaults: w.Faults}
		}
		if row.Server == ServerFloor || row.Server == ServerFloorRetain {
			row.VsFloor, row.VsRetainFloor = 0, 0
		}
		switch {
		case r.CopiedKnown:
			row.CopiedBytes = &r.Copied
		case r.Server == ServerFloor || r.Server == ServerFloorRetain:
			row.CopiedBytes = new(int64)
		}
		j.Rows = append(j.Rows, row)
	}
	return json.MarshalIndent(j, "", "  ")
}
