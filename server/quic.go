package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/host"
)

// Application error codes the host sends with CloseWithError.
const (
	// quicCodeDone: the handler returned, or the host is shutting down.
	quicCodeDone quic.ApplicationErrorCode = 0
	// quicCodeInternal: the handler panicked.
	quicCodeInternal quic.ApplicationErrorCode = 1
)

// quicShutdownWait bounds how long closeQUIC waits for handlers after it
// closed their connections. A handler still running then is left to
// Shutdown's own wait on s.conns (it is counted there too).
const quicShutdownWait = 5 * time.Second

// selfSignedValidity is the lifetime of the in-memory certificate; it is
// regenerated at every start.
const selfSignedValidity = 365 * 24 * time.Hour

// quicListener is one ListenQUIC: its UDP socket, the quic-go transport and
// listener on it, and the connections being served.
type quicListener struct {
	name string
	addr net.Addr
	udp  *net.UDPConn
	tr   *quic.Transport
	ln   *quic.Listener
	log  *slog.Logger

	wg sync.WaitGroup // the accept loop and every handler goroutine

	mu     sync.Mutex
	conns  map[*quic.Conn]struct{}
	closed bool
}

// ListenQUIC listens on UDP addr and runs handler for every QUIC connection
// on its own goroutine (see host.QUICHandler for the close and panic rules).
//
// It builds the quic.Transport over its own UDP socket (rather than
// quic.ListenAddr, whose socket closes asynchronously once the last
// connection has drained), so that Shutdown returns only after the socket
// is closed.
func (v *services) ListenQUIC(name, addr string, conf host.QUICConfig, handler host.QUICHandler) (net.Addr, error) {
	if handler == nil {
		return nil, fmt.Errorf("%s quic listen %s: nil handler", name, addr)
	}
	log := v.log.With("listener", name)
	tlsConf, err := quicTLSConfig(conf, log)
	if err != nil {
		return nil, fmt.Errorf("%s quic listen %s: %w", name, addr, err)
	}
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s quic listen %s: %w", name, addr, err)
	}
	udp, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("%s quic listen %s: %w", name, addr, err)
	}
	tr := &quic.Transport{Conn: udp}
	// nil quic.Config: quic-go's defaults (5 s handshake idle timeout,
	// 30 s idle timeout).
	ln, err := tr.Listen(tlsConf, &quic.Config{
		HandshakeIdleTimeout:  conf.HandshakeTimeout,
		MaxIdleTimeout:        conf.IdleTimeout,
		MaxIncomingStreams:    conf.MaxIncomingStreams,
		MaxIncomingUniStreams: -1,
	})
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, fmt.Errorf("%s quic listen %s: %w", name, addr, err)
	}
	l := &quicListener{
		name: name, addr: ln.Addr(), udp: udp, tr: tr, ln: ln, log: log,
		conns: map[*quic.Conn]struct{}{},
	}
	s := v.s
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		ln.Close()
		l.closeTransport()
		return nil, fmt.Errorf("%s quic listen %s: server is shutting down", name, addr)
	}
	s.quic = append(s.quic, l)
	v.quic = append(v.quic, l)
	// Counted while s.mu is held and stopped is false, so Shutdown's
	// waits cannot have begun.
	l.wg.Add(1)
	s.conns.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.conns.Done()
		defer l.wg.Done()
		l.acceptLoop(s, handler)
	}()
	log.Info("listening", "addr", l.addr.String(), "proto", "quic", "alpn", conf.ALPN)
	return l.addr, nil
}

func (l *quicListener) acceptLoop(s *Server, handler host.QUICHandler) {
	for {
		conn, err := l.ln.Accept(context.Background())
		if err != nil {
			if !errors.Is(err, quic.ErrServerClosed) && !errors.Is(err, quic.ErrTransportClosed) {
				l.log.Error("accept loop stopped", "err", err)
			}
			return
		}
		if !l.track(conn) {
			// Accepted after closeQUIC started: Accept drains its queue
			// before it reports ErrServerClosed.
			conn.CloseWithError(quicCodeDone, "server shutting down")
			continue
		}
		id := s.nextConn.Add(1)
		// This goroutine holds a count on both groups, so they are not
		// zero here.
		l.wg.Add(1)
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer l.wg.Done()
			defer l.untrack(conn)
			clog := l.log.With("conn", id, "remote", conn.RemoteAddr().String())
			serveQUICConn(conn, clog, handler)
		}()
	}
}

// serveQUICConn runs handler and closes conn afterwards with an application
// error code and a reason. A panic closes only this connection; it is logged
// with its stack.
func serveQUICConn(conn *quic.Conn, log *slog.Logger, handler host.QUICHandler) {
	log.Debug("quic connection accepted", "alpn", conn.ConnectionState().TLS.NegotiatedProtocol)
	defer func() {
		code, reason := quicCodeDone, "done"
		if v := recover(); v != nil {
			code, reason = quicCodeInternal, "internal error"
			log.Error("quic connection closed: handler panicked", "panic", v, "stack", string(debug.Stack()))
		} else if cause := context.Cause(conn.Context()); cause != nil {
			// The connection ended under the handler: peer close, idle
			// timeout or host shutdown.
			log.Info("quic connection closed", "reason", cause.Error())
		} else {
			log.Debug("quic connection closed", "reason", "handler returned")
		}
		conn.CloseWithError(code, reason)
	}()
	handler(conn, log)
}

func (l *quicListener) track(c *quic.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *quicListener) untrack(c *quic.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// stop closes the listener (no new connections) and every open connection
// (code 0, "server shutting down"); handlers see their streams fail.
func (l *quicListener) stop() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	conns := make([]*quic.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	l.ln.Close()
	for _, c := range conns {
		c.CloseWithError(quicCodeDone, "server shutting down")
	}
}

// closeTransport stops the transport (destroying any connection left, such
// as one still draining its CONNECTION_CLOSE) and closes the UDP socket.
func (l *quicListener) closeTransport() {
	l.tr.Close()
	l.udp.Close()
}

// closeQUIC closes every QUIC listener and open QUIC connection, waits (at
// most quicShutdownWait) for the accept loops and handlers to return, then
// closes the UDP sockets. Shutdown calls it right after the TCP listeners
// stop.
func (s *Server) closeQUIC() {
	s.mu.Lock()
	ls := s.quic
	s.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(l.stop)
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		for _, l := range ls {
			l.wg.Wait()
		}
		close(done)
	}()
	t := time.NewTimer(quicShutdownWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("quic handlers still running after their connections were closed; closing the sockets anyway",
			"waited", quicShutdownWait)
	}
	for _, l := range ls {
		l.closeTransport()
	}
}

// quicTLSConfig builds the listener's TLS 1.3 config: the certificate from
// conf's files, or a self-signed one generated now when both are empty.
func quicTLSConfig(conf host.QUICConfig, log *slog.Logger) (*tls.Config, error) {
	if len(conf.ALPN) == 0 {
		return nil, errors.New("no ALPN protocol configured (QUIC requires one)")
	}
	var cert tls.Certificate
	switch {
	case conf.CertFile == "" && conf.KeyFile == "":
		c, err := selfSignedCert()
		if err != nil {
			return nil, fmt.Errorf("generate self-signed certificate: %w", err)
		}
		sum := sha256.Sum256(c.Leaf.Raw)
		log.Info("no certfile/keyfile: generated a self-signed ECDSA certificate in memory",
			"dns", c.Leaf.DNSNames, "ip", c.Leaf.IPAddresses, "notafter", c.Leaf.NotAfter.Format(time.RFC3339),
			"sha256", hex.EncodeToString(sum[:]))
		cert = c
	case conf.CertFile == "" || conf.KeyFile == "":
		return nil, errors.New("certfile and keyfile must be set together")
	default:
		c, err := tls.LoadX509KeyPair(conf.CertFile, conf.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load certificate: %w", err)
		}
		cert = c
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   slices.Clone(conf.ALPN),
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// selfSignedCert makes an ECDSA P-256 certificate for "localhost" and
// 127.0.0.1, valid from an hour ago for selfSignedValidity.
func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"zerocopy self-signed"}},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
