package zerocopy_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
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

// st2Players reads the players /api/streams lists for path.
func st2Players(t *testing.T, ts *stServer, path string) []hub.PlayerInfo {
	t.Helper()
	var body struct {
		Streams []hub.StreamInfo `json:"streams"`
	}
	if err := json.Unmarshal(st2Get(t, "http://"+ts.http+"/api/streams"), &body); err != nil {
		t.Fatal(err)
	}
	for _, s := range body.Streams {
		if s.Path == path {
			return s.Players
		}
	}
	return nil
}

// TestSRT2PlayerStatsInAPIAndMetrics: while ffmpeg plays over SRT, the
// player connection's own SRT statistics (send side: packets sent, lost,
// retransmitted, RTT, send buffer) appear per connection in /api/streams
// (the stream's "players", with the player's address) and in /metrics
// (zerocopy_player_protocol_stat with a remote label), and the entry goes
// when the player leaves.
func TestSRT2PlayerStatsInAPIAndMetrics(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := stClip(t, "pstats.flv", "-t", "8")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pushDone := make(chan error, 1)
	go func() { pushDone <- stPush(ctx, clip, ts.url("publish:/live/pstats", "")) }()
	stWaitStream(t, ts, "live/pstats")

	playCtx, stopPlay := context.WithCancel(ctx)
	defer stopPlay()
	player := ffmpeg(playCtx, "-i", ts.url("subscribe:/live/pstats", ""), "-c", "copy", "-f", "null", "-")
	player.Cancel = func() error { return player.Process.Signal(os.Interrupt) }
	if err := player.Start(); err != nil {
		t.Fatal(err)
	}
	playDone := make(chan struct{})
	go func() { _ = player.Wait(); close(playDone) }()

	// The player reports from its first frame and then about once a
	// second; wait for a report with packets sent.
	var pl hub.PlayerInfo
	deadline := time.Now().Add(5 * time.Second)
	for pl.Extra["srt_pkt_sent"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no SRT player statistics in /api/streams: %+v", st2Players(t, ts, "live/pstats"))
		}
		time.Sleep(100 * time.Millisecond)
		if ps := st2Players(t, ts, "live/pstats"); len(ps) > 0 {
			if len(ps) != 1 || ps[0].Protocol != "srt" {
				t.Fatalf("players: %+v, want one SRT player", ps)
			}
			pl = ps[0]
		}
	}
	if host, _, err := net.SplitHostPort(pl.Remote); err != nil || host != "127.0.0.1" {
		t.Errorf("player remote %q, want 127.0.0.1:port", pl.Remote)
	}
	for _, name := range []string{"srt_pkt_sent", "srt_pkt_send_loss", "srt_pkt_send_drop", "srt_pkt_retrans", "srt_rtt_ms", "srt_send_buf_ms", "srt_send_buf_pkts"} {
		if _, ok := pl.Extra[name]; !ok {
			t.Errorf("player extra lacks %s: %v", name, pl.Extra)
		}
	}
	metrics := string(st2Get(t, "http://"+ts.http+"/metrics"))
	labels := `path="live/pstats",protocol="srt",remote="` + regexp.QuoteMeta(pl.Remote) + `"`
	m := regexp.MustCompile(`(?m)^zerocopy_player_protocol_stat\{name="srt_pkt_sent",` + labels + `\} (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no zerocopy_player_protocol_stat srt_pkt_sent for the player of live/pstats in /metrics")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
		t.Errorf("srt_pkt_sent in /metrics = %s", m[1])
	}
	if !regexp.MustCompile(`zerocopy_player_protocol_stat\{name="srt_rtt_ms",` + labels + `\}`).MatchString(metrics) {
		t.Errorf("no srt_rtt_ms for the player of live/pstats in /metrics")
	}
	t.Logf("player %s extra: %v", pl.Remote, pl.Extra)

	// A player that left is no longer listed.
	stopPlay()
	<-playDone
	deadline = time.Now().Add(5 * time.Second)
	for len(st2Players(t, ts, "live/pstats")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("player still listed after it left: %+v", st2Players(t, ts, "live/pstats"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
}
