package mpegts

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// The muxer's fixed layout: one program, its PMT on PID 0x1000, video on
// 0x100 and audio on 0x101 (as ffmpeg lays out its own output).
const (
	MuxProgram  = 1
	MuxPMTPID   = 0x1000
	MuxVideoPID = 0x100
	MuxAudioPID = 0x101

	// PacketsPerSend is the most TS packets one send call gets: 7 × 188 =
	// 1316 bytes, one SRT payload.
	PacketsPerSend = 7

	// PSIInterval is how often (by frame DTS) the PAT and PMT repeat, on
	// top of before every video keyframe, so a player joining mid-stream
	// finds them fast.
	PSIInterval = 100 * time.Millisecond

	// muxOffset is added to every timestamp so that PTS, DTS and the PCR
	// (which precedes them by pcrDelay) stay positive, as ffmpeg does.
	muxOffset = 126000 // 1.4 s
	pcrDelay  = 63000  // 0.7 s
)

// Start codes and access unit delimiters the muxer writes around the units.
// They are shared and read-only: send must not modify its pieces.
var (
	startCode = []byte{0, 0, 0, 1}
	audH264   = []byte{0, 0, 0, 1, 0x09, 0xF0}       // primary_pic_type 7: any slice type
	audH265   = []byte{0, 0, 0, 1, 0x46, 0x01, 0x50} // AUD, pic_type 2: any
)

// Muxer writes host frames as MPEG-TS for egress (SRT play). Headers (TS
// header, adaptation field and stuffing, PES header, start codes, AUD,
// ADTS headers, PAT/PMT) come from the muxer's own reused scratch; payload
// pieces are views of the frame's units. It is used on one goroutine and
// does not allocate in steady state.
type Muxer struct {
	vcfg   host.VideoConfig
	vcodec codec.Codec
	acodec codec.Codec
	asc    codec.AudioSpecificConfig
	ascErr error
	pcrPID uint16

	pat, pmt       [PacketSize]byte
	ccPAT, ccPMT   uint8
	ccVideo, ccAud uint8
	psiSent        bool
	lastPSI        time.Duration

	es    []byte   // PES header and ADTS headers of the frame being written
	pes   [][]byte // the PES byte stream: header, then start codes and units
	hdrs  [PacketsPerSend * PacketSize]byte
	out   [][]byte // pieces of the packets batched for send
	npkts int
}

// NewMuxer returns a muxer for one video and one audio track described by
// the configs; a config whose Codec is not H.264/H.265 (video) or AAC
// (audio) leaves that track out, and frames of it are skipped. The
// configs' parameter sets are inserted before keyframes that do not carry
// their own; the muxer keeps the slices (the caller must not modify them).
func NewMuxer(video host.VideoConfig, audio host.AudioConfig) *Muxer {
	m := &Muxer{es: make([]byte, 0, 64)}
	if video.Codec == codec.H264 || video.Codec == codec.H265 {
		m.vcodec, m.vcfg = video.Codec, video
	}
	if audio.Codec == codec.AAC {
		m.acodec = codec.AAC
		m.asc, m.ascErr = codec.ParseAudioSpecificConfig(audio.ASC)
	}
	m.pcrPID = MuxVideoPID
	if m.vcodec == codec.Unknown {
		m.pcrPID = MuxAudioPID
	}
	m.buildPSI()
	return m
}

func (m *Muxer) buildPSI() {
	sec := appendSection(nil, 0x00, 1, []byte{0, MuxProgram, 0xE0 | MuxPMTPID>>8, MuxPMTPID & 0xFF})
	psiPacket(&m.pat, pidPAT, sec)
	body := []byte{0xE0 | byte(m.pcrPID>>8), byte(m.pcrPID), 0xF0, 0}
	switch m.vcodec {
	case codec.H264:
		body = append(body, StreamTypeH264, 0xE0|MuxVideoPID>>8, MuxVideoPID&0xFF, 0xF0, 0)
	case codec.H265:
		body = append(body, StreamTypeH265, 0xE0|MuxVideoPID>>8, MuxVideoPID&0xFF, 0xF0, 0)
	}
	if m.acodec == codec.AAC {
		body = append(body, StreamTypeAAC, 0xE0|MuxAudioPID>>8, MuxAudioPID&0xFF, 0xF0, 0)
	}
	psiPacket(&m.pmt, MuxPMTPID, appendSection(nil, 0x02, MuxProgram, body))
}

func psiPacket(pkt *[PacketSize]byte, pid uint16, sec []byte) {
	b := append(pkt[:0], syncByte, 0x40|byte(pid>>8), byte(pid), 0x10, 0)
	b = append(b, sec...)
	for len(b) < PacketSize {
		b = append(b, 0xFF)
	}
}

// WriteFrame writes one frame (FormatUnits or FormatFLV: f.Units are the
// NAL units or the raw AAC frame in both) as whole TS packets, calling send
// with at most PacketsPerSend packets' pieces at a time. The pieces are
// valid only during send and must not be modified. Frames of a track the
// muxer was not configured with are skipped.
func (m *Muxer) WriteFrame(f *host.Frame, send func(pieces [][]byte) error) error {
	var pid uint16
	var cc *uint8
	switch {
	case f.Kind == host.Video && m.vcodec != codec.Unknown:
		if f.Codec != m.vcodec {
			return fmt.Errorf("mpegts mux: %v frame on a %v track", f.Codec, m.vcodec)
		}
		pid, cc = MuxVideoPID, &m.ccVideo
	case f.Kind == host.Audio && m.acodec != codec.Unknown:
		if f.Codec != m.acodec {
			return fmt.Errorf("mpegts mux: %v frame on a %v track", f.Codec, m.acodec)
		}
		if m.ascErr != nil {
			return fmt.Errorf("mpegts mux: AAC config: %w", m.ascErr)
		}
		pid, cc = MuxAudioPID, &m.ccAud
	default:
		return nil
	}
	for i, u := range f.Units {
		if u.Off < 0 || u.Len < 0 || u.End() > f.Payload.Size {
			return fmt.Errorf("mpegts mux: unit %d [%d,+%d) outside a %d-byte payload", i, u.Off, u.Len, f.Payload.Size)
		}
	}
	defer m.reset()
	key := f.Kind == host.Video && f.Keyframe
	if !m.psiSent || key || f.DTS-m.lastPSI >= PSIInterval || f.DTS < m.lastPSI {
		m.psiSent, m.lastPSI = true, f.DTS
		if err := m.addPSI(&m.pat, &m.ccPAT, send); err != nil {
			return err
		}
		if err := m.addPSI(&m.pmt, &m.ccPMT, send); err != nil {
			return err
		}
	}
	var err error
	if f.Kind == host.Video {
		err = m.videoPES(f)
	} else {
		err = m.audioPES(f)
	}
	if err != nil {
		return err
	}
	if err := m.packetize(pid, cc, f, key, send); err != nil {
		return err
	}
	return m.flush(send)
}

func (m *Muxer) reset() {
	clear(m.pes)
	m.pes = m.pes[:0]
	clear(m.out)
	m.out = m.out[:0]
	m.npkts = 0
}

func (m *Muxer) addPSI(pkt *[PacketSize]byte, cc *uint8, send func([][]byte) error) error {
	pkt[3] = pkt[3]&0xF0 | *cc&0x0F
	*cc++
	m.out = append(m.out, pkt[:])
	return m.packetDone(send)
}

func (m *Muxer) packetDone(send func([][]byte) error) error {
	m.npkts++
	if m.npkts == PacketsPerSend {
		return m.flush(send)
	}
	return nil
}

func (m *Muxer) flush(send func([][]byte) error) error {
	if m.npkts == 0 {
		return nil
	}
	err := send(m.out)
	clear(m.out)
	m.out = m.out[:0]
	m.npkts = 0
	return err
}

// appendPESHeader writes the PES header into m.es; esLen is the payload
// length for audio (video uses the unbounded length 0).
func (m *Muxer) appendPESHeader(f *host.Frame, sid byte, esLen int) {
	pts := (ticks(f.PTS) + muxOffset) & mask33
	dts := (ticks(f.DTS) + muxOffset) & mask33
	hdl := 5
	flags := byte(0x80)
	if pts != dts {
		hdl, flags = 10, 0xC0
	}
	n := 0
	if sid != 0xE0 {
		n = 3 + hdl + esLen
	}
	m.es = append(m.es, 0, 0, 1, sid, byte(n>>8), byte(n), 0x84, flags, byte(hdl))
	if hdl == 5 {
		m.es = appendTS(m.es, 0x2, pts)
	} else {
		m.es = appendTS(m.es, 0x3, pts)
		m.es = appendTS(m.es, 0x1, dts)
	}
}

func appendTS(b []byte, prefix byte, t int64) []byte {
	return append(b,
		prefix<<4|byte(t>>29)&0x0E|1,
		byte(t>>22),
		byte(t>>14)&0xFE|1,
		byte(t>>7),
		byte(t<<1)|1)
}

func (m *Muxer) videoPES(f *host.Frame) error {
	m.es = m.es[:0]
	m.appendPESHeader(f, 0xE0, 0)
	m.pes = append(m.pes, m.es)
	h265 := m.vcodec == codec.H265
	if h265 {
		m.pes = append(m.pes, audH265)
	} else {
		m.pes = append(m.pes, audH264)
	}
	if f.Keyframe {
		var haveVPS, haveSPS, havePPS bool
		for _, u := range f.Units {
			if u.Len == 0 {
				continue
			}
			h := codec.ByteAt(&f.Payload, u.Off)
			if h265 {
				switch codec.H265Type(h) {
				case codec.H265VPS:
					haveVPS = true
				case codec.H265SPS:
					haveSPS = true
				case codec.H265PPS:
					havePPS = true
				}
			} else {
				switch codec.H264Type(h) {
				case codec.H264SPS:
					haveSPS = true
				case codec.H264PPS:
					havePPS = true
				}
			}
		}
		if !haveSPS && !havePPS && !haveVPS {
			if h265 {
				m.appendSets(m.vcfg.VPS)
			}
			m.appendSets(m.vcfg.SPS)
			m.appendSets(m.vcfg.PPS)
		}
	}
	for _, u := range f.Units {
		if u.Len == 0 {
			continue
		}
		h := codec.ByteAt(&f.Payload, u.Off)
		if h265 && codec.H265Type(h) == codec.H265AUD || !h265 && codec.H264Type(h) == codec.H264AUD {
			continue // ours is already written
		}
		m.pes = append(m.pes, startCode)
		m.pes = codec.AppendSpan(m.pes, &f.Payload, u)
	}
	return nil
}

func (m *Muxer) appendSets(sets [][]byte) {
	for _, s := range sets {
		if len(s) > 0 {
			m.pes = append(m.pes, startCode, s)
		}
	}
}

func (m *Muxer) audioPES(f *host.Frame) error {
	n := 0
	for _, u := range f.Units {
		if u.Len > 0 {
			n += codec.ADTSHeaderSize + u.Len
		}
	}
	if need := 19 + codec.ADTSHeaderSize*len(f.Units); cap(m.es) < need {
		m.es = make([]byte, 0, 2*need)
	}
	m.es = m.es[:0]
	m.appendPESHeader(f, 0xC0, n)
	hl := len(m.es)
	if hl-6+n > 0xFFFF {
		return fmt.Errorf("mpegts mux: audio PES of %d bytes exceeds 65535", n)
	}
	m.pes = append(m.pes, m.es[:hl:hl])
	for _, u := range f.Units {
		if u.Len == 0 {
			continue
		}
		at := len(m.es)
		var err error
		if m.es, err = m.asc.AppendADTSHeader(m.es, u.Len); err != nil {
			return fmt.Errorf("mpegts mux: %w", err)
		}
		m.pes = append(m.pes, m.es[at:len(m.es):len(m.es)])
		m.pes = codec.AppendSpan(m.pes, &f.Payload, u)
	}
	return nil
}

// packetize cuts m.pes into TS packets on pid: the first with PUSI (and,
// on the PCR PID, a PCR), the last padded with adaptation-field stuffing.
func (m *Muxer) packetize(pid uint16, cc *uint8, f *host.Frame, key bool, send func([][]byte) error) error {
	total := 0
	for _, b := range m.pes {
		total += len(b)
	}
	idx, off := 0, 0
	for first := true; total > 0; first = false {
		slot := m.hdrs[m.npkts*PacketSize : m.npkts*PacketSize : (m.npkts+1)*PacketSize]
		pcr := first && pid == m.pcrPID
		af := 0 // adaptation field bytes, its length byte included
		if pcr {
			af = 8
		}
		n := min(total, PacketSize-4-af)
		if stuff := PacketSize - 4 - af - n; stuff > 0 {
			if af == 0 && stuff == 1 {
				af = 1
			} else if af == 0 {
				af = stuff
			} else {
				af += stuff
			}
		}
		afc := byte(0x10)
		if af > 0 {
			afc = 0x30
		}
		pusi := byte(0)
		if first {
			pusi = 0x40
		}
		b := append(slot, syncByte, pusi|byte(pid>>8), byte(pid), afc|*cc&0x0F)
		*cc++
		if af > 0 {
			b = append(b, byte(af-1))
			if af > 1 {
				flags := byte(0)
				if pcr {
					flags |= 0x10
					if key {
						flags |= 0x40 // random_access_indicator
					}
				}
				b = append(b, flags)
				if pcr {
					base := (ticks(f.DTS) + muxOffset - pcrDelay) & mask33
					b = append(b, byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1), byte(base<<7)|0x7E, 0)
				}
				for len(b) < 4+af {
					b = append(b, 0xFF)
				}
			}
		}
		m.out = append(m.out, b)
		total -= n
		for n > 0 {
			p := m.pes[idx][off:]
			k := min(n, len(p))
			m.out = append(m.out, p[:k:k])
			n -= k
			off += k
			if off == len(m.pes[idx]) {
				idx, off = idx+1, 0
			}
		}
		if err := m.packetDone(send); err != nil {
			return err
		}
	}
	return nil
}
