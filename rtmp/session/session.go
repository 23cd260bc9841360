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
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/ingest"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/internal/timeout"
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
	Chunk chunk.Options
	// HandshakeTimeout is one fixed deadline for the whole handshake,
	// counted from accept; bytes trickling in do not extend it.
	HandshakeTimeout time.Duration
	// SetupTimeout is one fixed deadline from accept until a publish or
	// play has started: a peer that handshakes and then trickles commands
	// is closed when it runs out.
	SetupTimeout time.Duration
	// ReadTimeout is the idle timeout of a publishing connection, re-armed
	// as data arrives (players send almost nothing and have none).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// ReadLowWater is the most bytes the kernel queues before it wakes a
	// publishing connection's reader, and ReadLowWaterDelay the longest a
	// mark the peer stopped filling holds bytes back (see
	// DefaultReadLowWater); a negative ReadLowWater reads every segment as
	// it arrives.
	ReadLowWater      int
	ReadLowWaterDelay time.Duration
	BlockSize         int
	// AllocatorSize is the arena a connection's allocator grows to when it
	// starts publishing (the ring's frames live in it). Until then a
	// connection has only InitialAllocatorSize.
	AllocatorSize int
	// Auth decides every publish and play; nil allows all. It is given the
	// path and the raw query of the stream name ("name?key=…"), which is
	// never logged.
	Auth host.Authorizer
	// AuthTimeout bounds one Auth call.
	AuthTimeout time.Duration
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
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = DefaultSetupTimeout
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultAuthTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ReadLowWater == 0 {
		c.ReadLowWater = DefaultReadLowWater
	}
	if c.ReadLowWaterDelay <= 0 {
		c.ReadLowWaterDelay = DefaultReadLowWaterDelay
	}
	if c.AllocatorSize <= 0 {
		c.AllocatorSize = DefaultAllocatorSize
	}
	return c
}

// Errors a session can end with that callers (and tests) tell apart.
var (
	ErrUnauthorized = errors.New("rtmp: stream key rejected")
	ErrForbidden    = errors.New("rtmp: publish or play not allowed")
	ErrAuthFailed   = errors.New("rtmp: authorization could not be decided")
	ErrUnpublished  = errors.New("rtmp: client unpublished")
	errPeerHungUp   = errors.New("rtmp: peer closed the connection while publishing")
	errWrite        = errors.New("rtmp write")
	errWritesHalted = errors.New("rtmp: writes stopped (player stopped or cut off by the host)")
)

// Stats describe a finished session.
type Stats struct {
	BytesRead int64
	// BytesCopied counts every byte copied on the way in: chunk payloads
	// below the zero-copy chunk size, straddling header integers, commands,
	// metadata and sequence headers.
	BytesCopied   int64
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

	wmu    sync.Mutex // guards cw: commands from the read loop vs. play egress
	cw     *chunk.Writer
	halted atomic.Bool // writes stopped for good (see haltWrites)
	start  time.Time   // accept: the setup deadline counts from here

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
	batch    *rcvlowat.Batch // nil when not publishing or not batching
	stopKick func() bool
	path     string

	play     *player
	stats    Stats
	leak     bool // frames outlived the publish: never recycle the allocator
	reporter host.IngestReporter
	playErr  error
	metadata []byte // onMetaData body (string + values) received before a publish
	pins     [][]byte

	// reported is what the connection's counters were at the last report;
	// base is what earlier publishers on this connection were told, so each
	// publisher's figures start where the previous one's ended (the host
	// adds the deltas of each publisher's cumulative reports).
	reported, base host.IngestStats
}

// Serve runs one RTMP connection until it ends and returns why it ended
// (io.EOF for a clean close by the peer) with the session's figures. It
// never panics on peer input; the caller closes conn.
func Serve(conn net.Conn, cfg Config, h Host, log *slog.Logger) (Stats, error) {
	cfg = cfg.withDefaults()
	s := &session{cfg: cfg, conn: conn, host: h, log: log, start: time.Now()}
	// Small until the connection publishes (see InitialAllocatorSize).
	s.alloc = pool.NewAllocator(InitialAllocatorSize)
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
	// Until a publish or play starts the connection runs on fixed
	// deadlines, which the reader's per-fill idle timeout would push back
	// every time a byte arrives: switch it off until then.
	s.br.SetReadTimeout(0)
	setup := s.start.Add(s.cfg.SetupTimeout)
	hs := s.start.Add(s.cfg.HandshakeTimeout)
	if setup.Before(hs) {
		hs = setup
	}
	_ = s.conn.SetDeadline(hs)
	res, err := handshake.Serve(s.br, s.conn, handshake.Options{})
	if err != nil {
		if timeout.Is(err) {
			return fmt.Errorf("rtmp handshake not finished within %v: %w", s.cfg.HandshakeTimeout, err)
		}
		return err
	}
	_ = s.conn.SetWriteDeadline(time.Time{})
	_ = s.conn.SetReadDeadline(setup)
	s.stats.Handshake = res
	s.cr = chunk.NewReader(s.br, s.cfg.Chunk)
	s.cw = chunk.NewWriter(s.conn, chunk.DefaultChunkSize)

	var msg chunk.Message
	defer msg.Free(s.alloc)
	for {
		if err := s.cr.ReadMessage(&msg); err != nil {
			if s.stats.Role == "" && timeout.Is(err) {
				return fmt.Errorf("rtmp: no publish or play within %v of connecting: %w", s.cfg.SetupTimeout, err)
			}
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
		size := msg.Payload.Size
		if err := s.flvPub.WriteTag(msg.TypeID, msg.Timestamp, &msg.Payload); err != nil {
			return fmt.Errorf("rtmp publish %s: %w", s.path, err)
		}
		// Report once per read that brought bytes, not once per message:
		// the host's totals are shared by every connection. What changes
		// without a read (frees of evicted frames) goes with the next one,
		// and endPublish and teardown report the rest.
		if s.br.Stats().BytesRead != s.reported.BytesRead {
			s.reportIngest()
		}
		if s.batch != nil {
			s.batch.Touch(time.Duration(msg.Timestamp)*time.Millisecond, size)
		}
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
	case chunk.TypeDataAMF0, chunk.TypeDataAMF3:
		if msg.Payload.Size > MaxCommandSize {
			return nil // no metadata is that large (cue points with blobs can be): dropped, not decoded
		}
		body, err := s.contiguous(msg)
		if err != nil {
			return err
		}
		if msg.TypeID == chunk.TypeDataAMF3 && len(body) > 0 && body[0] == 0 {
			body = body[1:] // AMF3 data messages may start with a 0 byte, then AMF0
		}
		return s.data(body)
	case chunk.TypeAggregate:
		copied, err := chunk.SplitAggregate(s.alloc, msg, func(sub *chunk.Message) error {
			switch sub.TypeID {
			case chunk.TypeAudio, chunk.TypeVideo, chunk.TypeDataAMF0:
				return s.handle(sub)
			}
			return nil // anything else in an aggregate is dropped (freed by SplitAggregate)
		})
		s.controlCopy += copied
		if err != nil {
			return fmt.Errorf("rtmp aggregate message: %w", err)
		}
		return nil
	case chunk.TypeWindowAckSize:
		body, err := s.contiguous(msg)
		if err == nil && len(body) >= 4 {
			s.peerWindow = binary.BigEndian.Uint32(body)
		}
		return err
	case chunk.TypeUserControl:
		body, err := s.contiguous(msg)
		if err != nil {
			return err
		}
		if len(body) >= 6 && binary.BigEndian.Uint16(body) == chunk.EventPingRequest {
			ts := binary.BigEndian.Uint32(body[2:])
			return s.send(func(w *chunk.Writer) error { return w.QueueUserControl(chunk.EventPingResponse, ts) })
		}
	}
	// Acknowledgements, bandwidth and anything unknown carry nothing we need.
	return nil
}

// data keeps the latest onMetaData (sent bare or as @setDataFrame's
// argument) and hands it to the publisher. Other data messages, and ones
// that do not decode, are ignored: they carry nothing a stream needs.
func (s *session) data(body []byte) error {
	v, n, err := amf0.Decode(body)
	if err != nil {
		return nil
	}
	if name, _ := v.(string); name == "@setDataFrame" {
		body = body[n:]
		if v, _, err = amf0.Decode(body); err != nil {
			return nil
		}
	}
	if name, _ := v.(string); name != "onMetaData" {
		return nil
	}
	if _, err := amf0.DecodeAll(body); err != nil {
		return nil
	}
	// An FLV script tag body: "onMetaData" and its values. A publisher
	// keeps its own copy; one sent before publish is kept here until then.
	if s.pub == nil {
		s.metadata = append(s.metadata[:0], body...)
		s.controlCopy += int64(len(body))
		return nil
	}
	s.metadata = nil
	return s.setMetadata(body)
}

// setMetadata gives metadata to the publisher, if it keeps any (it copies).
func (s *session) setMetadata(body []byte) error {
	ms, ok := s.pub.(host.MetadataSetter)
	if !ok || body == nil {
		return nil
	}
	if err := ms.SetMetadata(body); err != nil {
		return fmt.Errorf("rtmp publish %s: metadata: %w", s.path, err)
	}
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

// send queues and flushes control output under the writer lock. After
// haltWrites it fails at once.
func (s *session) send(queue func(w *chunk.Writer) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.halted.Load() {
		return fmt.Errorf("%w: %w", errWrite, errWritesHalted)
	}
	if err := queue(s.cw); err != nil {
		return err
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if s.halted.Load() {
		// haltWrites ran between the check above and our deadline: its
		// expired deadline must win over the one we just armed.
		_ = s.conn.SetWriteDeadline(time.Unix(1, 0))
	}
	if err := s.cw.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	return nil
}

// haltWrites stops every write on the connection for good, from any
// goroutine and without waiting for the writer lock: a write in progress
// fails at once (expired deadline) and later ones are refused. Setting the
// flag before the deadline pairs with the re-check in send, so a send that
// re-arms its deadline concurrently cannot outlast it.
func (s *session) haltWrites() {
	s.halted.Store(true)
	_ = s.conn.SetWriteDeadline(time.Unix(1, 0))
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

// streamName splits the stream name "name?query" into the hub path
// (app/name) and the raw query, which may carry secrets (never log it).
func (s *session) streamName(cmd amf0.Command) (path, query string, err error) {
	if s.app == "" {
		return "", "", errors.New("publish or play before connect")
	}
	if len(cmd.Args) == 0 {
		return "", "", errors.New("missing stream name")
	}
	name, _ := cmd.Args[0].(string)
	if err := limit.Check("MaxURLLength", int64(len(name)), MaxURLLength); err != nil {
		return "", "", err
	}
	name, query, _ = strings.Cut(name, "?")
	name = strings.Trim(name, "/")
	if name == "" || strings.Contains(name, "..") {
		return "", "", errors.New("bad stream name")
	}
	return s.app + "/" + name, query, nil
}

// authorize asks cfg.Auth about one publish or play. A refusal wraps
// ErrUnauthorized, ErrForbidden or ErrAuthFailed (and the Authorizer's own
// error, with any query value it echoed redacted).
func (s *session) authorize(action host.Action, path, query string) error {
	if s.cfg.Auth == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AuthTimeout)
	defer cancel()
	err := s.cfg.Auth.Authorize(ctx, host.AuthRequest{Action: action, Protocol: "rtmp", Path: path, Query: query, Remote: s.conn.RemoteAddr().String()})
	if err == nil {
		return nil
	}
	kind := ErrAuthFailed
	switch {
	case errors.Is(err, host.ErrUnauthorized):
		kind = ErrUnauthorized
	case errors.Is(err, host.ErrForbidden):
		kind = ErrForbidden
	}
	return fmt.Errorf("rtmp %s %s: %w: %w", action, path, kind, redacted{err, query})
}

// redacted is an Authorizer's error with the query's values blanked out of
// its text, so a careless Authorizer cannot put a key into our logs.
type redacted struct {
	err   error
	query string
}

func (r redacted) Error() string {
	msg := r.err.Error()
	if r.query == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, r.query, "[query]")
	q, _ := url.ParseQuery(r.query)
	for _, vs := range q {
		for _, v := range vs {
			if len(v) >= 3 {
				msg = strings.ReplaceAll(msg, v, "[redacted]")
			}
		}
	}
	return msg
}

func (r redacted) Unwrap() error { return r.err }

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
	path, query, err := s.streamName(cmd)
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Publish.BadName", "bad stream name")
		return fmt.Errorf("rtmp publish: %w", err)
	}
	if err := s.authorize(host.ActionPublish, path, query); err != nil {
		_ = s.status(streamID, "error", "NetStream.Publish.BadName", "publish refused")
		return err
	}
	pub, err := s.host.Publish(host.PublishRequest{Path: path, Protocol: "rtmp", Remote: s.conn.RemoteAddr().String()})
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Publish.BadName", "stream is already being published")
		return fmt.Errorf("rtmp publish %s: %w", path, err)
	}
	s.pub, s.path = pub, path
	// A new publisher's counters start where the previous one's ended.
	s.reporter, _ = pub.(host.IngestReporter)
	s.base = s.reported
	s.stats.Path, s.stats.Role = path, "publish"
	s.growArena()
	s.flvPub = ingest.NewFLVPublisher(pub, s.alloc)
	// Publishing: the setup deadline gives way to the idle timeout,
	// re-armed as data arrives.
	s.br.SetReadTimeout(s.cfg.ReadTimeout)
	_ = s.conn.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	s.batch = rcvlowat.Start(s.conn, s.cfg.ReadLowWater, s.cfg.ReadLowWaterDelay)
	if err := s.setMetadata(s.metadata); err != nil { // sent before publish
		return err
	}
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
	if s.batch != nil {
		s.batch.Stop()
		s.batch = nil
	}
	s.reportIngest()
	st := s.flvPub.Stats()
	s.stats.Ingest.VideoFrames += st.VideoFrames
	s.stats.Ingest.AudioFrames += st.AudioFrames
	s.stats.Ingest.ConfigBytesCopied += st.ConfigBytesCopied
	s.stats.Ingest.Ignored += st.Ignored
	if !s.pub.Close(reason) && s.cfg.ReleaseAllocator == nil && !s.leak {
		s.log.Error("publisher frames still held by readers; the connection allocator is abandoned to the garbage collector instead of recycled", "path", s.path)
		s.leak = true
	}
	s.log.Info("rtmp publish ended", "path", s.path, "reason", reasonText(reason))
	s.pub, s.flvPub = nil, nil
}

// copied is every byte the connection copied so far: the reader's
// straddling integers, chunk payloads copied below the zero-copy chunk
// size, commands, metadata and sequence headers.
func (s *session) copied() int64 {
	n := s.br.Stats().BytesCopied + s.controlCopy + s.stats.Ingest.ConfigBytesCopied
	if s.cr != nil {
		n += s.cr.Stats().BytesCopied
	}
	if s.flvPub != nil {
		n += s.flvPub.Stats().ConfigBytesCopied
	}
	return n
}

// reportIngest passes the connection's counters to the host's metrics.
// It runs after media messages that followed a read (cheap: a few atomic
// adds), at the end of a publish and once more after teardown so the
// allocator totals end balanced. The host sums the deltas of each
// publisher's cumulative figures, so each publisher on this connection is
// told only what happened since the previous one's last report: a
// republish does not count the first publish twice.
func (s *session) reportIngest() {
	if s.reporter == nil {
		return
	}
	s.reported = host.IngestStats{
		BytesRead:   s.br.Stats().BytesRead,
		BytesCopied: s.copied(),
		AllocMalloc: s.alloc.GetTotalMalloc(),
		AllocFree:   s.alloc.GetTotalFree(),
	}
	s.reporter.ReportIngest(host.IngestStats{
		BytesRead:   s.reported.BytesRead - s.base.BytesRead,
		BytesCopied: s.reported.BytesCopied - s.base.BytesCopied,
		AllocMalloc: s.reported.AllocMalloc - s.base.AllocMalloc,
		AllocFree:   s.reported.AllocFree - s.base.AllocFree,
	})
}

// growArena reserves the configured arenas when a connection starts
// publishing (none by default: arenas grow with the ring and pool pins
// each one, see pool.ReserveArenas).
func (s *session) growArena() {
	if s.pins != nil {
		return
	}
	s.pins = pool.ReserveArenas(s.alloc, s.cfg.AllocatorSize)
	if s.pins == nil {
		s.pins = [][]byte{} // grown (or nothing to grow): do not try again
	}
}

// freePins releases the arena pins (teardown, before the balance check).
func (s *session) freePins() {
	pool.FreePins(s.alloc, s.pins)
	s.pins = nil
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
	s.freePins()
	s.stats.BytesRead = s.br.Stats().BytesRead
	s.stats.BytesCopied = s.copied()
	s.br.Recycle()
	s.reportIngest()
	s.stats.AllocMalloc, s.stats.AllocFree = s.alloc.GetTotalMalloc(), s.alloc.GetTotalFree()
	if s.cfg.ReleaseAllocator != nil {
		s.cfg.ReleaseAllocator(s.alloc)
		return
	}
	switch {
	case s.leak:
		// Frames outlived the publish (logged in endPublish): the pool
		// drops its references, and the GC takes the allocator once the
		// last frame is dropped.
		pool.Abandon(s.alloc)
	case pool.Balanced(s.alloc):
		pool.Recycle(s.alloc)
	default:
		s.log.Error("connection allocator unbalanced at teardown; abandoning it to the garbage collector", "in_use", pool.InUse(s.alloc))
		pool.Abandon(s.alloc)
	}
}
