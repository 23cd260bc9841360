package rtpaac

import (
	"testing"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// stamps packetizes frames and returns each packet's RTP timestamp.
func stamps(t *testing.T, p *Packetizer, frames ...*host.Frame) []uint32 {
	t.Helper()
	var ts []uint32
	for _, f := range frames {
		if err := p.Packetize(f, func(pieces [][]byte) error {
			h, _, _, err := rtp.Parse(append([]byte(nil), pieces[0]...))
			if err != nil {
				return err
			}
			ts = append(ts, h.Timestamp)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

// TestPacketizerMillisecondPTSOnSampleGrid: AAC frames whose PTS come from
// FLV (1024 samples at 44.1 kHz rounded to 23 or 24 ms) are stamped exactly
// 1024 ticks apart; before the fix they stepped 1014/1015/1058/1059 ticks
// and GStreamer's rtpmp4gdepay, which takes the first step as the AU
// duration, saw AU indexes stand still ("non-interleaved broken AU
// indices") on half the steps. A step of more than half an AU is a real
// gap or overlap and follows the PTS; Slip pairs each timestamp with its
// time for the sender reports.
func TestPacketizerMillisecondPTSOnSampleGrid(t *testing.T) {
	const rate = 44100
	p := NewPacketizer(97, 9, rate, 1400)
	p.SetInitial(0, 1000)
	ms := func(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }
	var frames []*host.Frame
	for i := range 50 {
		// FLV's millisecond clock: frame i at floor(i*1024/44.1) ms.
		frames = append(frames, frame(ms(i*1024*1000/rate), au(20, byte(i))))
	}
	if got := p.Timestamp(time.Duration(frames[0].PTS)); got != 1000 {
		t.Fatalf("first timestamp %d, want 1000 (PTS 0)", got)
	}
	ts := stamps(t, p, frames...)
	for i := range ts {
		if ts[i] != 1000+uint32(i*SamplesPerAU) {
			t.Fatalf("AU %d stamped %d, want %d (steps %v)", i, ts[i], 1000+i*SamplesPerAU, ts[:i+1])
		}
	}
	// The sender-report pairing: the last timestamp's time is its frame's
	// PTS plus Slip, exact to the tick.
	last := time.Duration(frames[49].PTS) + p.Slip()
	if got := 1000 + uint32(rtp.DurationToTicks(last, rate)); got != ts[49] {
		t.Fatalf("PTS %v + slip %v maps to %d, stamped %d", time.Duration(frames[49].PTS), p.Slip(), got, ts[49])
	}

	// A 1 ms step (a looped file's audio overlapping its start) and a
	// 100 ms gap both leave the grid and follow the PTS.
	end := int64(frames[49].PTS)
	next := stamps(t, p, frame(end+ms(1), au(20, 1)), frame(end+ms(1)+ms(100), au(20, 2)), frame(end+ms(1)+ms(123), au(20, 3)))
	want0 := 1000 + uint32(rtp.DurationToTicks(time.Duration(end+ms(1)), rate))
	want1 := 1000 + uint32(rtp.DurationToTicks(time.Duration(end+ms(101)), rate))
	if next[0] != want0 || next[1] != want1 || next[2] != want1+SamplesPerAU {
		t.Fatalf("after a jump: %v, want [%d %d %d]", next, want0, want1, want1+SamplesPerAU)
	}
	if p.Slip() == 0 {
		t.Fatal("slip not reported for a gridded stamp")
	}

	// Two AUs in one frame: the second is one AU later, and the next
	// frame continues after both.
	q := NewPacketizer(97, 9, rate, 1400)
	two := frame(0, au(20, 1), au(20, 2))
	ts = stamps(t, q, two, frame(ms(46), au(20, 3)))
	if ts[0] != 0 || ts[1] != SamplesPerAU || ts[2] != 2*SamplesPerAU {
		t.Fatalf("two-AU frame then one: %v", ts)
	}
	if q.Slip() != rtp.TicksToDuration(2*SamplesPerAU-rtp.DurationToTicks(46*time.Millisecond, rate), rate) {
		t.Fatalf("slip %v", q.Slip())
	}
}
