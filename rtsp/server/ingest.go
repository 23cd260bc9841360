package server

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/rcvlowat"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// Ingest turns the RTP packets of a session's tracks into host frames:
// one depacketizer per track, each access unit moved into a frame without
// copying. All its methods run on the goroutine that owns alloc (a TCP
// connection's, or the shared UDP reader's). It is what both RECORD
// (this package) and a camera pull client (rtsp/client) need: they differ
// only in where packets come from.
type Ingest struct {
	alloc  *pool.Allocator
	pub    host.Publisher
	w      host.FrameWriter
	tracks []ingestTrack
	copied int64 // parameter sets copied into configs
	video  int64
	audio  int64
	rtcp   []byte // receiver report scratch
	rtcpIn rtp.RTCPPacket
	one    [1][]byte // WriteRTP's packet as Parts, without allocating
	// aligned: every served track's clock was anchored by a sender report
	// and shift holds what is added to each track's times to put all of
	// them on one timeline (see WriteRTCP).
	aligned bool
	anchors bool // a sender report arrived: align once every track started
	// batch, when set, is told of every access unit (its DTS and size),
	// from which the read batching of the connection the packets come
	// over follows the stream's bitrate.
	batch *rcvlowat.Batch
}

type ingestTrack struct {
	Track
	dep   rtp.Depacketizer
	emit  func(*rtp.AccessUnit) error
	rx    rxStats
	shift time.Duration // A/V alignment, fixed once learned
}

// IngestStats are an Ingest's counters.
type IngestStats struct {
	VideoFrames, AudioFrames int64
	Lost, Dropped, Malformed int64
	BytesCopied              int64
}

// NewIngest binds pub's frame writer to alloc, announces the tracks'
// configurations and builds a depacketizer per track. Tracks whose codec
// is not supported get no depacketizer: their packets are freed unread.
func NewIngest(alloc *pool.Allocator, pub host.Publisher, tracks []Track) (*Ingest, error) {
	in := &Ingest{alloc: alloc, pub: pub, tracks: make([]ingestTrack, len(tracks))}
	in.w = pub.Writer(alloc)
	for i := range tracks {
		t := &in.tracks[i]
		t.Track = tracks[i]
		switch t.Kind {
		case host.Video:
			if len(t.Video.SPS) > 0 {
				if err := pub.SetVideoConfig(t.Video.Clone()); err != nil {
					in.Close()
					return nil, err
				}
			}
			t.emit = func(au *rtp.AccessUnit) error { return in.emitVideo(t, au) }
		case host.Audio:
			if len(t.Audio.ASC) > 0 {
				if err := pub.SetAudioConfig(t.Audio.Clone()); err != nil {
					in.Close()
					return nil, err
				}
			}
			t.emit = func(au *rtp.AccessUnit) error { return in.emitAudio(t, au) }
		}
		dep, err := t.newDepacketizer(alloc)
		if err != nil {
			in.Close()
			return nil, err
		}
		t.dep = dep
	}
	return in, nil
}

// SetReadBatch makes every access unit emitted from now on touch b (nil:
// none), so the read batching of the TCP connection the packets arrive on
// learns the stream's bitrate from the units' own times (no clock read)
// and holds bytes back only while media flows. The caller starts and stops
// b; the Ingest never does.
func (in *Ingest) SetReadBatch(b *rcvlowat.Batch) {
	in.batch = b
}

// WriteRTP takes ownership of pkt, one RTP packet of track i Malloc'd from
// (or taken by a bufreader of) the Ingest's allocator. A malformed packet
// is counted and skipped; an error ends the publish.
func (in *Ingest) WriteRTP(i int, pkt []byte) error {
	in.one[0] = pkt
	err := in.WriteRTPParts(i, in.one[:])
	in.one[0] = nil
	return err
}

// WriteRTPParts is WriteRTP for a packet held in consecutive ranges (one
// that straddles two bufreader blocks, taken as is): it takes ownership
// of every range; the slice p is only read during the call. No byte is
// copied: the depacketizers read headers in place and keep each payload
// piece as its own range.
func (in *Ingest) WriteRTPParts(i int, p rtp.Parts) error {
	if i < 0 || i >= len(in.tracks) || in.tracks[i].dep == nil {
		p.FreeAll(in.alloc)
		return nil
	}
	t := &in.tracks[i]
	if p.Len() >= rtp.HeaderSize && p.At(0)>>6 == 2 {
		t.rx.update(p.Uint16(2), p.Uint32(8))
	}
	err := t.dep.PushParts(p, t.emit)
	if err != nil && errors.Is(err, rtp.ErrMalformed) {
		return nil // counted by the depacketizer
	}
	return err
}

// WriteRTCP reads one RTCP datagram (or interleaved frame) that arrived
// for track i (-1 when unknown), control data the caller keeps (it is
// neither retained nor freed here). Each sender report anchors the clock
// of the track whose RTP SSRC it names (else track i) to the sender's wall
// clock; once every served track is anchored, the tracks are put on one
// timeline: the track whose first packet is earliest on that clock keeps
// its times, the others are shifted forward by how much later their first
// packet was. The shift is fixed when first learned (senders report with
// their first packets), so times never step backward; drift after that is
// not followed. Malformed RTCP is ignored.
func (in *Ingest) WriteRTCP(i int, pkt []byte) {
	_ = rtp.ParseRTCP(pkt, &in.rtcpIn, func(p *rtp.RTCPPacket) error {
		if p.Type != rtp.RTCPSenderReport {
			return nil
		}
		k := i
		for j := range in.tracks {
			if r := &in.tracks[j].rx; r.started && r.ssrc == p.SSRC {
				k = j
			}
		}
		if k < 0 || k >= len(in.tracks) || in.tracks[k].dep == nil {
			return nil
		}
		if ck, ok := in.tracks[k].dep.(clocked); ok {
			ck.Clock().Anchor(p.Sender.NTPTime, p.Sender.RTPTime)
			in.anchors = true
		}
		return nil
	})
	in.align()
}

// alignPending aligns before a unit is emitted: a report that came before
// a track's first packet anchors its clock only when that packet arrives.
func (in *Ingest) alignPending() {
	if in.anchors && !in.aligned {
		in.align()
	}
}

// align computes the tracks' shifts once every served track is anchored.
func (in *Ingest) align() {
	if in.aligned {
		return
	}
	var starts [MaxTracks]time.Duration
	var earliest time.Duration
	n := 0
	for k := range in.tracks {
		t := &in.tracks[k]
		if t.dep == nil {
			continue
		}
		ck, ok := t.dep.(clocked)
		if !ok {
			return
		}
		start, ok := ck.Clock().Start()
		if !ok {
			return
		}
		starts[k] = start
		if n == 0 || start < earliest {
			earliest = start
		}
		n++
	}
	if n < 2 {
		return // nothing to align
	}
	for k := range in.tracks {
		if in.tracks[k].dep != nil {
			in.tracks[k].shift = starts[k] - earliest
		}
	}
	in.aligned = true
}

// Aligned reports whether sender reports put the tracks on one timeline,
// and the shift of each track.
func (in *Ingest) Aligned() (bool, []time.Duration) {
	shifts := make([]time.Duration, len(in.tracks))
	for k := range in.tracks {
		shifts[k] = in.tracks[k].shift
	}
	return in.aligned, shifts
}

func (in *Ingest) emitVideo(t *ingestTrack, au *rtp.AccessUnit) error {
	in.alignPending()
	if err := in.inBandConfig(t, au); err != nil {
		return err
	}
	f := in.w.Frame()
	host.MovePayload(f, &au.Payload)
	f.Units = append(f.Units[:0], au.Units...)
	f.Kind, f.Codec, f.Format = host.Video, t.Codec, host.FormatUnits
	f.PTS, f.DTS, f.Keyframe = au.PTS+t.shift, au.DTS+t.shift, au.Keyframe
	in.video++
	// DTS, not PTS: B-frames' presentation times go back and forth.
	in.batch.Touch(f.DTS, f.Payload.Size)
	return in.w.NextVideo()
}

func (in *Ingest) emitAudio(t *ingestTrack, au *rtp.AccessUnit) error {
	in.alignPending()
	f := in.w.Frame()
	host.MovePayload(f, &au.Payload)
	f.Units = append(f.Units[:0], au.Units...)
	f.Kind, f.Codec, f.Format = host.Audio, t.Codec, host.FormatUnits
	f.PTS, f.DTS, f.Keyframe = au.PTS+t.shift, au.DTS+t.shift, true
	in.audio++
	in.batch.Touch(f.DTS, f.Payload.Size)
	return in.w.NextAudio()
}

// inBandConfig updates the track's configuration from parameter sets
// carried in the access unit when they differ from what it has (SDP
// without sprop-parameter-sets, or an encoder that changed resolution).
// Parameter sets are control data: the few bytes are copied (counted)
// only when they changed.
func (in *Ingest) inBandConfig(t *ingestTrack, au *rtp.AccessUnit) error {
	if !au.Keyframe {
		return nil
	}
	changed := false
	cfg := &t.Video
	for _, u := range au.Units {
		if u.Len == 0 {
			continue
		}
		h := codec.ByteAt(&au.Payload, u.Off)
		var dst *[][]byte
		switch t.Codec {
		case codec.H264:
			switch codec.H264Type(h) {
			case codec.H264SPS:
				dst = &cfg.SPS
			case codec.H264PPS:
				dst = &cfg.PPS
			}
		case codec.H265:
			switch codec.H265Type(h) {
			case codec.H265VPS:
				dst = &cfg.VPS
			case codec.H265SPS:
				dst = &cfg.SPS
			case codec.H265PPS:
				dst = &cfg.PPS
			}
		}
		if dst == nil || u.Len > maxParamSet {
			continue
		}
		if len(*dst) == 1 && spanEqual(&au.Payload, u, (*dst)[0]) {
			continue
		}
		*dst = [][]byte{codec.AppendSpanBytes(nil, &au.Payload, u)}
		in.copied += int64(u.Len)
		changed = true
	}
	if !changed || len(cfg.SPS) == 0 || len(cfg.PPS) == 0 || (t.Codec == codec.H265 && len(cfg.VPS) == 0) {
		return nil
	}
	cfg.Codec = t.Codec
	cfg.SequenceHeader = nil
	if err := in.pub.SetVideoConfig(cfg.Clone()); err != nil {
		return fmt.Errorf("rtsp in-band parameter sets: %w", err)
	}
	return nil
}

// maxParamSet bounds an in-band parameter set we keep (real ones are tens
// of bytes; a larger "SPS" is not copied).
const maxParamSet = 1024

// spanEqual compares the bytes of s in m with b without copying them.
func spanEqual(m *gomem.Memory, s codec.Span, b []byte) bool {
	if s.Len != len(b) {
		return false
	}
	eq := true
	codec.RangeSpan(m, s, func(p []byte) bool {
		if !bytes.Equal(p, b[:len(p)]) {
			eq = false
			return false
		}
		b = b[len(p):]
		return true
	})
	return eq
}

// Reclaim frees the frames readers have handed back since the last write:
// the owning goroutine calls it when idle, since the writer reclaims only
// when it writes.
func (in *Ingest) Reclaim() {
	in.w.Frame()
	in.w.Drop()
}

// Stats sums the tracks' counters.
func (in *Ingest) Stats() IngestStats {
	st := IngestStats{VideoFrames: in.video, AudioFrames: in.audio, BytesCopied: in.copied}
	for i := range in.tracks {
		if d := in.tracks[i].dep; d != nil {
			ds := d.Stats()
			st.Lost += ds.Lost
			st.Dropped += ds.Dropped
			st.Malformed += ds.Malformed
			st.BytesCopied += ds.CopiedBytes
		}
	}
	return st
}

// Close frees what the depacketizers hold. It does not close the
// publisher.
func (in *Ingest) Close() {
	for i := range in.tracks {
		if d := in.tracks[i].dep; d != nil {
			d.Close()
			in.tracks[i].dep = nil
		}
	}
}
