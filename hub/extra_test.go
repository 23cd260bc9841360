package hub_test

import (
	"testing"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// TestIngestExtraShownPerStream: a protocol's own gauges (SRT's loss and
// RTT) reported with IngestStats reach the stream's API view, copied, so the
// protocol may reuse its map.
func TestIngestExtraShownPerStream(t *testing.T) {
	h, _ := newHub(t, hub.Options{})
	p := publishSynth(t, h, "live/srt", 1)
	extra := map[string]float64{"srt_rtt_ms": 12.5, "srt_pkt_recv_loss": 3}
	p.st.ReportIngest(host.IngestStats{BytesRead: 100, Extra: extra})
	extra["srt_rtt_ms"] = 99 // the host kept its own copy
	infos := h.Streams()
	if len(infos) != 1 || infos[0].Extra["srt_rtt_ms"] != 12.5 || infos[0].Extra["srt_pkt_recv_loss"] != 3 {
		t.Fatalf("extra in the API view: %+v", infos)
	}
	p.close(nil)
}
