package rtph265

import (
	"encoding/binary"
	"testing"

	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// encodeRecords joins packets as [2-byte length][packet] records, the
// fuzz input format.
func encodeRecords(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

func FuzzDepacketize(f *testing.F) {
	for _, c := range depCases() {
		var pkts [][]byte
		for _, p := range c.pkts {
			pkts = append(pkts, p.bytes())
		}
		f.Add(encodeRecords(pkts))
	}
	f.Add(encodeRecords(packetize(f, NewPacketizer(96, 1, 90000, 200), testFrames())))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := pool.NewAllocator(1 << 16)
		defer pool.Recycle(a)
		d, _ := NewDepacketizer(a, 90000)
		var prev rtp.AccessUnit
		first := true
		emit := func(au *rtp.AccessUnit) error {
			if au.DTS > au.PTS || (!first && au.DTS <= prev.DTS) {
				t.Fatalf("dts %v pts %v prev dts %v", au.DTS, au.PTS, prev.DTS)
			}
			end := 0
			for _, u := range au.Units {
				if u.Off != end || u.Len <= 0 {
					t.Fatalf("units %+v do not tile the payload", au.Units)
				}
				end = u.End()
			}
			if end != au.Payload.Size {
				t.Fatalf("units end at %d of %d", end, au.Payload.Size)
			}
			first, prev.DTS = false, au.DTS
			pool.FreeMemory(a, &au.Payload)
			return nil
		}
		for len(data) >= 2 {
			n := min(int(binary.BigEndian.Uint16(data)), len(data)-2)
			var pkt []byte // an empty packet stays nil: pool.Malloc(a, 0) leaves an empty live range in the zcdebug ledger
			if n > 0 {
				pkt = pool.Malloc(a, n)
				copy(pkt, data[2:2+n])
			}
			data = data[2+n:]
			_ = d.Push(pkt, emit)
		}
		d.Close()
		if !pool.Balanced(a) {
			t.Fatalf("not balanced: %d bytes in use", pool.InUse(a))
		}
	})
}
