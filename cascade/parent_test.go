package cascade

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testutil"
)

// The empty-secret rule: a parent without a secret admits loopback peers
// only (a test cannot get a non-loopback peer on 127.0.0.1, hence the
// decision function alone); with a secret it admits exactly that secret,
// from anywhere.
func TestAdmitSecret(t *testing.T) {
	udp := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 4444} }
	cases := []struct {
		name      string
		want, got string
		remote    net.Addr
		err       error
	}{
		{"empty secret, IPv4 loopback", "", "", udp("127.0.0.1"), nil},
		{"empty secret, other 127/8", "", "", udp("127.3.2.1"), nil},
		{"empty secret, IPv6 loopback", "", "", udp("::1"), nil},
		{"empty secret, IPv4-mapped loopback", "", "", udp("::ffff:127.0.0.1"), nil},
		{"empty secret, child presents one anyway", "", "x", udp("127.0.0.1"), nil},
		{"empty secret, private LAN", "", "", udp("192.168.1.7"), errNotLoopback},
		{"empty secret, 10/8", "", "", udp("10.0.0.1"), errNotLoopback},
		{"empty secret, public IPv6", "", "", udp("2001:db8::1"), errNotLoopback},
		{"empty secret, unspecified", "", "", udp("0.0.0.0"), errNotLoopback},
		{"empty secret, IPv4-mapped LAN", "", "", udp("::ffff:10.1.1.1"), errNotLoopback},
		{"empty secret, no address", "", "", nil, errNotLoopback},
		{"empty secret, TCP loopback", "", "", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil},
		{"secret, right, remote", "s3cret", "s3cret", udp("203.0.113.9"), nil},
		{"secret, right, loopback", "s3cret", "s3cret", udp("127.0.0.1"), nil},
		{"secret, wrong", "s3cret", "s3creT", udp("127.0.0.1"), errWrongSecret},
		{"secret, prefix", "s3cret", "s3c", udp("127.0.0.1"), errWrongSecret},
		{"secret, longer", "s3cret", "s3cret!", udp("127.0.0.1"), errWrongSecret},
		{"secret, empty presented", "s3cret", "", udp("127.0.0.1"), errWrongSecret},
	}
	for _, c := range cases {
		if err := admitSecret(c.want, c.got, c.remote); !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
}

// noHost has no streams: every PULLFLV is answered codeNoStream.
type noHost struct{}

func (noHost) Publish(host.PublishRequest) (host.Publisher, error) {
	return nil, errors.New("no publishing here")
}
func (noHost) Subscribe(string) (host.Subscriber, error) { return nil, errors.New("no such stream") }

func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{wire.ALPN}}
}

// The parent's own MaxStreams check, for a listener whose QUIC stream
// credit is larger than it (the host passes MaxStreams as quic-go's
// MaxIncomingStreams, so there the credit stops a child first): streams
// over the cap are reset with codeLimit and counted; the others are served.
func TestParentMaxStreamsOverQUICCredit(t *testing.T) {
	base := runtime.NumGoroutine()
	defer testutil.WaitGoroutines(t, base)
	ln, err := quic.ListenAddr("127.0.0.1:0", testTLS(t), &quic.Config{MaxIncomingStreams: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := NewParent(Config{MaxStreams: 2, HandshakeTimeout: 3 * time.Second}, noHost{})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		p.ServeConn(conn, slog.New(slog.DiscardHandler))
		conn.CloseWithError(0, "")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{wire.ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	reg, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := wire.AppendSecret(nil, "")
	if _, err := reg.Write(msg); err != nil {
		t.Fatal(err)
	}
	var ans [2]byte
	if _, err := io.ReadFull(reg, ans[:]); err != nil || ans != wire.Accepted {
		t.Fatalf("registration: %v %v", ans, err)
	}
	// Two streams that hold their request line open, then a third.
	var held []*quic.Stream
	for range 2 {
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("PULLFLV live/")); err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	for p.stats.StreamsOver.Load() == 0 {
		// The parent counts a stream once its first bytes arrive; retry
		// until the two held ones are in and a third is refused.
		st, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Write([]byte("PULLFLV live/x\r\n"))
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadAll(st)
		var se *quic.StreamError
		if !errors.As(err, &se) {
			t.Fatalf("third stream: %v, want a stream reset", err)
		}
		if se.ErrorCode != codeLimit && se.ErrorCode != codeNoStream {
			t.Fatalf("third stream reset with %d", se.ErrorCode)
		}
	}
	// The held streams run into the request-line timeout.
	for _, st := range held {
		_ = st.SetReadDeadline(time.Now().Add(6 * time.Second))
		_, err := io.ReadAll(st)
		var se *quic.StreamError
		if !errors.As(err, &se) || se.ErrorCode != codeBadRequest {
			t.Fatalf("held stream: %v, want a reset with codeBadRequest after HandshakeTimeout", err)
		}
	}
}
