package server

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
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
}

type ingestTrack struct {
	Track
	dep  rtp.Depacketizer
	emit func(*rtp.AccessUnit) error
	rx   rxStats
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

// WriteRTP takes ownership of pkt, one RTP packet of track i Malloc'd from
// (or taken by a bufreader of) the Ingest's allocator. A malformed packet
// is counted and skipped; an error ends the publish.
func (in *Ingest) WriteRTP(i int, pkt []byte) error {
	if i < 0 || i >= len(in.tracks) || in.tracks[i].dep == nil {
		pool.Free(in.alloc, pkt)
		return nil
	}
	t := &in.tracks[i]
	if h, _, _, err := rtp.Parse(pkt); err == nil {
		t.rx.update(h)
	}
	err := t.dep.Push(pkt, t.emit)
	if err != nil && errors.Is(err, rtp.ErrMalformed) {
		return nil // counted by the depacketizer
	}
	return err
}

func (in *Ingest) emitVideo(t *ingestTrack, au *rtp.AccessUnit) error {
	if err := in.inBandConfig(t, au); err != nil {
		return err
	}
	f := in.w.Frame()
	host.MovePayload(f, &au.Payload)
	f.Units = append(f.Units[:0], au.Units...)
	f.Kind, f.Codec, f.Format = host.Video, t.Codec, host.FormatUnits
	f.PTS, f.DTS, f.Keyframe = au.PTS, au.DTS, au.Keyframe
	in.video++
	return in.w.NextVideo()
}

func (in *Ingest) emitAudio(t *ingestTrack, au *rtp.AccessUnit) error {
	f := in.w.Frame()
	host.MovePayload(f, &au.Payload)
	f.Units = append(f.Units[:0], au.Units...)
	f.Kind, f.Codec, f.Format = host.Audio, t.Codec, host.FormatUnits
	f.PTS, f.DTS, f.Keyframe = au.PTS, au.DTS, true
	in.audio++
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
