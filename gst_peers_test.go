//go:build unix

package zerocopy_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testcam"
	"github.com/zcingest/zerocopy/internal/testclip"
)

// GStreamer is the second, independent client implementation for SRT and
// RTMP (ffmpeg is the first): its libsrt caller, its mpegtsmux (TS in
// SRT payloads of whatever size its buffers happen to have), and its
// rtmp2 elements, which keep RTMP's default 128-byte chunks.

// gsPublishElements and gsPlayElements are what the publishers and the
// players below need beside gst-launch-1.0 and python3-gi.
var (
	gsPublishElements = []string{"filesrc", "flvdemux", "queue", "h264parse", "aacparse"}
	gsPlayElements    = []string{"queue", "h264parse", "aacparse", "fakesink", "capsfilter"}
)

// gsCommand runs name in its own process group: GStreamer's streaming
// threads and anything it spawns go with it when ctx ends (SIGKILL to the
// group), and Wait gives up on its pipes WaitDelay after that.
func gsCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// gsLaunch runs a gst-launch-1.0 pipeline to its end (EOS) and returns
// its output with any error.
func gsLaunch(ctx context.Context, pipeline string) (string, error) {
	out, err := gsCommand(ctx, testcam.GstLaunch, strings.Fields(pipeline)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("gst-launch-1.0 %s: %v: %s", pipeline, err, out)
	}
	return string(out), nil
}

// gsClipBranches demuxes the FLV clip and hands its H.264 (parsed, with
// h264parse's extra properties) and AAC (parsed, raw) to the muxer named
// m: the source's access units, as they are, for a per-unit comparison of
// what is read back.
func gsClipBranches(clip, h264parse, mux string) string {
	return fmt.Sprintf("filesrc location=%s ! flvdemux name=d "+
		"d.video ! queue ! h264parse %s ! %s name=m "+
		"d.audio ! queue ! aacparse ! m.", clip, h264parse, mux)
}

// gsSRTPublish is the SRT caller pipeline publishing the clip as TS to
// streamid on the server at addr, in real time (srtsink syncs on the
// clock), with pkt_size and latency left at GStreamer's defaults (each
// 188-byte TS packet goes out in its own SRT packet). auto-reconnect is
// off so that a refusal ends the run.
//
// GStreamer 1.22's caller-mode srtsink never sends the start of the
// stream: mpegtsmux flags PAT, PMT and the first keyframe's packets as
// stream headers, srtsink's render drops header-flagged buffers ("Have
// streamheaders, ignoring header buffer"), and in caller mode it sends
// the headers only on connect, which happens before the caps carry them.
// libsrt's own listener (ffmpeg) receives the same truncated stream. So
// h264parse repeats SPS and PPS before every IDR (config-interval=-1, as
// any live TS needs), and the read-back starts at the second keyframe.
func gsSRTPublish(clip, addr, streamid, srtProps string) string {
	return gsClipBranches(clip, "config-interval=-1", "mpegtsmux") +
		fmt.Sprintf(" m. ! srtsink uri=\"srt://%s?streamid=%s\" mode=caller auto-reconnect=false %s", addr, streamid, srtProps)
}

// gsWaitOnCleanup makes sure a reader started with stRecord is reaped when
// the test stops early: ctx's cancel kills it, and Wait lets os/exec's
// context watcher exit before the goroutine baseline is checked.
func gsWaitOnCleanup(t *testing.T, cancel context.CancelFunc, wait func() error) {
	t.Cleanup(func() {
		cancel()
		_ = wait() // a second Wait only returns an error
	})
}

// gsWaitTracks waits until path is published with both its video and its
// audio configuration announced.
func gsWaitTracks(t *testing.T, h *hub.Hub, path string) hub.StreamInfo {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, info := range h.Streams() {
			if info.Path == path && info.VideoCodec != "" && info.AudioCodec != "" {
				return info
			}
		}
	}
	t.Fatalf("%s never published with both tracks: %+v", path, h.Streams())
	return hub.StreamInfo{}
}

// TestGstSRTPublish: GStreamer publishes the clip over SRT (flvdemux,
// h264parse/aacparse, mpegtsmux, srtsink as caller), in the clear and
// with a passphrase; the stream shows both tracks, and HTTP-FLV reads it
// back as a contiguous run of the source's access units from a keyframe
// on, identical in canonical form, with monotonic DTS.
func TestGstSRTPublish(t *testing.T) {
	testcam.NeedGStreamer(t, slices.Concat(gsPublishElements, []string{"mpegtsmux", "srtsink"})...)
	for _, tc := range []struct {
		name, srtExtra, props string
	}{
		{"plain", "", ""},
		{"passphrase", "    passphrase: " + stPassphrase + "\n", "passphrase=" + stPassphrase + " pbkeylen=16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := stStartServer(t, tc.srtExtra, "")
			// Four keyframes (4 s): the first GOP is lost to srtsink (see
			// gsSRTPublish), three remain to compare.
			clip := stClip(t, "gs.flv")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out := filepath.Join(t.TempDir(), "http.flv")
			// The HTTP-FLV player waits for the publish (subscribe
			// waittimeout), so it sees the first keyframe.
			wait := stRecord(t, ctx, "http://"+ts.http+"/live/gs.flv", out, "-rw_timeout", "15000000")
			gsWaitOnCleanup(t, cancel, wait)
			time.Sleep(300 * time.Millisecond)
			pushDone := make(chan error, 1)
			go func() {
				_, err := gsLaunch(ctx, gsSRTPublish(clip, ts.srt, "publish:/live/gs", tc.props))
				pushDone <- err
			}()
			info := gsWaitTracks(t, ts.Hub(), "live/gs")
			if info.Protocol != "srt" {
				t.Errorf("live/gs published over %q", info.Protocol)
			}
			if err := <-pushDone; err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			stSameUnits(t, clip, out, "0:v", 0.5)
			stSameUnits(t, clip, out, "0:a", 0.5)
			if strings.Contains(ts.log.String(), stPassphrase) {
				t.Errorf("the passphrase reached the log")
			}
		})
	}
}

// TestGstSRTWrongPassphrase: a GStreamer caller with the wrong passphrase
// is refused (code 10, REJ_BADSECRET, logged with the reason), its run fails, and the
// path is never published.
func TestGstSRTWrongPassphrase(t *testing.T) {
	testcam.NeedGStreamer(t, slices.Concat(gsPublishElements, []string{"mpegtsmux", "srtsink"})...)
	ts := stStartServer(t, "    passphrase: "+stPassphrase+"\n", "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(chan bool, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	go func() {
		for {
			for _, info := range ts.Hub().Streams() {
				if info.Path == "live/bad" {
					seen <- true
					return
				}
			}
			select {
			case <-watchCtx.Done():
				seen <- false
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	out, err := gsLaunch(ctx, gsSRTPublish(clip, ts.srt, "publish:/live/bad", "passphrase=wrong-passphrase-x pbkeylen=16"))
	if err == nil {
		t.Errorf("a wrong passphrase published: %s", out)
	}
	// The refusal reaches the log on the server's accept goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for !regexp.MustCompile(`msg="srt caller refused".* code=10 reason=`).MatchString(ts.log.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal with code 10 and a reason logged; gst-launch said:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopWatch()
	if <-seen {
		t.Errorf("live/bad was published with a wrong passphrase")
	}
	if strings.Contains(ts.log.String(), "wrong-passphrase-x") {
		t.Errorf("the passphrase reached the log")
	}
}

// gsPlayScript plays with the pipeline description argv[1], which ends in
// a demuxer (or rtspsrc) named demux; as each of its pads appears it links
// a queue (the demuxer has one streaming thread, and two sinks syncing on
// the clock would block each other through it), for RTP pads a
// depayloader, a parser and a fakesink
// (sync=argv[4]), and counts the buffers each sink gets with a pad probe.
// Once both have one, it counts for argv[2] seconds and prints
// "window=<seconds> video=<n> audio=<n>"; an error, an early EOS or no
// start within argv[3] seconds exits 1. It is python3-gi rather than
// gst-launch for the reasons given at TestRTSPGStreamerPlay (lossy
// identity -v lines, delayed-linking races).
const gsPlayScript = `
import sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst

desc, window, limit, sync = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
Gst.init(None)
top = Gst.parse_launch(desc)
if isinstance(top, Gst.Pipeline):
    pipe = top
else:  # a lone element, such as rtspsrc
    pipe = Gst.Pipeline.new("play")
    pipe.add(top)
demux = pipe.get_by_name("demux")
chains = {
    "video": "h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! fakesink name=sink sync=" + sync,
    "audio": "aacparse ! fakesink name=sink sync=" + sync,
}
depayloaders = {"H264": "rtph264depay", "MPEG4-GENERIC": "rtpmp4gdepay"}
linked, total, inwin = set(), {"video": 0, "audio": 0}, {"video": 0, "audio": 0}
st = {"start": None, "end": None, "code": None}
loop = GLib.MainLoop()

def now():
    return GLib.get_monotonic_time() / 1e6

def finish(code):
    if st["code"] is None:
        st["code"], st["end"] = code, now()
        loop.quit()
    return False

def counter(media):
    def probe(pad, info):
        total[media] += 1
        if st["start"] is not None and st["code"] is None:
            inwin[media] += 1
        elif st["start"] is None and all(total.values()):
            st["start"] = now()
            GLib.idle_add(lambda: GLib.timeout_add(int(window * 1000), finish, 0) and False)
        return Gst.PadProbeReturn.OK
    return probe

def pad_added(_, pad):
    caps = pad.get_current_caps() or pad.query_caps(None)
    s = caps.get_structure(0)
    name = s.get_name()
    if name == "application/x-rtp":  # rtspsrc: depayload first
        depay = depayloaders.get(s.get_value("encoding-name"))
        media = s.get_value("media") if depay else None
        head = "queue ! %s ! " % depay
    else:
        media = {"video/x-h264": "video", "audio/mpeg": "audio"}.get(name)
        head = "queue ! "
    if media is None or media in linked:
        print("ignored pad", pad.get_name(), name, flush=True)
        return
    linked.add(media)
    branch = Gst.parse_bin_from_description(head + chains[media], True)
    pipe.add(branch)
    branch.sync_state_with_parent()
    if pad.link(branch.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
        print("cannot link", media, flush=True)
        GLib.idle_add(finish, 1)
    branch.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, counter(media))

def on_message(_, msg):
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        print("error:", err.message, dbg, flush=True)
        finish(1)
    elif msg.type == Gst.MessageType.EOS:
        print("eos before the window ended", flush=True)
        finish(1)

demux.connect("pad-added", pad_added)
bus = pipe.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
GLib.timeout_add(int(limit * 1000), finish, 1)
pipe.set_state(Gst.State.PLAYING)
loop.run()
pipe.set_state(Gst.State.NULL)
print("totals: video=%d audio=%d" % (total["video"], total["audio"]))
secs = st["end"] - st["start"] if st["start"] is not None else 0
print("window=%.3f video=%d audio=%d" % (secs, inwin["video"], inwin["audio"]))
sys.exit(st["code"])
`

// gsPlay runs gsPlayScript on desc for a 5 s window and checks that at
// least 20 H.264 access units and 80% of the AAC frames the clip's 44.1
// kHz track carries in the window came out of GStreamer's parsers. With
// sync the sinks render on the clock; without, they count arrivals, which
// a live source paces (see TestGstSRTPlay for why SRT does not sync).
func gsPlay(t *testing.T, ctx context.Context, desc string, sync bool) {
	t.Helper()
	const window = 5 * time.Second
	out, err := gsCommand(ctx, testcam.Python, "-c", gsPlayScript, desc,
		fmt.Sprint(window.Seconds()), fmt.Sprint((30 * time.Second).Seconds()), strconv.FormatBool(sync)).CombinedOutput()
	if err != nil {
		t.Fatalf("gstreamer player %s: %v\n%s", desc, err, out)
	}
	var video, audio int
	var secs float64
	if _, err := fmt.Sscanf(rtLastLine(string(out)), "window=%g video=%d audio=%d", &secs, &video, &audio); err != nil {
		t.Fatalf("gstreamer player output: %v\n%s", err, out)
	}
	// 1024 samples an AAC frame.
	wantAudio := int(0.8 * secs * 44100 / 1024)
	if video < 20 || audio < wantAudio {
		t.Fatalf("gstreamer got %d H.264 and %d AAC buffers in %.2f s (want >= 20 and >= %d)\n%s", video, audio, secs, wantAudio, out)
	}
	t.Logf("gstreamer: %d H.264 access units and %d AAC frames in %.2f s", video, audio, secs)
}

// gsLoopPush publishes the clip six times over (12 s) with ffmpeg, so
// that the player's window (which starts once both tracks have a buffer)
// ends well before the stream does on a loaded machine.
func gsLoopPush(ctx context.Context, clip, format, url string) <-chan error {
	done := make(chan error, 1)
	go func() {
		out, err := ffmpeg(ctx, "-re", "-stream_loop", "5", "-i", clip, "-c", "copy", "-f", format, url).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("ffmpeg push %s: %v: %s", format, err, out)
		}
		done <- err
	}()
	return done
}

// TestGstSRTPlay: GStreamer's srtsrc (caller) plays an SRT-published
// stream through tsdemux; H.264 access units and AAC frames come out of
// its parsers at the stream's rate.
//
// The sinks count arrivals (sync=false): srtsrc is a live source, paced by
// the sender. Syncing on the clock behind GStreamer 1.22's tsdemux renders
// about 75% of real time whatever the sender (94 H.264 and 164 AAC
// buffers in 5 s from ffmpeg's own SRT listener as from this server,
// where arrivals are 129 and 218), so it would measure tsdemux, not us.
func TestGstSRTPlay(t *testing.T) {
	testcam.NeedGStreamer(t, slices.Concat(gsPlayElements, []string{"srtsrc", "tsdemux"})...)
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := gsLoopPush(ctx, clip, "mpegts", ts.url("publish:/live/gp", ""))
	gsWaitTracks(t, ts.Hub(), "live/gp")
	gsPlay(t, ctx, fmt.Sprintf("srtsrc uri=\"srt://%s?streamid=subscribe:/live/gp\" mode=caller ! tsdemux name=demux", ts.srt), false)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if l := ts.log.String(); !strings.Contains(l, `msg="srt connection closed"`) || !strings.Contains(l, "role=play") {
		t.Errorf("no close log for the GStreamer SRT player")
	}
}

// TestGstRTMPPublish: GStreamer publishes the clip over RTMP (flvmux,
// rtmp2sink with its default 128-byte chunks); the stream shows both
// tracks, HTTP-FLV reads it back unit for unit as in TestGstSRTPublish,
// and the copies that chunk size forces are counted in /metrics.
func TestGstRTMPPublish(t *testing.T) {
	testcam.NeedGStreamer(t, slices.Concat(gsPublishElements, []string{"flvmux", "rtmp2sink"})...)
	ts := startServer(t, "")
	// rtmp2sink's chunks are smaller than chunk.ZeroCopyMinChunkSize:
	// its payloads are copied, so the control-path copy bound is off.
	ts.smallChunks = true
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "http.flv")
	wait := stRecord(t, ctx, "http://"+ts.http+"/live/gr.flv", out, "-rw_timeout", "15000000")
	gsWaitOnCleanup(t, cancel, wait)
	time.Sleep(300 * time.Millisecond)
	pushDone := make(chan error, 1)
	go func() {
		_, err := gsLaunch(ctx, gsClipBranches(clip, "", "flvmux streamable=true")+" m. ! rtmp2sink location=rtmp://"+ts.rtmp+"/live/gr")
		pushDone <- err
	}()
	info := gsWaitTracks(t, ts.Hub(), "live/gr")
	if info.Protocol != "rtmp" {
		t.Errorf("live/gr published over %q", info.Protocol)
	}
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// The player waited for the publish: it has the whole clip.
	stSameUnits(t, clip, out, "0:v", 0.9)
	stSameUnits(t, clip, out, "0:a", 0.9)

	tot := ts.Hub().Totals("rtmp")
	copied, read, payload := tot.BytesCopied.Load(), tot.BytesRead.Load(), tot.BytesIn.Load()
	m := regexp.MustCompile(`(?m)^zerocopy_ingest_bytes_copied_total\{protocol="rtmp"\} (\S+)$`).FindStringSubmatch(string(st2Get(t, "http://"+ts.http+"/metrics")))
	if m == nil {
		t.Fatalf("no zerocopy_ingest_bytes_copied_total for rtmp in /metrics")
	}
	metric, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	// Below chunk.ZeroCopyMinChunkSize every chunk is copied, so all the
	// media payload is, with the commands and the onMetaData that flvmux
	// repeats (27 times for this clip, about 9 KB), and none of the
	// handshake or chunk headers.
	if int64(metric) != copied || copied < payload || copied > read {
		t.Errorf("copied: /metrics %v, counter %d, payload %d, socket bytes %d", metric, copied, payload, read)
	}
	t.Logf("128-byte chunks: %d of %d payload bytes copied (%d socket bytes)", copied, payload, read)
}

// TestGstRTMPPlay: GStreamer's rtmp2src plays an RTMP-published stream
// through flvdemux; H.264 access units and AAC frames come out of its
// parsers at the stream's rate.
func TestGstRTMPPlay(t *testing.T) {
	testcam.NeedGStreamer(t, slices.Concat(gsPlayElements, []string{"rtmp2src", "flvdemux"})...)
	ts := startServer(t, "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := gsLoopPush(ctx, clip, "flv", "rtmp://"+ts.rtmp+"/live/gx")
	gsWaitTracks(t, ts.Hub(), "live/gx")
	gsPlay(t, ctx, "rtmp2src location=rtmp://"+ts.rtmp+"/live/gx ! flvdemux name=demux", true)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
}
