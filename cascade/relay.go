package cascade

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/zcingest/zerocopy/cascade/wire"
	"github.com/zcingest/zerocopy/limit"
)

// RelayPaths are the URL paths a child answers for its parent through
// Config.API; any other relayed request gets a 404 body.
var RelayPaths = map[string]bool{"/api/streams": true}

// serveRelays answers the streams the parent opens (m7s's Http2Quic) until
// the connection ends. quic.Config.MaxIncomingStreams bounds how many run
// at once.
func (c *Child) serveRelays(conn *quic.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := conn.AcceptStream(c.ctx)
		if err != nil {
			return
		}
		wg.Go(func() { c.serveRelay(st) })
	}
}

// serveRelay reads one relayed HTTP request and writes the response body
// (m7s's wire carries no status line: an error is its text, as
// http.Error writes it), then closes the stream.
func (c *Child) serveRelay(st *quic.Stream) {
	defer st.CancelRead(codeOK)
	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	_ = st.SetReadDeadline(deadline)
	br := wire.NewLineReader(st, c.cfg.MaxRequestLine)
	line, err := wire.ReadLine(br)
	var req wire.RequestLine
	if err == nil {
		req, err = wire.ParseRequestLine(line)
	}
	if err == nil && req.IsStream() {
		err = fmt.Errorf("%w: %s on a relayed stream", wire.ErrBadRequest, req.Method)
	}
	hdr := http.Header{}
	if err == nil {
		err = wire.ReadHeader(br, func(k, v string) { hdr.Add(k, v) })
	}
	if err != nil {
		c.log.Info("cascade relay: bad request from the parent", "reason", err)
		st.CancelWrite(codeBadRequest)
		return
	}
	_ = st.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	w := &relayWriter{st: st, header: http.Header{}}
	if c.cfg.API == nil || !RelayPaths[req.Path] {
		http.Error(w, "404 page not found", http.StatusNotFound)
	} else {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.WriteTimeout)
		defer cancel()
		hr, err := http.NewRequestWithContext(ctx, req.Method, req.Path, http.NoBody)
		if err != nil {
			http.Error(w, "400 bad request", http.StatusBadRequest)
		} else {
			hr.URL.RawQuery = req.Query
			hr.RequestURI = (&url.URL{Path: req.Path, RawQuery: req.Query}).RequestURI()
			hr.Header = hdr
			hr.RemoteAddr = c.parent
			c.cfg.API.ServeHTTP(w, hr)
		}
	}
	c.stats.Relayed.Add(1)
	_ = st.Close()
}

// relayWriter is the http.ResponseWriter of a relayed request: the body
// goes to the stream, capped at MaxRelayResponse; status and headers have
// no place on m7s's wire.
type relayWriter struct {
	st     *quic.Stream
	header http.Header
	n      int64
	err    error
}

func (w *relayWriter) Header() http.Header { return w.header }
func (w *relayWriter) WriteHeader(int)     {}
func (w *relayWriter) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := limit.Check("MaxRelayResponse", w.n+int64(len(b)), MaxRelayResponse); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.st.Write(b)
	w.n += int64(n)
	w.err = err
	return n, err
}

var _ io.Writer = (*relayWriter)(nil)
