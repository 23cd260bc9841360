package rtph265

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// runSplit pushes the case's packets, each split at offset k into two
// ranges Malloc'd apart (as a packet straddling two bufreader blocks
// arrives; k <= 0 or past the end: whole), and returns what came out.
func runSplit(t *testing.T, pkts []pk, k int) ([]gotAU, rtp.Stats) {
	t.Helper()
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, err := NewDepacketizer(a, 90000, WithReorderDepth(0))
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{t: t, a: a}
	for _, p := range pkts {
		b := p.bytes()
		var parts rtp.Parts
		if k <= 0 || k >= len(b) {
			m := malloc(a, b)
			col.track(m)
			parts = rtp.Parts{m}
		} else {
			m1, m2 := malloc(a, b[:k]), malloc(a, b[k:])
			col.track(m1)
			col.track(m2)
			parts = rtp.Parts{m1, m2}
		}
		if err := d.PushParts(parts, col.emit); err != nil && !errors.Is(err, rtp.ErrMalformed) {
			t.Fatalf("push: %v", err)
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("split at %d: allocator not balanced: %d in use", k, pool.InUse(a))
	}
	st := d.Stats()
	st.CopiedBytes = 0 // a split AU header section is copied (control data)
	return col.aus, st
}

// TestPushPartsEverySplit: every table case, with every packet split at
// every offset into two ranges, yields exactly the access units, times and
// counters of the whole packets, every payload byte inside a pushed range
// (no copy), and the allocator balanced.
func TestPushPartsEverySplit(t *testing.T) {
	for _, c := range depCases() {
		t.Run(c.name, func(t *testing.T) {
			want, wantStats := runSplit(t, c.pkts, 0)
			longest := 0
			for _, p := range c.pkts {
				longest = max(longest, len(p.bytes()))
			}
			for k := 1; k < longest; k++ {
				got, st := runSplit(t, c.pkts, k)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d: %+v, want %+v", k, got, want)
				}
				if st != wantStats {
					t.Fatalf("split at %d: stats %+v, want %+v", k, st, wantStats)
				}
			}
		})
	}
}

// FuzzDepacketizeSplit is FuzzDepacketize with every packet pushed in two
// ranges Malloc'd apart: the first input byte picks where each packet is
// split (as a fraction of its length). It must never panic, units must
// tile each access unit, and the allocator must balance.
func FuzzDepacketizeSplit(f *testing.F) {
	for _, c := range depCases() {
		var pkts [][]byte
		for _, p := range c.pkts {
			pkts = append(pkts, p.bytes())
		}
		for _, at := range []byte{1, 40, 128, 250} {
			f.Add(append([]byte{at}, encodeRecords(pkts)...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		at := int(data[0])
		data = data[1:]
		a := pool.NewAllocator(1 << 16)
		defer pool.Recycle(a)
		d, _ := NewDepacketizer(a, 90000)
		emit := func(au *rtp.AccessUnit) error {
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
			pool.FreeMemory(a, &au.Payload)
			return nil
		}
		for len(data) >= 2 {
			n := min(int(binary.BigEndian.Uint16(data)), len(data)-2)
			b := data[2 : 2+n]
			data = data[2+n:]
			k := n * at / 256
			var parts rtp.Parts
			for _, piece := range [][]byte{b[:k], b[k:]} {
				if len(piece) > 0 {
					m := pool.Malloc(a, len(piece))
					copy(m, piece)
					parts = append(parts, m)
				}
			}
			_ = d.PushParts(parts, emit)
		}
		d.Close()
		if !pool.Balanced(a) {
			t.Fatalf("not balanced: %d bytes in use", pool.InUse(a))
		}
	})
}
