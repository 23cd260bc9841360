package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/srt/wire"
)

// dtMsg is message i of a test stream: its index, then a pattern.
func dtMsg(i, size int) []byte {
	m := make([]byte, size)
	binary.BigEndian.PutUint32(m, uint32(i))
	for j := 4; j < size; j++ {
		m[j] = byte(i*7 + j)
	}
	return m
}

// dtGosrt is a gosrt listener whose accepted connection the test
// drives through serve.
type dtGosrt struct {
	ln   gosrt.Listener
	done chan struct{}
	sid  atomic.Value // the streamid of the request
}

// dtListenGosrt accepts one connection with passphrase (refusing a wrong
// one with REJ_BADSECRET, as libsrt does) and hands it to serve.
func dtListenGosrt(t *testing.T, latency time.Duration, passphrase string, serve func(gosrt.Conn)) *dtGosrt {
	t.Helper()
	cfg := gosrt.DefaultConfig()
	cfg.Latency = latency
	ln, err := gosrt.Listen("srt", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &dtGosrt{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for {
			req, err := ln.Accept2()
			if err != nil {
				return
			}
			g.sid.Store(req.StreamId())
			if req.IsEncrypted() {
				if err := req.SetPassphrase(passphrase); err != nil {
					req.Reject(gosrt.REJ_BADSECRET)
					continue
				}
			}
			conn, err := req.Accept()
			if err != nil {
				return
			}
			serve(conn)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-g.done
	})
	return g
}

func (g *dtGosrt) addr() string { return g.ln.Addr().String() }

// dtDrain runs ReadPacket on c until it ends (a sending connection needs
// that goroutine: it processes ACKs and NAKs) and returns when it does.
func dtDrain(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			p, err := c.ReadPacket()
			if err != nil {
				done <- err
				return
			}
			p.Decommission()
		}
	}()
	return done
}

// dtCollect reads a gosrt connection until want messages arrived, it ends
// or the deadline passes.
func dtCollect(conn gosrt.Conn, want int, into chan<- []byte) {
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for range want {
		p, err := conn.ReadPacket()
		if err != nil {
			break
		}
		into <- bytes.Clone(p.Data())
		p.Decommission()
	}
	close(into)
}

// dtPublish writes n numbered messages (dtMsg) through c, one per
// interval.
func dtPublish(c *Conn, n int, interval time.Duration) error {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for i := range n {
		if _, err := c.Write(dtMsg(i, 1316)); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		<-tk.C
	}
	return nil
}

// dtCheckStream fails t unless got holds exactly messages 0..n-1 in order.
func dtCheckStream(t *testing.T, got <-chan []byte, n int) {
	t.Helper()
	i := 0
	// gosrt's ReadPacket knows no deadline (SetReadDeadline is a no-op
	// in v0.11), so a stalled stream is noticed here: the caller then
	// closes what feeds got.
	for stalled := time.NewTimer(20 * time.Second); ; stalled.Reset(20 * time.Second) {
		var m []byte
		var ok bool
		select {
		case m, ok = <-got:
		case <-stalled.C:
			t.Errorf("stream stalled after %d of %d messages", i, n)
			return
		}
		if !ok {
			break
		}
		if i >= n || !bytes.Equal(m, dtMsg(i, 1316)) {
			idx := -1
			if len(m) >= 4 {
				idx = int(binary.BigEndian.Uint32(m))
			}
			t.Fatalf("message %d: got %d bytes, index %d", i, len(m), idx)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d of %d messages arrived", i, n)
	}
}

// dtClose closes c, waits for its ReadPacket goroutine and, for a dialed
// connection (dialed: it owns its pool), checks every slot came back.
func dtClose(t *testing.T, c *Conn, reader <-chan error, dialed bool) {
	t.Helper()
	c.Close()
	if reader != nil {
		if err := <-reader; !errors.Is(err, io.EOF) {
			t.Errorf("ReadPacket ended with %v", err)
		}
	}
	if !dialed {
		return
	}
	if n := c.p.Pool.outstanding(); n != 0 {
		t.Errorf("%d packet slots not returned", n)
	}
}

func TestDialPublishToGosrt(t *testing.T) {
	for _, pass := range []string{"", "correct horse battery"} {
		t.Run(fmt.Sprintf("encrypted=%v", pass != ""), func(t *testing.T) {
			base := runtime.NumGoroutine()
			const n = 300
			got := make(chan []byte, n)
			g := dtListenGosrt(t, 120*time.Millisecond, pass, func(conn gosrt.Conn) { dtCollect(conn, n, got) })
			c, err := Dial(context.Background(), g.addr(), DialConfig{StreamID: "publish:/live/a", Passphrase: pass})
			if err != nil {
				t.Fatal(err)
			}
			reader := dtDrain(c)
			if err := dtPublish(c, n, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			dtCheckStream(t, got, n)
			if sid, _ := g.sid.Load().(string); sid != "publish:/live/a" {
				t.Errorf("streamid %q", sid)
			}
			st := c.Stats()
			if st.PktSent < n || st.PktSendDrop != 0 {
				t.Errorf("stats %+v", st)
			}
			dtClose(t, c, reader, true)
			g.ln.Close()
			<-g.done
			testutil.WaitGoroutines(t, base)
		})
	}
}

func TestDialWrongPassphrase(t *testing.T) {
	g := dtListenGosrt(t, 120*time.Millisecond, "the listener's secret", func(gosrt.Conn) {})
	_, err := Dial(context.Background(), g.addr(), DialConfig{Passphrase: "not the secret at all"})
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Reason != wire.RejBadSecret {
		t.Fatalf("err %v, want a *RejectError with reason 10", err)
	}
}

func TestDialReadFromGosrt(t *testing.T) {
	base := runtime.NumGoroutine()
	const n = 300
	g := dtListenGosrt(t, 120*time.Millisecond, "", func(conn gosrt.Conn) {
		for i := range n {
			if _, err := conn.Write(dtMsg(i, 1316)); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // let gosrt's sender flush before Close drops its queue
	})
	c, err := Dial(context.Background(), g.addr(), DialConfig{StreamID: "play:/live/b"})
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamID() != "play:/live/b" {
		t.Errorf("StreamID %q", c.StreamID())
	}
	got := make(chan []byte, n+1)
	var rerr error
	for {
		p, err := c.ReadPacket()
		if err != nil {
			rerr = err
			break
		}
		got <- bytes.Clone(p.Data())
		p.Decommission()
	}
	close(got)
	if !errors.Is(rerr, io.EOF) {
		t.Errorf("ReadPacket ended with %v, want io.EOF after gosrt's shutdown", rerr)
	}
	dtCheckStream(t, got, n)
	if sid, _ := g.sid.Load().(string); sid != "play:/live/b" {
		t.Errorf("gosrt saw streamid %q", sid)
	}
	dtClose(t, c, nil, true)
	g.ln.Close()
	<-g.done
	testutil.WaitGoroutines(t, base)
}

// dtFreePort returns a loopback UDP port nothing is bound to right now.
func dtFreePort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestDialReadFromFFmpeg(t *testing.T) {
	testclip.NeedFFmpeg(t)
	base := runtime.NumGoroutine()
	clip := filepath.Join(t.TempDir(), "clip.ts")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "mpegts", "-y", clip).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	port := dtFreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := peerCmd(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-f", "mpegts",
		fmt.Sprintf("srt://127.0.0.1:%d?mode=listener&pkt_size=1316", port))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Dial retries until ffmpeg listens.
	c, err := Dial(ctx, fmt.Sprintf("127.0.0.1:%d", port), DialConfig{ConnectTimeout: 10 * time.Second})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("dial: %v (ffmpeg: %s)", err, stderr.String())
	}
	var ts, msgs int
	var rerr error
	start := time.Now()
	for {
		p, err := c.ReadPacket()
		if err != nil {
			rerr = err
			break
		}
		d := p.Data()
		msgs++
		if len(d)%188 != 0 {
			t.Errorf("message %d: %d bytes, not whole TS packets", msgs, len(d))
		}
		for i := 0; i+188 <= len(d); i += 188 {
			if d[i] != 0x47 {
				t.Errorf("message %d: TS packet %d has no sync byte", msgs, i/188)
				break
			}
			ts++
		}
		p.Decommission()
	}
	elapsed := time.Since(start)
	if err := cmd.Wait(); err != nil {
		t.Errorf("ffmpeg: %v: %s", err, stderr.String())
	}
	if !errors.Is(rerr, io.EOF) {
		t.Errorf("ReadPacket ended with %v", rerr)
	}
	// A 2 s clip at -re: most of it arrives, in about real time.
	if ts < 200 || elapsed < time.Second || elapsed > 10*time.Second {
		t.Errorf("%d TS packets in %d messages over %v", ts, msgs, elapsed)
	}
	t.Logf("%d TS packets in %d messages over %v; stats %+v", ts, msgs, elapsed, c.Stats())
	dtClose(t, c, nil, true)
	testutil.WaitGoroutines(t, base)
}

// dtRelay forwards UDP datagrams between one client and a server, dropping
// a share of non-handshake datagrams each way. Handshakes pass untouched:
// gosrt ignores a repeated conclusion, so a lost conclusion response
// would fail the dial rather than test retransmission.
type dtRelay struct {
	front    *net.UDPConn // the client talks to this
	back     *net.UDPConn // connected to the server
	lossPct  int
	mute     atomic.Bool  // drop every server->client datagram that is not a handshake
	keepFrom atomic.Int64 // > 0: data messages with this index (dtMsg) or later are never dropped
	dropped  [2]atomic.Uint64
	client   atomic.Pointer[net.UDPAddr]
	wg       sync.WaitGroup
	mu       sync.Mutex
	rnd      *rand.Rand
	shutting atomic.Bool
}

func newDTRelay(t *testing.T, server string, lossPct int) *dtRelay {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, sa)
	if err != nil {
		t.Fatal(err)
	}
	r := &dtRelay{front: front, back: back, lossPct: lossPct, rnd: rand.New(rand.NewPCG(1, 2))}
	r.wg.Add(2)
	go r.pump(0)
	go r.pump(1)
	t.Cleanup(r.close)
	return r
}

func (r *dtRelay) addr() string { return r.front.LocalAddr().String() }

func (r *dtRelay) drop(dir int, b []byte) bool {
	if wire.IsControl(b) && len(b) >= 2 && wire.ControlType(binary.BigEndian.Uint16(b)&0x7FFF) == wire.CtrlHandshake {
		return false
	}
	if dir == 1 && r.mute.Load() {
		return true
	}
	if k := r.keepFrom.Load(); k > 0 && dir == 0 && !wire.IsControl(b) && len(b) >= wire.HeaderSize+4 &&
		int64(binary.BigEndian.Uint32(b[wire.HeaderSize:])) >= k {
		// A lost tail is never noticed (nothing behind it shows the
		// gap, and nothing retransmits without a NAK): let it through.
		return false
	}
	r.mu.Lock()
	d := r.rnd.IntN(100) < r.lossPct
	r.mu.Unlock()
	return d
}

func (r *dtRelay) pump(dir int) {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		if dir == 0 {
			n, from, err := r.front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.client.Store(from)
			if r.drop(0, buf[:n]) {
				r.dropped[0].Add(1)
				continue
			}
			r.back.Write(buf[:n])
		} else {
			n, err := r.back.Read(buf)
			if err != nil {
				if r.shutting.Load() {
					return
				}
				continue // ECONNREFUSED from a closed server
			}
			to := r.client.Load()
			if to == nil || r.drop(1, buf[:n]) {
				r.dropped[1].Add(1)
				continue
			}
			r.front.WriteToUDP(buf[:n], to)
		}
	}
}

func (r *dtRelay) close() {
	r.shutting.Store(true)
	r.front.Close()
	r.back.Close()
	r.wg.Wait()
}

// TestDialLossyRelay: with 5% of the datagrams lost each way between our
// sender and a gosrt receiver, every message still arrives, in order:
// NAKs are answered with retransmissions, lost ACKs are covered by later
// ones.
func TestDialLossyRelay(t *testing.T) {
	base := runtime.NumGoroutine()
	const n = 1000
	got := make(chan []byte, n)
	g := dtListenGosrt(t, 300*time.Millisecond, "", func(conn gosrt.Conn) { dtCollect(conn, n, got) })
	r := newDTRelay(t, g.addr(), 5)
	r.keepFrom.Store(n - 10)
	c, err := Dial(context.Background(), r.addr(), DialConfig{StreamID: "publish:/live/lossy", Latency: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reader := dtDrain(c)
	if err := dtPublish(c, n, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	dtCheckStream(t, got, n)
	st := c.Stats()
	t.Logf("relay dropped %d to gosrt, %d back; stats %+v", r.dropped[0].Load(), r.dropped[1].Load(), st)
	if st.PktRetrans == 0 || st.PktSendLoss == 0 || st.PktSendDrop != 0 {
		t.Errorf("stats %+v: want retransmissions, no drops", st)
	}
	dtTeardown(t, c, reader, r, g, base)
}

// dtTeardown closes the dialed conn (checking its slots), the relay and
// the gosrt listener, and waits for the goroutines to return to base.
func dtTeardown(t *testing.T, c *Conn, reader <-chan error, r *dtRelay, g *dtGosrt, base int) {
	t.Helper()
	dtClose(t, c, reader, true)
	r.close()
	g.ln.Close()
	<-g.done
	testutil.WaitGoroutines(t, base)
}

// TestDialPeerStopsACKing: when nothing comes back from the peer, the send
// buffer holds at most MaxSendBuffer packets, every other one is a counted
// drop, and once they are too late the buffer empties.
func TestDialPeerStopsACKing(t *testing.T) {
	base := runtime.NumGoroutine()
	g := dtListenGosrt(t, 120*time.Millisecond, "", func(conn gosrt.Conn) {
		for {
			p, err := conn.ReadPacket()
			if err != nil {
				return
			}
			p.Decommission()
		}
	})
	r := newDTRelay(t, g.addr(), 0)
	c, err := Dial(context.Background(), r.addr(), DialConfig{Latency: 120 * time.Millisecond, PeerIdleTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.mute.Store(true)
	reader := dtDrain(c)
	const n = MaxSendBuffer + 500
	msg := dtMsg(1, 1316)
	for range n {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if st.SendBufPkts > MaxSendBuffer || st.SendBufPkts+st.PktSendDrop != n || st.PktSendDrop < 500 {
		t.Fatalf("after %d writes: %+v", n, st)
	}
	// The buffer, plus the slot the socket reader holds for its next read.
	if out := c.p.Pool.outstanding(); out > MaxSendBuffer+1 {
		t.Fatalf("%d packet slots held", out)
	}
	// Past latency + SendDropDelay, all of it is too late.
	deadline := time.Now().Add(120*time.Millisecond + SendDropDelay + 2*time.Second)
	for c.Stats().SendBufPkts != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := c.Stats(); st.SendBufPkts != 0 || st.PktSendDrop != n {
		t.Fatalf("after the drop delay: %+v", st)
	}
	dtTeardown(t, c, reader, r, g, base)
}

func TestDialTimeoutAndCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	// A port nothing listens on: refused datagrams until the timeout.
	addr := fmt.Sprintf("127.0.0.1:%d", dtFreePort(t))
	start := time.Now()
	_, err := Dial(context.Background(), addr, DialConfig{ConnectTimeout: 600 * time.Millisecond})
	if !errors.Is(err, ErrConnectTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = Dial(ctx, addr, DialConfig{ConnectTimeout: 10 * time.Second})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	var le *limit.LimitError
	if _, err := Dial(context.Background(), addr, DialConfig{StreamID: string(make([]byte, MaxStreamID+1))}); !errors.As(err, &le) {
		t.Fatalf("an over-long streamid: %v", err)
	}
	testutil.WaitGoroutines(t, base)
}

// TestDialOwnListener: our caller against our listener, both directions,
// in the clear and encrypted, and a wrong passphrase refused with reason 10.
func TestDialOwnListener(t *testing.T) {
	for _, pass := range []string{"", "our shared secret"} {
		for _, callerSends := range []bool{true, false} {
			t.Run(fmt.Sprintf("encrypted=%v/callerSends=%v", pass != "", callerSends), func(t *testing.T) {
				base := runtime.NumGoroutine()
				l, err := Listen("127.0.0.1:0", Config{})
				if err != nil {
					t.Fatal(err)
				}
				accepted := make(chan *Conn, 1)
				go func() {
					defer close(accepted)
					req, err := l.Accept()
					if err != nil {
						return
					}
					if req.IsEncrypted() {
						if err := req.SetPassphrase(pass); err != nil {
							req.Reject(wire.RejBadSecret)
							return
						}
					}
					if c, err := req.Accept(); err == nil {
						accepted <- c
					}
				}()
				c, err := Dial(context.Background(), l.Addr().String(), DialConfig{StreamID: "s", Passphrase: pass})
				if err != nil {
					t.Fatal(err)
				}
				lc := <-accepted
				if lc == nil {
					t.Fatal("the listener did not accept")
				}
				sender, receiver := c, lc
				if !callerSends {
					sender, receiver = lc, c
				}
				const n = 300
				reader := dtDrain(sender)
				go func() {
					if err := dtPublish(sender, n, time.Millisecond); err != nil {
						t.Error(err)
					}
				}()
				got := make(chan []byte, n)
				for range n {
					p, err := receiver.ReadPacket()
					if err != nil {
						t.Errorf("ReadPacket: %v", err)
						break
					}
					got <- bytes.Clone(p.Data())
					p.Decommission()
				}
				close(got)
				dtCheckStream(t, got, n)
				dtClose(t, sender, reader, callerSends)
				// The receiver sees the SHUTDOWN.
				if _, err := receiver.ReadPacket(); !errors.Is(err, io.EOF) {
					t.Errorf("receiver after the sender closed: %v", err)
				}
				receiver.Close()
				l.Close()
				if n := l.pool.outstanding(); n != 0 {
					t.Errorf("%d listener packet slots not returned", n)
				}
				if n := c.p.Pool.outstanding(); n != 0 {
					t.Errorf("%d dialer packet slots not returned", n)
				}
				testutil.WaitGoroutines(t, base)
			})
		}
	}
	t.Run("wrong passphrase", func(t *testing.T) {
		l, err := Listen("127.0.0.1:0", Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			req, err := l.Accept()
			if err != nil {
				return
			}
			if err := req.SetPassphrase("the right one!!"); err != nil {
				req.Reject(wire.RejBadSecret)
				return
			}
			if c, err := req.Accept(); err == nil {
				c.Close()
			}
		}()
		_, err = Dial(context.Background(), l.Addr().String(), DialConfig{Passphrase: "the wrong one!!"})
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Reason != wire.RejBadSecret {
			t.Fatalf("err %v", err)
		}
	})
}

// TestDialPublishToFFmpeg: ffmpeg (libsrt) in listener mode takes a TS
// stream from our sender, in the clear and encrypted (libsrt decrypts what
// we encrypt), and remuxes all of it: the output has the clip's video.
func TestDialPublishToFFmpeg(t *testing.T) {
	testclip.NeedFFmpeg(t) // ffmpeg and ffprobe
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.ts")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "25", "-f", "mpegts", "-y", clip).CombinedOutput(); err != nil {
		t.Fatalf("clip: %v: %s", err, b)
	}
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"", "ffmpeg reads this"} {
		t.Run(fmt.Sprintf("encrypted=%v", pass != ""), func(t *testing.T) {
			base := runtime.NumGoroutine()
			port := dtFreePort(t)
			out := filepath.Join(dir, fmt.Sprintf("out%d.ts", port))
			url := fmt.Sprintf("srt://127.0.0.1:%d?mode=listener", port)
			if pass != "" {
				url += "&passphrase=" + pass + "&pbkeylen=16"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := peerCmd(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", url, "-c", "copy", "-f", "mpegts", "-y", out)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			c, err := Dial(ctx, fmt.Sprintf("127.0.0.1:%d", port), DialConfig{Passphrase: pass, ConnectTimeout: 10 * time.Second})
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("dial: %v (ffmpeg: %s)", err, stderr.String())
			}
			reader := dtDrain(c)
			// Seven TS packets per message, in about 1 s.
			tk := time.NewTicker(time.Second / time.Duration(len(data)/1316+1))
			for off := 0; off < len(data); off += 1316 {
				if _, err := c.Write(data[off:min(off+1316, len(data))]); err != nil {
					t.Fatal(err)
				}
				<-tk.C
			}
			tk.Stop()
			time.Sleep(300 * time.Millisecond) // past the latency: delivered before the SHUTDOWN
			st := c.Stats()
			dtClose(t, c, reader, true)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
			}
			b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
				"-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", out).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v: %s", err, b)
			}
			// 2 s at 25 fps: 50 frames; the first GOP may be cut
			// while ffmpeg probes, never more.
			var frames int
			if _, err := fmt.Sscanf(string(bytes.TrimSpace(b)), "h264,%d", &frames); err != nil || frames < 25 {
				t.Fatalf("ffprobe: %q (%v)", b, err)
			}
			t.Logf("%d frames remuxed; sender stats %+v", frames, st)
			testutil.WaitGoroutines(t, base)
		})
	}
}

// TestDialFFmpegWrongPassphrase: libsrt refuses a wrong passphrase with
// SRT_REJ_BADSECRET, which Dial reports as a *RejectError with reason 10.
func TestDialFFmpegWrongPassphrase(t *testing.T) {
	testclip.NeedFFmpeg(t)
	port := dtFreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := peerCmd(ctx, "ffmpeg", "-hide_banner", "-loglevel", "quiet",
		"-i", fmt.Sprintf("srt://127.0.0.1:%d?mode=listener&passphrase=the-right-secret&pbkeylen=16", port), "-f", "null", "-")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	_, err := Dial(ctx, fmt.Sprintf("127.0.0.1:%d", port), DialConfig{Passphrase: "a-wrong-secret!", ConnectTimeout: 10 * time.Second})
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Reason != wire.RejBadSecret {
		t.Fatalf("err %v, want a *RejectError with reason 10", err)
	}
}
