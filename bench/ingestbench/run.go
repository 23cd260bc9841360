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
	Servers []string      // default: every server of each protocol (ProtocolServers)
	Modes   []string      // "paced" and/or "unpaced" (default both)

	// Protocols to measure: rtmp, rtsp, srt (default rtmp). Transports
	// applies to RTSP: tcp and/or udp (default both); RTMP is tcp and SRT
	// udp.
	Protocols  []string
	Transports []string

	// Clips are the clips each row set is run with (default ClipLow).
	// Clip, when set and Clips is empty, is the one clip (compatibility).
	Clips    []ClipSpec
	Clip     ClipSpec
	ClipPath string // use this FLV instead of generating one (length Clip.Seconds, or 20 s)
	ClipDir  string // cache of encoded clips (default: the user cache dir); "-" encodes into the run's temp dir

	// Late, when at least 55 s, replaces the steady window with two
	// windows of one longer run: early (EarlyStart to EarlyStart+10 s after
	// the pushers started) and late (LateStart to Late-5 s); the pushers
	// run for Late in all. No GC is forced after the pushers started.
	Late time.Duration

	// What the retaining floor and gortmplib-gop keep per stream (default
	// our ring's: 12 s, 32 MiB), and the floor's block size (64 KiB).
	RetainDuration time.Duration
	RetainBytes    int
	RetainBlock    int

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
	if len(o.Modes) == 0 {
		o.Modes = []string{"paced", "unpaced"}
	}
	if len(o.Protocols) == 0 {
		o.Protocols = []string{ProtoRTMP}
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{"tcp", "udp"}
	}
	if len(o.Clips) == 0 {
		if o.Clip != (ClipSpec{}) {
			o.Clips = []ClipSpec{o.Clip}
		} else {
			o.Clips = []ClipSpec{ClipLow}
		}
	}
	if o.ClipPath != "" {
		c := o.Clips[0]
		c.Name = filepath.Base(o.ClipPath)
		if c.Seconds <= 0 {
			c.Seconds = 20
		}
		o.Clips = []ClipSpec{c}
	}
	if o.ClipDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			o.ClipDir = filepath.Join(d, "zerocopy-ingestbench")
		}
	} else if o.ClipDir == "-" {
		o.ClipDir = ""
	}
	if o.RetainDuration <= 0 {
		o.RetainDuration = DefaultRetainDuration
	}
	if o.RetainBytes <= 0 {
		o.RetainBytes = DefaultRetainBytes
	}
	if o.RetainBlock <= 0 {
		o.RetainBlock = DefaultRetainBlock
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
	for _, p := range o.Protocols {
		if _, ok := ProtocolServers[p]; !ok {
			return fmt.Errorf("-protocols: unknown protocol %q (want rtmp, rtsp, srt)", p)
		}
	}
	for _, s := range o.Servers {
		known := false
		for _, p := range o.Protocols {
			known = known || slices.Contains(ProtocolServers[p], s)
		}
		if !known {
			return fmt.Errorf("-servers: %q is not a server of %v (%v)", s, o.Protocols, ProtocolServers)
		}
	}
	for _, tr := range o.Transports {
		if tr != "tcp" && tr != "udp" {
			return fmt.Errorf("-transports: unknown transport %q (want tcp, udp)", tr)
		}
	}
	if o.Late > 0 && o.Late < MinLateRun {
		return fmt.Errorf("-late: %v is shorter than %v (the late window starts at %v)", o.Late, MinLateRun, LateStart)
	}
	for _, m := range o.Modes {
		if m != "paced" && m != "unpaced" {
			return fmt.Errorf("-modes: unknown mode %q (want paced, unpaced)", m)
		}
	}
	return nil
}

// The early and late windows of a -late run, from the pushers' start.
const (
	EarlyStart  = 5 * time.Second
	EarlyLength = 10 * time.Second
	LateStart   = 40 * time.Second
	lateTail    = 5 * time.Second // the late window ends this long before the run
	MinLateRun  = 55 * time.Second
)

// Report is the outcome of a run.
type Report struct {
	Options     Options
	Started     time.Time
	ClipBitrate float64            // bit/s of the first clip (compatibility)
	Bitrates    map[string]float64 // bit/s per clip name, from the clip's size and length
	Results     []Result
	Skipped     []string // rows not run, and why
}

// servers lists the servers to run for protocol, in report order.
func (o Options) servers(protocol string) []string {
	var out []string
	for _, s := range ProtocolServers[protocol] {
		if len(o.Servers) == 0 || slices.Contains(o.Servers, s) {
			out = append(out, s)
		}
	}
	return out
}

// transports lists the transports of protocol.
func (o Options) transports(protocol string) []string {
	switch protocol {
	case ProtoRTSP:
		return o.Transports
	case ProtoSRT:
		return []string{"udp"}
	}
	return []string{"tcp"}
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

	rep.Bitrates = map[string]float64{}
	clips := map[string]string{}
	for _, c := range o.Clips {
		if o.ClipPath != "" {
			st, err := os.Stat(o.ClipPath)
			if err != nil {
				return rep, fmt.Errorf("-clip: %w", err)
			}
			clips[c.Name], rep.Bitrates[c.Name] = o.ClipPath, float64(st.Size())*8/float64(c.Seconds)
			continue
		}
		fmt.Fprintf(o.Progress, "ingestbench: clip %s (%s), cache %q...\n", c.Name, c, o.ClipDir)
		path, br, err := CachedClip(ctx, o.ClipDir, dir, c)
		if err != nil {
			return rep, err
		}
		clips[c.Name], rep.Bitrates[c.Name] = path, br
	}
	rep.ClipBitrate = rep.Bitrates[o.Clips[0].Name]

	for _, proto := range o.Protocols {
		for _, c := range o.Clips {
			for _, tr := range o.transports(proto) {
				for _, mode := range o.Modes {
					for _, n := range o.Ns {
						for _, name := range o.servers(proto) {
							if err := ctx.Err(); err != nil {
								return rep, err
							}
							row := fmt.Sprintf("%s-%s-%s-%s-n%d-%s", proto, tr, c.Name, name, n, mode)
							fmt.Fprintf(o.Progress, "ingestbench: %s: %d pusher(s)...\n", row, n)
							spec := rowSpec{rowTarget: rowTarget{protocol: proto, transport: tr, server: name, n: n},
								row: row, clip: c, clipPath: clips[c.Name], bitrate: rep.Bitrates[c.Name], paced: mode == "paced"}
							res, err := runRow(ctx, o, dir, spec)
							if errors.Is(err, ErrNotAvailable) {
								msg := fmt.Sprintf("%s: skipped: %v", row, err)
								rep.Skipped = append(rep.Skipped, msg)
								fmt.Fprintf(o.Progress, "ingestbench: %s\n", msg)
								continue
							}
							if err != nil {
								return rep, fmt.Errorf("%s: %w", row, err)
							}
							rep.Results = append(rep.Results, res...)
							for _, r := range res {
								fmt.Fprintf(o.Progress, "ingestbench: %s %s: %.1f MB, %.3g B/B, %.3g mallocs/MB, %d GC, %.3g CPU-s/GB, %d faults\n",
									row, r.WindowName, r.MB(), r.AllocPerByte(), r.MallocsPerMB(), r.GCs, r.CPUPerGB(), r.MinorFaults)
							}
						}
					}
				}
			}
		}
	}
	if left := childPIDs(); len(left) > 0 {
		return rep, fmt.Errorf("child processes left after the run: %v", left)
	}
	return rep, nil
}

// rowSpec is one row to run.
type rowSpec struct {
	rowTarget
	row      string
	clip     ClipSpec
	clipPath string
	bitrate  float64
	paced    bool
}

// runRow measures one server with n pushers: one steady window, or the
// early and late windows of a -late run.
func runRow(ctx context.Context, o Options, dir string, rs rowSpec) (res []Result, err error) {
	rowDir := filepath.Join(dir, rs.row)
	if err := os.Mkdir(rowDir, 0o755); err != nil {
		return nil, err
	}
	// Whatever earlier rows left on the heap is not this row's: collect
	// it before the server starts, so the idle RSS is this server's.
	debug.FreeOSMemory()
	t, err := startTarget(rs.rowTarget, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		if serr := t.shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}()
	var forcedGCs uint32 // GCs the harness forces after w0
	debug.FreeOSMemory()
	w0, err := take(t) // idle: the whole run starts here
	if err != nil {
		return nil, err
	}

	n := rs.n
	ps, err := startPushers(ctx, n, rowDir, rs.clipPath, t.pushOutput, rs.paced)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	defer func() { // runs before the server shuts down
		if kerr := ps.killAll(); kerr != nil && err == nil {
			err = kerr
		}
	}()

	connectTimeout := o.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = 20*time.Second + time.Duration(n)*500*time.Millisecond
	}
	deadline := started.Add(connectTimeout)
	for {
		got := t.publishing()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d pushers publishing after %v", got, n, connectTimeout)
		}
		if err := ps.sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("waiting for pushers to publish: %w", err)
		}
	}

	type window struct {
		name       string
		start, end time.Duration // from started; start < 0: after the warm-up
	}
	var windows []window
	if o.Late > 0 {
		windows = []window{{"early", EarlyStart, EarlyStart + EarlyLength}, {"late", LateStart, o.Late - lateTail}}
	} else {
		windows = []window{{"steady", -1, -1}}
	}
	profile := slices.Contains(o.ProfileServers, rs.server)
	for _, w := range windows {
		var cpuFile *os.File
		if w.start < 0 {
			if err := ps.sleep(ctx, o.Warmup); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
			if profile && o.MemProfile != "" {
				// Record every allocation (by default) from here to the end
				// profile; other rows keep the default sampling.
				old := runtime.MemProfileRate
				runtime.MemProfileRate = o.MemProfileRate
				defer func() { runtime.MemProfileRate = old }()
				if err := writeAllocs(o.MemProfile + "-" + rs.row + "-start.pprof"); err != nil {
					return nil, err
				}
				forcedGCs += 2
			}
			// Start-up garbage (handshakes, connects, the profile write) is
			// not steady state: collect it and return free pages first.
			debug.FreeOSMemory()
			forcedGCs++
		} else {
			if d := time.Until(started.Add(w.start)); d > 0 {
				if err := ps.sleep(ctx, d); err != nil {
					return nil, fmt.Errorf("before the %s window: %w", w.name, err)
				}
			} else if w.name == "early" {
				fmt.Fprintf(o.Progress, "ingestbench: %s: the pushers took %v to publish; the early window starts late\n", rs.row, time.Since(started).Round(100*time.Millisecond))
			}
		}
		if profile && o.CPUProfile != "" && (w.start < 0 || w.name == "late") {
			if cpuFile, err = os.Create(o.CPUProfile + "-" + rs.row + ".pprof"); err != nil {
				return nil, err
			}
			defer cpuFile.Close()
			if err := pprof.StartCPUProfile(cpuFile); err != nil {
				return nil, err
			}
		}
		a, err := take(t)
		if err != nil {
			return nil, err
		}
		length := o.Window
		if w.start >= 0 {
			length = time.Until(started.Add(w.end))
		}
		werr := ps.sleep(ctx, length)
		b, err := take(t)
		if cpuFile != nil {
			pprof.StopCPUProfile()
		}
		if werr != nil {
			return nil, fmt.Errorf("%s window: %w", w.name, werr)
		}
		if err != nil {
			return nil, err
		}
		if w.start < 0 && profile && o.MemProfile != "" {
			if err := writeAllocs(o.MemProfile + "-" + rs.row + "-end.pprof"); err != nil {
				return nil, err
			}
			forcedGCs += 2
		}
		if got := t.publishing(); got != n {
			return nil, fmt.Errorf("%d of %d pushers still publishing at the end of the %s window", got, n, w.name)
		}
		r := diff(a, b)
		r.Protocol, r.Transport, r.Server, r.N, r.Paced = rs.protocol, rs.transport, rs.server, n, rs.paced
		r.Clip, r.ClipBitrate = rs.clip.Name, rs.bitrate
		r.WindowName, r.WindowStart = w.name, a.at.Sub(started)
		_, r.CopiedKnown = t.bytesCopied()
		r.RSSIdleKB = w0.proc.rssKB
		r.Profiled = profile && (o.CPUProfile != "" || o.MemProfile != "")
		if r.Bytes <= 0 {
			return nil, fmt.Errorf("no bytes ingested during the %s window", w.name)
		}
		res = append(res, r)
	}
	if o.Late > 0 {
		if d := time.Until(started.Add(o.Late)); d > 0 {
			if err := ps.sleep(ctx, d); err != nil {
				return nil, fmt.Errorf("end of the run: %w", err)
			}
		}
	}
	wEnd, err := take(t)
	if err != nil {
		return nil, err
	}
	if err := t.check(wEnd.bytes); err != nil {
		return nil, err
	}
	whole := wholeDiff(w0, wEnd, forcedGCs)
	for i := range res {
		res[i].Whole = whole
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
