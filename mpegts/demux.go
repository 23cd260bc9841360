// Package mpegts demuxes MPEG transport streams into codec-unit access
// units without copying media bytes, and muxes host frames back into TS
// packets for egress.
//
// The demuxer never reassembles a PES: each access unit's Payload is a list
// of views into the 188-byte TS packets it was pushed, with Annex-B start
// codes and ADTS headers left out, so the H.264/H.265 NAL units and raw AAC
// frames lie back to back exactly as host.FormatUnits wants them. The
// packets live in foreign buffers (Sources, e.g. SRT packet slots) that the
// demuxer retains while it holds views of them and hands over, retained
// once per access unit, to whoever takes the unit.
//
// The muxer writes TS, PES, Annex-B and ADTS framing from its own reused
// scratch around views of a frame's units: no media byte is copied and, in
// steady state, nothing is allocated.
package mpegts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// PacketSize is the size of one TS packet.
const PacketSize = 188

// syncByte starts every TS packet.
const syncByte = 0x47

// ErrSync is returned by Push for a packet that is not 188 bytes long or
// does not start with the sync byte: the caller has lost alignment and
// should find the next packet with Resync.
var ErrSync = errors.New("mpegts: packet not aligned on a sync byte")

// Source is a ref-counted foreign buffer that TS packets live in (for SRT,
// one SRT packet carrying 7 TS packets). Retain adds a hold; Release
// (host.Holder) drops one; the last Release gives the buffer back. All calls
// happen on the connection's goroutine.
type Source interface {
	host.Holder
	Retain()
}

// AccessUnit is one demuxed frame. Payload holds views into the TS
// packets' payload bytes (no copy, possibly many ranges): the codec units
// back to back in host.FormatUnits layout, without Annex-B start codes or
// ADTS headers (H.264/H.265 NAL units, one raw AAC frame). Units indexes
// Payload. Sources lists every Source whose bytes Payload references, each
// retained once for this unit.
type AccessUnit struct {
	Kind     host.Kind
	Codec    codec.Codec
	Payload  gomem.Memory
	Units    []codec.Span
	PTS, DTS time.Duration
	Keyframe bool
	Sources  []Source
}

// Options tunes a Demuxer. The zero value uses the defaults.
type Options struct {
	// MaxPESSize caps the bytes one PES may collect (DefaultMaxPESSize
	// when 0).
	MaxPESSize int
}

// Stats counts what the demuxer saw. Counters only grow, except the
// Ignored* fields, which describe the latest PAT and PMT.
type Stats struct {
	Packets         int64 // TS packets pushed (with a valid sync byte)
	AccessUnits     int64 // access units emitted
	CCGaps          int64 // continuity-counter gaps on the selected streams
	DroppedAUs      int64 // access units dropped: broken by a gap, truncated, over a limit, or before the first keyframe
	Discontinuities int64 // timestamp rebases (flagged discontinuity or a jump beyond MaxTimestampJump)
	Malformed       int64 // packets, sections, PES headers or ADTS frames dropped as malformed
	BytesCopied     int64 // control bytes copied: PSI sections and PES/ADTS headers straddling packets, parameter sets
	// IgnoredPrograms is the number of programs the PAT lists beyond the
	// first (which is the one followed); IgnoredStreams the number of
	// elementary streams of that program's PMT that are not followed (a
	// second video or audio stream, an unsupported codec).
	IgnoredPrograms, IgnoredStreams int
}

// piece is one TS packet's share of a PES payload: a view into the packet
// and the Source it lives in.
type piece struct {
	b   []byte
	src Source
}

// stream is one followed elementary stream and the PES it is collecting.
type stream struct {
	pid        uint16 // 0: none selected
	streamType byte
	kind       host.Kind
	codec      codec.Codec
	cc         int8 // last continuity counter, -1 unknown

	active   bool // collecting a PES
	inHeader bool // its header straddles packets: gathering it in hdr
	hdr      [MaxPESHeaderSize]byte
	hdrN     int
	want     int // payload bytes still expected; -1 until the next PUSI
	size     int // payload bytes collected
	pieces   []piece
	srcs     []Source // one hold each while the PES collects
	scan     annexB   // video: the NAL units of pieces, found as they come

	pts, dts time.Duration
	hasTS    bool
	started  bool          // a timestamp was seen: lastDTS is meaningful
	lastDTS  time.Duration // keeps DTS monotonic per stream
	nextPTS  time.Duration // audio: where the next frame starts when a PES has no PTS
	needKey  bool          // video: drop until the next keyframe
}

// sectionBuf assembles a PSI section that spans packets.
type sectionBuf struct {
	buf    []byte
	active bool
	cc     int8
}

// Demuxer turns TS packets into access units. It is used on one goroutine.
type Demuxer struct {
	maxPES int

	patSec, pmtSec sectionBuf
	program        uint16
	pmtPID         uint16 // 0: no PAT yet
	pcrPID         uint16
	video, audio   stream

	clock   tsClock
	lastPCR int64
	havePCR bool

	au      AccessUnit
	psBuf   []byte // gathers an in-band parameter set to compare
	vcfg    host.VideoConfig
	acfg    host.AudioConfig
	changed bool

	stats Stats
}

// NewDemuxer returns a demuxer waiting for a PAT.
func NewDemuxer(opts Options) *Demuxer {
	d := &Demuxer{maxPES: opts.MaxPESSize}
	if d.maxPES <= 0 {
		d.maxPES = DefaultMaxPESSize
	}
	d.patSec.cc, d.pmtSec.cc = -1, -1
	d.video.kind, d.audio.kind = host.Video, host.Audio
	d.video.cc, d.audio.cc = -1, -1
	return d
}

// Push feeds one 188-byte TS packet, a view into src's memory that stays
// valid as long as src is held: the demuxer retains src while it keeps
// views of pkt. src may be nil for memory that outlives the demuxer's use
// (tests, a caller's own buffers). Completed access units go to emit, which
// must move au.Payload out (host.MovePayload) and take au.Sources (f.Hold
// each, or Release each) before returning; au.Sources belong to the receiver
// whatever emit returns. au is reused for the next unit.
//
// Push returns ErrSync (wrapped) for a packet that is misaligned (resync
// with Resync), a *limit.LimitError (wrapped) when a PES or table exceeded a
// limit and was dropped, or emit's error. Other malformed input is dropped
// and counted in Stats; after any error the demuxer stays usable.
func (d *Demuxer) Push(pkt []byte, src Source, emit func(*AccessUnit) error) error {
	if len(pkt) != PacketSize {
		return fmt.Errorf("%w: packet of %d bytes", ErrSync, len(pkt))
	}
	if pkt[0] != syncByte {
		return fmt.Errorf("%w: first byte %#x", ErrSync, pkt[0])
	}
	d.stats.Packets++
	if pkt[1]&0x80 != 0 { // transport_error_indicator: the link says it is corrupt
		d.stats.Malformed++
		return nil
	}
	pusi := pkt[1]&0x40 != 0
	pid := uint16(pkt[1]&0x1F)<<8 | uint16(pkt[2])
	afc := pkt[3] >> 4 & 3
	cc := int8(pkt[3] & 0x0F)
	if afc == 0 { // reserved
		d.stats.Malformed++
		return nil
	}
	p := pkt[4:]
	disc := false
	if afc&2 != 0 {
		afl := int(p[0])
		maxAF := len(p) - 1 // adaptation field only
		if afc == 3 {
			maxAF-- // at least one payload byte follows
		}
		if afl > maxAF { // an adaptation field longer than the packet
			d.stats.Malformed++
			return nil
		}
		if afl > 0 {
			flags := p[1]
			disc = flags&0x80 != 0
			if flags&0x10 != 0 && afl >= 7 && pid == d.pcrPID && d.pmtPID != 0 {
				d.notePCR(int64(binary.BigEndian.Uint32(p[2:]))<<1 | int64(p[6]>>7))
			}
		}
		p = p[1+afl:]
	}
	hasPayload := afc&1 != 0
	if hasPayload && pkt[3]>>6 != 0 { // scrambled: unreadable without keys
		d.stats.Malformed++
		return nil
	}
	switch {
	case pid == pidPAT:
		return d.pushSection(&d.patSec, p, pusi, hasPayload, cc, d.handlePAT)
	case d.pmtPID != 0 && pid == d.pmtPID:
		return d.pushSection(&d.pmtSec, p, pusi, hasPayload, cc, d.handlePMT)
	case d.video.pid != 0 && pid == d.video.pid:
		return d.pushStream(&d.video, p, pusi, disc, hasPayload, cc, src, emit)
	case d.audio.pid != 0 && pid == d.audio.pid:
		return d.pushStream(&d.audio, p, pusi, disc, hasPayload, cc, src, emit)
	}
	return nil
}

// Config reports the followed video and audio elementary streams and the
// parameter sets seen in band (SPS/PPS/VPS; the AAC AudioSpecificConfig
// derived from the first ADTS header), and whether either changed since
// the last call. The returned slices are never modified by the demuxer (a
// change replaces them), so the caller may keep them.
func (d *Demuxer) Config() (video host.VideoConfig, audio host.AudioConfig, changed bool) {
	changed, d.changed = d.changed, false
	return d.vcfg, d.acfg, changed
}

// Stats returns the counters so far.
func (d *Demuxer) Stats() Stats { return d.stats }

// Flush emits the PES each stream is still collecting, as if the next
// PUSI had arrived: a video PES of unbounded length otherwise waits for
// the next one. Call it at the end of a stream (a publisher's clean exit,
// the end of a file); a stream cut short drops what is incomplete.
func (d *Demuxer) Flush(emit func(*AccessUnit) error) error {
	err := d.finish(&d.video, emit)
	if err2 := d.finish(&d.audio, emit); err == nil {
		err = err2
	}
	return err
}

// Close releases every Source still retained by PES data not yet emitted.
// The demuxer may be reused afterwards as if new, except for its counters.
func (d *Demuxer) Close() {
	d.release(&d.video)
	d.release(&d.audio)
	d.resetAU()
}

// pushSection feeds one packet of a PSI PID. Sections that fit in a packet
// are parsed in place; only those spanning packets are gathered (copied,
// counted) into a buffer of at most MaxSectionSize bytes.
func (d *Demuxer) pushSection(sb *sectionBuf, p []byte, pusi, hasPayload bool, cc int8, handle func([]byte) error) error {
	if !hasPayload {
		return nil
	}
	if sb.cc >= 0 {
		if cc == sb.cc {
			return nil // duplicate packet
		}
		if cc != (sb.cc+1)&15 {
			sb.active = false // the section in progress lost a piece
		}
	}
	sb.cc = cc
	if !pusi {
		if sb.active {
			return d.gatherSection(sb, p, handle)
		}
		return nil
	}
	if len(p) == 0 || int(p[0]) >= len(p) {
		sb.active = false
		d.stats.Malformed++
		return nil
	}
	ptr := int(p[0])
	p = p[1:]
	var err error
	if sb.active {
		err = d.gatherSection(sb, p[:ptr], handle)
	}
	sb.active = false
	p = p[ptr:]
	for len(p) > 0 && p[0] != 0xFF { // 0xFF: stuffing up to the packet's end
		if len(p) < 3 {
			sb.buf = sb.buf[:0]
			sb.active = true
			return errors.Join(err, d.gatherSection(sb, p, handle))
		}
		total := 3 + int(binary.BigEndian.Uint16(p[1:])&0x0FFF)
		if total > MaxSectionSize {
			d.stats.Malformed++
			return errors.Join(err, fmt.Errorf("mpegts table %#x: %w", p[0],
				&limit.LimitError{Name: "MaxSectionSize", Limit: MaxSectionSize, Got: int64(total)}))
		}
		if total > len(p) {
			sb.buf = sb.buf[:0]
			sb.active = true
			return errors.Join(err, d.gatherSection(sb, p, handle))
		}
		err = errors.Join(err, handle(p[:total]))
		p = p[total:]
	}
	return err
}

// gatherSection appends the next bytes of a section spanning packets and
// handles it once complete.
func (d *Demuxer) gatherSection(sb *sectionBuf, p []byte, handle func([]byte) error) error {
	if sb.buf == nil {
		sb.buf = make([]byte, 0, MaxSectionSize)
	}
	for len(p) > 0 && sb.active {
		need := 3 - len(sb.buf)
		if len(sb.buf) >= 3 {
			total := 3 + int(binary.BigEndian.Uint16(sb.buf[1:])&0x0FFF)
			if total > MaxSectionSize {
				sb.active = false
				d.stats.Malformed++
				return fmt.Errorf("mpegts table %#x: %w", sb.buf[0],
					&limit.LimitError{Name: "MaxSectionSize", Limit: MaxSectionSize, Got: int64(total)})
			}
			need = total - len(sb.buf)
		}
		n := min(need, len(p))
		sb.buf = append(sb.buf, p[:n]...)
		d.stats.BytesCopied += int64(n)
		p = p[n:]
		if len(sb.buf) >= 3 {
			if total := 3 + int(binary.BigEndian.Uint16(sb.buf[1:])&0x0FFF); len(sb.buf) == total {
				sb.active = false
				return handle(sb.buf)
			}
		}
	}
	return nil
}

func (d *Demuxer) handlePAT(sec []byte) error {
	p, ok, err := parsePAT(sec)
	if err != nil {
		d.stats.Malformed++
		var le *limit.LimitError
		if errors.As(err, &le) {
			return err
		}
		return nil
	}
	if !ok {
		return nil
	}
	d.stats.IgnoredPrograms = p.ignored
	if p.program == d.program && p.pmtPID == d.pmtPID {
		return nil
	}
	// A new program: forget the old one's streams.
	d.release(&d.video)
	d.release(&d.audio)
	d.video.pid, d.audio.pid = 0, 0
	d.program, d.pmtPID, d.pcrPID = p.program, p.pmtPID, 0
	d.pmtSec = sectionBuf{buf: d.pmtSec.buf[:0], cc: -1}
	return nil
}

func (d *Demuxer) handlePMT(sec []byte) error {
	m, ok, err := parsePMT(sec, d.program, d.pmtPID)
	if err != nil {
		d.stats.Malformed++
		var le *limit.LimitError
		if errors.As(err, &le) {
			return err
		}
		return nil
	}
	if !ok {
		return nil
	}
	d.stats.IgnoredStreams = m.ignored
	d.pcrPID = m.pcrPID
	d.selectStream(&d.video, m.video)
	d.selectStream(&d.audio, m.audio)
	return nil
}

// selectStream follows e on s, dropping what s collected for another PID.
func (d *Demuxer) selectStream(s *stream, e esInfo) {
	if s.pid == e.pid && s.streamType == e.streamType {
		return
	}
	d.release(s)
	s.pid, s.streamType, s.cc = e.pid, e.streamType, -1
	s.started, s.needKey = false, s.kind == host.Video
	switch e.streamType {
	case StreamTypeH264:
		s.codec = codec.H264
	case StreamTypeH265:
		s.codec = codec.H265
	case StreamTypeAAC:
		s.codec = codec.AAC
	default:
		s.codec = codec.Unknown
	}
	if s.kind == host.Video {
		if d.vcfg.Codec != s.codec {
			d.vcfg = host.VideoConfig{Codec: s.codec}
			d.changed = true
		}
	} else if d.acfg.Codec != s.codec {
		d.acfg = host.AudioConfig{Codec: s.codec}
		d.changed = true
	}
}

func (d *Demuxer) pushStream(s *stream, p []byte, pusi, disc, hasPayload bool, cc int8, src Source, emit func(*AccessUnit) error) error {
	if disc {
		d.clock.disc = true
		s.cc = -1 // the counter may restart
	}
	if !hasPayload {
		return nil
	}
	if s.cc >= 0 {
		if cc == s.cc {
			return nil // a duplicate packet (allowed once by the standard)
		}
		if cc != (s.cc+1)&15 {
			d.stats.CCGaps++
			d.drop(s)
		}
	}
	s.cc = cc
	if pusi {
		err := d.finish(s, emit)
		if err2 := d.startPES(s, p, src, emit); err == nil {
			err = err2
		}
		return err
	}
	if s.inHeader {
		return d.gatherHeader(s, p, src, emit)
	}
	if s.active {
		return d.appendPayload(s, p, src, emit)
	}
	return nil
}

func (d *Demuxer) startPES(s *stream, p []byte, src Source, emit func(*AccessUnit) error) error {
	s.active, s.inHeader, s.hdrN, s.size = true, true, 0, 0
	s.scan.reset()
	if len(p) >= 9 {
		if hl := 9 + int(p[8]); hl <= len(p) { // the usual case: the header is in this packet
			s.inHeader = false
			if !d.parsePESHeader(s, p[:hl]) {
				return nil
			}
			return d.appendPayload(s, p[hl:], src, emit)
		}
	}
	return d.gatherHeader(s, p, src, emit)
}

// gatherHeader copies (counted) the pieces of a PES header that straddles
// packets into s.hdr, then goes on with the payload.
func (d *Demuxer) gatherHeader(s *stream, p []byte, src Source, emit func(*AccessUnit) error) error {
	for len(p) > 0 {
		want := 9
		if s.hdrN >= 9 {
			want = 9 + int(s.hdr[8])
		}
		n := copy(s.hdr[s.hdrN:want], p)
		s.hdrN += n
		d.stats.BytesCopied += int64(n)
		p = p[n:]
		if s.hdrN == want && want > 9 || s.hdrN == 9 && s.hdr[8] == 0 {
			s.inHeader = false
			if !d.parsePESHeader(s, s.hdr[:s.hdrN]) {
				return nil
			}
			return d.appendPayload(s, p, src, emit)
		}
	}
	return nil
}

// parsePESHeader reads a whole PES header; false means it was malformed
// and the PES is dropped.
func (d *Demuxer) parsePESHeader(s *stream, h []byte) bool {
	bad := h[0] != 0 || h[1] != 0 || h[2] != 1 || h[6]&0xC0 != 0x80
	switch h[3] { // stream_ids without the optional header carry no media for us
	case 0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF:
		bad = true
	}
	hdl := int(h[8])
	var pts, dts int64
	var hasTS bool
	switch h[7] >> 6 {
	case 2:
		if hdl < 5 {
			bad = true
			break
		}
		pts, hasTS = readTS(h[9:]), true
		dts = pts
	case 3:
		if hdl < 10 {
			bad = true
			break
		}
		pts, dts, hasTS = readTS(h[9:]), readTS(h[14:]), true
	case 1:
		bad = true
	}
	s.want = -1
	if n := int(binary.BigEndian.Uint16(h[4:])); n != 0 {
		s.want = n - 3 - hdl
		if s.want < 0 {
			bad = true
		}
	}
	if bad {
		d.stats.Malformed++
		d.release(s)
		return false
	}
	s.hasTS = hasTS
	if hasTS {
		d.stamp(s, pts, dts)
	}
	return true
}

// readTS reads a 33-bit PTS/DTS field.
func readTS(b []byte) int64 {
	return int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}

// appendPayload adds one packet's share of the PES payload as a view.
func (d *Demuxer) appendPayload(s *stream, p []byte, src Source, emit func(*AccessUnit) error) error {
	if !s.active || len(p) == 0 {
		return nil
	}
	if s.want >= 0 && len(p) > s.want {
		p = p[:s.want]
	}
	if n := s.size + len(p); n > d.maxPES {
		d.drop(s)
		return fmt.Errorf("mpegts pid %d: %w", s.pid, &limit.LimitError{Name: "MaxPESSize", Limit: int64(d.maxPES), Got: int64(n)})
	}
	s.pieces = append(s.pieces, piece{p, src})
	if s.kind == host.Video {
		s.scan.feed(p)
	}
	if src != nil && !hasSource(s.srcs, src) {
		src.Retain()
		s.srcs = append(s.srcs, src)
	}
	s.size += len(p)
	if s.want >= 0 {
		s.want -= len(p)
		if s.want == 0 {
			return d.finish(s, emit)
		}
	}
	return nil
}

func hasSource(list []Source, src Source) bool {
	for i := len(list) - 1; i >= 0; i-- { // the latest is the likeliest
		if list[i] == src {
			return true
		}
	}
	return false
}

// drop abandons the PES in progress (counted) after a gap or a limit.
func (d *Demuxer) drop(s *stream) {
	if s.active {
		d.stats.DroppedAUs++
	}
	if s.kind == host.Video {
		s.needKey = true
	}
	d.release(s)
}

// release gives back what the PES in progress retained and forgets it.
func (d *Demuxer) release(s *stream) {
	for i, src := range s.srcs {
		src.Release()
		s.srcs[i] = nil
	}
	s.srcs = s.srcs[:0]
	clear(s.pieces)
	s.pieces = s.pieces[:0]
	s.active, s.inHeader, s.size, s.hdrN = false, false, 0, 0
}

// finish ends the PES in progress (at the next PUSI, or once its length is
// reached) and emits its access units.
func (d *Demuxer) finish(s *stream, emit func(*AccessUnit) error) error {
	if !s.active {
		return nil
	}
	if s.inHeader {
		d.stats.Malformed++
		d.release(s)
		return nil
	}
	var err error
	if s.kind == host.Video {
		if s.want > 0 { // shorter than its PES_packet_length said
			d.drop(s)
			return nil
		}
		err = d.emitVideo(s, emit)
	} else {
		err = d.emitAudio(s, emit)
	}
	d.release(s)
	return err
}

// pcursor walks a PES's pieces forward by logical offset.
type pcursor struct {
	pieces []piece
	i      int
	base   int // logical offset of pieces[i]
}

func (c *pcursor) seek(off int) {
	for c.i < len(c.pieces) && c.base+len(c.pieces[c.i].b) <= off {
		c.base += len(c.pieces[c.i].b)
		c.i++
	}
}

// at returns the bytes from off to the end of the piece holding off.
func (c *pcursor) at(off int) []byte {
	c.seek(off)
	return c.pieces[c.i].b[off-c.base:]
}

// appendRange appends the views of [off, end) to the access unit's
// Payload and lists their Sources in it, retaining each for the unit when
// retain is set (see handOver for when it is not).
func (d *Demuxer) appendRange(c *pcursor, off, end int, retain bool) {
	au := &d.au
	for off < end {
		c.seek(off)
		pc := c.pieces[c.i]
		lo, hi := off-c.base, min(len(pc.b), end-c.base)
		au.Payload.Buffers = append(au.Payload.Buffers, pc.b[lo:hi:hi])
		au.Payload.Size += hi - lo
		if pc.src != nil && !hasSource(au.Sources, pc.src) {
			if retain {
				pc.src.Retain()
			}
			au.Sources = append(au.Sources, pc.src)
		}
		off = c.base + hi
	}
}

// gather copies n bytes at off into dst when they straddle pieces (counted)
// or returns them in place.
func (d *Demuxer) gather(c *pcursor, off int, dst []byte) []byte {
	if b := c.at(off); len(b) >= len(dst) {
		return b[:len(dst)]
	}
	save := *c
	n := 0
	for n < len(dst) {
		n += copy(dst[n:], c.at(off+n))
	}
	*c = save
	d.stats.BytesCopied += int64(n)
	return dst
}

// resetAU empties the access unit after emit (or a drop), keeping capacity.
func (d *Demuxer) resetAU() {
	pool.ResetMemory(&d.au.Payload)
	clear(d.au.Units)
	d.au.Units = d.au.Units[:0]
	clear(d.au.Sources)
	d.au.Sources = d.au.Sources[:0]
	d.au.Keyframe = false
}

// handOver gives the access unit (built with appendRange without retain)
// the stream's holds on its Sources, releasing those of the PES's Sources
// the unit does not reference (a packet holding only the PES header or
// an AUD), instead of retaining each once more for the unit and then
// releasing the stream's: a video unit is the whole PES, and the second
// touch of every Source when the PES ends, tens of milliseconds after its
// packet arrived, missed the CPU's caches (SRT, in perf: 7% of the
// publisher's read loop). It relies on the unit's Sources being listed in
// the order the PES's are, which holds when each Source's pieces are
// contiguous in the PES; otherwise it falls back to retaining them.
func (d *Demuxer) handOver(s *stream) {
	au := &d.au
	j := 0
	for _, src := range s.srcs {
		if j < len(au.Sources) && au.Sources[j] == src {
			j++
		}
	}
	if j != len(au.Sources) { // not in the same order: retain each for the unit
		for _, src := range au.Sources {
			src.Retain()
		}
		return // the stream's holds are released with the PES
	}
	j = 0
	for i, src := range s.srcs {
		if j < len(au.Sources) && au.Sources[j] == src {
			j++
		} else {
			src.Release()
		}
		s.srcs[i] = nil
	}
	s.srcs = s.srcs[:0]
}

func (d *Demuxer) emitVideo(s *stream, emit func(*AccessUnit) error) error {
	units, err := s.scan.end()
	if err != nil {
		d.stats.DroppedAUs++
		s.needKey = true
		return fmt.Errorf("mpegts pid %d: %w", s.pid, err)
	}
	au := &d.au
	d.resetAU()
	c := pcursor{pieces: s.pieces}
	for _, u := range units {
		h := c.at(u.Off)[0]
		var drop, key bool
		if s.codec == codec.H265 {
			t := codec.H265Type(h)
			drop, key = t == codec.H265AUD, t.IsIRAP()
			switch t {
			case codec.H265VPS:
				d.noteParamSet(&c, u, &d.vcfg.VPS)
			case codec.H265SPS:
				d.noteParamSet(&c, u, &d.vcfg.SPS)
			case codec.H265PPS:
				d.noteParamSet(&c, u, &d.vcfg.PPS)
			}
		} else {
			t := codec.H264Type(h)
			drop, key = t == codec.H264AUD, t == codec.H264IDR
			switch t {
			case codec.H264SPS:
				d.noteParamSet(&c, u, &d.vcfg.SPS)
			case codec.H264PPS:
				d.noteParamSet(&c, u, &d.vcfg.PPS)
			}
		}
		if drop { // AUDs carry nothing a receiver needs; each egress writes its own
			continue
		}
		au.Keyframe = au.Keyframe || key
		off := au.Payload.Size
		d.appendRange(&c, u.Off, u.End(), false)
		au.Units = append(au.Units, codec.Span{Off: off, Len: u.Len})
	}
	// The unit's Sources are listed but not retained yet: the stream's
	// holds cover them until handOver.
	if len(au.Units) == 0 {
		d.resetAU()
		return nil
	}
	if s.needKey && !au.Keyframe {
		d.stats.DroppedAUs++
		d.resetAU()
		return nil
	}
	d.handOver(s)
	s.needKey = false
	au.Kind, au.Codec = host.Video, s.codec
	au.PTS, au.DTS = s.pts, s.dts
	if !s.hasTS { // no PTS: keep the stream's clock where it was
		au.PTS, au.DTS = s.lastDTS, s.lastDTS
	}
	d.stats.AccessUnits++
	err = emit(au)
	d.resetAU()
	return err
}

// noteParamSet records an in-band parameter set for Config when it differs
// from the one held (a copy, counted: control data).
func (d *Demuxer) noteParamSet(c *pcursor, u codec.Span, dst *[][]byte) {
	if u.Len > MaxParamSetSize {
		return
	}
	if cap(d.psBuf) < MaxParamSetSize {
		d.psBuf = make([]byte, MaxParamSetSize)
	}
	ps := d.gather(c, u.Off, d.psBuf[:u.Len])
	if len(*dst) == 1 && bytes.Equal((*dst)[0], ps) {
		return
	}
	*dst = [][]byte{bytes.Clone(ps)}
	d.stats.BytesCopied += int64(len(ps))
	d.changed = true
}

// noteASC records the AudioSpecificConfig an ADTS header implies.
func (d *Demuxer) noteASC(objectType, sfi, ch int) {
	a0, a1 := byte(objectType<<3|sfi>>1), byte(sfi<<7|ch<<3)
	if len(d.acfg.ASC) == 2 && d.acfg.ASC[0] == a0 && d.acfg.ASC[1] == a1 {
		return
	}
	asc := []byte{a0, a1} // a new slice: callers may keep the old one
	channels := ch
	if ch == 7 {
		channels = 8
	}
	d.acfg = host.AudioConfig{Codec: codec.AAC, ASC: asc, SampleRate: codec.AACSampleRate(sfi), Channels: channels}
	d.changed = true
}

// aacSamplesPerFrame is the frame length of AAC carried in ADTS (the
// 960-sample variant cannot be signalled there).
const aacSamplesPerFrame = 1024

func (d *Demuxer) emitAudio(s *stream, emit func(*AccessUnit) error) error {
	pts := s.nextPTS
	if s.hasTS {
		pts = s.pts
	}
	c := pcursor{pieces: s.pieces}
	var scratch [7]byte
	rate := 0
	frames := 0
	for off := 0; off+7 <= s.size; {
		h := d.gather(&c, off, scratch[:])
		if h[0] != 0xFF || h[1]&0xF6 != 0xF0 { // syncword, layer 0
			d.stats.Malformed++
			break
		}
		hl := 7
		if h[1]&1 == 0 {
			hl = 9 // CRC follows
		}
		flen := int(h[3]&3)<<11 | int(h[4])<<3 | int(h[5])>>5
		sfi := int(h[2] >> 2 & 15)
		if flen <= hl || sfi >= 13 {
			d.stats.Malformed++
			break
		}
		if off+flen > s.size { // cut short by the PES's end
			d.stats.DroppedAUs++
			break
		}
		rate = codec.AACSampleRate(sfi)
		d.noteASC(int(h[2]>>6)+1, sfi, int(h[2]&1)<<2|int(h[3]>>6))
		t := pts + time.Duration(frames*aacSamplesPerFrame)*time.Second/time.Duration(rate)
		d.resetAU()
		au := &d.au
		d.appendRange(&c, off+hl, off+flen, true)
		au.Units = append(au.Units, codec.Span{Len: flen - hl})
		au.Kind, au.Codec, au.Keyframe = host.Audio, codec.AAC, true
		au.PTS, au.DTS = t, t
		frames++
		off += flen
		d.stats.AccessUnits++
		err := emit(au)
		d.resetAU()
		if err != nil {
			return err
		}
	}
	if rate > 0 {
		s.nextPTS = pts + time.Duration(frames*aacSamplesPerFrame)*time.Second/time.Duration(rate)
	}
	return nil
}

// annexB finds the NAL units of an Annex-B byte stream fed piece by piece
// (start codes may straddle pieces): their logical spans, start codes and
// trailing zero bytes excluded. Bytes before the first start code belong
// to no unit. The demuxer feeds each PES piece as it is appended, while
// the TS packet it lies in is still in the CPU's cache: scanning the whole
// PES when it ends read memory that had gone cold meanwhile (SRT: a fifth
// of the publisher's read loop, in perf, went to that second miss).
type annexB struct {
	zeros int // zero bytes just before the current position
	start int // logical offset of the current unit's first byte, -1 none
	base  int // logical offset of the next piece
	units []codec.Span
	err   error // MaxUnitsPerAU exceeded; later units are not recorded
}

// reset starts a new byte stream, keeping the units' capacity.
func (a *annexB) reset() {
	a.zeros, a.start, a.base, a.err = 0, -1, 0, nil
	a.units = a.units[:0]
}

func (a *annexB) add(end int) {
	if end <= a.start || a.err != nil {
		return
	}
	if len(a.units) >= MaxUnitsPerAU {
		a.err = &limit.LimitError{Name: "MaxUnitsPerAU", Limit: MaxUnitsPerAU, Got: int64(len(a.units) + 1)}
		return
	}
	a.units = append(a.units, codec.Span{Off: a.start, Len: end - a.start})
}

// feed scans the next piece of the stream.
func (a *annexB) feed(b []byte) {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], 1)
		if j < 0 {
			a.zeros = trailingZeros(b[i:], a.zeros)
			break
		}
		k := i + j
		if z := trailingZeros(b[i:k], a.zeros); z >= 2 {
			if a.start >= 0 {
				a.add(a.base + k - z)
			}
			a.start = a.base + k + 1
		}
		a.zeros = 0
		i = k + 1
	}
	a.base += len(b)
}

// end closes the stream and returns its units (valid until the next
// reset) and a *limit.LimitError if there were more than MaxUnitsPerAU.
func (a *annexB) end() ([]codec.Span, error) {
	if a.start >= 0 {
		a.add(a.base - a.zeros)
		a.start = -1
	}
	return a.units, a.err
}

// scanAnnexB scans pieces in one go and appends their units to dst (see
// annexB).
func scanAnnexB(pieces []piece, dst []codec.Span) ([]codec.Span, error) {
	a := annexB{start: -1, units: dst}
	for _, pc := range pieces {
		a.feed(pc.b)
	}
	return a.end()
}

// trailingZeros counts the zero bytes ending b, adding prev when b is all
// zeros (the run continues from before b).
func trailingZeros(b []byte, prev int) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == 0 {
		n++
	}
	if n == len(b) {
		n += prev
	}
	return n
}
