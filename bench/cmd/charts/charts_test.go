package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/bench/ingestbench"
)

// TestRenderFromHarnessJSON: what `ingestbench -json` writes, with an RTSP
// row added as a later protocol would, renders into charts for each
// protocol and a table.
func TestRenderFromHarnessJSON(t *testing.T) {
	dir := t.TempDir()
	rep := &ingestbench.Report{Started: time.Date(2026, 11, 28, 7, 30, 0, 0, time.UTC), ClipBitrate: 2.18e6}
	rep.Options.Window, rep.Options.Ns = 20*time.Second, []int{8}
	for _, srv := range []string{ingestbench.ServerFloor, "gortmplib", ingestbench.ServerOurs} {
		rep.Results = append(rep.Results, ingestbench.Result{Server: srv, N: 8, Paced: true, Window: 20 * time.Second,
			Bytes: 43_500_000, AllocBytes: 1000, Mallocs: 10, User: 300 * time.Millisecond, Sys: 100 * time.Millisecond,
			CopiedKnown: srv == ingestbench.ServerOurs})
	}
	data, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), `"rows": [`, `"rows": [{"protocol": "rtsp", "server": "ours", "n": 8, "mode": "paced", "windowSeconds": 20, "mbIngested": 43.5, "cpuPerGB": 9, "allocPerByte": 0.0001},`, 1))
	if err := os.WriteFile(filepath.Join(dir, "ingest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tables, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ingest-rtmp-cpu.svg", "ingest-rtmp-alloc.svg", "ingest-rtsp-cpu.svg", "ingest-rtsp-alloc.svg", "tables.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 100 {
			t.Errorf("%s: %v (%d bytes)", f, err, len(b))
		}
	}
	if !strings.Contains(tables, "### RTMP ingest") || !strings.Contains(tables, "### RTSP ingest") ||
		!strings.Contains(tables, "| gortmplib | 8 | paced | 20.0 | 43.5 |") {
		t.Errorf("tables:\n%s", tables)
	}
	if strings.Index(tables, "RTMP ingest") > strings.Index(tables, "RTSP ingest") {
		t.Error("RTMP must come first")
	}
}

const rawBufreader = `# go: go version go1.26.8 linux/amd64
# nproc: 2
# cpu: AMD EPYC
# rounds: 2  benchtime: 700ms  cpu: default
BenchmarkFair/Net1K/ours-2 	 1000	 60.0 ns/op	 120 cpu-ns/op	 0 GC/Mop	 0 copies/B	 0 B/op	 0 allocs/op	round=1
BenchmarkFair/Net1K/bufio-reused-2 	 1000	 64.0 ns/op	 128 cpu-ns/op	 0 GC/Mop	 0 B/op	 0 allocs/op	round=1
BenchmarkFair/Net1K/bufio-peek-2 	 1000	 57.0 ns/op	 114 cpu-ns/op	 0 GC/Mop	 0 B/op	 0 allocs/op	round=1
BenchmarkFair/Net1K/ours-2 	 1000	 62.0 ns/op	 124 cpu-ns/op	 0 GC/Mop	 0 copies/B	 0 B/op	 0 allocs/op	round=2
BenchmarkFair/Net1K/bufio-reused-2 	 1000	 64.0 ns/op	 128 cpu-ns/op	 0 GC/Mop	 0 B/op	 0 allocs/op	round=2
BenchmarkFair/Net1K/bufio-peek-2 	 1000	 57.0 ns/op	 114 cpu-ns/op	 0 GC/Mop	 0 B/op	 0 allocs/op	round=2
`

func TestImportBufreader(t *testing.T) {
	f, err := importBufreader(strings.NewReader(rawBufreader), "go1.26.8 linux/amd64", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine.CPU != "AMD EPYC" || f.Machine.Cores != 2 || f.Setup.Rounds != 2 || f.Setup.CPU != "default" || f.Setup.Benchtime != "700ms" {
		t.Fatalf("envelope: %+v %+v", f.Machine, f.Setup)
	}
	sc := f.Scenarios[0]
	if sc.Name != "Net1K" || sc.Sides["ours"].NsPerOp != 61 || sc.Sides["ours"].CopiesPerB == nil {
		t.Fatalf("scenario: %+v", sc)
	}
	if r := sc.Ratios["reusedWall"]; r.Ratio != 61.0/64 || r.Lo != 60.0/64 || r.Hi != 62.0/64 {
		t.Fatalf("ratio: %+v", r)
	}
	dir := t.TempDir()
	if err := writeJSON(filepath.Join(dir, "bufreader.json"), f); err != nil {
		t.Fatal(err)
	}
	tables, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tables, "| Net1K | 61.00 / 64.00 / 57.00 |") {
		t.Errorf("tables:\n%s", tables)
	}
}

func TestImportFanoutAndReadme(t *testing.T) {
	raw := "goos: linux\ngoarch: amd64\ncpu: AMD EPYC\nBenchmarkFanoutHTTPFLV100-2   20000   51234 ns/op   0.0005 allocs/frame/sub   15.2 cpu-s/GB   0 gc-cycles\nPASS\n"
	f, err := importFanout(strings.NewReader(raw), "go1.26.8 linux/amd64", "20000x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runs) != 1 || f.Runs[0].Metrics["cpu-s/GB"] != 15.2 || f.Machine.CPU != "AMD EPYC" {
		t.Fatalf("%+v", f)
	}
	dir := filepath.Join(t.TempDir(), "docs", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(dir, "fanout.json"), f); err != nil {
		t.Fatal(err)
	}
	tables, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(dir, "..", "..", "README.md")
	if err := os.WriteFile(readme, []byte("a\n"+markStart+"\nold\n"+markEnd+"\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := spliceReadme(readme, dir, tables+"![x](x.svg)\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(readme)
	if s := string(got); strings.Contains(s, "old") || !strings.Contains(s, "](docs/bench/x.svg)") || !strings.HasSuffix(s, markEnd+"\nb\n") {
		t.Fatalf("README:\n%s", s)
	}
}
