package rtptest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// Run runs a command with a minute's timeout and returns its standard
// output; a failure fails t with its standard error.
func Run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, stderr.String())
	}
	return string(out)
}

// SplitAnnexB returns the NAL units of an Annex-B stream.
func SplitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		b = b[i+3:]
		j := bytes.Index(b, []byte{0, 0, 1})
		if j < 0 {
			nals = append(nals, b)
			break
		}
		n := b[:j]
		if len(n) > 0 && n[len(n)-1] == 0 { // a 4-byte start code follows
			n = n[:len(n)-1]
		}
		nals = append(nals, n)
		b = b[j:]
	}
	return nals
}

// ReorderDepacketizer is a video depacketizer that reports the reorder
// depth its DTS is derived with.
type ReorderDepacketizer interface {
	rtp.Depacketizer
	ReorderDepth() int
}

// FFprobeCase is one codec's TestBFramesAgainstFFprobe.
type FFprobeCase struct {
	Encoder []string            // ffmpeg encoder arguments ("-c:v", "libx264", ...), with two B-frames
	Format  string              // the elementary stream's ffmpeg format, also its file extension
	IsAUD   func(nal byte) bool // whether a NAL (by its first byte) is an access unit delimiter
	Frame   func(pts int64, units ...[]byte) *host.Frame
	Packet  rtp.Packetizer // at 90 kHz, MTU 1200
	NewDep  func(a *pool.Allocator) ReorderDepacketizer
}

// BFramesAgainstFFprobe encodes a clip with two B-frames, packetizes its
// access units with the PTS ffprobe reports, depacketizes them and checks
// the derived DTS: monotonic, <= PTS, so that FLV's CTS (PTS-DTS) is never
// negative; the reorder depth comes from the SPS's VUI.
func BFramesAgainstFFprobe(t *testing.T, c FFprobeCase) {
	testclip.NeedFFmpeg(t)
	dir := t.TempDir()
	ts := filepath.Join(dir, "bf.ts")
	args := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "3"}, c.Encoder...)
	Run(t, "ffmpeg", append(args, "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts", ts)...)
	es := filepath.Join(dir, "bf."+c.Format)
	Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", ts, "-c", "copy", "-f", c.Format, es)
	out := Run(t, "ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts,dts", "-of", "csv=p=0", ts)
	type pd struct{ pts, dts int64 }
	var probe []pd
	for line := range strings.Lines(strings.TrimSpace(out)) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p, d, _ := strings.Cut(strings.Trim(strings.TrimSpace(line), ","), ",")
		pi, err1 := strconv.ParseInt(p, 10, 64)
		di, err2 := strconv.ParseInt(d, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("ffprobe line %q", line)
		}
		probe = append(probe, pd{pi, di})
	}
	raw, err := os.ReadFile(es)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for _, n := range SplitAnnexB(raw) {
		if c.IsAUD(n[0]) || len(aus) == 0 {
			aus = append(aus, nil)
		}
		if !c.IsAUD(n[0]) {
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	if len(aus) != len(probe) || len(aus) < 50 {
		t.Fatalf("%d access units, ffprobe has %d packets", len(aus), len(probe))
	}
	reordered := false
	for i := 1; i < len(probe); i++ {
		reordered = reordered || probe[i].pts < probe[i-1].pts
	}
	if !reordered {
		t.Fatal("the clip has no B-frames")
	}

	var frames []*host.Frame
	for i, units := range aus {
		frames = append(frames, c.Frame(int64(rtp.TicksToDuration(probe[i].pts-probe[0].pts, 90000)), units...))
	}
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d := c.NewDep(a)
	col := &Collector{T: t, A: a}
	for _, b := range Packetize(t, c.Packet, frames) {
		if err := col.Push(d, b); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatal("not balanced")
	}
	if d.ReorderDepth() != 2 {
		t.Fatalf("reorder depth %d, want 2 from the SPS", d.ReorderDepth())
	}
	if len(col.AUs) != len(aus) {
		t.Fatalf("%d AUs of %d; stats %+v", len(col.AUs), len(aus), d.Stats())
	}
	shift := 2 * rtp.DTSStep
	var maxDiff time.Duration
	for i, au := range col.AUs {
		if !EqualUnits(au.Units, aus[i]) {
			t.Fatalf("AU %d units differ", i)
		}
		pts, dts := time.Duration(au.PTS), time.Duration(au.DTS)
		if pts != frames[i].PTS+shift {
			t.Fatalf("AU %d pts %v want %v", i, pts, frames[i].PTS+shift)
		}
		if dts > pts || (i > 0 && dts <= time.Duration(col.AUs[i-1].DTS)) {
			t.Fatalf("AU %d: dts %v pts %v prev dts %v", i, dts, pts, time.Duration(col.AUs[i-1].DTS))
		}
		if cts := pts.Milliseconds() - dts.Milliseconds(); cts < 0 {
			t.Fatalf("AU %d: FLV CTS %d ms", i, cts)
		}
		ff := rtp.TicksToDuration(probe[i].dts-probe[0].pts, 90000) + shift
		maxDiff = max(maxDiff, (dts - ff).Abs())
	}
	t.Logf("%d AUs, max |DTS - ffprobe DTS| = %v (ffprobe's DTS also lags PTS by the reorder delay)", len(col.AUs), maxDiff)
	if maxDiff > 2*40*time.Millisecond {
		t.Fatalf("DTS strays %v from ffprobe's", maxDiff)
	}
}
