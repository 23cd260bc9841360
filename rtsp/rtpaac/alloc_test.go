// The race detector and the zcdebug ledger both allocate on their own, so
// allocation counts are only meaningful without them.
//go:build !race && !zcdebug

package rtpaac

import (
	"testing"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/internal/rtptest"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

func TestSteadyStateAllocatesNothing(t *testing.T) {
	frames := []*host.Frame{frame(0, a1), frame(0, au(900, 3)), frame(0, a2)}
	p := NewPacketizer(97, 1, 48000, 400)
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := NewDepacketizer(a, 48000)
	emit := rtptest.FreeAU(a)
	var pushErr error
	send := rtptest.SendTo(a, d, emit, &pushErr)
	// three AUs in one packet, too
	multi := pk{0, 0, true, hbr([]int{10, 20, 7}, a1, a2, a3)}.bytes()
	var seq uint16
	run := func() {
		for _, f := range frames {
			f.PTS += rtp.TicksToDuration(1024, 48000)
			p.Packetize(f, send)
		}
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("packetize+depacketize: %v allocs per run", n)
	}
	d2, _ := NewDepacketizer(a, 48000)
	if n := testing.AllocsPerRun(50, func() {
		seq++
		multi[2], multi[3] = byte(seq>>8), byte(seq)
		multi[4], multi[5], multi[6], multi[7] = 0, 0, byte(seq>>6), byte(seq<<2) // ts += 3*1024
		d2.Push(rtptest.Malloc(a, multi), emit)
	}); n != 0 {
		t.Errorf("multi-AU depacketize: %v allocs per run", n)
	}
	if pushErr != nil {
		t.Fatal(pushErr)
	}
	if s := d.Stats(); s.AccessUnits < 100 || s.Dropped+s.Malformed != 0 {
		t.Fatalf("stats %+v", s)
	}
	d.Close()
	d2.Close()
	if !pool.Balanced(a) {
		t.Fatal("not balanced")
	}
}
