// The race detector and the zcdebug ledger both allocate on their own, so
// allocation counts are only meaningful without them.
//go:build !race && !zcdebug

package rtph264

import (
	"testing"

	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

func TestSteadyStateAllocatesNothing(t *testing.T) {
	frames := testFrames()
	p := NewPacketizer(96, 1, 90000, 300)
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := NewDepacketizer(a, 90000)
	emit := func(au *rtp.AccessUnit) error {
		pool.FreeMemory(a, &au.Payload)
		return nil
	}
	var pushErr error
	send := func(pieces [][]byte) error {
		n := 0
		for _, b := range pieces {
			n += len(b)
		}
		pkt := pool.Malloc(a, n)
		k := 0
		for _, b := range pieces {
			k += copy(pkt[k:], b)
		}
		if err := d.Push(pkt, emit); err != nil {
			pushErr = err
		}
		return nil
	}
	nop := func([][]byte) error { return nil }
	run := func() {
		for _, f := range frames {
			f.PTS += 160e6
			p.Packetize(f, send)
		}
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("packetize+depacketize: %v allocs per run", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		for _, f := range frames {
			p.Packetize(f, nop)
		}
	}); n != 0 {
		t.Errorf("packetize: %v allocs per run", n)
	}
	if pushErr != nil {
		t.Fatal(pushErr)
	}
	if s := d.Stats(); s.AccessUnits < 200 || s.Dropped+s.Malformed != 0 {
		t.Fatalf("stats %+v", s)
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatal("not balanced")
	}
}
