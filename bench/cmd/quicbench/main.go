// Command quicbench measures the QUIC cascade (issue 11): one parent with
// paced ffmpeg publishers, children pulling every stream over QUIC with
// HTTP-FLV players on them, each node in its own process, and a floor (a
// bare QUIC child that reads the streams into one reused buffer). See
// package github.com/zcingest/zerocopy/bench/quicbench.
//
//	go run ./cmd/quicbench -n 8 -children 2 -players 20 -d 20s -out ../docs/bench-quic-run.md
//	go run ./cmd/quicbench -n 2 -players 5 -d 5s     # a short validation run
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/bench/quicbench"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		node     = flag.String("node", "", "internal: run one node (parent, child, floor) answering commands on stdin")
		name     = flag.String("name", "", "internal: the node's name (profile file names)")
		parent   = flag.String("parent", "", "internal: the parent's QUIC address")
		paths    = flag.String("paths", "", "internal: comma-separated stream paths to pull")
		n        = flag.Int("n", 8, "paced ffmpeg publishers into the parent")
		children = flag.Int("children", 2, "children pulling every stream")
		players  = flag.Int("players", 20, "HTTP-FLV players on each child")
		window   = flag.Duration("d", 20*time.Second, "measured window")
		warmup   = flag.Duration("warmup", 15*time.Second, "wait after the players start (and after the floor starts), before each window: longer than the ring's 12 s, so rings are full")
		floor    = flag.Bool("floor", true, "also measure the floor: a bare QUIC child reading every stream into one reused buffer")
		clipDir  = flag.String("clip-dir", "", "cache of the encoded clip (default: $XDG_CACHE_HOME/zerocopy-quicbench; - for none)")
		clip     = flag.String("clip", "", "use this FLV clip instead of encoding one (with -clip-seconds for its bitrate)")
		clipSec  = flag.Int("clip-seconds", 0, "the clip's length in seconds")
		work     = flag.String("work", "", "keep node and pusher logs here (default: a temporary directory, removed)")
		memProf  = flag.String("memprofile", "", "prefix of each node's allocation profiles at the window's ends: <prefix>-<node>-{start,end}.pprof")
		memRate  = flag.Int("memprofilerate", 1, "runtime.MemProfileRate in the nodes (1: every allocation, so the quic-go split is exact)")
		allocSz  = flag.Int("allocatorsize", 16<<20, "zerocopy.rtmp.allocatorsize and zerocopy.quic.allocatorsize of the nodes (0: the config default, 4 MiB, which a 12 s ring of a 4 Mbit/s stream outgrows: gomem then makes and drops 4 MiB arenas)")
		out      = flag.String("out", "", "also write the Markdown report here")
		jsonOut  = flag.String("json", "", "also write the rows as JSON here")
		timeout  = flag.Duration("timeout", 0, "overall limit (default: generous, from the windows)")
	)
	flag.Parse()
	if *node != "" {
		o := quicbench.NodeOptions{Role: *node, Name: *name, Parent: *parent, MemProfile: *memProf, MemProfileRate: *memRate, AllocatorSize: *allocSz}
		if *paths != "" {
			o.Paths = strings.Split(*paths, ",")
		}
		if err := quicbench.RunNode(o, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "quicbench node:", err)
			return 1
		}
		return 0
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		fmt.Fprintln(os.Stderr, "quicbench: ffmpeg not found on PATH")
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicbench:", err)
		return 1
	}
	dir := *clipDir
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = c + "/zerocopy-quicbench"
		}
	} else if dir == "-" {
		dir = ""
	}
	o := quicbench.Options{
		Publishers: *n, Children: *children, PlayersPerChild: *players, Warmup: *warmup, Window: *window,
		Floor: *floor, ClipDir: dir, ClipPath: *clip, ClipSeconds: *clipSec, WorkDir: *work,
		MemProfile: *memProf, MemProfileRate: *memRate, AllocatorSize: *allocSz, Executable: exe, Progress: os.Stderr,
	}
	d := *timeout
	if d == 0 {
		d = 5*time.Minute + 2*(*window+*warmup)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := quicbench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicbench:", err)
		return 1
	}
	rep.Command = "go run ./cmd/quicbench " + strings.Join(os.Args[1:], " ")
	rep.WriteMarkdown(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "quicbench:", err)
			return 1
		}
		rep.WriteMarkdown(f)
		f.Close()
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "quicbench:", err)
			return 1
		}
	}
	return 0
}
