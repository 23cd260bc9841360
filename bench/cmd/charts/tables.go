package main

import (
	"fmt"
	"sort"
	"strings"
)

// runLine describes where and when a result file's figures were measured.
func runLine(date, goVersion string, m machine, source string) string {
	s := fmt.Sprintf("Measured %s on %d cores (%s, GOMAXPROCS=%d, %s/%s), %s.", date, m.Cores, m.CPU, m.GOMAXPROCS, m.OS, m.Arch, goVersion)
	if source != "" {
		s += " Source: " + source + "."
	}
	return s + "\n"
}

// ingestTables: per protocol, the charts and one table (paced rows, then
// unpaced), the columns of ingestbench's report.
func ingestTables(f *ingestFile, charts map[string][]string) string {
	var b strings.Builder
	for _, proto := range protocols(f) {
		fmt.Fprintf(&b, "\n### %s ingest\n\n", strings.ToUpper(proto))
		for _, c := range charts[proto] {
			fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(c, ".svg"), c)
		}
		b.WriteString("\n")
		b.WriteString(runLine(f.Date, f.Go, f.Machine, f.Source))
		s := f.Setup
		fmt.Fprintf(&b, "N pushers of a %.2f Mbit/s clip (%s); %g s window after %g s warm-up; GOGC=%s.\n",
			s.ClipBitrateMbps, s.Clip, s.WindowSeconds, s.WarmupSeconds, s.GOGC)
		for _, c := range s.Clips {
			fmt.Fprintf(&b, "Clip %s: %.2f Mbit/s (%s).\n", c.Name, c.BitrateMbps, c.Spec)
		}
		if s.LateRunSeconds > 0 {
			fmt.Fprintf(&b, "Runs of %g s: early window 5-15 s, late window 40-%g s after the pushers started.\n", s.LateRunSeconds, s.LateRunSeconds-5)
		}
		b.WriteString("\n")
		b.WriteString("| server | N | mode | window s | MB ingested | MB/s | alloc B/B | mallocs/MB | GC cycles | CPU s | CPU-s/GB | ÷ floor | bytes copied | ÷ retaining floor | read syscalls | bytes/read | minor faults | RSS/stream MB | whole-run alloc B/B | whole-run GC |\n")
		b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, mode := range []string{"paced", "unpaced"} {
			for _, n := range ns(f, proto, mode) {
				floor := value(f, proto, "floor", mode, n, func(r *ingestRow) float64 { return r.CPUPerGB })
				for _, srv := range servers(f, proto) {
					for i := range f.Rows {
						r := &f.Rows[i]
						if rowKey(r) != proto || r.Server != srv || r.Mode != mode || r.N != n {
							continue
						}
						vs := "—"
						if srv != "floor" && floor > 0 {
							vs = fmt.Sprintf("%.2f×", r.CPUPerGB/floor)
						}
						copied := "n/a"
						if r.CopiedBytes != nil {
							copied = fmt.Sprint(*r.CopiedBytes)
						}
						name := r.Server
						if r.Profiled {
							name += " (profiled)"
						}
						mbps := 0.0
						if r.WindowSeconds > 0 {
							mbps = r.MBIngested / r.WindowSeconds
						}
						// Columns added with issue 12; "—" for older files.
						opt := func(ok bool, f string, v any) string {
							if !ok {
								return "—"
							}
							return fmt.Sprintf(f, v)
						}
						retain := opt(r.VsRetainFloor > 0, "%.2f×", r.VsRetainFloor)
						reads := opt(r.ReadSyscalls != nil, "%d", deref(r.ReadSyscalls))
						perRead := opt(r.BytesPerRead != nil, "%.0f", derefF(r.BytesPerRead))
						faults := opt(r.MinorFaults != nil, "%d", deref(r.MinorFaults))
						rss := opt(r.RSSPerStreamMB != nil, "%.2f", derefF(r.RSSPerStreamMB))
						wAlloc, wGC := "—", "—"
						if r.Whole != nil {
							wAlloc, wGC = num(r.Whole.AllocPerByte), fmt.Sprint(r.Whole.GCCycles)
						}
						fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %.1f | %.2f | %s | %s | %d | %.3f | %.3g | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
							name, r.N, r.Mode, r.WindowSeconds, r.MBIngested, mbps, num(r.AllocPerByte), num(r.MallocsPerMB),
							r.GCCycles, r.CPUSeconds, r.CPUPerGB, vs, copied, retain, reads, perRead, faults, rss, wAlloc, wGC)
					}
				}
			}
		}
	}
	return b.String()
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefF(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
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

// fmtv matches benchmark_bufreader.sh's number format.
func fmtv(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

// bufreaderTable is benchmark_bufreader.sh's table, from the JSON.
func bufreaderTable(f *bufreaderFile) string {
	var b strings.Builder
	b.WriteString("\n### bufreader against bufio\n\n![bufreader](bufreader.svg)\n\n")
	b.WriteString(runLine(f.Date, f.Go, f.Machine, f.Source))
	fmt.Fprintf(&b, "Medians over %d rounds of %s per benchmark (-cpu %s); ratios are ours ÷ the other side with the range of the per-round paired ratios.\n\n",
		f.Setup.Rounds, f.Setup.Benchtime, f.Setup.CPU)
	b.WriteString("| scenario | ns/op ours / reused / peek | cpu-ns/op ours / reused / peek | ours÷reused wall | ours÷reused cpu | ours÷peek wall | ours÷peek cpu | allocs/op ours / reused / peek | GC/Mop ours / reused / peek | ours copies/B | targets wall (reused / peek) | targets cpu (reused / peek) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	three := func(sc scenario, fig func(sideStats) float64) string {
		v := make([]string, len(sides))
		for i, s := range sides {
			v[i] = fmtv(fig(sc.Sides[s]))
		}
		return strings.Join(v, " / ")
	}
	rat := func(r ratio) string { return fmt.Sprintf("%.3f (%.2f-%.2f)", r.Ratio, r.Lo, r.Hi) }
	verdict := func(reused, peek ratio) string {
		ok := func(v, target float64) string {
			if v <= target {
				return "ok"
			}
			return "MISS"
		}
		return ok(reused.Ratio, 0.95) + " / " + ok(peek.Ratio, 1.05)
	}
	for _, sc := range f.Scenarios {
		copies := "n/a"
		if c := sc.Sides["ours"].CopiesPerB; c != nil {
			copies = fmtv(*c)
		}
		r := sc.Ratios
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc.Name,
			three(sc, func(s sideStats) float64 { return s.NsPerOp }), three(sc, func(s sideStats) float64 { return s.CPUNsPerOp }),
			rat(r["reusedWall"]), rat(r["reusedCPU"]), rat(r["peekWall"]), rat(r["peekCPU"]),
			three(sc, func(s sideStats) float64 { return s.AllocsPerOp }), three(sc, func(s sideStats) float64 { return s.GCPerMop }),
			copies, verdict(r["reusedWall"], r["peekWall"]), verdict(r["reusedCPU"], r["peekCPU"]))
	}
	b.WriteString("\nTargets: ours allocs/op = 0; ours÷bufio-reused <= 0.95; ours÷bufio-peek <= 1.05.\n")
	return b.String()
}

// fanoutTable lists every metric of every fan-out run.
func fanoutTable(f *fanoutFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### HTTP-FLV fan-out (%s, %d subscribers, -benchtime %s)\n\n", f.Setup.Benchmark, f.Setup.Subscribers, f.Setup.Benchtime)
	b.WriteString(runLine(f.Date, f.Go, f.Machine, f.Source))
	units := map[string]bool{}
	for _, r := range f.Runs {
		for u := range r.Metrics {
			units[u] = true
		}
	}
	var cols []string
	for u := range units {
		cols = append(cols, u)
	}
	sort.Strings(cols)
	b.WriteString("\n| run | " + strings.Join(cols, " | ") + " |\n|---:|" + strings.Repeat("---:|", len(cols)) + "\n")
	for i, r := range f.Runs {
		fmt.Fprintf(&b, "| %d |", i+1)
		for _, u := range cols {
			if v, ok := r.Metrics[u]; ok {
				fmt.Fprintf(&b, " %s |", num(v))
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
