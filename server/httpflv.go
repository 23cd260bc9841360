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

	"github.com/zcingest/zerocopy/auth"
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// flvWriteTimeout bounds one writev to a subscriber. A subscriber that
// cannot take a frame within it is cut, so it never pins frames for long.
const flvWriteTimeout = 10 * time.Second

// flvConfigWait bounds how long a player that joins a stream with no codec
// configuration yet waits for one, so that the FLV file header can announce
// the tracks the stream really has.
const flvConfigWait = 2 * time.Second

// flvSecondTrackGrace is how long, after the first configuration arrives
// on such a fresh stream, the header waits for the other track's.
const flvSecondTrackGrace = 300 * time.Millisecond

// EgressStats count what HTTP-FLV subscribers were sent. Payload bytes go
// out by writev straight from frame memory; nothing on this path copies
// them, so there is no copy counter to keep.
type EgressStats struct {
	Subscribers  atomic.Int64
	BytesOut     atomic.Int64
	PayloadBytes atomic.Int64 // payload bytes written straight from frame memory
	Refused      atomic.Int64 // players the auth hook refused
}

// flvSession writes one subscriber's FLV stream. Its buffers are reused for
// every tag, so the steady state does not allocate.
type flvSession struct {
	ctx    context.Context // the session's; its end forces writes to fail
	conn   net.Conn
	sub    *hub.Subscriber
	stats  *EgressStats
	header []byte   // small FLV tag headers and previous-tag-size fields
	body   []byte   // FLV body headers and NAL unit lengths of one frame (flv.AppendFrameBody)
	size   []byte   // the chunked-encoding size line of one write
	iov    [][]byte // size line, header and payload views of one tag, CRLF
	bufs   net.Buffers
	// The sequence headers and metadata last sent: a configuration change
	// re-sends only what changed.
	sentVideo, sentAudio, sentMeta []byte
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
	w.Header().Set("Access-Control-Allow-Origin", "*")
	areq := host.AuthRequest{Action: host.ActionPlay, Protocol: "httpflv", Path: path, Query: req.URL.RawQuery, Remote: req.RemoteAddr}
	if err := s.authorizer().Authorize(req.Context(), areq); err != nil {
		// The reason is logged (auth errors never carry keys or the
		// query); the client learns only the status.
		status := auth.StatusFor(err)
		s.egress.Refused.Add(1)
		s.log.Info("http-flv player refused", "path", path, "remote", req.RemoteAddr, "status", status, "reason", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	sub, err := s.hub.SubscribeWait(req.Context(), path, s.global.Subscribe.WaitTimeout)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, hub.ErrNoStream) {
			status = http.StatusServiceUnavailable
		}
		// The wait may have outlived the write deadline set on arrival.
		if d := s.global.HTTP.WriteTimeout; d > 0 {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
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
	fs := &flvSession{conn: conn, sub: sub, stats: &s.egress, header: make([]byte, 0, 64), body: make([]byte, 0, 256)}
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
	video, audio, err := fs.joinConfigs(ctx)
	if err != nil {
		return err
	}
	fs.header = flv.AppendFileHeader(fs.header[:0], video.Codec != codec.Unknown, audio.Codec != codec.Unknown)
	fs.iov = append(fs.iov[:0], fs.header)
	if err := fs.flush(); err != nil {
		return err
	}
	if err := fs.writeMetadata(0); err != nil {
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
			err := fs.writeMetadata(flvTimestamp(f.DTS))
			if err == nil {
				err = fs.writeConfigs(v, a, flvTimestamp(f.DTS))
			}
			if err != nil {
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

// joinConfigs returns the stream's codec configuration for the FLV header.
// A stream that has none yet (its publisher just started) is given up to
// flvConfigWait for one, then flvSecondTrackGrace for the other track's.
func (fs *flvSession) joinConfigs(ctx context.Context) (host.VideoConfig, host.AudioConfig, error) {
	video, audio, _ := fs.sub.Configs()
	if video.Codec != codec.Unknown || audio.Codec != codec.Unknown {
		return video, audio, nil
	}
	deadline := time.Now().Add(flvConfigWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return video, audio, ctx.Err()
		case <-fs.sub.Cut():
			return video, audio, nil
		case <-tick.C:
		}
		video, audio, _ = fs.sub.Configs()
		has := video.Codec != codec.Unknown || audio.Codec != codec.Unknown
		if has && video.Codec != codec.Unknown && audio.Codec != codec.Unknown {
			return video, audio, nil
		}
		if has && deadline.Sub(time.Now()) > flvSecondTrackGrace {
			deadline = time.Now().Add(flvSecondTrackGrace)
		}
		if time.Now().After(deadline) {
			return video, audio, nil
		}
	}
}

// writeMetadata sends the stream's onMetaData as a script tag when it has
// one that this player has not been sent yet.
func (fs *flvSession) writeMetadata(ts uint32) error {
	meta := fs.sub.Metadata()
	if len(meta) == 0 || bytes.Equal(meta, fs.sentMeta) {
		return nil
	}
	if err := fs.writeTag(flv.TagScript, ts, meta); err != nil {
		return err
	}
	fs.sentMeta = meta
	return nil
}

// corsPreflight answers a browser's OPTIONS preflight for an HTTP-FLV URL.
func corsPreflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "*")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

func (fs *flvSession) writeConfigs(video host.VideoConfig, audio host.AudioConfig, ts uint32) error {
	if video.Codec != codec.Unknown {
		body, err := flv.VideoSequenceHeaderBody(video)
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
		body, err := flv.AudioSequenceHeaderBody(audio)
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

// writeFrame writes one frame as a tag: the tag header and the body
// headers come from the session's reused buffers, every media byte from
// the frame's own memory (flv.AppendFrameBody), in one writev.
func (fs *flvSession) writeFrame(f *host.Frame) error {
	tagType := flv.TagVideo
	if f.Kind == host.Audio {
		tagType = flv.TagAudio
	}
	// iov[0] is the tag header, filled once the body's size is known.
	fs.iov = append(fs.iov[:0], nil)
	var size int
	var err error
	fs.body, fs.iov, size, err = flv.AppendFrameBody(fs.body[:0], fs.iov, f)
	if err != nil {
		clear(fs.iov)
		return fmt.Errorf("http-flv: %w", err)
	}
	fs.header = flv.PutTagHeader(fs.header[:0], tagType, size, flvTimestamp(f.DTS))
	fs.header = flv.PutPreviousTagSize(fs.header, uint32(flv.TagHeaderSize+size))
	fs.iov[0] = fs.header[:flv.TagHeaderSize]
	fs.iov = append(fs.iov, fs.header[flv.TagHeaderSize:])
	fs.stats.PayloadBytes.Add(int64(size - len(fs.body))) // the bytes of frame memory sent
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
