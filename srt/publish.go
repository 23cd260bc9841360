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

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/srt/transport"
	"github.com/zcingest/zerocopy/srt/wire"
)

// publisher is one connection's read path, on the connection's goroutine:
// every SRT packet is wrapped in a packetSource, its TS packets are fed to
// the demuxer as views, and each access unit becomes a frame that holds the
// packets its payload lives in (foreign memory, host/foreign.go).
type publisher struct {
	conn   *transport.Conn
	pub    host.Publisher
	w      host.FrameWriter
	alloc  *pool.Allocator
	demux  *mpegts.Demuxer
	src    sourcePool
	st     *ConnStats
	log    *slog.Logger
	srv    *Server
	report host.IngestReporter
	// carry is the TS packet being completed across SRT packets (nil: none),
	// carries its pool; nextSeq the sequence number that continues it.
	carry    *carrySource
	carries  carryPool
	nextSeq  uint32
	seqKnown bool
	// ignoredPrograms and ignoredStreams are what was last logged of the
	// demuxer's Ignored* counts.
	ignoredPrograms, ignoredStreams int
	// emitFn is p.emit bound once, so the per-packet Push passes no new
	// closure.
	emitFn func(*mpegts.AccessUnit) error
	// unflushed is the bytes read not yet added to the server's totals:
	// every publisher adding to that one shared counter per packet made
	// its cache line bounce between cores, so it is added per report.
	unflushed int64
}

// errEmit marks an error from publishing a frame (the host ended the
// publish), as opposed to the demuxer refusing a TS packet.
type errEmit struct{ err error }

func (e errEmit) Error() string { return e.err.Error() }
func (e errEmit) Unwrap() error { return e.err }

// runPublish reads conn until it ends, publishing to pub, then closes the
// publish and checks that every packet went back to its pool. The returned
// error is the reason the connection ended (nil or io.EOF: the peer left).
func (s *Server) runPublish(conn *transport.Conn, pub host.Publisher, st *ConnStats, log *slog.Logger) error {
	p := &publisher{conn: conn, pub: pub, st: st, log: log, srv: s,
		alloc: pool.NewAllocator(allocatorSize), demux: mpegts.NewDemuxer(s.cfg.Demux)}
	p.carries.alloc = p.alloc
	p.w = pub.Writer(p.alloc)
	p.report, _ = pub.(host.IngestReporter)
	p.emitFn = p.emit

	// The host ending the publish (kicked, timed out, shutting down) must
	// end the read: ReadPacket knows no deadline or context, so close the
	// connection.
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
	now := time.Now()
	nextReport, nextExtra := now.Add(ingestInterval), now.Add(statsInterval)
	for {
		pkt, err := p.conn.ReadPacket()
		if err != nil {
			return err
		}
		wd.packets.Add(1)
		// A TS packet carried over from the previous SRT packet continues
		// only in the very next one: after a gap (SRT dropped a packet too
		// late to retransmit) its head is gone.
		seq := pkt.Seq()
		if p.carry != nil && !(p.seqKnown && seq == p.nextSeq) {
			p.dropCarry()
		}
		p.nextSeq, p.seqKnown = wire.SeqInc(seq), true
		src := p.src.get(pkt)
		err = p.feed(pkt.Data(), src)
		src.Release() // the loop's hold; frames keep their own
		if err != nil {
			return err
		}
		// Counters go to the host every ingestInterval (a struct copy, no
		// allocation) so rates over a couple of seconds are accurate; the
		// SRT statistics map allocates, so it goes about once a second.
		if now := time.Now(); now.After(nextReport) {
			nextReport = now.Add(ingestInterval)
			extra := now.After(nextExtra)
			if extra {
				nextExtra = now.Add(statsInterval)
			}
			p.flushTotals()
			p.reportIngest(extra)
			p.noteIgnored()
		}
	}
}

// flushTotals adds the bytes read since the last call to the server's
// totals.
func (p *publisher) flushTotals() {
	p.srv.totals.BytesRead.Add(p.unflushed)
	p.unflushed = 0
}

// noteIgnored logs, when they change, the programs and elementary streams
// the demuxer does not follow (it follows the first program's first video
// and first audio stream): the publisher is served, but not all of it.
func (p *publisher) noteIgnored() {
	ds := p.demux.Stats()
	if ds.IgnoredPrograms == p.ignoredPrograms && ds.IgnoredStreams == p.ignoredStreams {
		return
	}
	p.ignoredPrograms, p.ignoredStreams = ds.IgnoredPrograms, ds.IgnoredStreams
	p.log.Info("srt publish: following the first program's first video and audio stream only",
		"ignored_programs", ds.IgnoredPrograms, "ignored_streams", ds.IgnoredStreams)
}

// feed pushes every whole TS packet of one SRT payload to the demuxer,
// resynchronising on a lost sync byte. SRT peers normally send whole TS
// packets (1316 = 7 x 188), which are pushed as views of the packet slot.
// A sender whose payload size is not a multiple of 188 splits TS packets
// across SRT packets: such a packet cannot be viewed in place, so its tail
// and head are copied once (188 bytes, counted) into a carry packet from
// the connection's allocator (carrySource).
func (p *publisher) feed(data []byte, src *packetSource) error {
	p.st.BytesRead += int64(len(data))
	p.unflushed += int64(len(data))
	i := 0
	if c := p.carry; c != nil {
		need := tsPacketSize - c.n
		switch {
		case len(data) < need: // a tiny SRT payload: the TS packet goes on in the next one
			c.n += copy(c.buf[c.n:], data)
			p.st.CarryBytesCopied += int64(len(data))
			return nil
		case len(data) > need && data[need] != 0x47 && data[0] == 0x47:
			// The head would not end where the next TS packet starts, but
			// this payload itself starts with one: the carried tail was a
			// stray sync byte, not the start of a packet.
			p.dropCarry()
		default:
			copy(c.buf[c.n:], data[:need])
			p.st.CarryBytesCopied += int64(need)
			p.st.CarryPackets++
			p.carry = nil
			err := p.push(c.buf, c)
			c.Release() // the feed's hold; access units keep their own
			if err != nil {
				return err
			}
			i = need
		}
	}
	for i < len(data) {
		rest := data[i:]
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
		if len(rest) < tsPacketSize {
			c := p.carries.get()
			c.n = copy(c.buf, rest)
			p.st.CarryBytesCopied += int64(c.n)
			p.carry = c
			return nil
		}
		if err := p.push(rest[:tsPacketSize], src); err != nil {
			return err
		}
		i += tsPacketSize
	}
	return nil
}

// push feeds one TS packet to the demuxer. Only an error from publishing
// a frame ends the connection.
func (p *publisher) push(pkt []byte, src mpegts.Source) error {
	err := p.demux.Push(pkt, src, p.emitFn)
	if err == nil {
		return nil
	}
	var e errEmit
	if errors.As(err, &e) {
		return e
	}
	// A PES or table over a limit (or a misaligned packet, which the sync
	// checks rule out): the demuxer dropped it and stays usable, so the
	// stream goes on.
	p.st.DemuxErrors++
	if p.st.DemuxErrors == 1 {
		p.log.Warn("srt publish: TS input dropped (logged once per connection)", "err", err)
	}
	return nil
}

// dropCarry gives up the partial TS packet being carried over (its head
// was lost, or it was not a packet); its bytes count as skipped.
func (p *publisher) dropCarry() {
	p.st.SkippedBytes += int64(p.carry.n)
	p.carry.Release()
	p.carry = nil
}

// emit turns one access unit into a frame without copying its payload:
// the frame takes the unit's ranges (views into SRT packets) and a hold
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

func (p *publisher) reportIngest(extra bool) {
	if p.report == nil {
		return
	}
	// The media path copies nothing but TS packets split across SRT
	// packets; the demuxer copies control bytes (PSI sections and headers
	// straddling TS packets, parameter sets).
	st := host.IngestStats{BytesRead: p.st.BytesRead, BytesCopied: p.demux.Stats().BytesCopied + p.st.CarryBytesCopied,
		AllocMalloc: p.alloc.GetTotalMalloc(), AllocFree: p.alloc.GetTotalFree()}
	if extra {
		st.Extra = srtStats(p.conn).Extra()
	}
	p.report.ReportIngest(st)
}

// finish closes the publish (the host hands back every frame, which
// releases its packets on this goroutine), releases what the demuxer still
// holds, and checks both ledgers: the allocator and the SRT packets.
func (p *publisher) finish(err error) {
	p.flushTotals()
	p.demux.Close()
	if p.carry != nil {
		p.dropCarry()
	}
	var reason error
	if err != nil && !isPeerGone(err) {
		reason = err
	}
	free := p.pub.Close(reason)
	p.reportIngest(true)
	ds := p.demux.Stats()
	p.st.ControlBytesCopied, p.st.CCGaps, p.st.DroppedAUs, p.st.Malformed = ds.BytesCopied, ds.CCGaps, ds.DroppedAUs, ds.Malformed
	p.st.IgnoredPrograms, p.st.IgnoredStreams = ds.IgnoredPrograms, ds.IgnoredStreams
	p.st.Packets, p.st.Decommissioned = p.src.taken, p.src.decommissioned
	p.st.AllocMalloc, p.st.AllocFree = p.alloc.GetTotalMalloc(), p.alloc.GetTotalFree()
	p.srv.totals.Packets.Add(p.src.taken)
	p.srv.totals.Decommissioned.Add(p.src.decommissioned)
	if n := p.src.outstanding(); n != 0 {
		// Readers kept frames past the close wait: their packets' slots
		// are never decommissioned, so never reused while a reader may
		// still see them (they stay out of the socket's pool, counted).
		p.srv.totals.PacketsAbandoned.Add(n)
		p.log.Error("srt publish closed with packets still held by readers; their slots are not reused", "packets", n, "frames_back", free)
	}
	if free && pool.Balanced(p.alloc) {
		pool.Recycle(p.alloc)
	} else {
		pool.Abandon(p.alloc)
	}
}

// isPeerGone: ReadPacket returns io.EOF (or an error wrapping it) once
// the connection is closed, by the peer (shutdown, idle, error) or by us.
func isPeerGone(err error) bool {
	return errors.Is(err, io.EOF)
}

// watchdog closes a connection that delivers no data packet for between
// one and two timeouts: ReadPacket has no deadline, and the peer idle timeout
// is fed by keepalives too. It costs one atomic add per packet and one
// timer firing per timeout.
type watchdog struct {
	conn    *transport.Conn
	timeout time.Duration
	packets atomic.Int64
	fired   atomic.Bool
	mu      sync.Mutex
	timer   *time.Timer
	last    int64
	stopped bool
}

func startWatchdog(conn *transport.Conn, timeout time.Duration) *watchdog {
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
