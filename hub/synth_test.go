package hub_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/pool"
)

// synth publishes synthetic frames into a stream. Make it, publish and
// close it on one goroutine: that goroutine owns its allocator. Every
// payload byte is tag, so a reader can tell the publishers apart (and a
// frame read after it was freed shows 0xDB under -tags zcdebug).
type synth struct {
	tb    testing.TB
	st    *hub.Stream
	alloc *pool.Allocator
	w     host.FrameWriter
	tag   byte
	n     int   // frames published
	bytes int64 // payload bytes published
}

func newSynth(tb testing.TB, st *hub.Stream, tag byte) *synth {
	tb.Helper()
	p := &synth{tb: tb, st: st, alloc: pool.NewAllocator(1 << 20), tag: tag}
	if err := st.SetVideoConfig(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{{0x67, 0x64, 0, 0x1f, tag}}, PPS: [][]byte{{0x68, tag}}}); err != nil {
		tb.Fatal(err)
	}
	if err := st.SetAudioConfig(host.AudioConfig{Codec: codec.AAC, ASC: []byte{0x12, 0x10}, SampleRate: 48000, Channels: 2}); err != nil {
		tb.Fatal(err)
	}
	p.w = st.Writer(p.alloc)
	return p
}

// publishSynth claims path and returns a synthetic publisher for it.
func publishSynth(tb testing.TB, h *hub.Hub, path string, tag byte) *synth {
	tb.Helper()
	st, err := h.Publish(context.Background(), host.PublishRequest{Path: path, Protocol: "synth", Remote: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return newSynth(tb, st, tag)
}

// frame publishes one frame of size bytes.
func (p *synth) frame(kind host.Kind, dts time.Duration, key bool, size int) error {
	f := p.w.Frame()
	b := pool.Malloc(p.alloc, size)
	for i := range b {
		b[i] = p.tag
	}
	f.Payload.Buffers = append(f.Payload.Buffers[:0], b)
	f.Payload.Size = size
	f.DTS, f.PTS, f.Keyframe, f.Format = dts, dts, key, host.FormatFLV
	p.n++
	p.bytes += int64(size)
	if kind == host.Video {
		f.Codec = codec.H264
		return p.w.NextVideo()
	}
	f.Codec = codec.AAC
	return p.w.NextAudio()
}

// media publishes dur of 25 fps video (a keyframe every gop) interleaved
// with 50 fps audio, from DTS start, and returns the DTS of the last video
// frame.
// Video frames are vsize bytes, audio frames 200.
func (p *synth) media(start, dur, gop time.Duration, vsize int) time.Duration {
	p.tb.Helper()
	const vstep, astep = 40 * time.Millisecond, 20 * time.Millisecond
	v, a := start, start
	for v < start+dur {
		for a <= v {
			if err := p.frame(host.Audio, a, true, 200); err != nil {
				p.tb.Fatal(err)
			}
			a += astep
		}
		key := (v-start)%gop < vstep
		if err := p.frame(host.Video, v, key, vsize); err != nil {
			p.tb.Fatal(err)
		}
		v += vstep
	}
	return v - vstep
}

// close unpublishes and checks the allocator: every frame back and every
// byte freed when Close reports it free; otherwise it is abandoned.
func (p *synth) close(reason error) bool {
	free := p.st.Close(reason)
	if free {
		if !pool.Balanced(p.alloc) {
			p.tb.Errorf("Close reported the allocator free but %d bytes are in use", pool.InUse(p.alloc))
		}
		pool.Recycle(p.alloc)
	} else {
		pool.Abandon(p.alloc)
	}
	return free
}

// got is one frame a reader received, copied out before its release.
type got struct {
	kind host.Kind
	dts  time.Duration
	key  bool
	tag  byte
	// changed: Configs reported a change right after this frame's Next.
	changed bool
	sps     byte // the SPS's tag byte Configs returned then
}

// collect reads sub on its own goroutine until io.EOF (or an error),
// releasing each frame at once, and sends everything on the channel.
func collect(sub *hub.Subscriber, timeout time.Duration) <-chan collected {
	out := make(chan collected, 1)
	go func() {
		defer sub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var c collected
		for {
			f, err := sub.Next(ctx)
			if err != nil {
				c.err = err
				c.end = time.Now()
				break
			}
			g := got{kind: f.Kind, dts: f.DTS, key: f.Keyframe, tag: f.Payload.Buffers[0][0]}
			f.Release()
			v, _, changed := sub.Configs()
			g.changed = changed
			if len(v.SPS) > 0 {
				g.sps = v.SPS[0][len(v.SPS[0])-1]
			}
			c.frames = append(c.frames, g)
		}
		out <- c
	}()
	return out
}

type collected struct {
	frames []got
	err    error
	end    time.Time // when Next returned err
}

// eof checks that a collection ended with io.EOF.
func (c collected) eof(tb testing.TB) collected {
	tb.Helper()
	if !errors.Is(c.err, io.EOF) {
		tb.Fatalf("reader ended with %v after %d frames, want io.EOF", c.err, len(c.frames))
	}
	return c
}

// poll returns a context whose Next never blocks.
func poll() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
