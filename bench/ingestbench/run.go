package ingestbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"time"
)

// Options configure a run. Zero fields take the defaults noted.
type Options struct {
	Ns      []int         // pushers per row (default 8, 32)
	Window  time.Duration // measured steady window per row (default 20 s)
	Warmup  time.Duration // after all pushers publish, before the window (default 2 s)
	Servers []string      // default floor, gortmplib, ours
	Modes   []string      // "paced" and/or "unpaced" (default both)

	Clip     ClipSpec // default DefaultClip
	ClipPath string   // use this FLV instead of generating one

	ConnectTimeout  time.Duration // for all N pushers to publish (default 20 s + 0.5 s per pusher)
	ShutdownTimeout time.Duration // per server (default 15 s)

	// CPUProfile and MemProfile are file prefixes; when set, every row of
	// a server in ProfileServers writes <prefix>-<row>.pprof (CPU, over the
	// window) or <prefix>-<row>-start.pprof and -end.pprof (allocations
	// just before and just after the window; diff them with pprof
	// -diff_base). MemProfileRate applies from the start profile to the
	// end profile of those rows (default 1: every allocation is recorded).
	CPUProfile     string
	MemProfile     string
	MemProfileRate int
	ProfileServers []string // default ours

	// OursEnv are extra config overrides for our server, in the
	// environment form the config loader reads (GLOBAL_PUBLISH_RINGSIZE=64,
	// ZEROCOPY_RTMP_READTIMEOUT=30s). The listen addresses stay on
	// 127.0.0.1 port 0 unless overridden here.
	OursEnv []string

	Progress io.Writer    // progress lines (default io.Discard)
	Logger   *slog.Logger // logger of our server (default: warn level to stderr)
}

func (o Options) withDefaults() Options {
	if len(o.Ns) == 0 {
		o.Ns = []int{8, 32}
	}
	if o.Window <= 0 {
		o.Window = 20 * time.Second
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	if len(o.Servers) == 0 {
		o.Servers = []string{ServerFloor, ServerGortmplib, ServerOurs}
	}
	if len(o.Modes) == 0 {
		o.Modes = []string{"paced", "unpaced"}
	}
	if o.Clip == (ClipSpec{}) {
		o.Clip = DefaultClip
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 15 * time.Second
	}
	if o.MemProfileRate <= 0 {
		o.MemProfileRate = 1
	}
	if len(o.ProfileServers) == 0 {
		o.ProfileServers = []string{ServerOurs}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func (o Options) validate() error {
	for _, n := range o.Ns {
		if n < 1 {
			return fmt.Errorf("-n: %d pushers: need at least 1", n)
		}
	}
	for _, s := range o.Servers {
		if s != ServerFloor && s != ServerGortmplib && s != ServerOurs {
			return fmt.Errorf("-servers: unknown server %q (want %s, %s, %s)", s, ServerFloor, ServerGortmplib, ServerOurs)
		}
	}
	for _, m := range o.Modes {
		if m != "paced" && m != "unpaced" {
			return fmt.Errorf("-modes: unknown mode %q (want paced, unpaced)", m)
		}
	}
	return nil
}

// Report is the outcome of a run.
type Report struct {
	Options     Options
	Started     time.Time
	ClipBitrate float64 // bit/s, from the clip's size and length
	Results     []Result
}

// Run runs every row (for each mode, for each N, for each server) and
// returns the results so far together with the first error. Every ffmpeg
// it started has been killed and reaped when it returns.
func Run(ctx context.Context, opts Options) (*Report, error) {
	o := opts.withDefaults()
	rep := &Report{Options: o, Started: time.Now()}
	if err := o.validate(); err != nil {
		return rep, err
	}
	dir, err := os.MkdirTemp("", "ingestbench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)

	clip := o.ClipPath
	if clip == "" {
		fmt.Fprintf(o.Progress, "ingestbench: encoding the clip (%s)...\n", o.Clip)
		if clip, rep.ClipBitrate, err = GenerateClip(ctx, dir, o.Clip); err != nil {
			return rep, err
		}
	} else {
		st, err := os.Stat(clip)
		if err != nil {
			return rep, fmt.Errorf("-clip: %w", err)
		}
		rep.ClipBitrate = float64(st.Size()) * 8 / float64(o.Clip.Seconds)
	}

	for _, mode := range o.Modes {
		for _, n := range o.Ns {
			for _, name := range o.Servers {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				row := fmt.Sprintf("%s-n%d-%s", name, n, mode)
				fmt.Fprintf(o.Progress, "ingestbench: %s: %d pusher(s), %v warm-up, %v window...\n", row, n, o.Warmup, o.Window)
				res, err := runRow(ctx, o, dir, clip, row, name, n, mode == "paced")
				if err != nil {
					return rep, fmt.Errorf("%s: %w", row, err)
				}
				rep.Results = append(rep.Results, res)
				fmt.Fprintf(o.Progress, "ingestbench: %s: %.1f MB, %.3g B/B, %.3g mallocs/MB, %d GC, %.3g CPU-s/GB\n",
					row, res.MB(), res.AllocPerByte(), res.MallocsPerMB(), res.GCs, res.CPUPerGB())
			}
		}
	}
	if left := childPIDs(); len(left) > 0 {
		return rep, fmt.Errorf("child processes left after the run: %v", left)
	}
	return rep, nil
}

// runRow measures one server with n pushers.
func runRow(ctx context.Context, o Options, dir, clip, row, name string, n int, paced bool) (res Result, err error) {
	rowDir := filepath.Join(dir, row)
	if err := os.Mkdir(rowDir, 0o755); err != nil {
		return res, err
	}
	t, err := startTarget(name, o)
	if err != nil {
		return res, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		if serr := t.shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}()

	ps, err := startPushers(ctx, n, rowDir, clip, "rtmp://"+t.rtmpAddr()+"/live", paced)
	if err != nil {
		return res, err
	}
	defer func() { // runs before the server shuts down
		if kerr := ps.killAll(); kerr != nil && err == nil {
			err = kerr
		}
	}()

	connectTimeout := o.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = 20*time.Second + time.Duration(n)*500*time.Millisecond
	}
	deadline := time.Now().Add(connectTimeout)
	for {
		got := t.publishing()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d pushers publishing after %v", got, n, connectTimeout)
		}
		if err := ps.sleep(ctx, 100*time.Millisecond); err != nil {
			return res, fmt.Errorf("waiting for pushers to publish: %w", err)
		}
	}
	if err := ps.sleep(ctx, o.Warmup); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}

	profile := slices.Contains(o.ProfileServers, name)
	var cpuFile *os.File
	if profile && o.MemProfile != "" {
		// Record every allocation (by default) from here to the end
		// profile; other rows keep the default sampling and its low cost.
		old := runtime.MemProfileRate
		runtime.MemProfileRate = o.MemProfileRate
		defer func() { runtime.MemProfileRate = old }()
		if err := writeAllocs(o.MemProfile + "-" + row + "-start.pprof"); err != nil {
			return res, err
		}
	}
	// Start-up garbage (handshakes, connects, the profile write) is not
	// steady state: collect it and return free pages before measuring.
	debug.FreeOSMemory()
	if profile && o.CPUProfile != "" {
		if cpuFile, err = os.Create(o.CPUProfile + "-" + row + ".pprof"); err != nil {
			return res, err
		}
		defer cpuFile.Close()
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			return res, err
		}
	}

	a, err := take(t)
	if err != nil {
		return res, err
	}
	werr := ps.sleep(ctx, o.Window)
	b, err := take(t)
	if cpuFile != nil {
		pprof.StopCPUProfile()
	}
	if werr != nil {
		return res, fmt.Errorf("measured window: %w", werr)
	}
	if err != nil {
		return res, err
	}
	if profile && o.MemProfile != "" {
		if err := writeAllocs(o.MemProfile + "-" + row + "-end.pprof"); err != nil {
			return res, err
		}
	}

	if got := t.publishing(); got != n {
		return res, fmt.Errorf("%d of %d pushers still publishing at the end of the window", got, n)
	}
	if err := t.check(b.bytes); err != nil {
		return res, err
	}
	_, copiedKnown := t.bytesCopied()
	res = diff(name, n, paced, a, b, copiedKnown)
	res.Profiled = profile && (o.CPUProfile != "" || o.MemProfile != "")
	if res.Bytes <= 0 {
		return res, errors.New("no bytes ingested during the window")
	}
	return res, nil
}

// writeAllocs writes the allocation profile, brought up to date first (the
// runtime publishes allocation records at the end of a GC cycle).
func writeAllocs(path string) error {
	runtime.GC()
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
