package zerocopy_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestRTSP2AVAlignment: a clip whose audio starts 500 ms after its video is
// pushed over RTSP (TCP interleaved and UDP). RTP gives each track its own
// clock, so only the publisher's RTCP sender reports tell how the tracks
// line up; in the HTTP-FLV read-back the audio and video DTS of the same
// source units keep the source's relative offset within one video frame.
func TestRTSP2AVAlignment(t *testing.T) {
	testclip.NeedFFmpeg(t)
	clip := rt2LateAudioClip(t, 4)
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			rtpPort := rt2FreeUDPPair(t)
			ts := rtStartServerUDP(t, "", fmt.Sprintf("127.0.0.1:%d", rtpPort), fmt.Sprintf("127.0.0.1:%d", rtpPort+1))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			flvOut := filepath.Join(t.TempDir(), "http.flv")
			waitFLV := rtRecord(t, ctx, []string{"-rw_timeout", "15000000", "-i", "http://" + ts.http + "/live/av.flv", "-f", "flv"}, flvOut)
			settle()
			if err := rtPushRTSP(ctx, clip, "rtsp://"+ts.rtsp+"/live/av", transport); err != nil {
				t.Fatal(err)
			}
			if err := waitFLV(); err != nil {
				t.Fatal(err)
			}
			rt2CheckOffset(t, clip, flvOut)
		})
	}
}

// rt2FreeUDPPair returns an even port p with p and p+1 free on loopback
// (ffmpeg sends RTCP to the server's RTP port + 1).
func rt2FreeUDPPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port &^ 1
		a.Close()
		x, err1 := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		y, err2 := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if x != nil {
			x.Close()
		}
		if y != nil {
			y.Close()
		}
		if err1 == nil && err2 == nil {
			return p
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}

// rt2LateAudioClip encodes an H.264 + AAC clip whose audio starts 500 ms
// after its video.
func rt2LateAudioClip(t *testing.T, seconds int) string {
	t.Helper()
	testclip.NeedFFmpeg(t)
	clip := filepath.Join(t.TempDir(), "late-audio.flv")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", fmt.Sprint(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0",
		"-c:a", "aac", "-b:a", "64k", "-y", clip).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	return clip
}

// rt2CheckOffset checks that in the FLV read-back out, the audio and video
// DTS of the first units read back differ as those of the same source
// units do, within one video frame.
func rt2CheckOffset(t *testing.T, clip, out string) {
	t.Helper()
	pos := func(spec string) (srcDTS, gotDTS int64) {
		want, have := rtCanonical(t, clip, spec, false), rtCanonical(t, out, spec, false)
		if len(have) == 0 {
			t.Fatalf("no %s read back", spec)
		}
		k := -1
		for i := range want {
			if want[i].Hash == have[0].Hash {
				k = i
				break
			}
		}
		if k < 0 {
			t.Fatalf("%s: first unit read back is not the source's", spec)
		}
		src, got := testclip.FrameMD5(t, clip, spec), testclip.FrameMD5(t, out, spec)
		return src[k].DTS, got[0].DTS
	}
	sv, gv := pos("0:v")
	sa, ga := pos("0:a")
	srcOff, gotOff := sa-sv, ga-gv
	t.Logf("audio minus video DTS: source %d ms, read back %d ms", srcOff, gotOff)
	if d := gotOff - srcOff; d > 40 || d < -40 {
		t.Fatalf("audio/video offset read back %d ms, source %d ms: off by more than a frame", gotOff, srcOff)
	}
}
