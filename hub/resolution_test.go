package hub_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/flvpub"
)

// SPS written by Debian's ffmpeg 5.1 (libx264 high 640x360, libx265
// 1920x1080), as in codec's tests.
const (
	sps640x360H264   = "6764001eacd940a02ff97011000003000100000300320f162d96"
	sps1920x1080H265 = "420101016000000300900000030000030078a003c0801107cb965654a4c2f0168080000003008000000c84"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStreamResolution: the picture size parsed from each SetVideoConfig's
// SPS shows in the stream's API view as width and height; a configuration
// whose SPS does not parse (or has none) clears it, and the JSON then
// leaves both out.
func TestStreamResolution(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	p := publishSynth(t, h, "live/res", 1) // its SPS is 5 made-up bytes
	defer p.close(nil)

	size := func() (int, int, string) {
		t.Helper()
		infos := h.Streams()
		if len(infos) != 1 {
			t.Fatalf("streams: %+v", infos)
		}
		js, err := json.Marshal(infos[0])
		if err != nil {
			t.Fatal(err)
		}
		return infos[0].Width, infos[0].Height, string(js)
	}
	if w, ht, js := size(); w != 0 || ht != 0 || strings.Contains(js, `"width"`) || strings.Contains(js, `"height"`) {
		t.Fatalf("unparsable SPS: %dx%d %s", w, ht, js)
	}

	for _, tt := range []struct {
		name   string
		cfg    host.VideoConfig
		w, ht  int
		inJSON string
	}{
		{"H.264", host.VideoConfig{Codec: codec.H264, SPS: [][]byte{mustHex(t, sps640x360H264)}}, 640, 360, `"width":640,"height":360`},
		{"H.265", host.VideoConfig{Codec: codec.H265, SPS: [][]byte{mustHex(t, sps1920x1080H265)}}, 1920, 1080, `"width":1920,"height":1080`},
		// the first SPS that parses counts
		{"H.264 second SPS", host.VideoConfig{Codec: codec.H264, SPS: [][]byte{{0x67, 0x64}, mustHex(t, sps640x360H264)}}, 640, 360, `"width":640`},
		// an H.264 SPS declared as H.265 is not parsed as one
		{"codec mismatch", host.VideoConfig{Codec: codec.H265, SPS: [][]byte{mustHex(t, sps640x360H264)}}, 0, 0, ""},
		{"no SPS", host.VideoConfig{Codec: codec.H264}, 0, 0, ""},
	} {
		sps := tt.cfg.SPS
		if err := p.st.SetVideoConfig(tt.cfg); err != nil {
			t.Fatal(err)
		}
		if len(sps) > 0 {
			sps[len(sps)-1][1] = 0 // the hub parsed its own copy, not the caller's
		}
		w, ht, js := size()
		if w != tt.w || ht != tt.ht || (tt.inJSON != "" && !strings.Contains(js, tt.inJSON)) || (tt.inJSON == "" && strings.Contains(js, `"width"`)) {
			t.Errorf("%s: %dx%d %s, want %dx%d", tt.name, w, ht, js, tt.w, tt.ht)
		}
	}
}

// TestStreamResolutionFromFLV: the ffmpeg clip (320x240 testsrc) published
// through the FLV ingest shows its size while it is live.
func TestStreamResolutionFromFLV(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	_, done := startPublisher(t, h, "live/clip", flvpub.Options{Speed: 2, Loop: true, Passes: 1})
	defer waitPub(t, done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		infos := h.Streams()
		if len(infos) == 1 && infos[0].Width != 0 {
			if infos[0].Width != 320 || infos[0].Height != 240 {
				t.Fatalf("clip size %dx%d, want 320x240", infos[0].Width, infos[0].Height)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no size shown: %+v", infos)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
