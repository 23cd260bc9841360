package quicbench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy"
	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/server"
)

// Roles a node process runs.
const (
	RoleParent = "parent" // embedded host: RTMP ingest, QUIC cascade parent
	RoleChild  = "child"  // embedded host: cascade child pulling Paths, HTTP-FLV to players
	RoleFloor  = "floor"  // bare QUIC child: PULLFLV each path, read into one reused buffer, discard
)

// NodeOptions configure one node process (quicbench -node ROLE).
type NodeOptions struct {
	Role   string
	Parent string   // the parent's QUIC address (child, floor)
	Paths  []string // what a child or the floor pulls
	// MemProfile, when set, is the prefix of the allocation profiles the
	// node writes at the window's ends: <prefix>-<role>-{start,end}.pprof.
	MemProfile string
	// MemProfileRate is runtime.MemProfileRate for the whole process (set
	// first thing): 1 records every allocation, so the split between
	// quic-go and the rest is exact rather than sampled.
	MemProfileRate int
	// Name labels the node's profile files (parent, child1 …).
	Name string
	// AllocatorSize, when positive, sets zerocopy.rtmp.allocatorsize and
	// zerocopy.quic.allocatorsize (the first arena of each publisher).
	AllocatorSize int
}

// Ready is the node's first line on stdout.
type Ready struct {
	PID  int    `json:"pid"`
	RTMP string `json:"rtmp,omitempty"`
	QUIC string `json:"quic,omitempty"`
	HTTP string `json:"http,omitempty"`
}

// Snapshot is one end of a measured window in a node process.
type Snapshot struct {
	At         time.Time `json:"at"`
	User       int64     `json:"user_ns"`
	Sys        int64     `json:"sys_ns"`
	TotalAlloc uint64    `json:"total_alloc"`
	Mallocs    uint64    `json:"mallocs"`
	NumGC      uint32    `json:"num_gc"`
	HeapInuse  uint64    `json:"heap_inuse"`
	// Relayed is the bytes of FLV the node moved over QUIC: written to
	// pull streams (parent), read from them (child, floor).
	Relayed int64 `json:"relayed"`
	// In is the parent's RTMP socket bytes; Copied the child's control
	// bytes copied on the pull path.
	In     int64 `json:"in"`
	Copied int64 `json:"copied"`
	Pulls  int64 `json:"pulls"` // pulls active now
	// Split is the allocation profile's delta since the window's start
	// (only in the end snapshot).
	Split *Split `json:"split,omitempty"`
}

// Split divides the window's allocated bytes by who allocated them: a
// stack with a github.com/quic-go frame is quic-go's (quic-go's own work,
// and what our calls into it allocate inside it); the rest is ours (a
// github.com/zcingest frame) or other (runtime and standard library only:
// net/http's server, timers).
type Split struct {
	Rate       int              `json:"rate"`
	QUICGo     int64            `json:"quic_go"`
	Ours       int64            `json:"ours"`
	Other      int64            `json:"other"`
	Harness    int64            `json:"harness"`                // the node's own measuring (command loop, profiles): left out
	TopNonQUIC []FuncBytes      `json:"top_non_quic,omitempty"` // by allocating function (leaf-most non-runtime frame)
	TopQUIC    []FuncBytes      `json:"top_quic,omitempty"`
	Packages   map[string]int64 `json:"packages"` // by the leaf-most non-runtime frame's package
}

// FuncBytes is one function's allocated bytes in the window.
type FuncBytes struct {
	Func  string `json:"func"`
	Bytes int64  `json:"bytes"`
}

// RunNode runs one node until stdin says quit (or closes). It prints
// Ready, then answers each command line on stdin with one JSON line:
// "start" (a GC, the profile's base, then the snapshot) and "end" (the
// snapshot, then a GC and the profile's delta), "status".
func RunNode(o NodeOptions, stdin io.Reader, stdout io.Writer) error {
	if o.MemProfileRate > 0 {
		runtime.MemProfileRate = o.MemProfileRate
	}
	var n node
	var err error
	switch o.Role {
	case RoleParent, RoleChild:
		n, err = startHostNode(o)
	case RoleFloor:
		n, err = startFloor(o)
	default:
		return fmt.Errorf("unknown role %q", o.Role)
	}
	if err != nil {
		return err
	}
	defer n.close()
	enc := json.NewEncoder(stdout)
	r := n.ready()
	r.PID = os.Getpid()
	if err := enc.Encode(r); err != nil {
		return err
	}
	var base map[[32]uintptr]runtime.MemProfileRecord
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "status":
			err = enc.Encode(n.snapshot())
		case "start":
			runtime.GC()
			base = memRecords()
			if err = writeProfile(o, "start"); err == nil {
				err = enc.Encode(n.snapshot())
			}
		case "end":
			s := n.snapshot()
			runtime.GC()
			s.Split = split(base, memRecords(), runtime.MemProfileRate)
			if err = writeProfile(o, "end"); err == nil {
				err = enc.Encode(s)
			}
		case "quit":
			return nil
		default:
			err = enc.Encode(map[string]string{"error": "unknown command"})
		}
		if err != nil {
			return err
		}
	}
	return sc.Err()
}

func writeProfile(o NodeOptions, end string) error {
	if o.MemProfile == "" {
		return nil
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-%s.pprof", o.MemProfile, o.Name, end))
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// node is one role's process state.
type node interface {
	ready() Ready
	snapshot() Snapshot
	close()
}

func baseSnapshot() Snapshot {
	var s Snapshot
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.At = time.Now()
	s.User, s.Sys = ru.Utime.Nano(), ru.Stime.Nano()
	s.TotalAlloc, s.Mallocs, s.NumGC, s.HeapInuse = ms.TotalAlloc, ms.Mallocs, ms.NumGC, ms.HeapInuse
	return s
}

// ---- parent and child: the embedded host ----

type hostNode struct {
	role string
	srv  *server.Server
	zc   *zerocopy.ZeroCopy
}

// nodeYAML is the host's config: warn logs, HTTP on a free loopback port,
// only RTMP (parent) and QUIC enabled. Players stay with their stream
// while a pull reconnects (reconnectwait as the default).
func nodeYAML(o NodeOptions) string {
	var b strings.Builder
	b.WriteString("global:\n  loglevel: warn\n  http:\n    listenaddr: 127.0.0.1:0\n    maxconnections: 4096\n")
	b.WriteString("zerocopy:\n")
	fmt.Fprintf(&b, "  rtmp:\n    enable: %t\n    listenaddr: 127.0.0.1:0\n", o.Role == RoleParent)
	if o.AllocatorSize > 0 {
		fmt.Fprintf(&b, "    allocatorsize: %d\n", o.AllocatorSize)
	}
	b.WriteString("  rtsp:\n    enable: false\n  srt:\n    enable: false\n")
	b.WriteString("  quic:\n    enable: true\n    insecure: true\n")
	if o.AllocatorSize > 0 {
		fmt.Fprintf(&b, "    allocatorsize: %d\n", o.AllocatorSize)
	}
	if o.Role == RoleParent {
		b.WriteString("    listenaddr: 127.0.0.1:0\n")
	} else {
		fmt.Fprintf(&b, "    listenaddr: \"\"\n    parent: %s\n    pull:\n", o.Parent)
		for _, p := range o.Paths {
			fmt.Fprintf(&b, "      - %s\n", p)
		}
	}
	return b.String()
}

func startHostNode(o NodeOptions) (*hostNode, error) {
	file, err := config.Parse("quicbench.yaml", []byte(nodeYAML(o)))
	if err != nil {
		return nil, err
	}
	cfg, err := server.BuildConfig(file, nil)
	if err != nil {
		return nil, err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.Start(cfg)
	if err != nil {
		return nil, err
	}
	zc, ok := cfg.Plugins[0].Plugin.(*zerocopy.ZeroCopy)
	if !ok {
		_ = srv.Shutdown(context.Background())
		return nil, errors.New("the zerocopy plugin is not the host's first plugin")
	}
	return &hostNode{role: o.Role, srv: srv, zc: zc}, nil
}

func (n *hostNode) ready() Ready {
	r := Ready{HTTP: n.srv.HTTPAddr().String()}
	if a := n.srv.Addrs()["rtmp"]; a != nil {
		r.RTMP = a.String()
	}
	if a := n.srv.Addrs()["quic"]; a != nil {
		r.QUIC = a.String()
	}
	return r
}

func (n *hostNode) snapshot() Snapshot {
	s := baseSnapshot()
	ps, cs := n.zc.QUICStats()
	if n.role == RoleParent && ps != nil {
		s.Relayed = ps.BytesOut.Load()
		s.Pulls = ps.ActivePulls.Load()
		s.In = n.srv.Hub().Totals("rtmp").BytesRead.Load()
	}
	if n.role == RoleChild && cs != nil {
		t := n.srv.Hub().Totals("quic")
		s.Relayed = t.BytesRead.Load()
		s.Copied = t.BytesCopied.Load()
		s.Pulls = cs.ActivePulls.Load()
	}
	return s
}

func (n *hostNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
}

// ---- the floor: read the QUIC streams, discard ----

// floorNode is the child-side floor: one QUIC connection, registration,
// one PULLFLV stream per path, each read into one reused 64 KiB buffer and
// discarded. What it costs is what receiving the relayed bytes through
// quic-go costs at all.
type floorNode struct {
	conn   *quic.Conn
	bytes  atomic.Int64
	active atomic.Int64
	wg     sync.WaitGroup
}

func startFloor(o NodeOptions) (*floorNode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, o.Parent, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{wire.ALPN}},
		&quic.Config{MaxIdleTimeout: 30 * time.Second, KeepAlivePeriod: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	f := &floorNode{conn: conn}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	msg, _ := wire.AppendSecret(nil, "")
	if _, err := st.Write(msg); err != nil {
		return nil, err
	}
	var ans [2]byte
	if _, err := io.ReadFull(st, ans[:]); err != nil || ans != wire.Accepted {
		return nil, fmt.Errorf("floor registration: %v %v", ans, err)
	}
	_ = st.Close()
	for _, p := range o.Paths {
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := st.Write(wire.AppendRequestLine(nil, wire.MethodPull, p, "")); err != nil {
			return nil, err
		}
		f.active.Add(1)
		f.wg.Go(func() {
			defer f.active.Add(-1)
			buf := make([]byte, 64<<10)
			for {
				n, err := st.Read(buf)
				f.bytes.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
	}
	return f, nil
}

func (f *floorNode) ready() Ready { return Ready{} }

func (f *floorNode) snapshot() Snapshot {
	s := baseSnapshot()
	s.Relayed = f.bytes.Load()
	s.Pulls = f.active.Load()
	return s
}

func (f *floorNode) close() {
	f.conn.CloseWithError(0, "floor done")
	f.wg.Wait()
}

// ---- the allocation profile's split ----

func memRecords() map[[32]uintptr]runtime.MemProfileRecord {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	m := make(map[[32]uintptr]runtime.MemProfileRecord, len(recs))
	for _, r := range recs {
		m[r.Stack0] = r
	}
	return m
}

// scaled undoes the profile's sampling as pprof does (scaleHeapSample).
func scaled(count, size int64, rate int) int64 {
	if count == 0 || size == 0 {
		return 0
	}
	if rate <= 1 {
		return size
	}
	avg := float64(size) / float64(count)
	scale := 1 / (1 - math.Exp(-avg/float64(rate)))
	return int64(float64(size) * scale)
}

func split(base, now map[[32]uintptr]runtime.MemProfileRecord, rate int) *Split {
	s := &Split{Rate: rate, Packages: map[string]int64{}}
	nonQUIC, quicFn := map[string]int64{}, map[string]int64{}
	for k, r := range now {
		b := base[k]
		bytes := scaled(r.AllocObjects-b.AllocObjects, r.AllocBytes-b.AllocBytes, rate)
		if bytes <= 0 {
			continue
		}
		isQUIC, isOurs, isHarness := false, false, false
		leaf := ""
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			fn := f.Function
			if strings.HasPrefix(fn, "github.com/quic-go/") {
				isQUIC = true
			}
			if strings.HasPrefix(fn, "github.com/zcingest/") {
				isOurs = true
			}
			if fn == "github.com/zcingest/zerocopy/bench/quicbench.RunNode" || strings.HasPrefix(fn, "runtime/pprof.") {
				isHarness = true // the node's command loop and profile writing
			}
			if leaf == "" && fn != "" && !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/") {
				leaf = fn
			}
			if !more {
				break
			}
		}
		if leaf == "" {
			leaf = "runtime"
		}
		if isHarness {
			s.Harness += bytes
			continue
		}
		s.Packages[funcPackage(leaf)] += bytes
		switch {
		case isQUIC:
			s.QUICGo += bytes
			quicFn[leaf] += bytes
		case isOurs:
			s.Ours += bytes
			nonQUIC[leaf] += bytes
		default:
			s.Other += bytes
			nonQUIC[leaf] += bytes
		}
	}
	s.TopNonQUIC, s.TopQUIC = top(nonQUIC, 10), top(quicFn, 10)
	return s
}

// funcPackage is the import path of a function's package.
func funcPackage(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

func top(m map[string]int64, n int) []FuncBytes {
	out := make([]FuncBytes, 0, len(m))
	for k, v := range m {
		out = append(out, FuncBytes{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
