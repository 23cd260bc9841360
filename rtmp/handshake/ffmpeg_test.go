package handshake

import (
	"bytes"
	"context"
	"github.com/zcingest/zerocopy/internal/testclip"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/bufreader"
)

// TestFFmpegPlayVerifiesDigest runs ffmpeg as a player against Serve.
// When playing, ffmpeg verifies S1's digest and S2's signature (our S1
// version byte is >= 3) and aborts on a mismatch; here it must go on to
// send its connect command.
func TestFFmpegPlayVerifiesDigest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg")
	}
	testclip.NeedFFmpeg(t) // skips, or fails under CI=true / ZC_REQUIRE_FFMPEG=1
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-nostdin", "-loglevel", "error", "-rw_timeout", "5000000",
		"-i", "rtmp://"+ln.Addr().String()+"/live/test", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v (ffmpeg: %s)", err, stderr.String())
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufreader.New(c, bufreader.Options{})
	defer br.Recycle()
	res, err := Serve(br, c, Options{})
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !res.Digest {
		t.Fatalf("ffmpeg did not use the digest handshake: %+v", res)
	}
	// ffmpeg's first chunk: a type 0 header on chunk stream 3 carrying
	// "connect". A digest it could not verify would have closed the
	// connection instead.
	var got []byte
	for !bytes.Contains(got, []byte("connect")) {
		b, err := br.ReadByte()
		if err != nil {
			t.Fatalf("after handshake: %v (ffmpeg: %s)", err, stderr.String())
		}
		if len(got) == 0 && b != 0x03 {
			t.Fatalf("first byte %#x, want 0x03", b)
		}
		got = append(got, b)
		if len(got) > 512 {
			t.Fatalf("no connect command in %q", got)
		}
	}
}
