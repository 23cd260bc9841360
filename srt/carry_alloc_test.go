//go:build !race && !zcdebug

// Allocation counts: the race detector and the zcdebug ledger allocate by
// themselves.

package srt

import (
	"testing"

	"github.com/datarhei/gosrt/packet"
)

// Steady state: feeding split packets allocates nothing on the Go heap.
func TestCarryNoAllocs(t *testing.T) {
	p := newTestPublisher()
	data := nullTS(35)
	pkts := make([]packet.Packet, 0, 8)
	for off := 0; off < len(data); off += 1000 {
		pkt := packet.NewPacket(nil)
		pkt.SetData(data[off:min(off+1000, len(data))])
		pkts = append(pkts, pkt)
	}
	run := func() {
		for _, pkt := range pkts {
			src := p.src.get(pkt)
			src.refs++ // keep pkt alive across runs: Decommission would recycle it
			if err := p.feed(pkt.Data(), src); err != nil {
				t.Fatal(err)
			}
			src.refs--
			p.src.put(src)
		}
	}
	run()
	if allocs := testing.AllocsPerRun(50, run); allocs != 0 {
		t.Fatalf("%v allocations per 35 split TS packets", allocs)
	}
	p.demux.Close()
}
