package mpegts

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/limit"
)

const frameTicks = 3600 // 40 ms

// synStream muxes n video frames (a keyframe every 10) and as many audio
// frames, starting at tick t0 and stepping by step ticks (jump, if set,
// is added from frame jumpAt on).
func synStream(t testing.TB, n int, t0, jumpAt, jump int64) []byte {
	m := NewMuxer(host.VideoConfig{Codec: codec.H264, SPS: [][]byte{synSPS}, PPS: [][]byte{synPPS}},
		host.AudioConfig{Codec: codec.AAC, ASC: synASC})
	var frames []*host.Frame
	for i := range n {
		ts := t0 + int64(i)*frameTicks
		if jumpAt > 0 && i >= int(jumpAt) {
			ts += jump
		}
		key := i%10 == 0
		frames = append(frames,
			unitsFrame(host.Video, codec.H264, key, ts, ts, synSlice(key, 1500+i*37, byte(i))),
			unitsFrame(host.Audio, codec.AAC, true, ts, ts, bytes.Repeat([]byte{0x21 + byte(i)}, 200)))
	}
	return muxAll(t, m, frames)
}

func packets(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i+PacketSize <= len(b); i += PacketSize {
		out = append(out, append([]byte(nil), b[i:i+PacketSize]...))
	}
	return out
}

func join(pkts [][]byte) []byte { return bytes.Join(pkts, nil) }

func pidOf(p []byte) uint16 { return uint16(p[1]&0x1F)<<8 | uint16(p[2]) }
func pusiOf(p []byte) bool  { return p[1]&0x40 != 0 }
func payloadOf(p []byte) []byte {
	if p[3]&0x20 != 0 {
		return p[5+int(p[4]):]
	}
	return p[4:]
}

func kinds(aus []gotAU, k host.Kind) []gotAU {
	var out []gotAU
	for _, au := range aus {
		if au.kind == k {
			out = append(out, au)
		}
	}
	return out
}

// run demuxes data with opts and checks no panic and balanced sources.
func run(t *testing.T, data []byte, opts Options) (*collector, Stats, []error) {
	t.Helper()
	d := NewDemuxer(opts)
	var l ledger
	var c collector
	errs := feed(t, d, data, &l, c.emit)
	c.releaseAll()
	d.Close()
	if err := l.balanced(); err != nil {
		t.Fatal(err)
	}
	return &c, d.Stats(), errs
}

func TestHostileCCGap(t *testing.T) {
	pk := packets(synStream(t, 30, 0, 0, 0))
	// Lose the 3rd packet of video frame 13's PES.
	var lost int
	seen := 0
	for i, p := range pk {
		if pidOf(p) == MuxVideoPID && pusiOf(p) {
			seen++
		}
		if seen == 14 && pidOf(p) == MuxVideoPID && !pusiOf(p) {
			lost = i
			break
		}
	}
	pk = append(pk[:lost], pk[lost+1:]...)
	c, st, errs := run(t, join(pk), Options{})
	if len(errs) != 0 || st.CCGaps != 1 {
		t.Fatalf("errs %v stats %+v", errs, st)
	}
	vid := kinds(c.aus, host.Video)
	// Frame 13 is broken; 14..19 wait for the keyframe at 20.
	if len(vid) != 30-7 || st.DroppedAUs != 7 {
		t.Fatalf("%d video AUs, stats %+v", len(vid), st)
	}
	for i, au := range vid {
		if i == 13 && (!au.key || au.dts != duration(20*frameTicks)+700*time.Millisecond) {
			t.Fatalf("video resumes with %+v", au.dts)
		}
	}
	if a := kinds(c.aus, host.Audio); len(a) != 30 {
		t.Fatalf("audio AUs %d", len(a))
	}
}

func TestHostileDuplicatePacket(t *testing.T) {
	pk := packets(synStream(t, 5, 0, 0, 0))
	for i, p := range pk {
		if pidOf(p) == MuxVideoPID && !pusiOf(p) {
			pk = append(pk[:i+1], pk[i:]...) // the standard allows one duplicate
			break
		}
	}
	c, st, _ := run(t, join(pk), Options{})
	if st.CCGaps != 0 || len(kinds(c.aus, host.Video)) != 5 {
		t.Fatalf("stats %+v", st)
	}
}

// setPESLength rewrites PES_packet_length of every PES on pid.
func setPESLength(pk [][]byte, pid uint16, n int) {
	for _, p := range pk {
		if pidOf(p) == pid && pusiOf(p) {
			pl := payloadOf(p)
			pl[4], pl[5] = byte(n>>8), byte(n)
		}
	}
}

func TestHostilePESLength(t *testing.T) {
	base := synStream(t, 12, 0, 0, 0)
	t.Run("audio length 0", func(t *testing.T) {
		pk := packets(base)
		setPESLength(pk, MuxAudioPID, 0)
		c, st, _ := run(t, join(pk), Options{})
		if len(kinds(c.aus, host.Audio)) != 12 || st.Malformed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("audio longer than the stream", func(t *testing.T) {
		pk := packets(base)
		setPESLength(pk, MuxAudioPID, 0xFFFF)
		c, _, _ := run(t, join(pk), Options{})
		if len(kinds(c.aus, host.Audio)) != 12 { // ADTS frames delimit themselves
			t.Fatalf("audio AUs %d", len(kinds(c.aus, host.Audio)))
		}
	})
	t.Run("video longer than the stream", func(t *testing.T) {
		pk := packets(base)
		setPESLength(pk, MuxVideoPID, 0xFFFF)
		c, st, _ := run(t, join(pk), Options{})
		if len(kinds(c.aus, host.Video)) != 0 || st.DroppedAUs != 12 {
			t.Fatalf("video AUs %d, stats %+v", len(kinds(c.aus, host.Video)), st)
		}
	})
	t.Run("length 0 past MaxPESSize", func(t *testing.T) {
		_, st, errs := run(t, base, Options{MaxPESSize: 1000})
		var le *limit.LimitError
		if len(errs) == 0 || !errors.As(errs[0], &le) || le.Name != "MaxPESSize" || st.DroppedAUs != 12 {
			t.Fatalf("errs %v stats %+v", errs, st)
		}
	})
}

// psiPkt builds a PSI packet for a section.
func psiPkt(pid uint16, sec []byte) []byte {
	var p [PacketSize]byte
	psiPacket(&p, pid, sec)
	return p[:]
}

// replacePSI replaces every PAT and PMT packet (nil: keep the muxer's).
func replacePSI(pk [][]byte, pat, pmt []byte) [][]byte {
	var out [][]byte
	for _, p := range pk {
		switch pidOf(p) {
		case pidPAT:
			if pat != nil {
				p = pat
			}
			out = append(out, p)
		case MuxPMTPID:
			if pmt != nil {
				p = pmt
			}
			out = append(out, p)
		default:
			out = append(out, p)
		}
	}
	return out
}

func patSec(entries ...uint16) []byte { // program, pid pairs
	var body []byte
	for i := 0; i+1 < len(entries); i += 2 {
		body = append(body, byte(entries[i]>>8), byte(entries[i]), 0xE0|byte(entries[i+1]>>8), byte(entries[i+1]))
	}
	return appendSection(nil, 0, 1, body)
}

func pmtSec(program, pcr uint16, es ...uint16) []byte { // type, pid pairs
	body := []byte{0xE0 | byte(pcr>>8), byte(pcr), 0xF0, 0}
	for i := 0; i+1 < len(es); i += 2 {
		body = append(body, byte(es[i]), 0xE0|byte(es[i+1]>>8), byte(es[i+1]), 0xF0, 0)
	}
	return appendSection(nil, 2, program, body)
}

func TestHostilePSI(t *testing.T) {
	base := packets(synStream(t, 12, 0, 0, 0))
	for _, tc := range []struct {
		name         string
		pat, pmt     []byte
		video, audio int
		ignP, ignS   int
		pmtPID       uint16
	}{
		{"PAT points the PMT at the PAT", psiPkt(0, patSec(1, 0)), nil, 0, 0, 0, 0, 0},
		{"PAT points the PMT at the null PID", psiPkt(0, patSec(1, 0x1FFF)), nil, 0, 0, 0, 0, 0},
		{"PMT lists itself and the PAT", nil, psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxPMTPID, StreamTypeAAC, 0)), 0, 0, 0, 2, MuxPMTPID},
		{"PMT lists one PID twice", nil, psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxVideoPID, StreamTypeAAC, MuxVideoPID)), 12, 0, 0, 1, MuxPMTPID},
		{"two programs, two audio streams", psiPkt(0, patSec(0, 0x10, 1, MuxPMTPID, 2, 0x1001)),
			psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxVideoPID, StreamTypeAAC, MuxAudioPID, StreamTypeAAC, 0x102, 0x06, 0x103)), 12, 12, 1, 2, MuxPMTPID},
		{"PMT of another program", nil, psiPkt(MuxPMTPID, pmtSec(7, MuxVideoPID, StreamTypeH264, MuxVideoPID)), 0, 0, 0, 0, MuxPMTPID},
		{"bad CRC", nil, func() []byte {
			p := psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxVideoPID))
			p[20] ^= 1
			return p
		}(), 0, 0, 0, 0, MuxPMTPID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st, errs := run(t, join(replacePSI(base, tc.pat, tc.pmt)), Options{})
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			if v, a := len(kinds(c.aus, host.Video)), len(kinds(c.aus, host.Audio)); v != tc.video || a != tc.audio ||
				st.IgnoredPrograms != tc.ignP || st.IgnoredStreams != tc.ignS {
				t.Fatalf("video %d audio %d stats %+v", v, a, st)
			}
		})
	}
}

func TestHostileSectionSpanningPackets(t *testing.T) {
	// A PMT with long descriptors spread over three packets, then a PMT
	// claiming more than MaxSectionSize.
	body := []byte{0xE0 | MuxVideoPID>>8, MuxVideoPID & 0xFF, 0xF0 | 0x01, 0xF4}
	body = append(body, bytes.Repeat([]byte{0x05, 0x02, 'a', 'b'}, 125)...) // 500 bytes of program descriptors
	body = append(body, StreamTypeH264, 0xE0|MuxVideoPID>>8, MuxVideoPID&0xFF, 0xF0, 0)
	sec := appendSection(nil, 2, 1, body)
	stream := append([]byte{0}, sec...)
	var pmts [][]byte
	for i := 0; len(stream) > 0; i++ {
		p := make([]byte, PacketSize)
		p[0], p[1], p[2], p[3] = syncByte, MuxPMTPID>>8, MuxPMTPID&0xFF, 0x10|byte(i)
		if i == 0 {
			p[1] |= 0x40
		}
		n := copy(p[4:], stream)
		for j := 4 + n; j < PacketSize; j++ {
			p[j] = 0xFF
		}
		stream = stream[n:]
		pmts = append(pmts, p)
	}
	base := packets(synStream(t, 12, 0, 0, 0))
	var pk [][]byte
	for _, p := range base {
		if pidOf(p) == MuxPMTPID {
			continue
		}
		pk = append(pk, p)
		if pidOf(p) == pidPAT && len(pk) < 3 {
			pk = append(pk, pmts...)
		}
	}
	c, st, _ := run(t, join(pk), Options{})
	if len(kinds(c.aus, host.Video)) != 12 || len(kinds(c.aus, host.Audio)) != 0 || st.BytesCopied == 0 {
		t.Fatalf("%d AUs, stats %+v", len(c.aus), st)
	}

	huge := psiPkt(MuxPMTPID, nil)
	copy(huge[5:], []byte{2, 0xBF, 0xFF}) // section_length 4095
	_, _, errs := run(t, join(replacePSI(base, nil, huge)), Options{})
	var le *limit.LimitError
	if len(errs) == 0 || !errors.As(errs[0], &le) || le.Name != "MaxSectionSize" {
		t.Fatalf("errs %v", errs)
	}
}

func TestHostileAdaptationFieldTooLong(t *testing.T) {
	pk := packets(synStream(t, 12, 0, 0, 0))
	for _, afl := range []byte{183, 184, 200, 255} {
		cp := append([][]byte(nil), pk...)
		for i, p := range cp {
			if pidOf(p) == MuxVideoPID && !pusiOf(p) {
				q := append([]byte(nil), p...)
				q[3] = q[3]&0xCF | 0x30
				q[4] = afl
				cp[i] = q
				break
			}
		}
		c, st, _ := run(t, join(cp), Options{})
		if st.Malformed != 1 || st.CCGaps != 1 || len(kinds(c.aus, host.Video)) != 2 {
			t.Fatalf("afl %d: stats %+v, %d video", afl, st, len(kinds(c.aus, host.Video)))
		}
	}
}

func TestResync(t *testing.T) {
	good := synStream(t, 3, 0, 0, 0)
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"aligned", good, 0},
		{"offset 5", append([]byte{1, 2, 3, 4, 5}, good...), 5},
		{"false sync first", append([]byte{0x47, 0, 0x47, 9}, good...), 4},
		{"no sync", bytes.Repeat([]byte{0x11}, 1000), -1},
		{"empty", nil, -1},
	} {
		if got := Resync(tc.b); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestHostileMisalignment(t *testing.T) {
	base := synStream(t, 30, 0, 0, 0)
	// Garbage (with stray sync bytes) spliced in twice, and a packet cut short.
	cut := 50 * PacketSize
	data := append([]byte(nil), base[:cut]...)
	data = append(data, 0x47, 1, 2, 0x47, 0x47)
	data = append(data, base[cut:cut+100]...) // a truncated packet
	data = append(data, base[cut+PacketSize:2*cut]...)
	data = append(data, bytes.Repeat([]byte{0x47, 0}, 150)...)
	data = append(data, base[2*cut:]...)
	c, st, errs := run(t, data, Options{})
	if len(errs) != 0 || len(c.aus) == 0 || st.CCGaps == 0 {
		t.Fatalf("errs %v stats %+v", errs, st)
	}
	if len(kinds(c.aus, host.Video)) < 10 {
		t.Fatalf("only %d video AUs after resync", len(kinds(c.aus, host.Video)))
	}
}

func TestTimestamps(t *testing.T) {
	const wrap = int64(1) << 33
	for _, tc := range []struct {
		name         string
		t0, at, jump int64
		discont      int64
	}{
		{"33-bit wrap", wrap - muxOffset - 10*frameTicks, 0, 0, 0},
		{"jump forward an hour", 0, 15, 3600 * 90000, 1},
		{"jump back 10 s", 20 * 90000, 15, -10 * 90000, 1},
		{"2 s jump: a PCR step beyond MaxPCRStep", 0, 15, 2 * 90000, 1},
		{"0.5 s jump kept", 0, 15, 45000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st, _ := run(t, synStream(t, 30, tc.t0, tc.at, tc.jump), Options{})
			if st.Discontinuities != tc.discont {
				t.Fatalf("stats %+v", st)
			}
			for _, k := range []host.Kind{host.Video, host.Audio} {
				aus := kinds(c.aus, k)
				if len(aus) != 30 {
					t.Fatalf("%v: %d AUs", k, len(aus))
				}
				for i := 1; i < len(aus); i++ {
					step := aus[i].dts - aus[i-1].dts
					maxStep := 41 * time.Millisecond
					if tc.discont == 0 && i == int(tc.at) && tc.at > 0 {
						maxStep = duration(tc.jump) + maxStep
					}
					if step < 0 || step > maxStep {
						t.Fatalf("%v AU %d: step %v", k, i, step)
					}
				}
			}
		})
	}
}

func TestDiscontinuityIndicator(t *testing.T) {
	// A 2 s jump (below MaxTimestampJump) flagged by discontinuity_indicator rebases.
	pk := packets(synStream(t, 30, 0, 15, 2*90000))
	seen := 0
	for _, p := range pk {
		if pidOf(p) == MuxVideoPID && pusiOf(p) {
			if seen++; seen == 16 && p[3]&0x20 != 0 && p[4] > 0 {
				p[5] |= 0x80
			}
		}
	}
	c, st, _ := run(t, join(pk), Options{})
	if st.Discontinuities != 1 {
		t.Fatalf("stats %+v", st)
	}
	vid := kinds(c.aus, host.Video)
	if step := vid[15].dts - vid[14].dts; step > 41*time.Millisecond || step < 0 {
		t.Fatalf("step at the flagged jump %v", step)
	}
}
