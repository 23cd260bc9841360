package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// flvWriteTimeout bounds one writev to a subscriber. A subscriber that
// cannot take a frame within it is cut, so it never pins frames for long.
const flvWriteTimeout = 10 * time.Second

// EgressStats count what HTTP-FLV subscribers were sent.
type EgressStats struct {
	Subscribers  atomic.Int64
	BytesOut     atomic.Int64
	PayloadBytes atomic.Int64 // payload bytes written straight from frame memory
	HeaderBytes  atomic.Int64 // tag header bytes written from the per-subscriber buffer
	BytesCopied  atomic.Int64 // payload bytes copied on the way out (0 by design)
}

// flvSession writes one subscriber's FLV stream. Its buffers are reused for
// every tag, so the steady state does not allocate.
type flvSession struct {
	ctx    context.Context // the session's; its end forces writes to fail
	conn   net.Conn
	sub    *hub.Subscriber
	stats  *EgressStats
	header []byte   // small FLV tag headers and previous-tag-size fields
	size   []byte   // the chunked-encoding size line of one write
	iov    [][]byte // size line, header and payload views of one tag, CRLF
	bufs   net.Buffers
	// The sequence headers last sent: a configuration change re-sends
	// only the one that changed.
	sentVideo, sentAudio []byte
}

// Why a session was stopped from outside its write loop.
var (
	errClientLeft = errors.New("client left")
	errCutOff     = errors.New("stream ended before the client caught up")
)

// crlf ends every chunk of the chunked response.
var crlf = []byte("\r\n")

// serveFLV streams path as HTTP-FLV on a hijacked connection, so every tag
// goes out with one writev that points at the frame's own memory.
func (s *Server) serveFLV(w http.ResponseWriter, req *http.Request, path string) {
	sub, err := s.hub.SubscribeWait(req.Context(), path, s.global.Subscribe.WaitTimeout)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, hub.ErrNoStream) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), status)
		return
	}
	defer sub.Close()
	if !s.trackSession() {
		http.Error(w, "host shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.sessions.Done()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		s.log.Warn("http-flv hijack failed", "path", path, "err", err)
		return
	}
	defer conn.Close()
	log := s.log.With("egress", "http-flv", "path", path, "remote", conn.RemoteAddr().String())
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	// A client that goes away is noticed by the reader below, which ends
	// the session even while it waits for the next frame.
	go watchPeer(brw.Reader, cancel)
	// A client too slow to catch up before the stream's close wait ends is
	// cut off, even in the middle of a blocked write, so that it hands its
	// frame back in time for the publisher to free it.
	go func() {
		select {
		case <-sub.Cut():
			cancel(errCutOff)
		case <-ctx.Done():
		}
	}()

	s.egress.Subscribers.Add(1)
	defer s.egress.Subscribers.Add(-1)
	fs := &flvSession{conn: conn, sub: sub, stats: &s.egress, header: make([]byte, 0, 64)}
	err = fs.run(ctx)
	if err != nil && !errors.Is(err, io.EOF) && ctx.Err() != nil {
		// Report why the session was stopped, not the write it interrupted.
		err = context.Cause(ctx)
	}
	switch {
	case err == nil || errors.Is(err, io.EOF):
		log.Info("http-flv subscriber closed: stream ended", "drops", sub.Drops())
	case errors.Is(err, context.Canceled):
		log.Info("http-flv subscriber closed: host stopping", "drops", sub.Drops())
	default:
		log.Info("http-flv subscriber closed", "reason", err, "drops", sub.Drops())
	}
}

// trackSession counts an HTTP-FLV session for Shutdown to wait for; it
// refuses once Shutdown has begun.
func (s *Server) trackSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.sessions.Add(1)
	return true
}

func watchPeer(r *bufio.Reader, cancel context.CancelCauseFunc) {
	_, _ = r.Discard(1 << 30)
	cancel(errClientLeft)
}

func (fs *flvSession) run(ctx context.Context) error {
	fs.ctx = ctx
	stop := context.AfterFunc(ctx, func() { _ = fs.conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	// Chunked transfer encoding lets players tell a finished stream (the
	// zero-length chunk) from a broken connection.
	head := "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
	fs.iov = append(fs.iov[:0], []byte(head))
	if err := fs.writeRaw(); err != nil {
		return err
	}
	video, audio, _ := fs.sub.Configs()
	fs.header = flv.AppendFileHeader(fs.header[:0], true, true)
	fs.iov = append(fs.iov[:0], fs.header)
	if err := fs.flush(); err != nil {
		return err
	}
	if err := fs.writeConfigs(video, audio, 0); err != nil {
		return err
	}
	for {
		f, err := fs.sub.Next(ctx)
		if errors.Is(err, io.EOF) {
			fs.iov = append(fs.iov[:0], []byte("0\r\n\r\n"))
			_ = fs.writeRaw()
			return err
		}
		if err != nil {
			return err
		}
		if v, a, changed := fs.sub.Configs(); changed {
			if err := fs.writeConfigs(v, a, flvTimestamp(f.DTS)); err != nil {
				f.Release()
				return err
			}
		}
		err = fs.writeFrame(f)
		f.Release()
		if err != nil {
			return err
		}
	}
}

func flvTimestamp(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

func (fs *flvSession) writeConfigs(video host.VideoConfig, audio host.AudioConfig, ts uint32) error {
	if video.Codec != codec.Unknown {
		body, err := video.FLVSequenceHeader()
		if err != nil {
			return err
		}
		if !bytes.Equal(body, fs.sentVideo) {
			if err := fs.writeTag(flv.TagVideo, ts, body); err != nil {
				return err
			}
			fs.sentVideo = body
		}
	}
	if audio.Codec != codec.Unknown {
		body, err := audio.FLVSequenceHeader()
		if err != nil {
			return err
		}
		if !bytes.Equal(body, fs.sentAudio) {
			if err := fs.writeTag(flv.TagAudio, ts, body); err != nil {
				return err
			}
			fs.sentAudio = body
		}
	}
	return nil
}

// writeTag writes a tag whose body is a small control payload (a sequence
// header); the body is written from the host's copy, not copied again.
func (fs *flvSession) writeTag(tagType uint8, ts uint32, body []byte) error {
	fs.header = flv.PutTagHeader(fs.header[:0], tagType, len(body), ts)
	fs.iov = append(fs.iov[:0], fs.header, body)
	fs.header = flv.PutPreviousTagSize(fs.header, uint32(11+len(body)))
	fs.iov = append(fs.iov, fs.header[11:])
	fs.iov[0] = fs.header[:11]
	return fs.flush()
}

func (fs *flvSession) writeFrame(f *host.Frame) error {
	if f.Format != host.FormatFLV {
		return fmt.Errorf("http-flv: frame format %d cannot be sent as FLV", f.Format)
	}
	tagType := flv.TagVideo
	if f.Kind == host.Audio {
		tagType = flv.TagAudio
	}
	size := f.Payload.Size
	fs.header = flv.PutTagHeader(fs.header[:0], tagType, size, flvTimestamp(f.DTS))
	fs.header = flv.PutPreviousTagSize(fs.header, uint32(11+size))
	fs.iov = append(fs.iov[:0], fs.header[:11])
	fs.iov = append(fs.iov, f.Payload.Buffers...)
	fs.iov = append(fs.iov, fs.header[11:15])
	fs.stats.PayloadBytes.Add(int64(size))
	return fs.flush()
}

// flush sends fs.iov as one chunk of the chunked response.
func (fs *flvSession) flush() error {
	n := 0
	for _, b := range fs.iov {
		n += len(b)
	}
	fs.size = strconv.AppendInt(fs.size[:0], int64(n), 16)
	fs.size = append(fs.size, crlf...)
	fs.iov = append(fs.iov, crlf)
	fs.iov = append(fs.iov, nil)
	copy(fs.iov[1:], fs.iov[:len(fs.iov)-1])
	fs.iov[0] = fs.size
	return fs.writeRaw()
}

// writeRaw writes fs.iov with one writev, without chunk framing.
func (fs *flvSession) writeRaw() error {
	if err := fs.conn.SetWriteDeadline(time.Now().Add(flvWriteTimeout)); err != nil {
		return err
	}
	// A cancel whose past deadline (set by run's AfterFunc) this write's
	// fresh deadline just replaced must still stop the session.
	if err := fs.ctx.Err(); err != nil {
		clear(fs.iov)
		return err
	}
	fs.bufs = fs.iov
	n, err := fs.bufs.WriteTo(fs.conn)
	clear(fs.iov)
	fs.stats.BytesOut.Add(n)
	return err
}

// flvPath maps "/live/x.flv" to "live/x"; ok is false for other paths.
func flvPath(urlPath string) (string, bool) {
	p := strings.TrimPrefix(urlPath, "/")
	if !strings.HasSuffix(p, ".flv") || len(p) <= len(".flv") {
		return "", false
	}
	return strings.TrimSuffix(p, ".flv"), true
}
