package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchLine is one `go test -bench` result: name (without the -N suffix),
// its metrics by unit, and the round=R tag benchmark_bufreader.sh appends.
type benchLine struct {
	name    string
	metrics map[string]float64
	round   int
}

var (
	procSuffix = regexp.MustCompile(`-\d+$`)
	wideSpace  = regexp.MustCompile(`\s{2,}`)
)

// parseBenchLine parses "BenchmarkX/a/b-2  1000  61.3 ns/op  0 B/op ...
// [round=3]"; ok is false for any other line.
func parseBenchLine(line string) (benchLine, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return benchLine{}, false
	}
	b := benchLine{name: procSuffix.ReplaceAllString(f[0], ""), metrics: map[string]float64{}}
	rest := f[2:]
	if last := rest[len(rest)-1]; strings.HasPrefix(last, "round=") {
		b.round, _ = strconv.Atoi(strings.TrimPrefix(last, "round="))
		rest = rest[:len(rest)-1]
	}
	for i := 0; i+1 < len(rest); i += 2 {
		v, err := strconv.ParseFloat(rest[i], 64)
		if err != nil {
			return benchLine{}, false
		}
		b.metrics[rest[i+1]] = v
	}
	return b, true
}

// header collects "# key: value" lines (benchmark_bufreader.sh) and
// "key: value" lines (go test: goos, goarch, cpu).
type header map[string]string

func (h header) add(line string) {
	line = strings.TrimPrefix(line, "# ")
	if k, v, ok := strings.Cut(line, ": "); ok && !strings.Contains(k, " ") {
		h[k] = strings.TrimSpace(v)
	}
}

func hostMachine(h header) machine {
	m := machine{CPU: h["cpu"], Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if n, err := strconv.Atoi(h["nproc"]); err == nil {
		m.Cores, m.GOMAXPROCS = n, n
	}
	if h["goos"] != "" {
		m.OS, m.Arch = h["goos"], h["goarch"]
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	return m
}

// importBufreader reads benchmark_bufreader.sh's raw output (OUT=) and
// summarizes it the way the script's table does: per scenario and side
// the median of each metric over the rounds, and ours÷other as the ratio
// of the medians with the range of the per-round paired ratios.
func importBufreader(r io.Reader, goVersion string, now time.Time) (*bufreaderFile, error) {
	h := header{}
	type key struct{ scen, side, unit string }
	samples := map[key][]float64{}
	perRound := map[key]map[int]float64{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# rounds:") {
			// "# rounds: 5  benchtime: 700ms  cpu: default": the run's
			// settings, kept apart from "# cpu: <model>".
			for _, part := range wideSpace.Split(strings.TrimPrefix(line, "# "), -1) {
				if k, v, ok := strings.Cut(part, ": "); ok {
					h["run."+k] = strings.TrimSpace(v)
				}
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			h.add(line)
			continue
		}
		b, ok := parseBenchLine(line)
		if !ok || !strings.HasPrefix(b.name, "BenchmarkFair/") {
			continue
		}
		parts := strings.Split(b.name, "/")
		if len(parts) != 3 {
			continue
		}
		scen, side := parts[1], parts[2]
		if !slices.Contains(order, scen) {
			order = append(order, scen)
		}
		for unit, v := range b.metrics {
			k := key{scen, side, unit}
			samples[k] = append(samples[k], v)
			if perRound[k] == nil {
				perRound[k] = map[int]float64{}
			}
			perRound[k][b.round] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("no BenchmarkFair results")
	}
	f := &bufreaderFile{
		Schema: schema, Kind: "bufreader", Date: now.UTC().Format(time.RFC3339), Go: goVersion,
		Machine: hostMachine(h),
		Setup:   bufreaderSetup{Benchtime: h["run.benchtime"], CPU: h["run.cpu"], BlockBytes: 16 << 10},
	}
	f.Setup.Rounds, _ = strconv.Atoi(h["run.rounds"])
	if strings.HasPrefix(h["go"], "go version ") {
		f.Go = strings.TrimPrefix(h["go"], "go version ")
	}
	for _, scen := range order {
		s := scenario{Name: scen, Sides: map[string]sideStats{}, Ratios: map[string]ratio{}}
		for _, side := range sides {
			st := sideStats{
				NsPerOp:     median(samples[key{scen, side, "ns/op"}]),
				CPUNsPerOp:  median(samples[key{scen, side, "cpu-ns/op"}]),
				AllocsPerOp: median(samples[key{scen, side, "allocs/op"}]),
				GCPerMop:    median(samples[key{scen, side, "GC/Mop"}]),
			}
			if c := samples[key{scen, side, "copies/B"}]; len(c) > 0 {
				v := median(c)
				st.CopiesPerB = &v
			}
			s.Sides[side] = st
		}
		for name, spec := range map[string][2]string{
			"reusedWall": {"bufio-reused", "ns/op"}, "reusedCPU": {"bufio-reused", "cpu-ns/op"},
			"peekWall": {"bufio-peek", "ns/op"}, "peekCPU": {"bufio-peek", "cpu-ns/op"},
		} {
			o, x := key{scen, "ours", spec[1]}, key{scen, spec[0], spec[1]}
			mo, mx := median(samples[o]), median(samples[x])
			if mx == 0 {
				continue
			}
			r := ratio{Ratio: mo / mx, Lo: 1e9}
			for round, a := range perRound[o] {
				if b, ok := perRound[x][round]; ok && b > 0 {
					r.Lo, r.Hi = min(r.Lo, a/b), max(r.Hi, a/b)
				}
			}
			s.Ratios[name] = r
		}
		f.Scenarios = append(f.Scenarios, s)
	}
	return f, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// importFanout reads `go test -bench FanoutHTTPFLV100` output: one run
// per result line, every metric kept by its unit.
func importFanout(r io.Reader, goVersion, benchtime string, now time.Time) (*fanoutFile, error) {
	h := header{}
	f := &fanoutFile{
		Schema: schema, Kind: "fanout", Date: now.UTC().Format(time.RFC3339), Go: goVersion,
		Setup: fanoutSetup{Benchmark: "BenchmarkFanoutHTTPFLV100", Subscribers: 100, Benchtime: benchtime},
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if b, ok := parseBenchLine(line); ok {
			if b.name == f.Setup.Benchmark {
				f.Runs = append(f.Runs, fanoutRun{Metrics: b.metrics})
			}
			continue
		}
		h.add(line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(f.Runs) == 0 {
		return nil, fmt.Errorf("no %s results", f.Setup.Benchmark)
	}
	f.Machine = hostMachine(h)
	return f, nil
}
