package zerocopy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// RTMPConfig is the `zerocopy.rtmp` section.
type RTMPConfig struct {
	Enable             bool          `default:"true" desc:"accept RTMP publishers and players"`
	ListenAddr         string        `default:"127.0.0.1:1935" desc:"RTMP listen address"`
	PublishKey         string        `desc:"if set, publishers must append ?key=<value> to the stream name (never logged)"`
	PlayKey            string        `desc:"if set, players must append ?key=<value> to the stream name (never logged)"`
	HandshakeTimeout   time.Duration `default:"5s" desc:"time allowed for the RTMP handshake"`
	ReadTimeout        time.Duration `default:"15s" desc:"close a connection that sends nothing for this long"`
	WriteTimeout       time.Duration `default:"10s" desc:"close a player that cannot take data for this long"`
	MaxReassemblyBytes int           `default:"8388608" desc:"bytes held in partially received messages per connection"`
	MaxMessageLength   int           `default:"8388608" desc:"largest message a peer may announce"`
	MaxChunkStreams    int           `default:"64" desc:"chunk stream ids one connection may use"`
	AllocatorSize      int           `default:"4194304" desc:"first arena of each connection's allocator; must hold the ring's frames or gomem keeps growing it"`
}

func (p *ZeroCopy) startRTMP() error {
	c := p.cfg.RTMP
	cfg := session.Config{
		Chunk: chunk.Options{
			MaxReassemblyBytes: c.MaxReassemblyBytes,
			MaxMessageLength:   c.MaxMessageLength,
			MaxChunkStreams:    c.MaxChunkStreams,
		},
		HandshakeTimeout: c.HandshakeTimeout,
		ReadTimeout:      c.ReadTimeout,
		WriteTimeout:     c.WriteTimeout,
		PublishKey:       c.PublishKey,
		PlayKey:          c.PlayKey,
		AllocatorSize:    c.AllocatorSize,
	}
	_, err := p.svc.ListenTCP("rtmp", c.ListenAddr, host.ListenOptions{}, func(conn net.Conn, log *slog.Logger) {
		st, err := session.Serve(conn, cfg, p.svc, log)
		reason := "peer closed the connection"
		if err != nil && !errors.Is(err, io.EOF) {
			reason = err.Error()
		}
		log.Info("rtmp connection closed", "reason", reason, "role", st.Role, "path", st.Path,
			"bytes_read", st.BytesRead, "control_bytes_copied", st.BytesCopied,
			"video_frames", st.Ingest.VideoFrames, "audio_frames", st.Ingest.AudioFrames,
			"alloc_malloc", st.AllocMalloc, "alloc_free", st.AllocFree)
	})
	return err
}
