package cascade

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
)

// ParentStats count what a Parent did.
type ParentStats struct {
	Children     atomic.Int64 // registered now
	Registered   atomic.Int64 // registrations accepted, ever
	Refused      atomic.Int64 // registrations refused
	Pulls        atomic.Int64 // PULLFLV streams served, ever
	ActivePulls  atomic.Int64
	Stops        atomic.Int64 // STOPFLV received
	StreamsOver  atomic.Int64 // streams reset for exceeding MaxStreams
	BytesOut     atomic.Int64 // bytes written to pull streams
	PayloadBytes atomic.Int64 // of which frame memory, written without a copy
	Drops        atomic.Int64 // frames the hub skipped for slow children
}

// Parent serves children (m7s: the cascade server plugin).
type Parent struct {
	cfg   Config
	host  Host
	stats ParentStats
}

// NewParent returns a parent serving h's streams.
func NewParent(cfg Config, h Host) *Parent { return &Parent{cfg: cfg.withDefaults(), host: h} }

// Stats returns the parent's counters.
func (p *Parent) Stats() *ParentStats { return &p.stats }

// Why a pull stream ended, as the parent saw it.
var (
	errStopFLV     = errors.New("child sent STOPFLV")
	errChildClosed = errors.New("child closed the stream")
	errCut         = errors.New("cut by the host (child too slow, or the stream ended first)")
)

// ServeConn runs one child connection (a host.QUICHandler): registration on
// the first stream, then one goroutine per stream until the connection
// ends. The host closes conn when it returns.
func (p *Parent) ServeConn(conn *quic.Conn, log *slog.Logger) {
	secret, ok := p.register(conn, log)
	if !ok {
		return
	}
	defer p.stats.Children.Add(-1)
	ctx := conn.Context()
	var wg sync.WaitGroup
	defer wg.Wait()
	var open atomic.Int64
	for {
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		if open.Load() >= int64(p.cfg.MaxStreams) {
			p.stats.StreamsOver.Add(1)
			log.Warn("cascade stream refused: too many open streams", "limit", p.cfg.MaxStreams)
			st.CancelRead(codeLimit)
			st.CancelWrite(codeLimit)
			continue
		}
		open.Add(1)
		wg.Go(func() {
			defer open.Add(-1)
			p.serveStream(ctx, conn, st, secret, log)
		})
	}
}

// register reads the secret from the connection's first stream and
// answers. It reports whether the child was accepted (and counted).
func (p *Parent) register(conn *quic.Conn, log *slog.Logger) (secret string, ok bool) {
	ctx, cancel := context.WithTimeout(conn.Context(), p.cfg.HandshakeTimeout)
	defer cancel()
	st, err := conn.AcceptStream(ctx)
	if err != nil {
		log.Info("cascade child sent no registration", "reason", err)
		return "", false
	}
	_ = st.SetReadDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	_ = st.SetWriteDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	secret, err = wire.ReadSecret(st)
	if err != nil {
		log.Info("cascade registration unreadable", "reason", err)
		st.CancelRead(codeBadRequest)
		st.CancelWrite(codeBadRequest)
		return "", false
	}
	reason := p.admit(ctx, conn, secret)
	if reason != nil {
		p.stats.Refused.Add(1)
		log.Warn("cascade child refused", "reason", reason)
		_, _ = st.Write(wire.Refused[:])
		_ = st.Close()
		// Let {1,0} reach the child, which closes the connection on it.
		select {
		case <-conn.Context().Done():
		case <-time.After(refuseLinger):
		}
		return "", false
	}
	if _, err := st.Write(wire.Accepted[:]); err != nil {
		p.stats.Children.Add(-1)
		return "", false
	}
	_ = st.Close()
	st.CancelRead(codeOK)
	p.stats.Registered.Add(1)
	log.Info("cascade child registered")
	return secret, true
}

// admit decides a registration; nil admits it and counts the child.
func (p *Parent) admit(ctx context.Context, conn *quic.Conn, secret string) error {
	if err := admitSecret(p.cfg.Secret, secret, conn.RemoteAddr()); err != nil {
		return err
	}
	if err := p.cfg.Auth.Authorize(ctx, p.authRequest(conn, secret, "", "")); err != nil {
		return fmt.Errorf("auth hook: %w", err)
	}
	if n := p.stats.Children.Add(1); n > int64(p.cfg.MaxChildren) {
		p.stats.Children.Add(-1)
		return fmt.Errorf("MaxChildren (%d) children registered already", p.cfg.MaxChildren)
	}
	return nil
}

// Why admitSecret refuses.
var (
	errNotLoopback = errors.New("no secret configured: only loopback children are admitted")
	errWrongSecret = errors.New("wrong secret")
)

// admitSecret is the secret half of a registration's decision: with a
// configured secret (want) the presented one must equal it, compared in
// constant time; without one, only loopback peers are admitted, since an
// empty secret protects nothing beyond this machine. The auth hook and
// MaxChildren are asked after it.
func admitSecret(want, got string, remote net.Addr) error {
	if want == "" {
		if !isLoopback(remote) {
			return errNotLoopback
		}
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errWrongSecret
	}
	return nil
}

func (p *Parent) authRequest(conn *quic.Conn, secret, path, query string) host.AuthRequest {
	return host.AuthRequest{
		Action: host.ActionPlay, Protocol: "quic", Path: path, Query: query,
		Remote: conn.RemoteAddr().String(), User: "cascade",
		VerifyPassword: func(pw string) bool { return subtle.ConstantTimeCompare([]byte(pw), []byte(secret)) == 1 },
	}
}

// serveStream reads a stream's request line and serves it.
func (p *Parent) serveStream(ctx context.Context, conn *quic.Conn, st *quic.Stream, secret string, log *slog.Logger) {
	_ = st.SetReadDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	br := wire.NewLineReader(st, p.cfg.MaxRequestLine)
	line, err := wire.ReadLine(br)
	if err == nil {
		var req wire.RequestLine
		if req, err = wire.ParseRequestLine(line); err == nil {
			_ = st.SetReadDeadline(time.Time{})
			switch req.Method {
			case wire.MethodPull:
				p.servePull(ctx, conn, st, br, req, secret, log)
				return
			case wire.MethodStop:
				// A STOPFLV on a stream of its own stops nothing.
				_ = st.Close()
				st.CancelRead(codeOK)
				return
			}
			// A child relaying HTTP to its parent is not part of m7s's
			// protocol: answer with an error body rather than hang.
			_, _ = io.WriteString(st, "501 not implemented\n")
			_ = st.Close()
			st.CancelRead(codeOK)
			return
		}
	}
	code := quic.StreamErrorCode(codeBadRequest)
	var le *limit.LimitError
	if errors.As(err, &le) {
		code = codeLimit
	}
	log.Info("cascade stream refused: bad request line", "reason", err)
	st.CancelRead(code)
	st.CancelWrite(code)
}

// servePull answers PULLFLV with the FLV of req.Path until the child sends
// STOPFLV or closes, the stream ends, or the child cannot keep up.
func (p *Parent) servePull(ctx context.Context, conn *quic.Conn, st *quic.Stream, br *bufio.Reader, req wire.RequestLine, secret string, log *slog.Logger) {
	log = log.With("path", req.Path)
	actx, cancelAuth := context.WithTimeout(ctx, p.cfg.HandshakeTimeout)
	err := p.cfg.Auth.Authorize(actx, p.authRequest(conn, secret, req.Path, req.Query))
	cancelAuth()
	if err != nil {
		log.Info("cascade pull refused by the auth hook", "reason", err)
		st.CancelRead(codeRefused)
		st.CancelWrite(codeRefused)
		return
	}
	sub, err := p.host.Subscribe(req.Path)
	if err != nil {
		log.Info("cascade pull: no stream", "reason", err)
		st.CancelRead(codeNoStream)
		st.CancelWrite(codeNoStream)
		return
	}
	defer sub.Close()
	p.stats.Pulls.Add(1)
	p.stats.ActivePulls.Add(1)
	defer p.stats.ActivePulls.Add(-1)

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The rest of the stream is the child's control: STOPFLV, or FIN.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			line, err := wire.ReadLine(br)
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errChildClosed
				}
				cancel(err)
				return
			}
			if r, err := wire.ParseRequestLine(line); err == nil && r.Method == wire.MethodStop {
				p.stats.Stops.Add(1)
				cancel(errStopFLV)
				return
			}
		}
	}()
	go func() {
		select {
		case <-sub.Cut():
			cancel(errCut)
		case <-pctx.Done():
		}
	}()
	e := &egress{st: st, sub: sub, stats: &p.stats, writeTimeout: p.cfg.WriteTimeout, ctx: pctx}
	stop := context.AfterFunc(pctx, func() { _ = st.SetWriteDeadline(time.Unix(1, 0)) })
	err = e.run()
	e.stop()
	stop()
	if err != nil && pctx.Err() != nil {
		err = context.Cause(pctx)
	}
	p.stats.Drops.Add(sub.Drops())
	switch {
	case err == nil || errors.Is(err, io.EOF):
		log.Info("cascade pull ended: stream ended", "drops", sub.Drops(), "bytes", e.written)
		_ = st.Close()
	case errors.Is(err, errStopFLV), errors.Is(err, errChildClosed):
		log.Info("cascade pull ended", "reason", err, "drops", sub.Drops(), "bytes", e.written)
		_ = st.Close()
	default:
		log.Info("cascade pull ended", "reason", err, "drops", sub.Drops(), "bytes", e.written)
		st.CancelWrite(codeWriteFailed)
	}
	st.CancelRead(codeStopped)
	cancel(nil)
	<-readerDone
}
