package quicbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/bench/ingestbench"
)

// Clip is the benchmark's clip: 720p30 x264 at about 3.9 Mbit/s with AAC
// (issue 11: "~4 Mbit/s 720p"), 30 s, looped by each publisher. It is
// encoded once and cached (ingestbench.CachedClip: the file name is a
// hash of the ffmpeg arguments).
var Clip = ingestbench.ClipSpec{Name: "quic", Seconds: 30, Width: 1280, Height: 720, FPS: 30, VideoBitrate: "3800k", GOP: 60, AudioBitrate: "128k"}

// Options configure a run.
type Options struct {
	Publishers      int           // paced ffmpeg publishers into the parent (8)
	Children        int           // children pulling every stream (2)
	PlayersPerChild int           // HTTP-FLV players on each child (20)
	Warmup          time.Duration // after every player reads, before the window
	Window          time.Duration // measured window
	Floor           bool          // also measure the floor (a bare QUIC child) in a second phase
	ClipDir         string        // clip cache ("" : a temporary directory)
	ClipPath        string        // an FLV clip to use instead (ClipSeconds long)
	ClipSeconds     int
	WorkDir         string // node and pusher logs, profiles ("": a temporary directory, removed)
	MemProfile      string // prefix of the nodes' allocation profiles (see NodeOptions)
	MemProfileRate  int    // runtime.MemProfileRate of the nodes
	AllocatorSize   int    // zerocopy.{rtmp,quic}.allocatorsize of the nodes (0: the config default)
	Executable      string // this program (re-run with -node for each node)
	Progress        io.Writer
}

// Row is one node's measured window.
type Row struct {
	Node       string        `json:"node"`
	Window     time.Duration `json:"window_ns"`
	Relayed    int64         `json:"relayed"` // QUIC bytes: out (parent), in (child, floor)
	Egress     int64         `json:"egress"`  // child: HTTP-FLV bytes its players read
	In         int64         `json:"in"`      // parent: RTMP bytes in
	Copied     int64         `json:"copied"`  // child: control bytes copied on the pull path
	AllocBytes uint64        `json:"alloc_bytes"`
	Mallocs    uint64        `json:"mallocs"`
	GCs        uint32        `json:"gcs"`
	CPU        time.Duration `json:"cpu_ns"`
	HeapInuse  uint64        `json:"heap_inuse"`
	Split      *Split        `json:"split"`
}

// PerByte is allocated bytes per relayed byte.
func (r Row) PerByte(b int64) float64 { return float64(b) / float64(r.Relayed) }

// CPUPerGB is CPU seconds per 10^9 relayed bytes.
func (r Row) CPUPerGB() float64 { return r.CPU.Seconds() / (float64(r.Relayed) / 1e9) }

// Report is a run's result.
type Report struct {
	Options     Options `json:"-"`
	ClipBitrate float64 `json:"clip_bitrate"`
	Rows        []Row   `json:"rows"`
	PlayerErrs  int64   `json:"player_errors"`
	Machine     string  `json:"machine"`
	Command     string  `json:"command"`
}

func (o *Options) progress(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "quicbench: "+format+"\n", a...)
	}
}

// Run runs the benchmark.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Publishers <= 0 || o.Children <= 0 || o.Window <= 0 {
		return nil, errors.New("publishers, children and window must be positive")
	}
	work := o.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "quicbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		work = d
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Options: o, Machine: machine()}
	clip := o.ClipPath
	if clip == "" {
		spec := Clip
		if o.ClipSeconds > 0 {
			spec.Seconds = o.ClipSeconds
		}
		o.progress("encoding (or reusing) the clip: %s", spec)
		p, br, err := ingestbench.CachedClip(ctx, o.ClipDir, work, spec)
		if err != nil {
			return nil, err
		}
		clip, rep.ClipBitrate = p, br
	} else if st, err := os.Stat(clip); err != nil {
		return nil, err
	} else if o.ClipSeconds > 0 {
		rep.ClipBitrate = float64(st.Size()) * 8 / float64(o.ClipSeconds)
	}
	paths := make([]string, o.Publishers)
	for i := range paths {
		paths[i] = fmt.Sprintf("live/q%d", i)
	}
	var procs []*nodeProc
	defer func() {
		for _, p := range procs {
			p.quit()
		}
	}()
	parent, err := startNode(o, work, "parent", RoleParent, "", nil)
	if err != nil {
		return nil, err
	}
	procs = append(procs, parent)
	o.progress("parent pid %d: rtmp %s quic %s", parent.ready.PID, parent.ready.RTMP, parent.ready.QUIC)
	var pushers []*exec.Cmd
	defer func() {
		for _, c := range pushers {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_ = c.Wait()
		}
	}()
	for i, p := range paths {
		c, err := startPusher(work, i, clip, "rtmp://"+parent.ready.RTMP+"/"+p)
		if err != nil {
			return nil, err
		}
		pushers = append(pushers, c)
	}
	if err := waitFor(ctx, 30*time.Second, "publishers on the parent", func() (bool, error) {
		n, err := countStreams(ctx, parent.ready.HTTP)
		return n == len(paths), err
	}); err != nil {
		return nil, err
	}
	var children []*nodeProc
	for i := range o.Children {
		c, err := startNode(o, work, fmt.Sprintf("child%d", i+1), RoleChild, parent.ready.QUIC, paths)
		if err != nil {
			return nil, err
		}
		procs = append(procs, c)
		children = append(children, c)
		o.progress("child%d pid %d: http %s", i+1, c.ready.PID, c.ready.HTTP)
	}
	for _, c := range children {
		if err := waitPulls(ctx, c, len(paths)); err != nil {
			return nil, err
		}
	}
	pctx, stopPlayers := context.WithCancel(ctx)
	defer stopPlayers()
	var pwg sync.WaitGroup
	defer pwg.Wait()
	egress := make([]*atomic.Int64, len(children))
	var playerErrs atomic.Int64
	for ci, c := range children {
		egress[ci] = new(atomic.Int64)
		for j := range o.PlayersPerChild {
			url := "http://" + c.ready.HTTP + "/" + paths[j%len(paths)] + ".flv"
			pwg.Go(func() { play(pctx, url, egress[ci], &playerErrs) })
		}
	}
	o.progress("%d publishers, %d children, %d players each; warm-up %v", len(paths), len(children), o.PlayersPerChild, o.Warmup)
	if !sleepCtx(ctx, o.Warmup) {
		return nil, ctx.Err()
	}
	measured := []*nodeProc{parent, children[0]}
	rows, err := measure(ctx, o, measured, func() int64 { return egress[0].Load() })
	if err != nil {
		return nil, err
	}
	rep.Rows = append(rep.Rows, rows...)
	rep.PlayerErrs = playerErrs.Load()
	stopPlayers()
	pwg.Wait()
	for _, c := range children {
		c.quit()
	}
	if o.Floor {
		floor, err := startNode(o, work, "floor", RoleFloor, parent.ready.QUIC, paths)
		if err != nil {
			return nil, err
		}
		procs = append(procs, floor)
		o.progress("floor pid %d; warm-up %v", floor.ready.PID, o.Warmup)
		if err := waitPulls(ctx, floor, len(paths)); err != nil {
			return nil, err
		}
		if !sleepCtx(ctx, o.Warmup) {
			return nil, ctx.Err()
		}
		rows, err := measure(ctx, o, []*nodeProc{floor, parent}, nil)
		if err != nil {
			return nil, err
		}
		rows[1].Node = "parent (floor phase: 1 bare child)"
		rep.Rows = append(rep.Rows, rows...)
	}
	return rep, nil
}

// measure takes the window on the nodes at once.
func measure(ctx context.Context, o Options, nodes []*nodeProc, egress func() int64) ([]Row, error) {
	start := make([]Snapshot, len(nodes))
	for i, n := range nodes {
		if err := n.cmd("start", &start[i]); err != nil {
			return nil, err
		}
	}
	var e0 int64
	if egress != nil {
		e0 = egress()
	}
	o.progress("measuring %v", o.Window)
	if !sleepCtx(ctx, o.Window) {
		return nil, ctx.Err()
	}
	var e1 int64
	if egress != nil {
		e1 = egress()
	}
	rows := make([]Row, len(nodes))
	for i, n := range nodes {
		var end Snapshot
		if err := n.cmd("end", &end); err != nil {
			return nil, err
		}
		s := start[i]
		rows[i] = Row{
			Node: n.name, Window: end.At.Sub(s.At), Relayed: end.Relayed - s.Relayed,
			In: end.In - s.In, Copied: end.Copied - s.Copied,
			AllocBytes: end.TotalAlloc - s.TotalAlloc, Mallocs: end.Mallocs - s.Mallocs,
			GCs: end.NumGC - s.NumGC, CPU: time.Duration(end.User - s.User + end.Sys - s.Sys),
			HeapInuse: end.HeapInuse, Split: end.Split,
		}
		if n.role == RoleChild {
			rows[i].Egress = e1 - e0
		}
		if end.Pulls != start[i].Pulls {
			return nil, fmt.Errorf("%s: active pulls changed during the window (%d to %d)", n.name, start[i].Pulls, end.Pulls)
		}
	}
	return rows, nil
}

// play reads one HTTP-FLV stream into a reused buffer until ctx ends.
func play(ctx context.Context, url string, bytes, errs *atomic.Int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		errs.Add(1)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			errs.Add(1)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		errs.Add(1)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		bytes.Add(int64(n))
		if err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
			}
			return
		}
	}
}

func waitPulls(ctx context.Context, n *nodeProc, want int) error {
	return waitFor(ctx, 30*time.Second, n.name+" pulls", func() (bool, error) {
		var s Snapshot
		if err := n.cmd("status", &s); err != nil {
			return false, err
		}
		return s.Pulls == int64(want) && s.Relayed > 0, nil
	})
}

func waitFor(ctx context.Context, d time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s (last error: %v)", d, what, err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func countStreams(ctx context.Context, httpAddr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/api/streams", nil)
	if err != nil {
		return 0, err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var api struct {
		Streams []json.RawMessage `json:"streams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
		return 0, err
	}
	return len(api.Streams), nil
}

// startPusher starts one paced ffmpeg publisher in its own process group
// (killed with the group; Pdeathsig if the harness dies), its output in a
// log file.
func startPusher(dir string, i int, clip, url string) (*exec.Cmd, error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("pusher-%d.log", i)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re", "-stream_loop", "-1",
		"-i", clip, "-c", "copy", "-f", "flv", url)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pusher %d: %w", i, err)
	}
	return cmd, nil
}

// nodeProc is one node process and its command pipe.
type nodeProc struct {
	name, role string
	proc       *exec.Cmd
	in         io.WriteCloser
	out        *bufio.Scanner
	ready      Ready
	mu         sync.Mutex
	done       bool
}

// NodeArgs are the command-line arguments that run one node.
func NodeArgs(o Options, name, role, parent string, paths []string) []string {
	args := []string{"-node", role, "-name", name}
	if parent != "" {
		args = append(args, "-parent", parent)
	}
	if len(paths) > 0 {
		args = append(args, "-paths", strings.Join(paths, ","))
	}
	if o.MemProfile != "" {
		args = append(args, "-memprofile", o.MemProfile)
	}
	if o.AllocatorSize > 0 {
		args = append(args, "-allocatorsize", strconv.Itoa(o.AllocatorSize))
	}
	return append(args, "-memprofilerate", strconv.Itoa(o.MemProfileRate))
}

func startNode(o Options, dir, name, role, parent string, paths []string) (*nodeProc, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(o.Executable, NodeArgs(o, name, role, parent, paths)...)
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n := &nodeProc{name: name, role: role, proc: cmd, in: in, out: bufio.NewScanner(out)}
	n.out.Buffer(make([]byte, 64<<10), 16<<20)
	if err := n.read(&n.ready); err != nil {
		n.quit()
		b, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("%s did not start: %v: %s", name, err, strings.TrimSpace(string(b)))
	}
	return n, nil
}

func (n *nodeProc) read(v any) error {
	if !n.out.Scan() {
		if err := n.out.Err(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	return json.Unmarshal(n.out.Bytes(), v)
}

// cmd sends one command and decodes its answer.
func (n *nodeProc) cmd(c string, v any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.in, c+"\n"); err != nil {
		return fmt.Errorf("%s: %s: %w", n.name, c, err)
	}
	if err := n.read(v); err != nil {
		return fmt.Errorf("%s: %s: %w", n.name, c, err)
	}
	return nil
}

// quit asks the node to shut down, and kills it after 20 s.
func (n *nodeProc) quit() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done {
		return
	}
	n.done = true
	_, _ = io.WriteString(n.in, "quit\n")
	_ = n.in.Close()
	t := time.AfterFunc(20*time.Second, func() { _ = syscall.Kill(-n.proc.Process.Pid, syscall.SIGKILL) })
	_ = n.proc.Wait()
	t.Stop()
}

// machine describes the host: CPU model and count, kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		kernel = string(b)
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS default), Linux %s", model, runtime.NumCPU(), kernel)
}
