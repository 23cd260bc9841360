package mpegts

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zcingest/zerocopy/limit"
)

// Stream types (ISO/IEC 13818-1 Table 2-34) the demuxer follows.
const (
	StreamTypeAAC  = 0x0F // ISO/IEC 13818-7 audio with ADTS transport syntax
	StreamTypeH264 = 0x1B
	StreamTypeH265 = 0x24
)

// Well-known PIDs.
const (
	pidPAT  = 0x0000
	pidNull = 0x1FFF
	// Elementary and PMT PIDs must lie in 0x0010..0x1FFE: the lower ones are
	// reserved (PAT, CAT, ...), 0x1FFF is the null packet.
	pidFirstUser = 0x0010
	pidLastUser  = 0x1FFE
)

var errSection = errors.New("mpegts: malformed section")

// crcTable is the MPEG-2 CRC-32 (polynomial 0x04C11DB7, MSB first, no
// reflection, no final xor), as PSI sections use it.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

func crc32MPEG(b []byte) uint32 {
	c := uint32(0xFFFFFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

// checkSection validates a whole long-form section (table_id through CRC)
// and returns its body between the 8-byte header and the CRC.
func checkSection(sec []byte, tableID byte) (body []byte, ext uint16, err error) {
	if len(sec) < 12 {
		return nil, 0, fmt.Errorf("%w: %d bytes", errSection, len(sec))
	}
	if sec[0] != tableID {
		return nil, 0, fmt.Errorf("%w: table_id %#x, want %#x", errSection, sec[0], tableID)
	}
	if sec[1]&0x80 == 0 {
		return nil, 0, fmt.Errorf("%w: section_syntax_indicator 0", errSection)
	}
	if crc32MPEG(sec) != 0 { // the CRC over data and CRC is 0
		return nil, 0, fmt.Errorf("%w: CRC mismatch", errSection)
	}
	if sec[5]&1 == 0 { // current_next_indicator: not yet applicable
		return nil, 0, nil
	}
	return sec[8 : len(sec)-4], binary.BigEndian.Uint16(sec[3:5]), nil
}

func validPID(p uint16) bool { return p >= pidFirstUser && p <= pidLastUser }

// pat is what the demuxer takes from a PAT.
type pat struct {
	program uint16
	pmtPID  uint16
	ignored int // other programs listed
}

func parsePAT(sec []byte) (p pat, ok bool, err error) {
	body, _, err := checkSection(sec, 0x00)
	if err != nil || body == nil {
		return p, false, err
	}
	if len(body)%4 != 0 {
		return p, false, fmt.Errorf("%w: PAT body of %d bytes", errSection, len(body))
	}
	n := len(body) / 4
	if n > MaxPrograms {
		return p, false, fmt.Errorf("mpegts PAT: %w", &limit.LimitError{Name: "MaxPrograms", Limit: MaxPrograms, Got: int64(n)})
	}
	for i := range n {
		e := body[i*4:]
		num := binary.BigEndian.Uint16(e)
		pid := binary.BigEndian.Uint16(e[2:]) & 0x1FFF
		if num == 0 { // network PID
			continue
		}
		if !ok && validPID(pid) {
			p.program, p.pmtPID, ok = num, pid, true
			continue
		}
		p.ignored++
	}
	return p, ok, nil
}

// esInfo is one elementary stream a PMT lists.
type esInfo struct {
	streamType byte
	pid        uint16
}

// pmt is what the demuxer takes from a PMT: the first video and audio
// stream it can follow.
type pmt struct {
	pcrPID       uint16
	video, audio esInfo // pid 0: none
	ignored      int
}

func parsePMT(sec []byte, program, pmtPID uint16) (m pmt, ok bool, err error) {
	body, num, err := checkSection(sec, 0x02)
	if err != nil || body == nil {
		return m, false, err
	}
	if num != program {
		return m, false, nil // another program's PMT sharing the PID
	}
	if len(body) < 4 {
		return m, false, fmt.Errorf("%w: PMT body of %d bytes", errSection, len(body))
	}
	m.pcrPID = binary.BigEndian.Uint16(body) & 0x1FFF
	pil := int(binary.BigEndian.Uint16(body[2:]) & 0x0FFF)
	if 4+pil > len(body) {
		return m, false, fmt.Errorf("%w: program_info_length %d past the section", errSection, pil)
	}
	es := body[4+pil:]
	count := 0
	for len(es) > 0 {
		if len(es) < 5 {
			return m, false, fmt.Errorf("%w: PMT entry cut short", errSection)
		}
		count++
		if count > MaxPMTStreams {
			return m, false, fmt.Errorf("mpegts PMT: %w", &limit.LimitError{Name: "MaxPMTStreams", Limit: MaxPMTStreams, Got: int64(count)})
		}
		st := es[0]
		pid := binary.BigEndian.Uint16(es[1:]) & 0x1FFF
		il := int(binary.BigEndian.Uint16(es[3:]) & 0x0FFF)
		if 5+il > len(es) {
			return m, false, fmt.Errorf("%w: ES_info_length %d past the section", errSection, il)
		}
		es = es[5+il:]
		// A stream on the PAT's or the PMT's own PID, or on a PID already
		// taken, would make the demuxer parse its tables as media (or
		// loop); such entries are ignored.
		usable := validPID(pid) && pid != pmtPID && pid != m.video.pid && pid != m.audio.pid
		switch {
		case usable && m.video.pid == 0 && (st == StreamTypeH264 || st == StreamTypeH265):
			m.video = esInfo{st, pid}
		case usable && m.audio.pid == 0 && st == StreamTypeAAC:
			m.audio = esInfo{st, pid}
		default:
			m.ignored++
		}
	}
	return m, true, nil
}

// appendSection appends a long-form section: header, body, CRC.
func appendSection(dst []byte, tableID byte, ext uint16, body []byte) []byte {
	start := len(dst)
	n := 5 + len(body) + 4 // after section_length: ext(2) ver(1) sec(1) last(1) body crc
	dst = append(dst, tableID, 0xB0|byte(n>>8), byte(n), byte(ext>>8), byte(ext), 0xC1, 0, 0)
	dst = append(dst, body...)
	c := crc32MPEG(dst[start:])
	return binary.BigEndian.AppendUint32(dst, c)
}
