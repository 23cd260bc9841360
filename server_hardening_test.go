package zerocopy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// shAuthSection sets the plugin's auth keys; startServer appends it after
// the rtmp listen address, at the indentation of a zerocopy key.
func shAuthSection(pub, play string) string {
	return "  auth:\n    publishkey: " + pub + "\n    playkey: " + play + "\n"
}

// shStatus is the status of method on url, and its CORS origin header.
func shStatus(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin")
}

// TestStreamPathsAuthAndCORS: items 1 and 7. ffmpeg publishes to
// rtmp://…/live/x?key=K with zerocopy.auth.publishkey K; the hub path is
// live/x, served at /live/x.flv, which wants ?key=P (zerocopy.auth.playkey):
// 401 without or with a wrong key, 200 and a valid FLV (ffprobe) with it;
// OPTIONS answers the CORS preflight. No key reaches the log.
func TestStreamPathsAuthAndCORS(t *testing.T) {
	clip := testclip.FLV(t)
	const pubKey, playKey = "Pub-K-9f3a", "Play-P-77c1"
	ts := startServer(t, shAuthSection(pubKey, playKey))
	base := "http://" + ts.http + "/live/x.flv"
	for _, q := range []string{"", "?key=wrong-Guess", "?key=" + pubKey} {
		if code, acao := shStatus(t, http.MethodGet, base+q); code != http.StatusUnauthorized || acao != "*" {
			t.Errorf("GET /live/x.flv%s: %d (ACAO %q), want 401 with CORS", q, code, acao)
		}
	}
	if code, acao := shStatus(t, http.MethodOptions, base); code != http.StatusNoContent || acao != "*" {
		t.Errorf("OPTIONS /live/x.flv: %d (ACAO %q), want 204 with CORS", code, acao)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, wait := record(t, ctx, base+"?key="+playKey)
	settle()
	if err := push(ctx, clip, "rtmp://"+ts.rtmp+"/live/x?key="+pubKey); err != nil {
		t.Fatalf("publish with the right key: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	counts := testclip.PacketCounts(t, out)
	if counts["video"] == 0 || counts["audio"] == 0 {
		t.Fatalf("ffprobe of the HTTP-FLV read-back: %v", counts)
	}
	samePackets(t, clip, out)
	logs := ts.log.String()
	for _, secret := range []string{pubKey, playKey, "wrong-Guess"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	if !strings.Contains(logs, "path=live/x") {
		t.Error("no log line names the hub path live/x")
	}
}
