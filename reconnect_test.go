package zerocopy_test

import (
	"context"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestRTMPEncoderReconnect restarts the encoder (ffmpeg, as after a network
// glitch) on the same path within global.publish.reconnectwait: the
// HTTP-FLV and RTMP players of the first publish must stay connected and
// receive the second publish as well, every video packet intact and with
// timestamps that keep going forward across the switch.
func TestRTMPEncoderReconnect(t *testing.T) {
	clip := testclip.FLV(t)
	ts := startServerWith(t, "    reconnectwait: 3s\n", "")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := "rtmp://" + ts.rtmp + "/live/rc"

	flvOut, waitFLV := record(t, ctx, "http://"+ts.http+"/live/rc.flv")
	rtmpOut, waitRTMP := record(t, ctx, url)
	settle()
	for i := range 2 {
		if err := push(ctx, clip, url); err != nil {
			t.Fatalf("publish %d: %v", i+1, err)
		}
		// ffmpeg has exited: the publish is over. The second one starts
		// well inside the 3 s grace period.
		time.Sleep(500 * time.Millisecond)
	}
	start := time.Now()
	if err := waitFLV(); err != nil {
		t.Fatal(err)
	}
	if err := waitRTMP(); err != nil {
		t.Fatal(err)
	}
	// The players end only when no publisher returned within the grace.
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("players ended %v after the second publish: want about reconnectwait (3 s)", waited)
	}
	want := testclip.FrameMD5(t, clip, "0:v")
	for _, out := range []string{flvOut, rtmpOut} {
		have := testclip.FrameMD5(t, out, "0:v")
		if len(have) != 2*len(want) {
			t.Errorf("%s: %d video packets, want both publishes' %d", out, len(have), 2*len(want))
		}
		for i := range min(len(have), 2*len(want)) {
			w := want[i%len(want)]
			if have[i].Hash != w.Hash || have[i].Size != w.Size {
				t.Errorf("%s video packet %d: size %d md5 %s, source packet %d has size %d md5 %s", out, i, have[i].Size, have[i].Hash, i%len(want), w.Size, w.Hash)
				break
			}
			if i > 0 && have[i].DTS <= have[i-1].DTS {
				t.Errorf("%s video packet %d: dts %d after %d", out, i, have[i].DTS, have[i-1].DTS)
				break
			}
		}
		audio := testclip.FrameMD5(t, out, "0:a")
		for i := 1; i < len(audio); i++ {
			if audio[i].DTS < audio[i-1].DTS {
				t.Errorf("%s audio packet %d: dts %d after %d", out, i, audio[i].DTS, audio[i-1].DTS)
				break
			}
		}
	}
	if n := ts.Hub().Totals("rtmp").Reconnects.Load(); n != 1 {
		t.Errorf("reconnects counted: %d, want 1", n)
	}
}
