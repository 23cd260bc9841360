package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zcingest/zerocopy/bench/ingestbench"
)

// The files in docs/bench/ share an envelope: schema (1), kind, date
// (RFC 3339, UTC), go (version), machine, setup (kind-specific) and an
// optional source (set when a person transcribed the figures rather than
// a benchmark writing them).
//
//   - ingest.json (kind "ingest"): ingestbench's JSONReport, written by
//     `ingestbench -json`. Each row names its protocol (rtmp today; rtsp
//     and srt rows go in the same file) and its server (floor, ours, or a
//     peer such as gortmplib); charts are drawn per protocol.
//   - bufreader.json (kind "bufreader"): per scenario, the medians of each
//     side and the ours÷bufio ratios with their per-round range, written
//     by `charts -import-bufreader` from benchmark_bufreader.sh's raw
//     output.
//   - fanout.json (kind "fanout"): the custom metrics of each
//     BenchmarkFanoutHTTPFLV100 run, written by `charts -import-fanout`.

const schema = 1

type ingestFile = ingestbench.JSONReport

type ingestRow = ingestbench.JSONRow

type machine = ingestbench.JSONMachine

type bufreaderFile struct {
	Schema    int            `json:"schema"`
	Kind      string         `json:"kind"`
	Date      string         `json:"date"`
	Go        string         `json:"go"`
	Machine   machine        `json:"machine"`
	Setup     bufreaderSetup `json:"setup"`
	Scenarios []scenario     `json:"scenarios"`
	Source    string         `json:"source,omitempty"`
}

type bufreaderSetup struct {
	Rounds     int    `json:"rounds"`
	Benchtime  string `json:"benchtime"`
	CPU        string `json:"cpu"`
	BlockBytes int    `json:"blockBytes"`
}

// Sides of the bufreader benchmark, in table and chart order.
var sides = []string{"ours", "bufio-reused", "bufio-peek"}

type scenario struct {
	Name   string               `json:"name"`
	Sides  map[string]sideStats `json:"sides"`
	Ratios map[string]ratio     `json:"ratios"` // reusedWall, reusedCPU, peekWall, peekCPU
}

// sideStats are medians over the rounds.
type sideStats struct {
	NsPerOp     float64  `json:"nsPerOp"`
	CPUNsPerOp  float64  `json:"cpuNsPerOp"`
	AllocsPerOp float64  `json:"allocsPerOp"`
	GCPerMop    float64  `json:"gcPerMop"`
	CopiesPerB  *float64 `json:"copiesPerB,omitempty"` // ours only
}

// ratio is ours÷other of the medians, and the range of the per-round
// paired ratios.
type ratio struct {
	Ratio float64 `json:"ratio"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

type fanoutFile struct {
	Schema  int         `json:"schema"`
	Kind    string      `json:"kind"`
	Date    string      `json:"date"`
	Go      string      `json:"go"`
	Machine machine     `json:"machine"`
	Setup   fanoutSetup `json:"setup"`
	Runs    []fanoutRun `json:"runs"`
	Source  string      `json:"source,omitempty"`
}

type fanoutSetup struct {
	Benchmark   string `json:"benchmark"`
	Subscribers int    `json:"subscribers"`
	Benchtime   string `json:"benchtime"`
}

// fanoutRun is one benchmark result line: every metric by its unit.
type fanoutRun struct {
	Metrics map[string]float64 `json:"metrics"`
}

// readJSON decodes dir/name into v, checking the envelope's schema and
// kind. A missing file is reported with ok false and no error.
func readJSON(dir, name, kind string, v any) (ok bool, err error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var env struct {
		Schema int    `json:"schema"`
		Kind   string `json:"kind"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if env.Schema != schema || env.Kind != kind {
		return false, fmt.Errorf("%s: schema %d kind %q, want schema %d kind %q", path, env.Schema, env.Kind, schema, kind)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
