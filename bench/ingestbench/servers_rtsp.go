package ingestbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// ---- gortsplib: a minimal RECORD server on gortsplib v5 ----

// gortsplibTarget accepts ANNOUNCE/SETUP/RECORD, depacketizes every RTP
// packet of H.264 and AAC into access units (the work any server does
// before it can use a frame) and discards them. Socket bytes are counted
// under the library: a counting listener for TCP, a counting PacketConn
// for the UDP pair.
type gortsplibTarget struct {
	srv       *gortsplib.Server
	transport string
	bytes     atomic.Int64
	pub       atomic.Int64
	frames    atomic.Int64
	errs      atomic.Int64
	lastErr   atomic.Pointer[string]
}

func startGortsplib(transport string) (*gortsplibTarget, error) {
	t := &gortsplibTarget{transport: transport}
	rtpPort, err := freeUDPPair()
	if err != nil {
		return nil, err
	}
	t.srv = &gortsplib.Server{
		Handler:        t,
		RTSPAddress:    "127.0.0.1:0",
		UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", rtpPort),
		UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", rtpPort+1),
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return countingListener{Listener: ln, n: &t.bytes}, nil
		},
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			pc, err := net.ListenPacket(network, address)
			if err != nil {
				return nil, err
			}
			return &countingUDPConn{UDPConn: pc.(*net.UDPConn), n: &t.bytes}, nil
		},
	}
	if err := t.srv.Start(); err != nil {
		return nil, fmt.Errorf("gortsplib: %w", err)
	}
	return t, nil
}

// freeUDPPair finds an even UDP port whose successor is free too
// (gortsplib wants the RTP/RTCP pair consecutive). Both are closed again
// before the server binds them; a lost race fails the start loudly.
func freeUDPPair() (int, error) {
	for range 50 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		a.Close()
		if p%2 != 0 || p >= 65535 {
			continue
		}
		a, err = net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, errors.New("gortsplib: no free consecutive UDP port pair on 127.0.0.1")
}

// OnAnnounce accepts every publisher.
func (t *gortsplibTarget) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts the publisher's tracks (and refuses players).
func (t *gortsplibTarget) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStateInitial {
		return &base.Response{StatusCode: base.StatusNotImplemented}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnRecord installs one decoder per format and a callback that decodes
// every packet into access units and counts them.
func (t *gortsplibTarget) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	decoders := map[format.Format]func(*rtp.Packet) int{}
	for _, medi := range ctx.Session.AnnouncedDescription().Medias {
		for _, forma := range medi.Formats {
			switch f := forma.(type) {
			case *format.H264:
				d, err := f.CreateDecoder()
				if err != nil {
					return &base.Response{StatusCode: base.StatusBadRequest}, err
				}
				decoders[forma] = func(p *rtp.Packet) int { au, _ := d.Decode(p); return min(len(au), 1) }
			case *format.MPEG4Audio:
				d, err := f.CreateDecoder()
				if err != nil {
					return &base.Response{StatusCode: base.StatusBadRequest}, err
				}
				decoders[forma] = func(p *rtp.Packet) int { aus, _ := d.Decode(p); return len(aus) }
			}
		}
	}
	ctx.Session.OnPacketRTPAny(func(_ *description.Media, forma format.Format, pkt *rtp.Packet) {
		if dec := decoders[forma]; dec != nil {
			if n := dec(pkt); n > 0 {
				t.frames.Add(int64(n))
			}
		}
	})
	t.pub.Add(1)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose counts a publisher that left.
func (t *gortsplibTarget) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if ctx.Session.State() == gortsplib.ServerSessionStateRecord {
		t.pub.Add(-1)
		if ctx.Error != nil && !errors.Is(ctx.Error, io.EOF) {
			t.errs.Add(1)
			msg := ctx.Error.Error()
			t.lastErr.Store(&msg)
		}
	}
}

func (t *gortsplibTarget) pushOutput(i int) []string {
	return rtspOutput(t.srv.NetListener().Addr().String(), t.transport, i)
}
func (t *gortsplibTarget) publishing() int            { return int(t.pub.Load()) }
func (t *gortsplibTarget) bytesRead() int64           { return t.bytes.Load() }
func (t *gortsplibTarget) bytesCopied() (int64, bool) { return 0, false }
func (t *gortsplibTarget) check(int64) error {
	if n := t.errs.Load(); n > 0 {
		return fmt.Errorf("gortsplib: %d session(s) failed; last: %s", n, *t.lastErr.Load())
	}
	if t.frames.Load() == 0 {
		return errors.New("gortsplib: no access unit decoded")
	}
	return nil
}
func (t *gortsplibTarget) shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { t.srv.Close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gortsplib shutdown: %w", ctx.Err())
	}
}

// countingListener hands out countingConns.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: l.n}, nil
}

// countingUDPConn counts the datagram bytes read through ReadFrom; it
// stays a *net.UDPConn for everything else (gortsplib sets its read
// buffer through it).
type countingUDPConn struct {
	*net.UDPConn
	n *atomic.Int64
}

func (c *countingUDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.UDPConn.ReadFrom(p)
	c.n.Add(int64(n))
	return n, a, err
}

// ---- the RTSP floors: setup by hand, then raw reads ----

// rtspFloor answers a publisher's OPTIONS/ANNOUNCE/SETUP/RECORD with the
// least a client accepts, and from RECORD on only reads: the TCP
// connection (interleaved RTP/RTCP, tcp) or the shared RTP and RTCP
// sockets (udp), into one reused buffer or a retaining ring.
type rtspFloor struct {
	*sinkTarget
	transport string
	ret       *retention
	rtp, rtcp *net.UDPConn
	udpWG     sync.WaitGroup
}

// udpDatagramMax is the largest datagram a floor reads whole (loopback
// RTP from ffmpeg is at most 1472 bytes, SRT 1316+16).
const udpDatagramMax = 2048

func startRTSPFloor(transport string, ret *retention, n int) (*rtspFloor, error) {
	f := &rtspFloor{transport: transport, ret: ret}
	if transport == "udp" {
		var err error
		if f.rtp, err = listenUDP(); err != nil {
			return nil, err
		}
		if f.rtcp, err = listenUDP(); err != nil {
			f.rtp.Close()
			return nil, err
		}
	}
	st, err := startSink(f.serve, false)
	if err != nil {
		f.closeUDP()
		return nil, err
	}
	f.sinkTarget = st
	if f.rtp != nil {
		// One ring per socket holding what n streams' rings would.
		for _, pc := range []*net.UDPConn{f.rtp, f.rtcp} {
			f.udpWG.Add(1)
			go func() {
				defer f.udpWG.Done()
				_ = readUDPFloor(pc, &st.st, ret, n, nil)
			}()
		}
	}
	return f, nil
}

func listenUDP() (*net.UDPConn, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

func (f *rtspFloor) closeUDP() {
	if f.rtp != nil {
		f.rtp.Close()
		f.rtcp.Close()
	}
}

func (f *rtspFloor) pushOutput(i int) []string {
	return rtspOutput(f.ln.Addr().String(), f.transport, i)
}

func (f *rtspFloor) shutdown(ctx context.Context) error {
	err := f.sinkTarget.shutdown(ctx)
	f.closeUDP()
	f.udpWG.Wait()
	return err
}

// rtspMaxRequest bounds one request (headers plus body) of the floor's
// setup: ffmpeg's ANNOUNCE is well under 4 KiB.
const rtspMaxRequest = 64 << 10

// serve runs the setup and then reads.
func (f *rtspFloor) serve(conn net.Conn, st *sinkStats) error {
	cc := countingConn{Conn: conn, n: &st.bytes}
	br := bufio.NewReaderSize(cc, 4096)
	_ = conn.SetDeadline(time.Now().Add(setupTimeout))
	session := strconv.FormatInt(time.Now().UnixNano()&0xffffffff, 16)
	recording := false
	for !recording || f.transport == "udp" {
		method, hdr, err := readRTSPRequest(br)
		if err != nil {
			if recording {
				return nil // the publisher hung up
			}
			return fmt.Errorf("rtsp floor: %w", err)
		}
		var resp strings.Builder
		fmt.Fprintf(&resp, "RTSP/1.0 200 OK\r\nCSeq: %s\r\n", hdr["cseq"])
		switch method {
		case "OPTIONS":
			resp.WriteString("Public: OPTIONS, ANNOUNCE, SETUP, RECORD, GET_PARAMETER, TEARDOWN\r\n")
		case "ANNOUNCE", "GET_PARAMETER", "SET_PARAMETER":
		case "SETUP":
			tr := hdr["transport"]
			if f.transport == "udp" {
				if !strings.Contains(tr, "client_port=") {
					return fmt.Errorf("rtsp floor: SETUP without client_port: %q", tr)
				}
				tr = strings.TrimSuffix(tr, ";mode=record") + fmt.Sprintf(";server_port=%d-%d",
					f.rtp.LocalAddr().(*net.UDPAddr).Port, f.rtcp.LocalAddr().(*net.UDPAddr).Port)
			}
			fmt.Fprintf(&resp, "Transport: %s\r\nSession: %s\r\n", tr, session)
		case "RECORD":
			fmt.Fprintf(&resp, "Session: %s\r\n", session)
			if !recording {
				recording = true
				st.publishing.Add(1)
				defer st.publishing.Add(-1)
				_ = conn.SetDeadline(time.Time{})
			}
		case "TEARDOWN":
			return nil
		default:
			return fmt.Errorf("rtsp floor: unexpected %s", method)
		}
		resp.WriteString("\r\n")
		if _, err := io.WriteString(conn, resp.String()); err != nil {
			return err
		}
	}
	// Interleaved media from here on. What bufio already holds was read
	// (and counted) through cc; it is dropped, then the socket is read raw.
	_, _ = br.Discard(br.Buffered())
	return readFloor(conn, st, f.ret)
}

// readRTSPRequest reads one request: the method and the headers (keys
// lowercased); a body (ANNOUNCE's SDP) is read and dropped.
func readRTSPRequest(br *bufio.Reader) (method string, hdr map[string]string, err error) {
	hdr = map[string]string{}
	total := 0
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		if total += len(line); total > rtspMaxRequest {
			return "", nil, errors.New("request too large")
		}
		line = strings.TrimRight(line, "\r\n")
		if first {
			method, _, _ = strings.Cut(line, " ")
			continue
		}
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		hdr[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if cl := hdr["content-length"]; cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > rtspMaxRequest {
			return "", nil, fmt.Errorf("bad Content-Length %q", cl)
		}
		if _, err := br.Discard(n); err != nil {
			return "", nil, err
		}
	}
	return method, hdr, nil
}
