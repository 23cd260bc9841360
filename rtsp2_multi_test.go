package zerocopy_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestRTSP2SeveralPublishers: four ffmpeg publishers at once, two over TCP
// interleaved and two over UDP (sharing the server's one UDP port pair),
// each read back over HTTP-FLV: every stream's video and audio units are
// the source's, none crossed over from another publisher.
func TestRTSP2SeveralPublishers(t *testing.T) {
	clip := testclip.FLV(t)
	ts := rtStartServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	transports := []string{"tcp", "udp", "tcp", "udp"}
	outs := make([]string, len(transports))
	waits := make([]func() error, len(transports))
	for i := range transports {
		outs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("m%d.flv", i))
		waits[i] = rtRecord(t, ctx, []string{"-rw_timeout", "15000000", "-i", fmt.Sprintf("http://%s/live/m%d.flv", ts.http, i), "-f", "flv"}, outs[i])
	}
	settle()
	pushed := make(chan error, len(transports))
	for i, tr := range transports {
		go func() { pushed <- rtPushRTSP(ctx, clip, fmt.Sprintf("rtsp://%s/live/m%d", ts.rtsp, i), tr) }()
	}
	for range transports {
		if err := <-pushed; err != nil {
			t.Fatal(err)
		}
	}
	for i := range transports {
		if err := waits[i](); err != nil {
			t.Fatal(err)
		}
		rtSameUnits(t, clip, outs[i], "0:v", false, false, 0.9)
		rtSameUnits(t, clip, outs[i], "0:a", false, false, 0.9)
	}
}

// TestRTSP2PlayOfSRTStream: a stream published over SRT (MPEG-TS, Annex-B
// video and ADTS audio demuxed into codec units) is read over RTSP PLAY by
// ffmpeg: every video and audio unit identical to the source's.
func TestRTSP2PlayOfSRTStream(t *testing.T) {
	clip := rt2ClipSeconds(t, "srt.flv", 4)
	ts := rtStartServer(t, "")
	m := regexp.MustCompile(`listener=srt udp=(\S+)`).FindStringSubmatch(ts.log.String())
	if m == nil {
		t.Fatalf("no SRT listener in the log")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() {
		pushDone <- stPush(ctx, clip, "srt://"+m[1]+"?streamid=publish:/live/srt&pkt_size=1316")
	}()
	rtWaitStream(t, ts, "live/srt")
	out := filepath.Join(t.TempDir(), "play.nut")
	wait := rtRecord(t, ctx, []string{"-timeout", "15000000", "-rtsp_transport", "tcp", "-i", "rtsp://" + ts.rtsp + "/live/srt"}, out)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	rtSameUnits(t, clip, out, "0:v", false, true, 0.5)
	rtSameUnits(t, clip, out, "0:a", false, true, 0.5)
}

// TestRTSP2PullFromSelf: the plugin pulls a stream from its own RTSP
// server (an RTMP-published clip whose audio starts 500 ms after its
// video, on live/src, pulled over TCP interleaved into live/dst): the pull
// depacketizes video and audio, HTTP-FLV readers of live/dst get the
// source's units, and RTCP flows both ways: the player's sender reports
// (on the stream's clock) let the pull put audio and video back on one
// timeline (the source's offset kept within a frame), and the pull's
// receiver reports reach the player session (counted).
func TestRTSP2PullFromSelf(t *testing.T) {
	clip := rt2LateAudioClip(t, 6)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	pull := fmt.Sprintf("    pull:\n      - live/dst=rtsp://%s/live/src\n    pulltransport: tcp\n    pullretry: 200ms\n    pulltimeout: 3s\n", addr)
	ts := rtStartServerAt(t, "", addr, "127.0.0.1:0", "127.0.0.1:0", pull)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() { pushDone <- push(ctx, clip, "rtmp://"+ts.rtmp+"/live/src") }()
	rtWaitStream(t, ts, "live/dst")
	out := filepath.Join(t.TempDir(), "dst.flv")
	wait := rtRecord(t, ctx, []string{"-rw_timeout", "15000000", "-i", "http://" + ts.http + "/live/dst.flv", "-f", "flv"}, out)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	rtSameUnits(t, clip, out, "0:v", false, false, 0.3)
	rtSameUnits(t, clip, out, "0:a", false, false, 0.3)
	rt2CheckOffset(t, clip, out)
	deadline := time.Now().Add(10 * time.Second)
	re := regexp.MustCompile(`rtcp_reports_sent=([1-9]\d*)`)
	reIn := regexp.MustCompile(`rtcp_reports_in=([1-9]\d*)`)
	for time.Now().Before(deadline) && (!re.MatchString(ts.log.String()) || !reIn.MatchString(ts.log.String())) {
		time.Sleep(50 * time.Millisecond)
	}
	if !re.MatchString(ts.log.String()) {
		t.Error("the pull logged no receiver report sent")
	}
	if !reIn.MatchString(ts.log.String()) {
		t.Error("the server's player session counted no receiver report from the pull")
	}
}
