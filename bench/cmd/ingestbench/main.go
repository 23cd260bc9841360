// Command ingestbench measures the cost of RTMP, RTSP and SRT ingest in a
// Go server process: our zerocopy plugin (embedded host), the peer
// libraries (gortmplib with and without a GOP cache, gortsplib, gosrt), and
// plain and retaining read floors, each fed by N real ffmpeg pushers. See
// package github.com/zcingest/zerocopy/bench/ingestbench for the method.
//
//	go run ./cmd/ingestbench -n 8,32 -d 20s -out result.md -json result.json
//	go run ./cmd/ingestbench -protocols rtsp -transports tcp,udp -modes paced
//	go run ./cmd/ingestbench -n 32 -clips low,high -late 60s -modes paced
//	go run ./cmd/ingestbench -serve rtsp/gortsplib -transport tcp -n 2   # one server alone, to reproduce a row by hand
//
// It prints a Markdown table (one row per server × N × paced/unpaced) to
// stdout and, with -out, to a file; with -json it also writes the rows as
// JSON (the format cmd/charts reads). Exit status: 0 when every row ran (and,
// with -strict, every paced row of ours met its targets), 1 on any failure,
// 2 on bad flags, 3 for a missed target under -strict.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/bench/ingestbench"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		ns      = flag.String("n", "8,32", "comma-separated pusher counts, one set of rows each")
		window  = flag.Duration("d", 20*time.Second, "measured steady window per row")
		warmup  = flag.Duration("warmup", 2*time.Second, "wait after all pushers publish, before the window")
		servers = flag.String("servers", "", "servers to measure (default: all of each protocol): floor, floor-retain, gortmplib, gortmplib-gop, gortsplib, gosrt, gosrt-retain, ours")
		protos  = flag.String("protocols", "rtmp", "protocols: rtmp, rtsp, srt")
		trans   = flag.String("transports", "tcp,udp", "RTSP transports: tcp, udp")
		clips   = flag.String("clips", "low", "clips by name: low (720p ~2 Mbit/s), high (720p ~4.6 Mbit/s), legacy (360p ~2.2 Mbit/s)")
		clipDir = flag.String("clip-dir", "", "cache of encoded clips (default: $XDG_CACHE_HOME/zerocopy-ingestbench; - for none)")
		late    = flag.Duration("late", 0, "run each row this long (>= 55s) and measure an early (5-15 s) and a late (40 s to end-5 s) window instead of the steady one")
		retain  = flag.Duration("retain", ingestbench.DefaultRetainDuration, "what floor-retain, gortmplib-gop and gosrt-retain keep per stream (our ring's ringduration)")
		retainB = flag.Int("retain-bytes", ingestbench.DefaultRetainBytes, "byte bound of what they keep per stream (our ring's ringbytes)")
		retainK = flag.Int("retain-block", ingestbench.DefaultRetainBlock, "block size of the retaining floor")
		serve   = flag.String("serve", "", "run one server alone until interrupted, as protocol/server (e.g. rtsp/gortsplib), printing the pushers' commands and its counters")
		serveTr = flag.String("transport", "", "with -serve: tcp or udp (RTSP)")
		every   = flag.Duration("every", 0, "with -serve: print the counters this often")
		modes   = flag.String("modes", "paced,unpaced", "paced (ffmpeg -re) and/or unpaced")
		out     = flag.String("out", "", "also write the Markdown report to this file")
		jsonOut = flag.String("json", "", "also write the results as JSON to this file (the docs/bench/ingest.json format, read by cmd/charts)")
		clip    = flag.String("clip", "", "use this FLV clip instead of encoding one (its length is -clip-seconds)")
		clipSec = flag.Int("clip-seconds", 0, "length of the clips in seconds (default: each clip's own, 30 s; pushers loop it)")
		cpuProf = flag.String("cpuprofile", "", "write a CPU profile of each profiled row's window to <prefix>-<row>.pprof")
		memProf = flag.String("memprofile", "", "write allocation profiles before/after each profiled row's window to <prefix>-<row>-{start,end}.pprof")
		memRate = flag.Int("memprofilerate", 1, "runtime.MemProfileRate while -memprofile is set")
		profSrv = flag.String("profile", "ours", "servers whose rows are profiled")
		timeout = flag.Duration("timeout", 0, "overall limit (default: generous bound computed from the rows)")
		strict  = flag.Bool("strict", false, "exit 3 when a paced row of ours misses a target")
		quiet   = flag.Bool("q", false, "no progress lines on stderr")
		oursEnv = flag.String("ours-env", "", "comma-separated config overrides for our server, env form (GLOBAL_PUBLISH_RINGSIZE=64)")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ingestbench: unexpected arguments %q\n", flag.Args())
		return 2
	}
	counts, err := parseInts(*ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench: -n:", err)
		return 2
	}
	if *window <= 0 || *clipSec < 0 {
		fmt.Fprintln(os.Stderr, "ingestbench: -d must be positive and -clip-seconds not negative")
		return 2
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench: ffmpeg not found on PATH (apt-get install ffmpeg)")
		return 1
	}
	opts := ingestbench.Options{
		Ns:             counts,
		Window:         *window,
		Warmup:         *warmup,
		Servers:        split(*servers),
		Modes:          split(*modes),
		Protocols:      split(*protos),
		Transports:     split(*trans),
		ClipDir:        *clipDir,
		Late:           *late,
		RetainDuration: *retain,
		RetainBytes:    *retainB,
		RetainBlock:    *retainK,
		ClipPath:       *clip,
		CPUProfile:     *cpuProf,
		MemProfile:     *memProf,
		MemProfileRate: *memRate,
		ProfileServers: split(*profSrv),
		OursEnv:        split(*oursEnv),
		Progress:       os.Stderr,
	}
	if *warmup == 0 {
		opts.Warmup = -1 // explicit zero
	}
	for _, name := range split(*clips) {
		c, ok := ingestbench.Clips[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "ingestbench: -clips: unknown clip %q (low, high, legacy)\n", name)
			return 2
		}
		if *clipSec > 0 {
			c.Seconds = *clipSec
		}
		opts.Clips = append(opts.Clips, c)
	}
	if *quiet {
		opts.Progress = nil
	}
	if *serve != "" {
		proto, srv, ok := strings.Cut(*serve, "/")
		if !ok {
			fmt.Fprintln(os.Stderr, "ingestbench: -serve wants protocol/server, e.g. rtmp/ours or srt/gosrt")
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := ingestbench.Serve(ctx, os.Stdout, opts, proto, *serveTr, srv, counts[0], *every); err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench: -serve:", err)
			return 1
		}
		return 0
	}

	limit := *timeout
	if limit <= 0 {
		// Every protocol's servers, both transports, each clip: a generous
		// upper bound on the rows.
		rows := 5 * 2 * max(len(opts.Protocols), 1) * max(len(opts.Modes), 1) * len(counts) * max(len(opts.Clips), 1)
		perRow := max(*window+*warmup, *late) + 2*time.Minute // connect, shutdown, slack
		limit = time.Duration(max(len(opts.Clips), 1))*ingestbench.ClipGenerateTimeout + time.Duration(rows)*perRow
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	rep, runErr := ingestbench.Run(ctx, opts)
	md := rep.Markdown()
	if runErr != nil {
		md += fmt.Sprintf("\n**The run failed:** %v\n", runErr)
	}
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench: -out:", err)
			return 1
		}
	}
	if *jsonOut != "" && runErr == nil {
		data, err := rep.JSON()
		if err == nil {
			err = os.WriteFile(*jsonOut, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench: -json:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "ingestbench: FAILED:", runErr)
		return 1
	}
	if m := rep.PacedMisses(); len(m) > 0 && *strict {
		fmt.Fprintln(os.Stderr, "ingestbench: targets missed:", strings.Join(m, "; "))
		return 3
	}
	return 0
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range split(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pusher counts in %q", s)
	}
	return out, nil
}
