package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testutil"
	"github.com/zcingest/zerocopy/server"
)

const quicTestALPN = "zerocopy-test"

// quicTestPlugin listens for QUIC in Start with conf and serves every
// connection with quicTestHandler.
type quicTestPlugin struct {
	conf host.QUICConfig
	addr net.Addr
}

func (p *quicTestPlugin) Start(s host.Services) error {
	addr, err := s.ListenQUIC("quictest", "127.0.0.1:0", p.conf, quicTestHandler)
	if err != nil {
		return err
	}
	p.addr = addr
	return nil
}

func (p *quicTestPlugin) Dispose() {}

// quicTestHandler accepts one stream and acts on its first byte: 'e' echoes
// the rest of the stream, 'p' panics, 'q' returns at once.
func quicTestHandler(conn *quic.Conn, log *slog.Logger) {
	str, err := conn.AcceptStream(conn.Context())
	if err != nil {
		return
	}
	var mode [1]byte
	if _, err := io.ReadFull(str, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case 'e':
		_, _ = io.Copy(str, str)
		_ = str.Close()
	case 'p':
		panic("quictest: handler asked to panic")
	case 'q':
	}
}

type syncBuffer = testutil.LogBuffer

func startQUICServer(t *testing.T, conf host.QUICConfig) (*server.Server, *quicTestPlugin, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	p := &quicTestPlugin{conf: conf}
	var g server.GlobalConfig
	g.HTTP.ListenAddr = "127.0.0.1:0"
	s, err := server.Start(&server.Config{
		Global:  g,
		Plugins: []server.PluginInstance{{Meta: host.PluginMeta{Name: "quictest"}, Plugin: p}},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.addr == nil {
		s.Shutdown(context.Background())
		t.Fatalf("plugin did not start; log:\n%s", logs)
	}
	return s, p, logs
}

func dialQUIC(t *testing.T, addr net.Addr, tlsConf *tls.Config) *quic.Conn {
	t.Helper()
	if tlsConf == nil {
		tlsConf = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{quicTestALPN}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr.String(), tlsConf, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return conn
}

// openMode opens a stream and sends the handler's mode byte.
func openMode(t *testing.T, conn *quic.Conn, mode byte) *quic.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write([]byte{mode}); err != nil {
		t.Fatal(err)
	}
	return str
}

func echo(t *testing.T, str *quic.Stream, msg string) {
	t.Helper()
	_ = str.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := str.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(str, got); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// wantAppClose waits until reading str fails with the peer's application
// close (code, reason).
func wantAppClose(t *testing.T, str *quic.Stream, code quic.ApplicationErrorCode, reason string) {
	t.Helper()
	_ = str.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, str)
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("read: got %v, want the peer's application close", err)
	}
	if !ae.Remote || ae.ErrorCode != code || ae.ErrorMessage != reason {
		t.Fatalf("close: got remote=%v code=%d reason=%q, want remote code=%d reason=%q",
			ae.Remote, ae.ErrorCode, ae.ErrorMessage, code, reason)
	}
}

func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d after shutdown, baseline %d\n%s", n, baseline, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func shutdown(t *testing.T, s *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestQUICEchoPanicAndShutdown: a handler echoes over a stream; another
// connection's handler panics, which closes only that connection (code 1)
// and is logged; a returning handler closes its connection (code 0);
// Shutdown closes the open connection, ends every goroutine and frees the
// UDP port.
func TestQUICEchoPanicAndShutdown(t *testing.T) {
	baseline := runtime.NumGoroutine()
	s, p, logs := startQUICServer(t, host.QUICConfig{ALPN: []string{quicTestALPN}})

	if got := s.Addrs()["quictest"]; got == nil || got.String() != p.addr.String() {
		t.Fatalf("Addrs()[quictest] = %v, want %v", got, p.addr)
	}
	if _, ok := p.addr.(*net.UDPAddr); !ok {
		t.Fatalf("bound address %T, want *net.UDPAddr", p.addr)
	}
	if !strings.Contains(logs.String(), "self-signed") {
		t.Errorf("no log line about the generated certificate:\n%s", logs)
	}

	c1 := dialQUIC(t, p.addr, nil)
	defer c1.CloseWithError(0, "")
	st := c1.ConnectionState()
	if st.TLS.NegotiatedProtocol != quicTestALPN {
		t.Errorf("ALPN %q, want %q", st.TLS.NegotiatedProtocol, quicTestALPN)
	}
	if leaf := st.TLS.PeerCertificates[0]; leaf.VerifyHostname("localhost") != nil || leaf.VerifyHostname("127.0.0.1") != nil {
		t.Errorf("self-signed certificate does not cover localhost and 127.0.0.1: %v %v", leaf.DNSNames, leaf.IPAddresses)
	} else if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("self-signed key is %T, want ECDSA", leaf.PublicKey)
	}
	s1 := openMode(t, c1, 'e')
	echo(t, s1, "hello over quic")

	// A panicking handler closes only its own connection.
	c2 := dialQUIC(t, p.addr, nil)
	defer c2.CloseWithError(0, "")
	wantAppClose(t, openMode(t, c2, 'p'), 1, "internal error")
	echo(t, s1, "still here")
	if l := logs.String(); !strings.Contains(l, "handler panicked") || !strings.Contains(l, "quictest: handler asked to panic") {
		t.Errorf("panic not logged:\n%s", l)
	}

	// A handler that returns closes its connection with code 0.
	c3 := dialQUIC(t, p.addr, nil)
	defer c3.CloseWithError(0, "")
	wantAppClose(t, openMode(t, c3, 'q'), 0, "done")
	echo(t, s1, "and still here")

	shutdown(t, s)
	wantAppClose(t, s1, 0, "server shutting down")
	if s.Addrs()["quictest"] == nil {
		t.Error("Addrs() lost the QUIC listener after shutdown")
	}

	// The UDP socket is closed: the same address can be bound again.
	pc, err := net.ListenUDP("udp", p.addr.(*net.UDPAddr))
	if err != nil {
		t.Fatalf("re-listen on %s after shutdown: %v", p.addr, err)
	}
	pc.Close()

	c1.CloseWithError(0, "")
	c2.CloseWithError(0, "")
	c3.CloseWithError(0, "")
	waitGoroutines(t, baseline)
}

// TestQUICCertFiles serves a certificate from PEM files; the client verifies
// it against its own root instead of skipping verification.
func TestQUICCertFiles(t *testing.T) {
	certPEM, keyPEM := testCertPEM(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	baseline := runtime.NumGoroutine()
	s, p, logs := startQUICServer(t, host.QUICConfig{ALPN: []string{quicTestALPN}, CertFile: certFile, KeyFile: keyFile})
	if strings.Contains(logs.String(), "self-signed") {
		t.Errorf("generated a certificate although files were given:\n%s", logs)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	c := dialQUIC(t, p.addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{quicTestALPN}})
	echo(t, openMode(t, c, 'e'), "verified")
	shutdown(t, s)
	c.CloseWithError(0, "")
	waitGoroutines(t, baseline)
}

// TestQUICListenErrors: bad configurations fail ListenQUIC, which disables
// the plugin without opening a socket.
func TestQUICListenErrors(t *testing.T) {
	cases := map[string]host.QUICConfig{
		"no ALPN":       {},
		"cert only":     {ALPN: []string{quicTestALPN}, CertFile: "cert.pem"},
		"missing files": {ALPN: []string{quicTestALPN}, CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"},
	}
	for name, conf := range cases {
		t.Run(name, func(t *testing.T) {
			p := &quicTestPlugin{conf: conf}
			var g server.GlobalConfig
			g.HTTP.ListenAddr = "127.0.0.1:0"
			// A plugin that cannot start stops start-up (the host shuts
			// down what it started and reports the plugin's error).
			s, err := server.Start(&server.Config{
				Global:  g,
				Plugins: []server.PluginInstance{{Meta: host.PluginMeta{Name: "quictest"}, Plugin: p}},
				Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err == nil {
				defer shutdown(t, s)
				t.Fatalf("Start succeeded although ListenQUIC failed with %+v", conf)
			}
			if s != nil || p.addr != nil || !strings.Contains(err.Error(), "plugin quictest") {
				t.Fatalf("Start: %v (server %v, addr %v)", err, s, p.addr)
			}
		})
	}
}

func testCertPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
