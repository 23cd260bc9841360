package zerocopy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/server"
)

// stServer is the embedded host with SRT on a kernel-chosen UDP port.
type stServer struct {
	*server.Server
	log  *testutil.LogBuffer
	srt  string // host:port (UDP)
	rtmp string
	http string
	// wantMalformed, when set, is the malformed datagrams the SRT
	// listener must have counted by shutdown (from its stop line).
	wantMalformed string
}

const stPassphrase = "correct-horse-battery"

// stStartServer runs the host with the plugin; srtExtra is appended to the
// zerocopy.srt section, zcExtra to the zerocopy section. Cleanup shuts it
// down and checks allocators, gosrt packets and goroutines.
func stStartServer(t *testing.T, srtExtra, zcExtra string) *stServer {
	t.Helper()
	testclip.NeedFFmpeg(t)
	base := runtime.NumGoroutine()
	yaml := fmt.Sprintf(`global:
  loglevel: debug
  http:
    listenaddr: 127.0.0.1:0
  publish:
    closewait: 2s
    reconnectwait: 0s
  subscribe:
    waittimeout: 10s
zerocopy:
%s  rtmp:
    listenaddr: 127.0.0.1:0
  srt:
    listenaddr: 127.0.0.1:0
    readtimeout: 2s
%s%s`, zcExtra, srtExtra, testutil.LoopbackProtocolsExcept("srt"))
	file, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.BuildConfig(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`listener=srt udp=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no srt listener in the log:\n%s", logs.String())
	}
	ts := &stServer{Server: srv, log: logs, srt: m[1], rtmp: srv.Addrs()["rtmp"].String(), http: srv.HTTPAddr().String()}
	t.Cleanup(func() {
		stWaitBalanced(t, ts)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		stCheckPackets(t, ts)
		testutil.WaitGoroutines(t, base)
		if t.Failed() || os.Getenv("ST_LOG") != "" {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// stWaitBalanced waits until every SRT publisher's allocator freed what
// it Malloc'd.
func stWaitBalanced(t *testing.T, ts *stServer) {
	t.Helper()
	tot := ts.Hub().Totals("srt")
	deadline := time.Now().Add(5 * time.Second)
	for tot.AllocMalloc.Load() != tot.AllocFree.Load() {
		if time.Now().After(deadline) {
			t.Errorf("srt allocators unbalanced: malloc %d free %d", tot.AllocMalloc.Load(), tot.AllocFree.Load())
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	stConnLine      = regexp.MustCompile(`msg="srt connection closed".*role=(\w+).* packets=(\d+) decommissioned=(\d+)`)
	stStopLine      = regexp.MustCompile(`msg="srt stopped".* packets=(\d+) decommissioned=(\d+) packets_abandoned=(\d+)`)
	stMalformedLine = regexp.MustCompile(`msg="srt stopped".* malformed_datagrams=(\d+)`)
)

// stCheckPackets checks, after shutdown, that every SRT packet a
// publisher wrapped was decommissioned, per connection and in total.
func stCheckPackets(t *testing.T, ts *stServer) {
	t.Helper()
	logs := ts.log.String()
	for _, m := range stConnLine.FindAllStringSubmatch(logs, -1) {
		if m[2] != m[3] {
			t.Errorf("%s connection: %s packets wrapped, %s decommissioned", m[1], m[2], m[3])
		}
	}
	m := stStopLine.FindStringSubmatch(logs)
	if m == nil {
		t.Errorf("no srt stopped line in the log")
		return
	}
	if m[1] != m[2] || m[3] != "0" {
		t.Errorf("srt totals: %s packets wrapped, %s decommissioned, %s abandoned", m[1], m[2], m[3])
	}
	if ts.wantMalformed != "" {
		if m := stMalformedLine.FindStringSubmatch(logs); m == nil || m[1] != ts.wantMalformed {
			t.Errorf("srt listener: malformed datagrams %v, want %s", m, ts.wantMalformed)
		}
	}
}

// stPushArgs publishes clip over SRT in real time.
func stPushArgs(clip, url string) []string {
	return []string{"-re", "-i", clip, "-c", "copy", "-f", "mpegts", url}
}

func stPush(ctx context.Context, clip, url string) error {
	out, err := ffmpeg(ctx, stPushArgs(clip, url)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg srt push: %v: %s", err, out)
	}
	return nil
}

func (ts *stServer) url(streamid, extra string) string {
	return "srt://" + ts.srt + "?streamid=" + streamid + "&pkt_size=1316" + extra
}

// stRecord starts ffmpeg reading url into out (format by extension).
func stRecord(t *testing.T, ctx context.Context, url, out string, in ...string) func() error {
	t.Helper()
	args := append(append([]string{}, in...), "-i", url, "-c", "copy", "-y", out)
	cmd := ffmpeg(ctx, args...)
	var buf bytes.Buffer
	var mu sync.Mutex
	w := stWriterFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() error {
		if err := cmd.Wait(); err != nil {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("ffmpeg read %s: %v: %s", out, err, buf.String())
		}
		return nil
	}
}

// stCanonical is a file's per-packet MD5s of one stream in issue 10's
// canonical form: Annex-B video without SPS/PPS/AUD, raw AAC.
func stCanonical(t *testing.T, file, spec string) []testclip.Packet {
	t.Helper()
	out := filepath.Join(t.TempDir(), "canon.nut")
	ts := strings.HasSuffix(file, ".ts")
	args := []string{"-hide_banner", "-loglevel", "error", "-i", file, "-map", spec, "-c", "copy"}
	switch {
	case spec == "0:v" && ts:
		args = append(args, "-bsf:v", "filter_units=remove_types=7|8|9")
	case spec == "0:v":
		args = append(args, "-bsf:v", "h264_mp4toannexb,filter_units=remove_types=7|8|9")
	case ts:
		args = append(args, "-bsf:a", "aac_adtstoasc")
	}
	args = append(args, "-f", "nut", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("canonical %s: %v: %s", file, err, b)
	}
	return testclip.FrameMD5(t, out, spec)
}

// stSameUnits checks that got's access units of spec are a contiguous run
// of the source's from a keyframe on (every one identical in canonical
// form, none missing), with monotonic DTS, covering at least minFrac.
func stSameUnits(t *testing.T, src, got, spec string, minFrac float64) {
	t.Helper()
	sameCanonicalRun(t, got, spec, stCanonical(t, src, spec), stCanonical(t, got, spec), minFrac)
}

// stWaitStream waits until path is published.
func stWaitStream(t *testing.T, ts *stServer, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, info := range ts.Hub().Streams() {
			if info.Path == path {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never published", path)
}

// stLongClip is the shared clip looped into a longer one (re-encoded
// once: stream copy of a looped FLV jumps timestamps), so that readers
// joining while a push runs see many access units.
func stClip(t *testing.T, name string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"}, extra...)
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-f", "flv", "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	return out
}

// TestSRTPublishReadBack: ffmpeg pushes the clip over SRT; SRT play,
// HTTP-FLV and RTMP play read it back, every access unit identical to
// the source's in canonical form. With and without a passphrase.
func TestSRTPublishReadBack(t *testing.T) {
	for _, tc := range []struct {
		name, srtExtra, urlExtra string
	}{
		{"plain", "", ""},
		{"passphrase", "    passphrase: " + stPassphrase + "\n", "&passphrase=" + stPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := stStartServer(t, tc.srtExtra, "")
			clip := testclip.FLV(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			outTS, outFLV, outRTMP := filepath.Join(dir, "srt.ts"), filepath.Join(dir, "http.flv"), filepath.Join(dir, "rtmp.flv")
			// HTTP-FLV and RTMP players wait for the publish (subscribe
			// waittimeout), so they start first and see it from its first
			// keyframe even when ffmpeg is slow to connect on a loaded
			// machine; an SRT player needs the stream to exist.
			waits := []func() error{
				stRecord(t, ctx, "http://"+ts.http+"/live/x.flv", outFLV, "-rw_timeout", "15000000"),
				stRecord(t, ctx, "rtmp://"+ts.rtmp+"/live/x", outRTMP, "-rw_timeout", "15000000"),
			}
			time.Sleep(300 * time.Millisecond)
			pushDone := make(chan error, 1)
			go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/x", tc.urlExtra)) }()
			stWaitStream(t, ts, "live/x")
			waits = append(waits, stRecord(t, ctx, ts.url("subscribe:/live/x", tc.urlExtra), outTS))
			if err := <-pushDone; err != nil {
				t.Fatal(err)
			}
			for _, w := range waits {
				if err := w(); err != nil {
					t.Fatal(err)
				}
			}
			for _, out := range []string{outTS, outFLV, outRTMP} {
				stSameUnits(t, clip, out, "0:v", 0.4)
				stSameUnits(t, clip, out, "0:a", 0.4)
			}
			if l := ts.log.String(); !strings.Contains(l, `msg="srt connection closed"`) || !strings.Contains(l, "role=play") {
				t.Errorf("no close logs for the SRT publisher and player")
			}
		})
	}
}

// TestSRTBFrames: a clip with B-frames (-bf 2: PTS != DTS) survives the
// demux and both egresses unit for unit.
func TestSRTBFrames(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := stClip(t, "bf.flv", "-bf", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/bf", "")) }()
	stWaitStream(t, ts, "live/bf")
	outTS, outFLV := filepath.Join(dir, "srt.ts"), filepath.Join(dir, "http.flv")
	w1 := stRecord(t, ctx, ts.url("#!::r=live/bf,m=request", ""), outTS)
	w2 := stRecord(t, ctx, "http://"+ts.http+"/live/bf.flv", outFLV, "-rw_timeout", "15000000")
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := w1(); err != nil {
		t.Fatal(err)
	}
	if err := w2(); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{outTS, outFLV} {
		stSameUnits(t, clip, out, "0:v", 0.5)
		stSameUnits(t, clip, out, "0:a", 0.5)
	}
}

// TestSRTRefusals: a wrong or missing passphrase, a bad key, a second
// publisher on a taken path, a 600-character streamid and an unknown mode
// are each refused with their SRT rejection code; the server lives on.
func TestSRTRefusals(t *testing.T) {
	ts := stStartServer(t, "    passphrase: "+stPassphrase+"\n", "  auth:\n    publishkey: pubkey\n")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pp := "&passphrase=" + stPassphrase
	refused := func(name, url string, code int) {
		t.Helper()
		before := strings.Count(ts.log.String(), "code="+strconv.Itoa(code))
		cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
		defer ccancel()
		if err := stPush(cctx, clip, url); err == nil {
			t.Errorf("%s: push succeeded", name)
		}
		if after := strings.Count(ts.log.String(), "code="+strconv.Itoa(code)); after <= before {
			t.Errorf("%s: no refusal with code %d logged", name, code)
		}
	}
	refused("wrong passphrase", ts.url("publish:/live/x?key=pubkey", "&passphrase=wrong-passphrase-x"), 10)
	refused("no passphrase", ts.url("publish:/live/x?key=pubkey", ""), 11)
	refused("wrong key", ts.url("publish:/live/x?key=nope", pp), 1401)
	refused("no key", ts.url("#!::r=live/x,m=publish", pp), 1401)
	refused("unknown mode", ts.url("#!::r=live/x,m=bogus", pp), 1405)
	// A path over streamid.MaxPathLength in a streamid SRT can carry.
	refused("long path", ts.url("publish:/live/"+strings.Repeat("x", 480), pp), 1400)
	// 600 characters exceed SRT's own 512-byte streamid: libsrt refuses
	// to send it and our listener would drop such a handshake as
	// malformed (streamid.MaxLength guards the parser itself, see its
	// tests); nothing is published.
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	if err := stPush(cctx, clip, ts.url("publish:/live/"+strings.Repeat("x", 586), pp)); err == nil {
		t.Errorf("600-character streamid: push succeeded")
	}
	ccancel()

	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("#!::r=live/x,m=publish,u=alice,s=pubkey", pp)) }()
	stWaitStream(t, ts, "live/x")
	refused("second publisher", ts.url("publish:/live/x?key=pubkey", pp), 1407)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ts.log.String(), "pubkey") || strings.Contains(ts.log.String(), stPassphrase) {
		t.Errorf("a secret reached the log")
	}
}

// stHandshake builds a datagram gosrt v0.11's Accept2 panicked on: a
// conclusion handshake (HSv5, extension field set) whose CIF is 48+extra
// bytes, 1 <= extra <= 3, so it indexes past the end reading the first
// extension's type and length.
func stHandshake(extra int) []byte {
	b := make([]byte, 16+48+extra)
	binary.BigEndian.PutUint16(b[0:], 0x8000) // control packet, type HANDSHAKE (0)
	// subtype, type-specific, timestamp, destination socket 0 (a new caller)
	cif := b[16:]
	binary.BigEndian.PutUint32(cif[0:], 5)           // version
	binary.BigEndian.PutUint16(cif[4:], 0)           // encryption field
	binary.BigEndian.PutUint16(cif[6:], 1)           // extension field: non-zero
	binary.BigEndian.PutUint32(cif[8:], 12345)       // initial sequence number
	binary.BigEndian.PutUint32(cif[12:], 1500)       // MTU
	binary.BigEndian.PutUint32(cif[16:], 8192)       // flow window
	binary.BigEndian.PutUint32(cif[20:], 0xFFFFFFFF) // handshake type: CONCLUSION
	binary.BigEndian.PutUint32(cif[24:], 0x1234)     // caller's socket id
	for i := 48; i < len(cif); i++ {
		cif[i] = 0x01
	}
	return b
}

// TestSRTAcceptPanicDatagram: the three conclusion handshakes that made
// gosrt v0.11's Accept2 panic are counted as malformed and dropped by our
// listener, and an ffmpeg publisher is served afterwards.
func TestSRTAcceptPanicDatagram(t *testing.T) {
	ts := stStartServer(t, "", "")
	ts.wantMalformed = "3"
	conn, err := net.Dial("udp", ts.srt)
	if err != nil {
		t.Fatal(err)
	}
	for extra := 1; extra <= 3; extra++ {
		if _, err := conn.Write(stHandshake(extra)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/after", "")) }()
	stWaitStream(t, ts, "live/after")
	out := filepath.Join(t.TempDir(), "srt.ts")
	wait := stRecord(t, ctx, ts.url("subscribe:/live/after", ""), out)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	stSameUnits(t, clip, out, "0:v", 0.4)
}

// TestSRTSeveralPublishersAndAbruptExit: three publishers at once, each
// read back over SRT; then a publisher killed mid-stream is closed by the
// read timeout and its packets are all given back.
func TestSRTSeveralPublishersAndAbruptExit(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 3
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	outs := make([]string, n)
	dir := t.TempDir()
	for i := range n {
		path := fmt.Sprintf("live/m%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stPush(ctx, clip, ts.url("publish:/"+path, "")); err != nil {
				errs <- err
			}
		}()
	}
	var waits []func() error
	for i := range n {
		path := fmt.Sprintf("live/m%d", i)
		stWaitStream(t, ts, path)
		outs[i] = filepath.Join(dir, fmt.Sprintf("m%d.ts", i))
		waits = append(waits, stRecord(t, ctx, ts.url("subscribe:/"+path, ""), outs[i]))
	}
	wg.Wait()
	for _, w := range waits {
		if err := w(); err != nil {
			errs <- err
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, out := range outs {
		stSameUnits(t, clip, out, "0:v", 0.3)
	}

	// Abrupt exit: SIGKILL, no SRT shutdown message.
	cmd := ffmpeg(ctx, stPushArgs(clip, ts.url("publish:/live/kill", ""))...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stWaitStream(t, ts, "live/kill")
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone := true
		for _, info := range ts.Hub().Streams() {
			gone = gone && info.Path != "live/kill"
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("killed publisher's stream still published after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSRTPull: the server pulls a path in caller mode from ffmpeg
// listening for SRT, reads it back over HTTP-FLV, and redials when the
// source comes back after it went away.
func TestSRTPull(t *testing.T) {
	testclip.NeedFFmpeg(t)
	clip := testclip.FLV(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := pc.LocalAddr().String()
	pc.Close()
	ts := stStartServer(t, "    pullretry: 100ms\n    pullretrymax: 200ms\n    pull:\n      - live/cam=srt://"+src+"?streamid=x\n", "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for round := range 2 {
		srcDone := make(chan error, 1)
		go func() {
			srcDone <- stPush(ctx, clip, "srt://"+src+"?mode=listener&pkt_size=1316")
		}()
		stWaitStream(t, ts, "live/cam")
		out := filepath.Join(t.TempDir(), fmt.Sprintf("pull%d.flv", round))
		wait := stRecord(t, ctx, "http://"+ts.http+"/live/cam.flv", out, "-rw_timeout", "15000000")
		if err := <-srcDone; err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		stSameUnits(t, clip, out, "0:v", 0.3)
		stSameUnits(t, clip, out, "0:a", 0.3)
	}
	if l := ts.log.String(); !strings.Contains(l, "srt pull started") || strings.Contains(l, "streamid=x") {
		t.Errorf("pull not logged, or its URL was")
	}
}

type stWriterFunc func(p []byte) (int, error)

func (f stWriterFunc) Write(p []byte) (int, error) { return f(p) }

// TestSRTPullOnDemand: with pullondemand the pull starts only when a
// player asks for the path, and the player gets the stream.
func TestSRTPullOnDemand(t *testing.T) {
	testclip.NeedFFmpeg(t)
	clip := testclip.FLV(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := pc.LocalAddr().String()
	pc.Close()
	ts := stStartServer(t, "    pullondemand: true\n    pullidle: 1s\n    pullretry: 100ms\n    pull:\n      - live/od=srt://"+src+"\n", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srcDone := make(chan error, 1)
	go func() { srcDone <- stPush(ctx, clip, "srt://"+src+"?mode=listener&pkt_size=1316") }()
	time.Sleep(time.Second)
	if strings.Contains(ts.log.String(), "srt pull started") {
		t.Fatal("on-demand pull started without a player")
	}
	out := filepath.Join(t.TempDir(), "od.flv")
	wait := stRecord(t, ctx, "http://"+ts.http+"/live/od.flv", out, "-rw_timeout", "15000000")
	if err := <-srcDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	stSameUnits(t, clip, out, "0:v", 0.3)
}
