package cascade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/flv"
	"github.com/zcingest/zerocopy/host"
)

// streamWriter is the part of a QUIC stream the egress writes to.
type streamWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

// egress writes one subscriber's FLV byte stream to a QUIC stream, as
// m7s's flv.Live does: the 13-byte file header (with PreviousTagSize0),
// onMetaData, the sequence headers, then one tag per frame. quic-go has no
// vectored write, so each piece is its own Write: the 15 bytes of the
// previous tag's size and this tag's header from hdr, then the body pieces
// flv.AppendFrameBody lists (frame memory as it is, and for FormatUnits
// frames the small AVC headers and NAL lengths from body). Nothing here
// assembles or copies frame bytes; quic-go copies each Write into its
// STREAM frames (see the report in protocol_quic.go).
type egress struct {
	ctx          context.Context
	st           streamWriter
	sub          host.Subscriber
	stats        *ParentStats
	writeTimeout time.Duration
	watchdog     *time.Timer // see write

	hdr     [flv.PreviousTagSizeSize + flv.TagHeaderSize]byte
	prev    uint32   // size of the previous tag, written before the next header
	body    []byte   // body headers and NAL lengths of one frame
	pieces  [][]byte // the body's pieces, in order
	written int64
	// Sequence headers and metadata last sent: a change re-sends them.
	sentVideo, sentAudio, sentMeta []byte
}

func (e *egress) run() error {
	video, audio, err := e.joinConfigs()
	if err != nil {
		return err
	}
	var fh [flv.FileHeaderSize + flv.PreviousTagSizeSize]byte
	// PreviousTagSize0 goes out with the first tag's header.
	if err := e.write(flv.AppendFileHeader(fh[:0], video.Codec != codec.Unknown, audio.Codec != codec.Unknown)[:flv.FileHeaderSize]); err != nil {
		return err
	}
	if err := e.writeConfigs(video, audio, 0); err != nil {
		return err
	}
	for {
		f, err := e.sub.Next(e.ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The stream ended: close the last tag as m7s does.
				_ = e.writeTrailer()
			}
			return err
		}
		if v, a, changed := e.sub.Configs(); changed {
			if err := e.writeConfigs(v, a, flvTimestamp(f.DTS)); err != nil {
				f.Release()
				return err
			}
		}
		err = e.writeFrame(f)
		f.Release()
		if err != nil {
			return err
		}
	}
}

func flvTimestamp(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

// joinConfigs waits (bounded) for a fresh stream's codec configuration, so
// the file header announces the tracks the stream has.
func (e *egress) joinConfigs() (host.VideoConfig, host.AudioConfig, error) {
	video, audio, _ := e.sub.Configs()
	if video.Codec != codec.Unknown || audio.Codec != codec.Unknown {
		return video, audio, nil
	}
	deadline := time.Now().Add(configWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return video, audio, context.Cause(e.ctx)
		case <-e.sub.Cut():
			return video, audio, nil
		case <-tick.C:
		}
		video, audio, _ = e.sub.Configs()
		hasV, hasA := video.Codec != codec.Unknown, audio.Codec != codec.Unknown
		if hasV && hasA {
			return video, audio, nil
		}
		if (hasV || hasA) && time.Until(deadline) > configSecondTrack {
			deadline = time.Now().Add(configSecondTrack)
		}
		if time.Now().After(deadline) {
			return video, audio, nil
		}
	}
}

// writeConfigs sends what changed of onMetaData and the sequence headers.
func (e *egress) writeConfigs(video host.VideoConfig, audio host.AudioConfig, ts uint32) error {
	if meta := e.sub.Metadata(); len(meta) > 0 && !bytes.Equal(meta, e.sentMeta) {
		if err := e.writeTag(flv.TagScript, ts, meta); err != nil {
			return err
		}
		e.sentMeta = meta
	}
	if video.Codec != codec.Unknown {
		body, err := flv.VideoSequenceHeaderBody(video)
		if err != nil {
			return err
		}
		if !bytes.Equal(body, e.sentVideo) {
			if err := e.writeTag(flv.TagVideo, ts, body); err != nil {
				return err
			}
			e.sentVideo = body
		}
	}
	if audio.Codec != codec.Unknown {
		body, err := flv.AudioSequenceHeaderBody(audio)
		if err != nil {
			return err
		}
		if !bytes.Equal(body, e.sentAudio) {
			if err := e.writeTag(flv.TagAudio, ts, body); err != nil {
				return err
			}
			e.sentAudio = body
		}
	}
	return nil
}

// writeTag writes a tag whose body is control data the host keeps.
func (e *egress) writeTag(tagType uint8, ts uint32, body []byte) error {
	if err := e.writeHeader(tagType, len(body), ts); err != nil {
		return err
	}
	return e.write(body)
}

// writeHeader writes the previous tag's size and this tag's header.
func (e *egress) writeHeader(tagType uint8, size int, ts uint32) error {
	h := flv.PutPreviousTagSize(e.hdr[:0], e.prev)
	h = flv.PutTagHeader(h, tagType, size, ts)
	e.prev = uint32(flv.TagHeaderSize + size)
	return e.write(h)
}

// writeTrailer writes the last tag's PreviousTagSize.
func (e *egress) writeTrailer() error {
	return e.write(flv.PutPreviousTagSize(e.hdr[:0], e.prev))
}

// writeFrame writes one frame as a tag, its media bytes straight from the
// frame's ranges.
func (e *egress) writeFrame(f *host.Frame) error {
	tagType := flv.TagVideo
	if f.Kind == host.Audio {
		tagType = flv.TagAudio
	}
	var size int
	var err error
	e.body, e.pieces, size, err = flv.AppendFrameBody(e.body[:0], e.pieces[:0], f)
	if err != nil {
		return fmt.Errorf("cascade egress: %w", err)
	}
	defer clear(e.pieces) // drop the references to the frame
	if err := e.writeHeader(tagType, size, flvTimestamp(f.DTS)); err != nil {
		return err
	}
	for _, b := range e.pieces {
		if err := e.write(b); err != nil {
			return err
		}
	}
	e.stats.PayloadBytes.Add(int64(size - len(e.body)))
	return nil
}

// write sends b, cutting the child if it blocks for writeTimeout.
//
// The bound is a watchdog timer made once per pull and re-armed around
// each Write, not a stream deadline: quic-go makes a new time.Timer in
// every Write that blocks while the stream has a deadline (SendStream.write
// at v0.65.0), which at a few writes per frame was most of what the
// parent allocated per relayed byte. When the watchdog fires it sets a
// deadline in the past, which ends the blocked Write at once; so does a
// cancelled egress (see servePull), which no write re-arms.
func (e *egress) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := e.ctx.Err(); err != nil {
		return context.Cause(e.ctx)
	}
	if e.watchdog == nil {
		e.watchdog = time.AfterFunc(e.writeTimeout, func() { _ = e.st.SetWriteDeadline(time.Unix(1, 0)) })
	} else {
		e.watchdog.Reset(e.writeTimeout)
	}
	n, err := e.st.Write(b)
	if !e.watchdog.Stop() {
		err = fmt.Errorf("cascade egress: a write blocked for %v: %w", e.writeTimeout, os.ErrDeadlineExceeded)
	}
	e.written += int64(n)
	e.stats.BytesOut.Add(int64(n))
	return err
}

// stop ends the watchdog; the egress writes no more.
func (e *egress) stop() {
	if e.watchdog != nil {
		e.watchdog.Stop()
	}
}
