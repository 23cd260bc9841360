package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/rtsp/server"
)

// hubHost adapts a hub to server.Host.
type hubHost struct{ h *hub.Hub }

func (x hubHost) Publish(req host.PublishRequest) (host.Publisher, error) {
	s, err := x.h.Publish(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (x hubHost) Subscribe(path string) (host.Subscriber, error) {
	s, err := x.h.Subscribe(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// memConn is a net.Conn that reads a fixed byte stream and keeps writes.
type memConn struct {
	r   io.Reader
	out bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8554} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// A real x264 SPS/PPS (64x48 baseline) and AAC-LC 44.1 kHz stereo.
var (
	testSPS = mustHex("6742c00ada11ec0440000003004000000c83c489a8")
	testPPS = mustHex("68ce0fc8")
)

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		fmt.Sscanf(s[2*i:2*i+2], "%02x", &b[i])
	}
	return b
}

const testSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z0LACtoR7ARAAAADAEAAAAyDxImo,aM4PyA==\r\na=control:trackID=0\r\n" +
	"m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\na=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1210\r\na=control:trackID=1\r\n"

func request(method, url string, cseq int, fields []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, cseq)
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return []byte(b.String())
}

// rtpPacket builds one RTP packet.
func rtpPacket(pt uint8, seq uint16, ts uint32, marker bool, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0x1234)
	return append(b, payload...)
}

func interleaved(ch uint8, pkt []byte) []byte {
	return append([]byte{'$', ch, byte(len(pkt) >> 8), byte(len(pkt))}, pkt...)
}

const url = "rtsp://127.0.0.1:8554/live/s"

// announceSetupRecord is the control half of a TCP-interleaved publish of
// testSDP, CSeq from cseq on. It sends no Session header: the server
// accepts SETUP and RECORD without one on the connection's own session,
// and a fixed byte stream cannot know the id the server makes up.
func announceSetupRecord(cseq int) []byte {
	var b []byte
	b = append(b, request("ANNOUNCE", url, cseq, []string{"Content-Type: application/sdp"}, testSDP)...)
	b = append(b, request("SETUP", url+"/trackID=0", cseq+1, []string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"}, "")...)
	b = append(b, request("SETUP", url+"/trackID=1", cseq+2, []string{"Transport: RTP/AVP/TCP;unicast;interleaved=2-3;mode=record"}, "")...)
	b = append(b, request("RECORD", url, cseq+3, nil, "")...)
	return b
}

// media is two video access units (IDR as single NAL; a P slice as FU-A
// in three fragments), two AAC packets and an RTCP sender report.
func media(seq uint16) []byte {
	var b []byte
	idr := append([]byte{0x65}, bytes.Repeat([]byte{0xaa}, 300)...)
	b = append(b, interleaved(0, rtpPacket(96, seq, 0, true, idr))...)
	for i, fu := range [][]byte{{0x7c, 0x81}, {0x7c, 0x01}, {0x7c, 0x41}} {
		b = append(b, interleaved(0, rtpPacket(96, seq+1+uint16(i), 3600, i == 2, append(fu, bytes.Repeat([]byte{byte(i)}, 200)...)))...)
	}
	for i := range 2 {
		au := bytes.Repeat([]byte{0x21}, 100)
		hdr := []byte{0, 16, byte(len(au) >> 5), byte(len(au)<<3) & 0xf8}
		b = append(b, interleaved(2, rtpPacket(97, seq+uint16(i), uint32(1024*i), true, append(hdr, au...)))...)
	}
	sr := []byte{0x80, 200, 0, 6, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}
	b = append(b, interleaved(1, sr)...)
	return b
}

// publishSession is a whole publish, its TEARDOWN, and a second publish
// on the same connection (re-ANNOUNCE after TEARDOWN).
func publishSession() []byte {
	var b []byte
	b = append(b, request("OPTIONS", url, 1, nil, "")...)
	b = append(b, announceSetupRecord(2)...)
	b = append(b, media(100)...)
	b = append(b, request("TEARDOWN", url, 6, nil, "")...)
	b = append(b, announceSetupRecord(7)...)
	b = append(b, media(500)...)
	b = append(b, request("TEARDOWN", url, 11, nil, "")...)
	return b
}

// hostileSeeds are the hostile inputs as whole sessions, each with
// the limit (or error) that must end it.
func hostileSeeds() []struct {
	name string
	data []byte
	want string
} {
	many := make([]string, 256)
	for i := range many {
		many[i] = fmt.Sprintf("X-H%d: v", i)
	}
	var sdp strings.Builder
	sdp.WriteString("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n")
	for range 10000 {
		sdp.WriteString("m=video 0 RTP/AVP 96\r\n")
	}
	var sdpFit strings.Builder // as many as fit in the body limit: the SDP's own media cap answers
	sdpFit.WriteString("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n")
	for sdpFit.Len() < 60000 {
		sdpFit.WriteString("m=video 0 RTP/AVP 96\r\n")
	}
	var setups []byte
	setups = append(setups, request("ANNOUNCE", url, 1, []string{"Content-Type: application/sdp"}, testSDP)...)
	for i := range 1000 {
		setups = append(setups, request("SETUP", url+"/trackID=0", i+2, []string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1"}, "")...)
	}
	return []struct {
		name string
		data []byte
		want string
	}{
		{"content-length-negative", []byte("ANNOUNCE " + url + " RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n"), "Content-Length"},
		{"content-length-huge", []byte("ANNOUNCE " + url + " RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999999\r\n\r\n"), "Content-Length"},
		{"content-length-conflicting", []byte("ANNOUNCE " + url + " RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"), "Content-Length"},
		{"256-headers", request("OPTIONS", url, 1, many, ""), "MaxHeaderFields"},
		{"3000-byte-line", []byte("OPTIONS rtsp://x/" + strings.Repeat("a", 3000)), "Max"},
		{"sdp-10000-medias", request("ANNOUNCE", url, 1, []string{"Content-Type: application/sdp"}, sdp.String()), "Max"},
		{"sdp-2700-medias", request("ANNOUNCE", url, 1, []string{"Content-Type: application/sdp"}, sdpFit.String()), "Max"},
		{"h265-donl", request("ANNOUNCE", url, 1, []string{"Content-Type: application/sdp"},
			"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-max-don-diff=2\r\na=control:trackID=0\r\n"), "DONL"},
		{"channel-never-setup", append(request("ANNOUNCE", url, 1, []string{"Content-Type: application/sdp"}, testSDP), interleaved(5, []byte("abcd"))...), "never SETUP"},
		{"1000-setups", setups, "MaxSetups"},
	}
}

func newTestServer(h *hub.Hub) *server.Server {
	return server.New(server.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
}

// TestSessionPublishTeardownReannounce: a TCP-interleaved publish of
// video (single NAL and FU-A) and AAC audio over a whole server session,
// TEARDOWN, then a second ANNOUNCE/RECORD on the same connection: every
// access unit reaches a subscriber, RTCP from the publisher is accepted,
// and the connection's allocator is balanced at the end.
func TestSessionPublishTeardownReannounce(t *testing.T) {
	base := runtime.NumGoroutine()
	h := hub.New(hub.Options{CloseWait: 100 * time.Millisecond, SubscribeWait: 5 * time.Second}, slog.New(slog.DiscardHandler))
	defer h.Close()
	srv := newTestServer(h)
	pr, pw := io.Pipe()
	type result struct{ video, audio int }
	got := make(chan result, 2)
	subscribe := func() {
		sub, err := h.SubscribeWait(context.Background(), "live/s", 5*time.Second)
		if err != nil {
			got <- result{-1, -1}
			return
		}
		defer sub.Close()
		var r result
		for {
			f, err := sub.Next(context.Background())
			if err != nil {
				got <- r
				return
			}
			if f.Kind == host.Video {
				r.video++
			} else {
				r.audio++
			}
			f.Release()
		}
	}
	data := publishSession()
	teardown := bytes.Index(data, []byte("TEARDOWN"))
	reannounce := teardown + bytes.Index(data[teardown:], []byte("ANNOUNCE"))
	attached := func() {
		for h.Stream("live/s") == nil || h.Stream("live/s").Info().Subscribers == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	results := make(chan result, 2)
	go func() {
		defer pw.Close()
		for i, part := range [][]byte{data[:teardown], data[reannounce:]} {
			if i == 1 {
				_, _ = pw.Write(data[teardown:reannounce])
				results <- <-got // the first publish's subscriber saw its end
			}
			go subscribe()
			ctrl := bytes.IndexByte(part, '$')
			_, _ = pw.Write(part[:ctrl])
			attached() // the subscriber sees every frame
			_, _ = pw.Write(part[ctrl:])
		}
		results <- <-got
	}()
	conn := &memConn{r: pr}
	st, err := srv.ServeConn(conn, slog.New(slog.DiscardHandler))
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("session: %v", err)
	}
	r1, r2 := <-results, <-results
	for i, r := range []result{r1, r2} {
		if r.video != 2 || r.audio != 2 {
			t.Errorf("publish %d: subscriber got %d video and %d audio frames, want 2 and 2", i+1, r.video, r.audio)
		}
	}
	if st.VideoFrames != 4 || st.AudioFrames != 4 {
		t.Errorf("stats: %d video, %d audio frames, want 4 and 4", st.VideoFrames, st.AudioFrames)
	}
	if n := strings.Count(conn.out.String(), "RTSP/1.0 200 OK"); n != 11 {
		t.Errorf("%d 200 responses, want 11:\n%s", n, conn.out.String())
	}
	if st.AllocMalloc != st.AllocFree {
		t.Fatalf("allocator unbalanced: malloc %d free %d", st.AllocMalloc, st.AllocFree)
	}
	srv.Close()
	h.Close()
	testutil.WaitGoroutines(t, base)
}

// TestSessionMidFrameDisconnect: a publisher whose connection ends inside
// an interleaved frame, and one that ends inside an FU-A NAL, are closed
// cleanly (io.ErrUnexpectedEOF / EOF, no panic) with their allocators
// balanced.
func TestSessionMidFrameDisconnect(t *testing.T) {
	full := append(announceSetupRecord(1), media(1)...)
	fuEnd := bytes.Index(full, []byte{0x7c, 0x01}) // inside the second FU-A fragment's packet
	for _, cut := range []int{fuEnd - 4 - 12 - 2, fuEnd + 50, len(full) - 10} {
		h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
		srv := newTestServer(h)
		st, err := srv.ServeConn(&memConn{r: bytes.NewReader(full[:cut])}, slog.New(slog.DiscardHandler))
		if err == nil {
			t.Errorf("cut at %d: no error", cut)
		}
		if st.Role != "publish" {
			t.Errorf("cut at %d: role %q, the publish never started", cut, st.Role)
		}
		if st.AllocMalloc != st.AllocFree {
			t.Errorf("cut at %d: allocator unbalanced: malloc %d free %d", cut, st.AllocMalloc, st.AllocFree)
		}
		if h.Stream("live/s") != nil {
			t.Errorf("cut at %d: stream still published", cut)
		}
		srv.Close()
		h.Close()
	}
}

// TestSessionHostile: each hostile input of issue 9 ends the session with
// the limit or error that blocks it, the allocator balanced.
func TestSessionHostile(t *testing.T) {
	for _, tc := range hostileSeeds() {
		t.Run(tc.name, func(t *testing.T) {
			h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
			defer h.Close()
			srv := newTestServer(h)
			defer srv.Close()
			conn := &memConn{r: bytes.NewReader(tc.data)}
			st, err := srv.ServeConn(conn, slog.New(slog.DiscardHandler))
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("ended with %v, want an error naming %q; replies:\n%.300s", err, tc.want, conn.out.String())
			}
			var le *limit.LimitError
			if !strings.Contains(err.Error(), tc.want) && !(errors.As(err, &le) && strings.Contains(le.Name, tc.want)) {
				t.Fatalf("ended with %v, want %q", err, tc.want)
			}
			if st.AllocMalloc != st.AllocFree {
				t.Fatalf("allocator unbalanced: malloc %d free %d", st.AllocMalloc, st.AllocFree)
			}
			t.Logf("%v", err)
		})
	}
}

// FuzzServerSession feeds arbitrary bytes as a TCP client's whole stream to
// a server session: it must end with an error or EOF, never panic, and free
// every byte it Malloc'd. Seeds: a well-formed publish with TEARDOWN and
// re-ANNOUNCE, its halves, and the hostile inputs.
func FuzzServerSession(f *testing.F) {
	good := publishSession()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(announceSetupRecord(1), media(65534)...))
	for _, tc := range hostileSeeds() {
		if len(tc.data) < 64<<10 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
		defer h.Close()
		// A DESCRIBE of a path that waits for a returning publisher waits
		// SetupTimeout/2 for its first frame: short here, for throughput.
		srv := server.New(server.Config{SetupTimeout: 20 * time.Millisecond}, hubHost{h}, slog.New(slog.DiscardHandler))
		defer srv.Close()
		st, _ := srv.ServeConn(&memConn{r: bytes.NewReader(data)}, slog.New(slog.DiscardHandler))
		if st.AllocMalloc != st.AllocFree {
			t.Fatalf("allocator unbalanced: malloc %d free %d", st.AllocMalloc, st.AllocFree)
		}
	})
}
