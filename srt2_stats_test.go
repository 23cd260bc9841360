package zerocopy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// st2Get fetches an HTTP body from the host's media listener.
func st2Get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// TestSRT2StatsInAPIAndMetrics: while ffmpeg publishes over SRT, the
// connection's SRT statistics appear per stream in /api/streams
// ("extra") and /metrics (zerocopy_stream_protocol_stat), and the byte
// counters reach the host often enough (every ~100 ms) that a rate over
// a short window is accurate.
func TestSRT2StatsInAPIAndMetrics(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := stClip(t, "stats.flv")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/stats", "")) }()
	stWaitStream(t, ts, "live/stats")

	// Byte counters: sampled every 250 ms, each sample must have moved
	// (with a once-a-second report most would not).
	tot := ts.Hub().Totals("srt")
	time.Sleep(300 * time.Millisecond)
	prev := tot.BytesRead.Load()
	for i := range 6 {
		time.Sleep(250 * time.Millisecond)
		cur := tot.BytesRead.Load()
		if cur == prev {
			t.Fatalf("sample %d: bytes read still %d after 250 ms of a live push: ingest counters not reported often enough", i, cur)
		}
		prev = cur
	}

	// The SRT statistics, reported about once a second.
	var extra map[string]float64
	deadline := time.Now().Add(3 * time.Second)
	for extra["srt_pkt_recv"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no SRT statistics in /api/streams: %v", extra)
		}
		var body struct {
			Streams []struct {
				Path     string             `json:"path"`
				Protocol string             `json:"protocol"`
				Extra    map[string]float64 `json:"extra"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(st2Get(t, "http://"+ts.http+"/api/streams"), &body); err != nil {
			t.Fatal(err)
		}
		for _, s := range body.Streams {
			if s.Path == "live/stats" && s.Protocol == "srt" {
				extra = s.Extra
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, name := range []string{"srt_pkt_recv", "srt_pkt_recv_loss", "srt_pkt_recv_drop", "srt_pkt_recv_retrans", "srt_rtt_ms", "srt_recv_buf_ms"} {
		if _, ok := extra[name]; !ok {
			t.Errorf("/api/streams extra lacks %s: %v", name, extra)
		}
	}
	metrics := string(st2Get(t, "http://"+ts.http+"/metrics"))
	m := regexp.MustCompile(`(?m)^zerocopy_stream_protocol_stat\{name="srt_pkt_recv",path="live/stats",protocol="srt"\} (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no zerocopy_stream_protocol_stat srt_pkt_recv for live/stats in /metrics")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
		t.Errorf("srt_pkt_recv in /metrics = %s", m[1])
	}
	if !regexp.MustCompile(`zerocopy_stream_protocol_stat\{name="srt_rtt_ms",path="live/stats",protocol="srt"\}`).MatchString(metrics) {
		t.Errorf("no srt_rtt_ms for live/stats in /metrics")
	}
	t.Logf("/api/streams extra: %v", extra)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
}
