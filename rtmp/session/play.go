package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
)

// Chunk stream ids the server writes media and metadata on (the ones
// ffmpeg uses too).
const (
	audioCSID = 4
	videoCSID = 6
	dataCSID  = 5
)

// player feeds one playing client from a host subscriber on its own
// goroutine. It never touches the connection's allocator: frames belong to
// their publisher and are only read and released here.
type player struct {
	s        *session
	sub      host.Subscriber
	streamID uint32
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
	out      []byte // this goroutine's own encode buffer
	// body and pieces frame one media message (flv.AppendFrameBody): body
	// headers and NAL unit lengths, then views of the frame's memory.
	body   []byte
	pieces [][]byte
}

func (s *session) startPlay(streamID uint32, cmd amf0.Command) error {
	if s.pub != nil || s.play != nil {
		return errors.New("rtmp play: connection is already publishing or playing")
	}
	path, query, err := s.streamName(cmd)
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Play.Failed", "bad stream name")
		return fmt.Errorf("rtmp play: %w", err)
	}
	if err := s.authorize(host.ActionPlay, path, query); err != nil {
		_ = s.status(streamID, "error", "NetStream.Play.Failed", "play refused")
		return err
	}
	sub, err := s.host.Subscribe(path)
	if err != nil {
		_ = s.status(streamID, "error", "NetStream.Play.StreamNotFound", "no such stream")
		return fmt.Errorf("rtmp play %s: %w", path, err)
	}
	s.path = path
	s.stats.Path, s.stats.Role = path, "play"
	if err := s.send(func(w *chunk.Writer) error { return w.QueueStreamBegin(streamID) }); err != nil {
		sub.Close()
		return err
	}
	if err := s.status(streamID, "status", "NetStream.Play.Reset", "playing and resetting "+path); err != nil {
		sub.Close()
		return err
	}
	if err := s.status(streamID, "status", "NetStream.Play.Start", "started playing "+path); err != nil {
		sub.Close()
		return err
	}
	s.out = amf0.AppendSampleAccess(s.out[:0], true, true)
	if err := s.send(func(w *chunk.Writer) error {
		return w.Queue(chunk.Header{CSID: 5, TypeID: chunk.TypeDataAMF0, StreamID: streamID}, [][]byte{s.out})
	}); err != nil {
		sub.Close()
		return err
	}
	// A player sends almost nothing (an acknowledgement per window), so the
	// idle read timeout would cut healthy playback; the write timeout and
	// the stream's end bound a player instead.
	s.br.SetReadTimeout(0)
	_ = s.conn.SetReadDeadline(time.Time{}) // the setup deadline is met
	ctx, cancel := context.WithCancel(context.Background())
	p := &player{s: s, sub: sub, streamID: streamID, cancel: cancel, done: make(chan struct{})}
	s.play = p
	s.log.Info("rtmp play started", "path", path)
	go p.run(ctx)
	return nil
}

func (p *player) run(ctx context.Context) {
	defer close(p.done)
	defer p.sub.Close()
	// When the host cuts this subscriber (the stream ended and it had not
	// caught up), it waits for our frame: a write blocked on a peer that
	// does not read must fail now, not after WriteTimeout, so the frame is
	// released and the publisher's allocator can be recycled.
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-p.sub.Cut():
			p.s.haltWrites()
		case <-stopWatch:
		}
	}()
	defer func() { close(stopWatch); <-watchDone }()
	p.err = p.loop(ctx)
	select {
	case <-p.sub.Cut():
		p.err = fmt.Errorf("rtmp play: cut off by the host (the stream ended before the player caught up): %w", p.err)
	default:
	}
	if errors.Is(p.err, io.EOF) {
		// The stream ended: tell the player, then end the connection so the
		// read loop (and the session) finish too.
		_ = p.s.statusInto(&p.out, p.streamID, "status", "NetStream.Play.UnpublishNotify", "stream ended")
		_ = p.s.statusInto(&p.out, p.streamID, "status", "NetStream.Play.Stop", "stopped")
	}
	if ctx.Err() == nil {
		p.s.log.Info("rtmp play ended", "path", p.s.path, "reason", p.err, "drops", p.sub.Drops())
		_ = p.s.conn.Close()
	}
}

func (p *player) loop(ctx context.Context) error {
	for {
		f, err := p.sub.Next(ctx)
		if err != nil {
			return err
		}
		if v, a, changed := p.sub.Configs(); changed {
			if err := p.writeConfigs(v, a, p.sub.Metadata(), uint32(f.DTS/time.Millisecond)); err != nil {
				f.Release()
				return err
			}
		}
		err = p.writeFrame(f)
		f.Release()
		if err != nil {
			return err
		}
	}
}

// writeConfigs sends the stream's metadata (an onMetaData data message,
// when the publisher sent one) and its sequence headers.
func (p *player) writeConfigs(v host.VideoConfig, a host.AudioConfig, meta []byte, ts uint32) error {
	var vbody, abody []byte
	var err error
	if v.Codec != codec.Unknown {
		if vbody, err = flv.VideoSequenceHeaderBody(v); err != nil {
			return err
		}
	}
	if a.Codec != codec.Unknown {
		if abody, err = flv.AudioSequenceHeaderBody(a); err != nil {
			return err
		}
	}
	return p.s.send(func(w *chunk.Writer) error {
		if meta != nil {
			if err := w.Queue(chunk.Header{CSID: dataCSID, TypeID: chunk.TypeDataAMF0, StreamID: p.streamID, Timestamp: ts}, [][]byte{meta}); err != nil {
				return err
			}
		}
		if vbody != nil {
			if err := w.Queue(chunk.Header{CSID: videoCSID, TypeID: chunk.TypeVideo, StreamID: p.streamID, Timestamp: ts}, [][]byte{vbody}); err != nil {
				return err
			}
		}
		if abody != nil {
			return w.Queue(chunk.Header{CSID: audioCSID, TypeID: chunk.TypeAudio, StreamID: p.streamID, Timestamp: ts}, [][]byte{abody})
		}
		return nil
	})
}

// writeFrame writes the frame as one RTMP message: the chunk headers come
// from the writer's reused buffer, the FLV body headers and NAL unit
// lengths from the player's, and every media byte from the frame's own
// memory (flv.AppendFrameBody), whatever format the frame was ingested in.
func (p *player) writeFrame(f *host.Frame) error {
	var err error
	p.body, p.pieces, _, err = flv.AppendFrameBody(p.body[:0], p.pieces[:0], f)
	if err != nil {
		return fmt.Errorf("rtmp play: %w", err)
	}
	h := chunk.Header{CSID: videoCSID, TypeID: chunk.TypeVideo, StreamID: p.streamID, Timestamp: uint32(f.DTS / time.Millisecond)}
	if f.Kind == host.Audio {
		h.CSID, h.TypeID = audioCSID, chunk.TypeAudio
	}
	err = p.s.send(func(w *chunk.Writer) error { return w.Queue(h, p.pieces) })
	// Drop the references into the frame, which is released next.
	clear(p.pieces)
	return err
}

// stop ends the player and waits for its goroutine. Writes are halted for
// good: one blocked on a slow client fails at once, and none can re-arm a
// deadline after this.
func (p *player) stop() {
	p.cancel()
	p.s.haltWrites()
	<-p.done
}
