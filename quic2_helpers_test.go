package zerocopy_test

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
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
)

// Stream error codes the cascade sends (cascade/limits.go).
const (
	qc2CodeRefused    = 1
	qc2CodeLimit      = 2
	qc2CodeBadRequest = 3
)

// qc2TLS is a self-signed server configuration for a test parent.
func qc2TLS(t *testing.T) *tls.Config {
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

// qc2Parent is a bare test parent: it registers children as m7s's cascade
// server does and lets the test open streams to them.
type qc2Parent struct {
	ln   *quic.Listener
	addr string
}

func qc2Listen(t *testing.T) *qc2Parent {
	t.Helper()
	ln, err := quic.ListenAddr("127.0.0.1:0", qc2TLS(t), &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &qc2Parent{ln: ln, addr: ln.Addr().String()}
}

// acceptChild accepts one child connection and answers its registration
// with {0,0}. The connection is closed at cleanup.
func (p *qc2Parent) acceptChild(t *testing.T) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := p.ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "test over") })
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadSecret(st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(wire.Accepted[:]); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	return conn
}

// qc2Dial connects a bare child to a parent's QUIC address (no
// registration yet).
func qc2Dial(t *testing.T, addr string) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{wire.ALPN}}, &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "test over") })
	return conn
}

// qc2Register sends secret on the connection's first stream, as m7s's
// cascade client does, and returns the parent's two-byte answer.
func qc2Register(t *testing.T, conn *quic.Conn, secret string) [2]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	msg, err := wire.AppendSecret(nil, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(msg); err != nil {
		t.Fatal(err)
	}
	var ans [2]byte
	if _, err := io.ReadFull(st, ans[:]); err != nil {
		t.Fatalf("registration answer: %v", err)
	}
	_ = st.Close()
	st.CancelRead(0)
	return ans
}

// qc2ResetCode reads st to its end (bounded by d) and returns the code of
// the reset that ended it, or -1 when it ended otherwise.
func qc2ResetCode(t *testing.T, st *quic.Stream, d time.Duration) int {
	t.Helper()
	_ = st.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, st)
	var se *quic.StreamError
	if errors.As(err, &se) {
		return int(se.ErrorCode)
	}
	t.Logf("stream ended with %v", err)
	return -1
}
