package srt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/pool"
)

// publisher is one connection's read path, on the connection's goroutine:
// every gosrt packet is wrapped in a packetSource, its TS packets are fed to
// the demuxer as views, and each access unit becomes a frame that holds the
// packets its payload lives in (foreign memory, host/foreign.go).
type publisher struct {
	conn   gosrt.Conn
	pub    host.Publisher
	w      host.FrameWriter
	alloc  *pool.Allocator
	demux  *mpegts.Demuxer
	src    sourcePool
	st     *ConnStats
	log    *slog.Logger
	srv    *Server
	report host.IngestReporter
	// emitFn is p.emit bound once, so the per-packet Push passes no new
	// closure.
	emitFn func(*mpegts.AccessUnit) error
}

// errEmit marks an error from publishing a frame (the host ended the
// publish), as opposed to the demuxer refusing a TS packet.
type errEmit struct{ err error }

func (e errEmit) Error() string { return e.err.Error() }
func (e errEmit) Unwrap() error { return e.err }

// runPublish reads conn until it ends, publishing to pub, then closes the
// publish and checks that every packet went back to gosrt. The returned
// error is the reason the connection ended (nil or io.EOF: the peer left).
func (s *Server) runPublish(conn gosrt.Conn, pub host.Publisher, st *ConnStats, log *slog.Logger) error {
	p := &publisher{conn: conn, pub: pub, st: st, log: log, srv: s,
		alloc: pool.NewAllocator(allocatorSize), demux: mpegts.NewDemuxer(s.cfg.Demux)}
	p.w = pub.Writer(p.alloc)
	p.report, _ = pub.(host.IngestReporter)
	p.emitFn = p.emit

	// The host ending the publish (kicked, timed out, shutting down) must
	// end the read: gosrt's ReadPacket knows no deadline or context, so
	// close the connection.
	stopKick := context.AfterFunc(pub.Context(), func() { _ = conn.Close() })
	wd := startWatchdog(conn, s.cfg.ReadTimeout)
	err := p.loop(wd)
	stopKick()
	wd.stop()
	_ = conn.Close()
	if wd.fired.Load() {
		err = fmt.Errorf("no data for %v (readtimeout)", s.cfg.ReadTimeout)
	} else if cause := context.Cause(pub.Context()); cause != nil && !errors.As(err, new(errEmit)) {
		err = fmt.Errorf("ended by the host: %w", cause)
	}
	st.SRT = srtStats(conn)
	p.finish(err)
	return err
}

func (p *publisher) loop(wd *watchdog) error {
	next := time.Now().Add(statsInterval)
	for {
		pkt, err := p.conn.ReadPacket()
		if err != nil {
			return err
		}
		wd.packets.Add(1)
		src := p.src.get(pkt)
		err = p.feed(pkt.Data(), src)
		src.Release() // the loop's hold; frames keep their own
		if err != nil {
			return err
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(statsInterval)
			p.reportIngest()
		}
	}
}

// feed pushes every whole TS packet of one SRT payload to the demuxer,
// resynchronising on a lost sync byte. A TS packet split across two SRT
// packets cannot be viewed without a copy; it is skipped and counted
// (SRT peers send whole TS packets: 1316 = 7 x 188).
func (p *publisher) feed(data []byte, src *packetSource) error {
	p.st.BytesRead += int64(len(data))
	p.srv.totals.BytesRead.Add(int64(len(data)))
	for i := 0; i < len(data); {
		rest := data[i:]
		if len(rest) < tsPacketSize {
			p.st.SkippedBytes += int64(len(rest))
			return nil
		}
		if rest[0] != 0x47 {
			j := mpegts.Resync(rest)
			p.st.Resyncs++
			if j <= 0 {
				p.st.SkippedBytes += int64(len(rest))
				return nil
			}
			p.st.SkippedBytes += int64(j)
			i += j
			continue
		}
		if err := p.demux.Push(rest[:tsPacketSize], src, p.emitFn); err != nil {
			var e errEmit
			if errors.As(err, &e) {
				return e
			}
			// A PES or table over a limit (or a misaligned packet, which
			// the sync check above rules out): the demuxer dropped it and
			// stays usable, so the stream goes on.
			p.st.DemuxErrors++
			if p.st.DemuxErrors == 1 {
				p.log.Warn("srt publish: TS input dropped (logged once per connection)", "err", err)
			}
		}
		i += tsPacketSize
	}
	return nil
}

// emit turns one access unit into a frame without copying its payload:
// the frame takes the unit's ranges (views into gosrt packets) and a hold
// on every packet they live in.
func (p *publisher) emit(au *mpegts.AccessUnit) error {
	if v, a, changed := p.demux.Config(); changed {
		// A track is announced once its parameter sets are known (the PMT
		// names the codec before the first SPS/PPS or ADTS header): FLV
		// egress cannot build a sequence header from less.
		if videoComplete(v) {
			if err := p.pub.SetVideoConfig(v); err != nil {
				releaseSources(au)
				return errEmit{err}
			}
		}
		if audioComplete(a) {
			if err := p.pub.SetAudioConfig(a); err != nil {
				releaseSources(au)
				return errEmit{err}
			}
		}
	}
	f := p.w.Frame()
	host.MovePayload(f, &au.Payload)
	f.Units = append(f.Units[:0], au.Units...)
	f.Format = host.FormatUnits
	f.Codec, f.PTS, f.DTS, f.Keyframe = au.Codec, au.PTS, au.DTS, au.Keyframe
	for i, s := range au.Sources {
		f.Hold(s) // the AU's retain moves to the frame
		au.Sources[i] = nil
	}
	au.Sources = au.Sources[:0]
	var err error
	if au.Kind == host.Audio {
		p.st.AudioFrames++
		err = p.w.NextAudio()
	} else {
		p.st.VideoFrames++
		err = p.w.NextVideo()
	}
	if err != nil {
		return errEmit{err}
	}
	return nil
}

func videoComplete(v host.VideoConfig) bool {
	switch v.Codec {
	case codec.Unknown:
		return false
	case codec.H265:
		return len(v.VPS) > 0 && len(v.SPS) > 0 && len(v.PPS) > 0
	}
	return len(v.SPS) > 0 && len(v.PPS) > 0
}

func audioComplete(a host.AudioConfig) bool {
	switch a.Codec {
	case codec.Unknown:
		return false
	case codec.AAC:
		return len(a.ASC) > 0
	}
	return true
}

func releaseSources(au *mpegts.AccessUnit) {
	for i, s := range au.Sources {
		s.Release()
		au.Sources[i] = nil
	}
	au.Sources = au.Sources[:0]
}

func (p *publisher) reportIngest() {
	if p.report == nil {
		return
	}
	// The media path copies nothing; the demuxer copies control bytes
	// (PSI sections and headers straddling TS packets, parameter sets).
	p.report.ReportIngest(host.IngestStats{BytesRead: p.st.BytesRead, BytesCopied: p.demux.Stats().BytesCopied,
		AllocMalloc: p.alloc.GetTotalMalloc(), AllocFree: p.alloc.GetTotalFree(),
		Extra: srtStats(p.conn).Extra()})
}

// finish closes the publish (the host hands back every frame, which
// releases its packets on this goroutine), releases what the demuxer still
// holds, and checks both ledgers: the allocator and gosrt's packets.
func (p *publisher) finish(err error) {
	p.demux.Close()
	var reason error
	if err != nil && !isPeerGone(err) {
		reason = err
	}
	free := p.pub.Close(reason)
	p.reportIngest()
	ds := p.demux.Stats()
	p.st.ControlBytesCopied, p.st.CCGaps, p.st.DroppedAUs, p.st.Malformed = ds.BytesCopied, ds.CCGaps, ds.DroppedAUs, ds.Malformed
	p.st.Packets, p.st.Decommissioned = p.src.taken, p.src.decommissioned
	p.st.AllocMalloc, p.st.AllocFree = p.alloc.GetTotalMalloc(), p.alloc.GetTotalFree()
	p.srv.totals.Packets.Add(p.src.taken)
	p.srv.totals.Decommissioned.Add(p.src.decommissioned)
	if n := p.src.outstanding(); n != 0 {
		// Readers kept frames past the close wait: their packets are left
		// to the garbage collector (gosrt's pool is a sync.Pool), never
		// reused while a reader may still see them.
		p.srv.totals.PacketsAbandoned.Add(n)
		p.log.Error("srt publish closed with gosrt packets still held by readers; left to the GC", "packets", n, "frames_back", free)
	}
	if free && pool.Balanced(p.alloc) {
		pool.Recycle(p.alloc)
	} else {
		pool.Abandon(p.alloc)
	}
}

// isPeerGone: gosrt's ReadPacket returns io.EOF once the connection is
// closed, by the peer (shutdown or idle) or by us.
func isPeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, gosrt.ErrClientClosed)
}

// watchdog closes a connection that delivers no data packet for between
// one and two timeouts: gosrt's ReadPacket has no deadline, and its peer idle timeout
// is fed by keepalives too. It costs one atomic add per packet and one
// timer firing per timeout.
type watchdog struct {
	conn    gosrt.Conn
	timeout time.Duration
	packets atomic.Int64
	fired   atomic.Bool
	mu      sync.Mutex
	timer   *time.Timer
	last    int64
	stopped bool
}

func startWatchdog(conn gosrt.Conn, timeout time.Duration) *watchdog {
	w := &watchdog{conn: conn, timeout: timeout}
	w.mu.Lock()
	w.timer = time.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return w
}

func (w *watchdog) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if n := w.packets.Load(); n != w.last {
		w.last = n
		w.timer.Reset(w.timeout)
		return
	}
	w.fired.Store(true)
	_ = w.conn.Close()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}
