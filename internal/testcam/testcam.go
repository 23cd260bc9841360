// Package testcam runs a stand-in IP camera for tests: GStreamer's RTSP
// server (cam.py beside this file, run with Debian's /usr/bin/python3)
// serving a live H.264 test pattern and an AAC tone over TCP and UDP,
// optionally behind Digest auth. Import it from _test.go files only.
//
// Where python3-gi or the GStreamer RTSP server is missing, tests skip,
// except under CI or with ZC_REQUIRE_FFMPEG=1, where they fail (as
// testclip does for ffmpeg).
package testcam

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// Python is Debian's interpreter, which has python3-gi (another python3 on
// PATH may lack it).
const Python = "/usr/bin/python3"

// Options configure a camera.
type Options struct {
	Mount     string // default "/stream"
	User      string // with Password: Digest auth
	Password  string
	Protocols string // "tcp,udp" (default), "tcp" or "udp"
}

// Camera is one running camera process.
type Camera struct {
	t    testing.TB
	opts Options
	Port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
}

var (
	checkOnce sync.Once
	checkErr  error
)

// Available reports why the camera cannot run here ("" when it can).
func Available() string {
	checkOnce.Do(func() {
		out, err := exec.Command(Python, "-c",
			"import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer, Gst; Gst.init(None); "+
				"import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in ('x264enc','rtph264pay','avenc_aac','rtpmp4gpay','videotestsrc','audiotestsrc')) else 3)").CombinedOutput()
		if err != nil {
			checkErr = fmt.Errorf("%s with python3-gi, gir1.2-gst-rtsp-server-1.0 and the x264/libav GStreamer plugins: %v %s", Python, err, out)
		}
	})
	if checkErr != nil {
		return checkErr.Error()
	}
	return ""
}

// Need skips t (or fails it under CI) when the camera cannot run.
func Need(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		if testclip.Required() {
			t.Fatalf("testcam: needs %s", why)
		}
		t.Skipf("testcam: needs %s", why)
	}
}

// Start runs a camera on a free loopback port and waits until it accepts
// connections. Cleanup stops it.
func Start(t testing.TB, opts Options) *Camera {
	t.Helper()
	Need(t)
	if opts.Mount == "" {
		opts.Mount = "/stream"
	}
	if opts.Protocols == "" {
		opts.Protocols = "tcp,udp"
	}
	c := &Camera{t: t, opts: opts, Port: freePort(t)}
	c.start()
	t.Cleanup(c.Stop)
	return c
}

// URL returns the camera's rtsp URL with user and password in its
// userinfo (none when user is "").
func (c *Camera) URL(user, password string) string {
	auth := ""
	if user != "" {
		auth = user + ":" + password + "@"
	}
	return "rtsp://" + auth + "127.0.0.1:" + strconv.Itoa(c.Port) + c.opts.Mount
}

func (c *Camera) start() {
	t := c.t
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	args := []string{filepath.Join(filepath.Dir(file), "cam.py"), "--port", strconv.Itoa(c.Port), "--mount", c.opts.Mount, "--protocols", c.opts.Protocols}
	if c.opts.User != "" {
		args = append(args, "--user", c.opts.User, "--password", c.opts.Password)
	}
	cmd := exec.Command(Python, args...)
	out := &strings.Builder{}
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testcam: %v", err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(done)
	}()
	c.mu.Lock()
	c.cmd, c.done, c.out = cmd, done, out
	c.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.Port), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("testcam: camera exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			t.Fatalf("testcam: camera not accepting on port %d after 15s", c.Port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the camera and waits (bounded) for it to exit. Calling it
// again is a no-op.
func (c *Camera) Stop() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("testcam: camera pid %d did not exit within 10s of SIGKILL", cmd.Process.Pid)
	}
}

// Restart kills the camera and starts it again on the same port.
func (c *Camera) Restart() {
	c.t.Helper()
	c.Stop()
	c.start()
}

func freePort(t testing.TB) int {
	t.Helper()
	// An even port is not needed (the server binds TCP only here); the
	// port is free now and the camera binds it at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
