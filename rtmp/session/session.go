// Package session runs the server side of one RTMP connection: handshake,
// chunk stream, commands, publish (ingest into a host publisher without
// copying media) and play (egress from the host's frames with writev).
//
// Memory: the connection owns one allocator, used only on the connection's
// goroutine. Media message payloads are taken from the reader chunk by chunk
// (chunk.Reader) and moved into frames (ingest.FLVPublisher); the frames go
// back to this goroutine to be freed. Play runs a second goroutine that only
// reads frames owned by other publishers and never touches this allocator.
package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/ingest"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/handshake"
)

// Host is what a session needs from the media host.
type Host interface {
	Publish(req host.PublishRequest) (host.Publisher, error)
	Subscribe(path string) (host.Subscriber, error)
}

// Config configures sessions. Zero fields take the defaults in limits.go.
type Config struct {
	Chunk            chunk.Options
	HandshakeTimeout time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	BlockSize        int
	AllocatorSize    int
	// PublishKey, when set, must be given as the "key" query parameter of
	// the stream name (rtmp://host/app/name?key=…) to publish. It is
	// compared in constant time and never logged.
	PublishKey string
	// PlayKey likewise guards play when set.
	PlayKey string
	// ReleaseAllocator, when set, is handed the connection allocator at the
	// end of teardown instead of the session recycling it. It runs once, on
	// the connection goroutine, after the session's last use of the
	// allocator (partial messages and reader blocks are freed by then). A
	// host whose publisher frees frames after Close returns (m7s frees its
	// ring in the publisher's dispose) recycles the allocator once those
	// are freed too; with it set, Close returning false is that hand-over,
	// not a leak.
	ReleaseAllocator func(alloc *pool.Allocator)
}

func (c Config) withDefaults() Config {
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.AllocatorSize <= 0 {
		c.AllocatorSize = DefaultAllocatorSize
	}
	return c
}

// Errors a session can end with that callers (and tests) tell apart.
var (
	ErrUnauthorized = errors.New("rtmp: stream key rejected")
	ErrUnpublished  = errors.New("rtmp: client unpublished")
	errPeerHungUp   = errors.New("rtmp: peer closed the connection while publishing")
	errWrite        = errors.New("rtmp write")
)

// Stats describe a finished session.
type Stats struct {
	BytesRead     int64
	BytesCopied   int64 // control path only: straddling header integers, commands, sequence headers
	MediaMessages int64
	Ingest        ingest.Stats
	AllocMalloc   int64
	AllocFree     int64
	Handshake     handshake.Result
	Path          string
	Role          string // "publish", "play" or ""
}

type session struct {
	cfg  Config
	conn net.Conn
	host Host
	log  *slog.Logger

	alloc *pool.Allocator
	br    *bufreader.Reader
	cr    *chunk.Reader

	wmu sync.Mutex // guards cw: commands from the read loop vs. play egress
	cw  *chunk.Writer

	app         string
	streams     int
	commands    int
	scratch     []byte // contiguous command bodies
	out         []byte // encoded replies
	peerWindow  uint32
	lastAck     int64
	controlCopy int64

	pub      host.Publisher
	flvPub   *ingest.FLVPublisher
	stopKick func() bool
	path     string

	play     *player
	stats    Stats
	leak     bool // frames outlived the publish: never recycle the allocator
	reporter host.IngestReporter
	playErr  error
}

// Serve runs one RTMP connection until it ends and returns why it ended
// (io.EOF for a clean close by the peer) with the session's figures. It
// never panics on peer input; the caller closes conn.
func Serve(conn net.Conn, cfg Config, h Host, log *slog.Logger) (Stats, error) {
	cfg = cfg.withDefaults()
	s := &session{cfg: cfg, conn: conn, host: h, log: log}
	s.alloc = pool.NewAllocator(cfg.AllocatorSize)
	s.br = bufreader.New(conn, bufreader.Options{Allocator: s.alloc, BlockSize: cfg.BlockSize, ReadTimeout: cfg.ReadTimeout})
	err := s.run()
	if errors.Is(err, errWrite) && peerGone(err) {
		// A peer that unpublishes and hangs up at once makes our last
		// reply fail; that is a normal close, not a fault.
		err = io.EOF
	}
	s.teardown(err)
	if s.playErr != nil {
		err = fmt.Errorf("play ended: %w", s.playErr)
	}
	return s.stats, err
}

func (s *session) run() error {
	_ = s.conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	res, err := handshake.Serve(s.br, s.conn, handshake.Options{})
	if err != nil {
		return err
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.stats.Handshake = res
	s.cr = chunk.NewReader(s.br, s.cfg.Chunk)
	s.cw = chunk.NewWriter(s.conn, chunk.DefaultChunkSize)

	var msg chunk.Message
	defer msg.Free(s.alloc)
	for {
		if err := s.cr.ReadMessage(&msg); err != nil {
			return err
		}
		err := s.handle(&msg)
		msg.Free(s.alloc) // no-op when the payload moved into a frame
		if err != nil {
			return err
		}
		if err := s.maybeAck(); err != nil {
			return err
		}
	}
}

func (s *session) handle(msg *chunk.Message) error {
	switch msg.TypeID {
	case chunk.TypeAudio, chunk.TypeVideo:
		s.stats.MediaMessages++
		if s.flvPub == nil {
			return nil // media outside a publish is dropped (freed by the caller)
		}
		if err := s.flvPub.WriteTag(msg.TypeID, msg.Timestamp, &msg.Payload); err != nil {
			return fmt.Errorf("rtmp publish %s: %w", s.path, err)
		}
		s.reportIngest()
		return nil
	case chunk.TypeCommandAMF0, chunk.TypeCommandAMF3:
		body, err := s.contiguous(msg)
		if err != nil {
			return err
		}
		if msg.TypeID == chunk.TypeCommandAMF3 && len(body) > 0 {
			body = body[1:] // AMF3 command messages start with a 0 byte, then AMF0
		}
		return s.command(msg.StreamID, body)
	case chunk.TypeWindowAckSize:
		body, err := s.contiguous(msg)
		if err == nil && len(body) >= 4 {
			s.peerWindow = uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])
		}
		return err
	case chunk.TypeUserControl:
		body, err := s.contiguous(msg)
		if err != nil {
			return err
		}
		if len(body) >= 6 && body[0] == 0 && body[1] == chunk.EventPingRequest {
			ts := uint32(body[2])<<24 | uint32(body[3])<<16 | uint32(body[4])<<8 | uint32(body[5])
			return s.send(func(w *chunk.Writer) error { return w.QueueUserControl(chunk.EventPingResponse, ts) })
		}
	}
	// Acknowledgements, bandwidth, data messages (@setDataFrame/onMetaData)
	// and anything unknown carry nothing we need.
	return nil
}

// contiguous copies a control message into the session's scratch buffer.
func (s *session) contiguous(msg *chunk.Message) ([]byte, error) {
	if err := limit.Check("MaxCommandSize", int64(msg.Payload.Size), MaxCommandSize); err != nil {
		return nil, fmt.Errorf("rtmp message type %d: %w", msg.TypeID, err)
	}
	if len(msg.Payload.Buffers) > 1 {
		s.controlCopy += int64(msg.Payload.Size)
	}
	s.scratch = chunk.Contiguous(msg, s.scratch)
	return s.scratch, nil
}

// maybeAck acknowledges received bytes once per peer window, as the
// protocol asks; players and encoders stall without it.
func (s *session) maybeAck() error {
	if s.peerWindow == 0 {
		return nil
	}
	read := s.br.Stats().BytesRead
	if read-s.lastAck < int64(s.peerWindow) {
		return nil
	}
	s.lastAck = read
	return s.send(func(w *chunk.Writer) error { return w.QueueAck(uint32(read)) })
}

// send queues and flushes control output under the writer lock.
func (s *session) send(queue func(w *chunk.Writer) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := queue(s.cw); err != nil {
		return err
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := s.cw.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

func (s *session) sendCommand(streamID uint32, body []byte) error {
	return s.send(func(w *chunk.Writer) error {
		return w.Queue(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0, StreamID: streamID}, [][]byte{body})
	})
}

func (s *session) command(streamID uint32, body []byte) error {
	cmd, err := amf0.DecodeCommand(body)
	if err != nil {
		return fmt.Errorf("rtmp command: %w", err)
	}
	s.commands++
	if s.pub == nil && s.play == nil {
		if err := limit.Check("MaxPendingCommands", int64(s.commands), MaxPendingCommands); err != nil {
			return fmt.Errorf("rtmp command %q: %w", cmd.Name, err)
		}
	}
	switch cmd.Name {
	case "connect":
		return s.connect(cmd)
	case "releaseStream", "FCPublish", "FCUnpublish", "getStreamLength":
		if cmd.Name == "FCUnpublish" {
			s.endPublish(ErrUnpublished)
		}
		if cmd.TransactionID == 0 {
			return nil
		}
		s.out, err = amf0.AppendResult(s.out[:0], cmd.TransactionID, nil, amf0.Undefined{})
		if err != nil {
			return err
		}
		return s.sendCommand(0, s.out)
	case "createStream":
		s.streams++
		if err := limit.Check("MaxStreamsPerConn", int64(s.streams), MaxStreamsPerConn); err != nil {
			return fmt.Errorf("rtmp createStream: %w", err)
		}
		s.out, err = amf0.AppendResult(s.out[:0], cmd.TransactionID, nil, float64(s.streams))
		if err != nil {
			return err
		}
		return s.sendCommand(0, s.out)
	case "publish":
		return s.publish(streamID, cmd)
	case "play":
		return s.startPlay(streamID, cmd)
	case "deleteStream", "closeStream":
		s.endPublish(ErrUnpublished)
		return nil
	}
	return nil
}

func (s *session) connect(cmd amf0.Command) error {
	obj, _ := cmd.Object.(amf0.Object)
	app, _ := obj.GetString("app")
	tcURL, _ := obj.GetString("tcUrl")
	if err := limit.Check("MaxURLLength", int64(max(len(app), len(tcURL))), MaxURLLength); err != nil {
		return fmt.Errorf("rtmp connect: %w", err)
	}
	s.app = strings.Trim(app, "/")
	if i := strings.IndexByte(s.app, '?'); i >= 0 {
		s.app = s.app[:i] // a query on the app is auth material, not a path
	}
	if s.app == "" {
		return errors.New("rtmp connect: empty app")
	}
	var err error
	s.out, err = amf0.AppendResult(s.out[:0], cmd.TransactionID,
		amf0.Object{{Key: "fmsVer", Value: "FMS/3,0,1,123"}, {Key: "capabilities", Value: float64(31)}},
		amf0.Object{
			{Key: "level", Value: "status"},
			{Key: "code", Value: "NetConnection.Connect.Success"},
			{Key: "description", Value: "Connection succeeded."},
			{Key: "objectEncoding", Value: float64(0)},
		})
	if err != nil {
		return err
	}
	return s.send(func(w *chunk.Writer) error {
		if err := w.QueueWindowAckSize(WindowAckSize); err != nil {
			return err
		}
		if err := w.QueueSetPeerBandwidth(WindowAckSize, 2); err != nil {
			return err
		}
		if err := w.QueueSetChunkSize(OutChunkSize); err != nil {
			return err
		}
		return w.Queue(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0}, [][]byte{s.out})
	})
}

// streamName splits "name?key=…" into the path and whether the key matches.
func (s *session) streamName(cmd amf0.Command, want string) (path string, authorized bool, err error) {
	if s.app == "" {
		return "", false, errors.New("publish or play before connect")
	}
	if len(cmd.Args) == 0 {
		return "", false, errors.New("missing stream name")
	}
	name, _ := cmd.Args[0].(string)
	if err := limit.Check("MaxURLLength", int64(len(name)), MaxURLLength); err != nil {
		return "", false, err
	}
	query := ""
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name, query = name[:i], name[i+1:]
	}
	name = strings.Trim(name, "/")
	if name == "" || strings.Contains(name, "..") {
		return "", false, errors.New("bad stream name")
	}
	path = s.app + "/" + name
	if want == "" {
		return path, true, nil
	}
	q, _ := url.ParseQuery(query)
	got := q.Get("key")
	return path, subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1, nil
}

func (s *session) status(streamID uint32, level, code, desc string) error {
	return s.statusInto(&s.out, streamID, level, code, desc)
}

// statusInto sends onStatus encoded in *buf (the read loop and the player
// goroutine each pass their own buffer).
func (s *session) statusInto(buf *[]byte, streamID uint32, level, code, desc string) error {
	var err error
	*buf, err = amf0.AppendOnStatus((*buf)[:0], level, code, desc)
	if err != nil {
		return err
	}
	return s.send(func(w *chunk.Writer) error {
		return w.Queue(chunk.Header{CSID: 5, TypeID: chunk.TypeCommandAMF0, StreamID: streamID}, [][]byte{*buf})
	})
}

func (s *session) publish(streamID uint32, cmd amf0.Command) error {
	if s.pub != nil || s.play != nil {
		return errors.New("rtmp publish: connection is already publishing or playing")
	}
	path, ok, err := s.streamName(cmd, s.cfg.PublishKey)
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Publish.BadName", "bad stream name")
		return fmt.Errorf("rtmp publish: %w", err)
	}
	if !ok {
		_ = s.status(streamID, "error", "NetStream.Publish.Unauthorized", "publish key rejected")
		return fmt.Errorf("rtmp publish %s: %w", path, ErrUnauthorized)
	}
	pub, err := s.host.Publish(host.PublishRequest{Path: path, Protocol: "rtmp", Remote: s.conn.RemoteAddr().String()})
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Publish.BadName", "stream is already being published")
		return fmt.Errorf("rtmp publish %s: %w", path, err)
	}
	s.pub, s.path = pub, path
	s.reporter, _ = pub.(host.IngestReporter)
	s.stats.Path, s.stats.Role = path, "publish"
	s.flvPub = ingest.NewFLVPublisher(pub, s.alloc)
	// The host ends a publish (kick, timeout, shutdown) by cancelling its
	// context; closing the socket ends the read loop on this goroutine,
	// which then frees everything in order.
	conn := s.conn
	s.stopKick = context.AfterFunc(pub.Context(), func() { _ = conn.Close() })
	s.log.Info("rtmp publish started", "path", path)
	if err := s.send(func(w *chunk.Writer) error { return w.QueueStreamBegin(streamID) }); err != nil {
		return err
	}
	return s.status(streamID, "status", "NetStream.Publish.Start", path+" is now published")
}

// endPublish ends the current publish, waiting for readers to hand back
// frames so they are freed on this goroutine.
func (s *session) endPublish(reason error) {
	if s.pub == nil {
		return
	}
	s.stopKick()
	s.reportIngest()
	if st := s.flvPub.Stats(); true {
		s.stats.Ingest.VideoFrames += st.VideoFrames
		s.stats.Ingest.AudioFrames += st.AudioFrames
		s.stats.Ingest.ConfigBytesCopied += st.ConfigBytesCopied
		s.stats.Ingest.Ignored += st.Ignored
	}
	if !s.pub.Close(reason) && s.cfg.ReleaseAllocator == nil {
		s.log.Error("publisher frames still held by readers; the connection allocator will not be recycled", "path", s.path)
		s.leak = true
	}
	s.log.Info("rtmp publish ended", "path", s.path, "reason", reasonText(reason))
	s.pub, s.flvPub = nil, nil
}

// reportIngest passes the connection's counters to the host's metrics.
// It runs after every media message (cheap: a few atomic adds) and once
// more after teardown so the allocator totals end balanced.
func (s *session) reportIngest() {
	if s.reporter == nil {
		return
	}
	bs := s.br.Stats()
	copied := bs.BytesCopied + s.controlCopy + s.stats.Ingest.ConfigBytesCopied
	if s.flvPub != nil {
		copied += s.flvPub.Stats().ConfigBytesCopied
	}
	s.reporter.ReportIngest(host.IngestStats{
		BytesRead:   bs.BytesRead,
		BytesCopied: copied,
		AllocMalloc: s.alloc.GetTotalMalloc(),
		AllocFree:   s.alloc.GetTotalFree(),
	})
}

func peerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

func reasonText(err error) string {
	if err == nil {
		return "unpublished"
	}
	return err.Error()
}

// teardown frees everything on the connection goroutine, in order: the
// publish (frames come back from readers), the play goroutine, partial
// messages, the reader's blocks, and finally the allocator.
func (s *session) teardown(runErr error) {
	reason := runErr
	if s.pub != nil {
		if cause := context.Cause(s.pub.Context()); cause != nil {
			reason = cause // the host ended it: say so, not "use of closed connection"
		}
		if errors.Is(reason, io.EOF) {
			reason = errPeerHungUp
		}
		s.endPublish(reason)
	}
	if s.play != nil {
		s.play.stop()
		if s.play.err != nil {
			s.playErr = s.play.err // why the player ended, rather than "use of closed connection"
		}
	}
	if s.cr != nil {
		s.cr.Close()
	}
	bs := s.br.Stats()
	s.stats.BytesRead = bs.BytesRead
	s.stats.BytesCopied = bs.BytesCopied + s.controlCopy + s.stats.Ingest.ConfigBytesCopied
	s.br.Recycle()
	s.reportIngest()
	s.stats.AllocMalloc, s.stats.AllocFree = s.alloc.GetTotalMalloc(), s.alloc.GetTotalFree()
	if s.cfg.ReleaseAllocator != nil {
		s.cfg.ReleaseAllocator(s.alloc)
		return
	}
	if !s.leak && pool.Balanced(s.alloc) {
		pool.Recycle(s.alloc)
	} else if !s.leak {
		s.log.Error("connection allocator unbalanced at teardown; not recycling it", "in_use", pool.InUse(s.alloc))
	}
}
