package mpegts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testclip"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	if clipDir != "" {
		os.RemoveAll(clipDir)
	}
	os.Exit(code)
}

// countSource is a Source that counts its holds; the feeder's own hold is
// the first.
type countSource struct {
	refs     int
	retains  int
	released bool
	t        testing.TB
}

func (s *countSource) Retain() {
	if s.refs <= 0 {
		s.t.Errorf("Retain of a released source")
	}
	s.refs++
	s.retains++
}

func (s *countSource) Release() {
	s.refs--
	if s.refs < 0 {
		s.t.Errorf("source released more often than retained")
	}
}

// ledger tracks every source a feed made.
type ledger struct{ all []*countSource }

func (l *ledger) new(t testing.TB) *countSource {
	s := &countSource{refs: 1, t: t}
	l.all = append(l.all, s)
	return s
}

func (l *ledger) balanced() error {
	for i, s := range l.all {
		if s.refs != 0 {
			return fmt.Errorf("source %d has %d holds left (retained %d times)", i, s.refs, s.retains)
		}
	}
	return nil
}

// gotAU is a test's copy of one emitted access unit.
type gotAU struct {
	kind     host.Kind
	codec    codec.Codec
	pts, dts time.Duration
	key      bool
	units    [][]byte // copies
	bufs     [][]byte // the views, for address checks
	srcs     []Source
}

// collector takes access units the way a publisher does: it keeps views,
// and holds the sources until release.
type collector struct {
	aus  []gotAU
	held []Source
}

func (c *collector) emit(au *AccessUnit) error {
	g := gotAU{kind: au.Kind, codec: au.Codec, pts: au.PTS, dts: au.DTS, key: au.Keyframe}
	size := 0
	for _, b := range au.Payload.Buffers {
		size += len(b)
	}
	if size != au.Payload.Size {
		return fmt.Errorf("payload size %d, buffers hold %d", au.Payload.Size, size)
	}
	for _, u := range au.Units {
		if u.Off < 0 || u.Len <= 0 || u.End() > au.Payload.Size {
			return fmt.Errorf("unit %+v outside %d-byte payload", u, au.Payload.Size)
		}
		g.units = append(g.units, codec.AppendSpanBytes(nil, &au.Payload, u))
	}
	if n := len(au.Units); n > 0 && au.Units[n-1].End() != au.Payload.Size {
		return fmt.Errorf("units end at %d, payload is %d", au.Units[n-1].End(), au.Payload.Size)
	}
	g.bufs = append(g.bufs, au.Payload.Buffers...)
	g.srcs = append(g.srcs, au.Sources...)
	c.held = append(c.held, au.Sources...)
	c.aus = append(c.aus, g)
	return nil
}

func (c *collector) releaseAll() {
	for _, s := range c.held {
		s.Release()
	}
	c.held = nil
}

// feed pushes data as TS packets, a new source every 7 packets, resyncing
// on misalignment. It returns the errors Push returned other than ErrSync.
func feed(t testing.TB, d *Demuxer, data []byte, l *ledger, emit func(*AccessUnit) error) []error {
	var errs []error
	var src *countSource
	n := 0
	for off := 0; off+PacketSize <= len(data); {
		if src == nil || n == 7 {
			if src != nil {
				src.Release()
			}
			src, n = l.new(t), 0
		}
		err := d.Push(data[off:off+PacketSize], src, emit)
		n++
		if errors.Is(err, ErrSync) {
			r := Resync(data[off+1:])
			if r < 0 {
				break
			}
			off += 1 + r
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
		off += PacketSize
	}
	if err := d.Flush(emit); err != nil {
		errs = append(errs, err)
	}
	if src != nil {
		src.Release()
	}
	return errs
}

// within reports whether b lies inside one 188-byte packet of data, past
// its 4-byte header.
func within(data, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(data)) {
		return false
	}
	off := int(p - base)
	return off%PacketSize >= 4 && off%PacketSize+len(b) <= PacketSize
}

// ---- real clips -------------------------------------------------------

var (
	clipOnce sync.Once
	clipDir  string
	clipErr  error
	clips    map[string]string
)

type clipSpec struct {
	name  string
	codec codec.Codec
}

func runTool(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func has265() bool {
	out, err := runTool("ffmpeg", "-hide_banner", "-encoders")
	return err == nil && bytes.Contains(out, []byte("libx265"))
}

// tsClip returns the path of one of the TS clips ("h264", "h264bf2",
// "h265"), generating them once.
func tsClip(t testing.TB, name string) string {
	t.Helper()
	flv := testclip.FLV(t)
	clipOnce.Do(func() {
		clipDir, clipErr = os.MkdirTemp("", "mpegts-clips-")
		if clipErr != nil {
			return
		}
		clips = map[string]string{}
		src := []string{"-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2"}
		jobs := map[string][]string{
			"h264":    {"-hide_banner", "-loglevel", "error", "-i", flv, "-c", "copy", "-f", "mpegts"},
			"h264bf2": append(append([]string{}, src...), "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts"),
		}
		if has265() {
			jobs["h265"] = append(append([]string{}, src...), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts")
		}
		for n, args := range jobs {
			out := filepath.Join(clipDir, n+".ts")
			if _, clipErr = runTool("ffmpeg", append(args, out)...); clipErr != nil {
				return
			}
			clips[n] = out
		}
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	p, ok := clips[name]
	if !ok {
		t.Skipf("clip %s not available (libx265 missing)", name)
	}
	return p
}

// splitAnnexB is the test's own, naive Annex-B splitter.
func splitAnnexB(b []byte) [][]byte {
	var units [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				units = append(units, bytes.TrimRight(b[start:i], "\x00"))
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 {
		units = append(units, bytes.TrimRight(b[start:], "\x00"))
	}
	return units
}

func isAUD(c codec.Codec, u []byte) bool {
	if c == codec.H265 {
		return codec.H265Type(u[0]) == codec.H265AUD
	}
	return codec.H264Type(u[0]) == codec.H264AUD
}

// splitADTS returns the raw frames of an ADTS stream.
func splitADTS(t testing.TB, b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 7 {
		hl := 7
		if b[1]&1 == 0 {
			hl = 9
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		if b[0] != 0xFF || n > len(b) || n < hl {
			t.Fatalf("bad ADTS reference stream")
		}
		frames = append(frames, b[hl:n])
		b = b[n:]
	}
	return frames
}

type probePkt struct {
	pts, dts time.Duration
	key      bool
}

func probe(t testing.TB, path, sel string) []probePkt {
	out, err := runTool("ffprobe", "-v", "error", "-select_streams", sel, "-show_entries", "packet=pts_time,dts_time,flags", "-of", "csv=p=0", path)
	if err != nil {
		t.Fatal(err)
	}
	var pk []probePkt
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 3 {
			t.Fatalf("ffprobe line %q", line)
		}
		pts, e1 := strconv.ParseFloat(f[0], 64)
		dts, e2 := strconv.ParseFloat(f[1], 64)
		if e1 != nil || e2 != nil {
			t.Fatalf("ffprobe line %q", line)
		}
		pk = append(pk, probePkt{pts: time.Duration(pts * 1e9), dts: time.Duration(dts * 1e9), key: strings.Contains(f[2], "K")})
	}
	return pk
}
