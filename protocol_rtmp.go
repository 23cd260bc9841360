package zerocopy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// RTMPConfig is the `zerocopy.rtmp` section. Numeric and duration fields
// carry min/max tags the config loader enforces; a timeout of 0s takes the
// session's default.
type RTMPConfig struct {
	Enable     bool   `default:"true" desc:"accept RTMP publishers and players"`
	ListenAddr string `default:"127.0.0.1:1935" desc:"RTMP listen address"`
	// PublishKey and PlayKey are deprecated aliases of zerocopy.auth's keys
	// (the plugin folds them into its one auth hook).
	PublishKey string `desc:"deprecated: use zerocopy.auth.publishkey (never logged)"`
	PlayKey    string `desc:"deprecated: use zerocopy.auth.playkey (never logged)"`
	// Timeouts: up to a minute for a handshake and five for setup is far
	// beyond any real client; an hour of idle or blocked I/O is already a
	// dead peer. 0s means the default.
	HandshakeTimeout time.Duration `default:"5s" min:"0s" max:"1m" desc:"fixed time from accept allowed for the RTMP handshake"`
	SetupTimeout     time.Duration `default:"10s" min:"0s" max:"5m" desc:"fixed time from accept until a publish or play has started"`
	ReadTimeout      time.Duration `default:"15s" min:"0s" max:"1h" desc:"close a publishing connection that sends nothing for this long"`
	WriteTimeout     time.Duration `default:"10s" min:"0s" max:"1h" desc:"close a player that cannot take data for this long"`
	// Reassembly: at least one 64 KiB message must fit; 256 MiB per
	// connection is already more than any host should let one peer hold.
	MaxReassemblyBytes int `default:"8388608" min:"65536" max:"268435456" desc:"bytes held in partially received messages per connection"`
	// The message length field is 24 bits: 16 MiB is the protocol's own cap.
	MaxMessageLength int `default:"8388608" min:"1" max:"16777216" desc:"largest message a peer may announce"`
	// Chunk stream ids 2..65599 are all the basic header can carry.
	MaxChunkStreams int `default:"64" min:"1" max:"65598" desc:"chunk stream ids one connection may use"`
	// Below 64 KiB the arena is smaller than a connection starts with;
	// above 64 MiB (16 of gomem's largest arenas) a ring is misconfigured.
	AllocatorSize int `default:"65536" min:"65536" max:"67108864" desc:"arenas reserved when a connection publishes; they grow with the ring anyway (pinned, never dropped), so a larger value only makes them up front"`
	// Read batching (Linux): the kernel wakes a publisher's reader once
	// this many bytes are queued (SO_RCVLOWAT), lowered to 20 ms of the
	// stream's own bitrate, instead of once per TCP segment; it halved the
	// ingest CPU per byte at 32 paced publishers. The price is up to 20 ms
	// of added latency, and at most ReadLowWaterDelay when the peer stops
	// filling the mark. 64 KiB is far beyond 20 ms of any stream.
	ReadLowWater      int           `default:"4096" min:"0" max:"65536" desc:"bytes queued before a publisher's reader wakes (SO_RCVLOWAT, Linux; 20 ms of the stream at most); 0 wakes it for every segment"`
	ReadLowWaterDelay time.Duration `default:"200ms" min:"10ms" max:"2s" desc:"a publisher silent this long is read at once again (the mark drops to one byte)"`
	// Caps the host enforces on the listener; 0 means no cap. A million is
	// beyond any file descriptor limit.
	MaxConnections      int `default:"1024" min:"0" max:"1048576" desc:"open RTMP connections (0: no cap)"`
	MaxConnectionsPerIP int `default:"256" min:"0" max:"1048576" desc:"open RTMP connections from one IP address (0: no cap)"`
}

func (p *ZeroCopy) startRTMP() error {
	c := p.cfg.RTMP
	cfg := session.Config{
		Chunk: chunk.Options{
			MaxReassemblyBytes: c.MaxReassemblyBytes,
			MaxMessageLength:   c.MaxMessageLength,
			MaxChunkStreams:    c.MaxChunkStreams,
		},
		HandshakeTimeout:  c.HandshakeTimeout,
		SetupTimeout:      c.SetupTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		AllocatorSize:     c.AllocatorSize,
		ReadLowWater:      rcvlowat.ConfigSize(c.ReadLowWater),
		ReadLowWaterDelay: c.ReadLowWaterDelay,
		Auth:              p.auth, // the plugin's one hook (zerocopy.auth, with the deprecated RTMP keys folded in)
	}
	opts := host.ListenOptions{MaxConnections: c.MaxConnections, MaxConnectionsPerIP: c.MaxConnectionsPerIP}
	_, err := p.svc.ListenTCP("rtmp", c.ListenAddr, opts, func(conn net.Conn, log *slog.Logger) {
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
