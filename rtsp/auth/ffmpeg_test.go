package auth

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/zcingest/zerocopy/internal/testclip"
	"net"
	"net/textproto"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/rtsp/sdp"
)

type seenRequest struct {
	method, uri, auth string
	verr              error // Server.Verify's result when auth != ""
}

// serveOnce is a test-only RTSP responder for one ffprobe connection: 401
// with challenges until a request carries Authorization, then checks it
// with Server.Verify, answers OPTIONS and DESCRIBE (with an SDP built by
// package sdp) and refuses SETUP, which ends ffprobe's attempt.
func serveOnce(t *testing.T, ln net.Listener, s *Server, challenges []string, user, pass string) []seenRequest {
	conn, err := ln.Accept()
	if err != nil {
		return nil
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := textproto.NewReader(bufio.NewReader(conn))
	var seen []seenRequest
	for {
		line, err := r.ReadLine()
		if err != nil {
			return seen
		}
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return seen
		}
		method, rest, _ := strings.Cut(line, " ")
		uri, _, _ := strings.Cut(rest, " ")
		req := seenRequest{method: method, uri: uri, auth: hdr.Get("Authorization")}
		cseq := hdr.Get("CSeq")
		var resp string
		if req.auth == "" {
			resp = "RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq + "\r\n"
			for _, c := range challenges {
				resp += "WWW-Authenticate: " + c + "\r\n"
			}
			resp += "\r\n"
		} else if req.verr = s.Verify(method, uri, req.auth, user, pass); req.verr != nil {
			resp = "RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq + "\r\n\r\n"
		} else {
			switch method {
			case "OPTIONS":
				resp = "RTSP/1.0 200 OK\r\nCSeq: " + cseq + "\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
			case "DESCRIBE":
				sps, _ := base64.StdEncoding.DecodeString("Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==")
				pps, _ := base64.StdEncoding.DecodeString("aOvjyyLA")
				v := sdp.ForH264(96, sps, pps)
				v.Control = "trackID=0"
				a := sdp.ForAAC(97, []byte{0x12, 0x10}, 44100, 2)
				a.Control = "trackID=1"
				body := (&sdp.Session{Control: "*", Medias: []sdp.Media{v, a}}).Marshal(nil)
				resp = fmt.Sprintf("RTSP/1.0 200 OK\r\nCSeq: %s\r\nContent-Base: %s/\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", cseq, uri, len(body), body)
			default:
				resp = "RTSP/1.0 461 Unsupported Transport\r\nCSeq: " + cseq + "\r\n\r\n"
			}
		}
		seen = append(seen, req)
		if _, err := conn.Write([]byte(resp)); err != nil {
			return seen
		}
	}
}

// runFFprobe points a real ffprobe (ffmpeg's RTSP client) at a test
// responder and returns the requests it made.
func runFFprobe(t *testing.T, challenges func(*Server) []string, user, pass string) ([]seenRequest, string) {
	testclip.NeedFFmpeg(t) // skips, or fails under CI=true / ZC_REQUIRE_FFMPEG=1
	base := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer("zerocopy")
	var (
		wg   sync.WaitGroup
		seen []seenRequest
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen = serveOnce(t, ln, s, challenges(s), "alice", "s3cret")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fmt.Sprintf("rtsp://%s:%s@%s/live/x", user, pass, ln.Addr())
	out, _ := exec.CommandContext(ctx, "ffprobe", "-v", "debug", "-rtsp_transport", "tcp", url).CombinedOutput()
	ln.Close()
	wg.Wait()
	testutil.WaitGoroutines(t, base)
	return seen, string(out)
}

// TestFFmpegDigest: ffmpeg, offered Digest and Basic, answers Digest; every
// answer verifies, and its SETUP URL shows it parsed our Marshal'd SDP.
func TestFFmpegDigest(t *testing.T) {
	seen, out := runFFprobe(t, (*Server).Challenges, "alice", "s3cret")
	var authed, setup int
	for _, r := range seen {
		if r.auth == "" {
			continue
		}
		authed++
		if !strings.HasPrefix(r.auth, "Digest ") {
			t.Errorf("%s answered with %.7s, want Digest", r.method, r.auth)
		}
		if r.verr != nil {
			t.Errorf("%s %s: %v", r.method, r.uri, r.verr)
		}
		if r.method == "SETUP" {
			setup++
			if !strings.HasSuffix(r.uri, "/live/x/trackID=0") && !strings.HasSuffix(r.uri, "/live/x/trackID=1") {
				t.Errorf("SETUP %s", r.uri)
			}
		}
	}
	for _, r := range seen {
		t.Logf("%s %s auth=%.6s verify=%v", r.method, r.uri, r.auth, r.verr)
	}
	if authed < 2 || setup == 0 {
		t.Fatalf("requests %+v\nffprobe:\n%s", seen, out)
	}
}

// TestFFmpegBasic: offered only Basic, ffmpeg answers Basic.
func TestFFmpegBasic(t *testing.T) {
	seen, out := runFFprobe(t, func(s *Server) []string { return s.Challenges()[1:] }, "alice", "s3cret")
	var ok int
	for _, r := range seen {
		if r.auth != "" && strings.HasPrefix(r.auth, "Basic ") && r.verr == nil {
			ok++
		}
	}
	if ok < 2 {
		t.Fatalf("requests %+v\nffprobe:\n%s", seen, out)
	}
}

// TestFFmpegWrongPassword: a wrong password is refused with
// ErrBadCredentials and ffmpeg gives up.
func TestFFmpegWrongPassword(t *testing.T) {
	seen, out := runFFprobe(t, (*Server).Challenges, "alice", "wrong")
	var bad int
	for _, r := range seen {
		if r.auth != "" {
			if !errors.Is(r.verr, ErrBadCredentials) {
				t.Errorf("%s: %v", r.method, r.verr)
			}
			bad++
		}
	}
	if bad == 0 {
		t.Fatalf("requests %+v\nffprobe:\n%s", seen, out)
	}
}
