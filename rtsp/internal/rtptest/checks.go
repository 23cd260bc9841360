package rtptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// NewDep builds the depacketizer under test over a.
type NewDep func(a *pool.Allocator) (rtp.Depacketizer, error)

// RunSplit pushes pkts, each split at offset k into two ranges Malloc'd
// apart (as a packet straddling two bufreader blocks arrives; k <= 0 or
// past the end: whole), and returns what came out.
func RunSplit(t *testing.T, newDep NewDep, pkts [][]byte, k int) ([]GotAU, rtp.Stats) {
	t.Helper()
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, err := newDep(a)
	if err != nil {
		t.Fatal(err)
	}
	col := &Collector{T: t, A: a}
	for _, p := range pkts {
		b := p
		var parts rtp.Parts
		if k <= 0 || k >= len(b) {
			m := Malloc(a, b)
			col.Track(m)
			parts = rtp.Parts{m}
		} else {
			m1, m2 := Malloc(a, b[:k]), Malloc(a, b[k:])
			col.Track(m1)
			col.Track(m2)
			parts = rtp.Parts{m1, m2}
		}
		if err := d.PushParts(parts, col.Emit); err != nil && !errors.Is(err, rtp.ErrMalformed) {
			t.Fatalf("push: %v", err)
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("split at %d: allocator not balanced: %d in use", k, pool.InUse(a))
	}
	st := d.Stats()
	st.CopiedBytes = 0 // a split AU header section is copied (control data)
	return col.AUs, st
}

// EverySplit checks one table case with every packet split at every
// offset into two ranges: exactly the access units, times and counters of
// the whole packets, every payload byte inside a pushed range (no copy),
// and the allocator balanced.
func EverySplit(t *testing.T, newDep NewDep, pkts [][]byte) {
	want, wantStats := RunSplit(t, newDep, pkts, 0)
	longest := 0
	for _, p := range pkts {
		longest = max(longest, len(p))
	}
	for k := 1; k < longest; k++ {
		got, st := RunSplit(t, newDep, pkts, k)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: %+v, want %+v", k, got, want)
		}
		if st != wantStats {
			t.Fatalf("split at %d: stats %+v, want %+v", k, st, wantStats)
		}
	}
}

// CheckTiles fails t unless au's units tile its payload.
func CheckTiles(t *testing.T, au *rtp.AccessUnit) {
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
}

// VideoChecker returns a per-input check for video access units: DTS <=
// PTS, DTS strictly increasing, units tiling the payload.
func VideoChecker(t *testing.T) func(*rtp.AccessUnit) {
	var prev rtp.AccessUnit
	first := true
	return func(au *rtp.AccessUnit) {
		if au.DTS > au.PTS || (!first && au.DTS <= prev.DTS) {
			t.Fatalf("dts %v pts %v prev dts %v", au.DTS, au.PTS, prev.DTS)
		}
		CheckTiles(t, au)
		first, prev.DTS = false, au.DTS
	}
}

// FuzzPush is the body of a FuzzDepacketize target: data is records of
// whole packets (EncodeRecords), each Malloc'd and pushed; check sees
// every access unit (newCheck is called once per input). It must never
// panic and the allocator must balance.
func FuzzPush(f *testing.F, newDep NewDep, newCheck func(t *testing.T) func(*rtp.AccessUnit)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a := pool.NewAllocator(1 << 16)
		defer pool.Recycle(a)
		d, _ := newDep(a)
		check := newCheck(t)
		emit := func(au *rtp.AccessUnit) error {
			check(au)
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

// FuzzSplit is a FuzzDepacketizeSplit target: FuzzPush with every packet
// pushed in two ranges Malloc'd apart; the first input byte picks where
// each packet is split (as a fraction of its length). Seeds are the table
// cases, each at several split points. It must never panic, units must
// tile each access unit, and the allocator must balance.
func FuzzSplit(f *testing.F, newDep NewDep, seeds [][][]byte) {
	for _, pkts := range seeds {
		for _, at := range []byte{1, 40, 128, 250} {
			f.Add(append([]byte{at}, EncodeRecords(pkts)...))
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
		d, _ := newDep(a)
		emit := func(au *rtp.AccessUnit) error {
			CheckTiles(t, au)
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

// Packetize runs p over frames and returns each packet's bytes joined.
func Packetize(t testing.TB, p rtp.Packetizer, frames []*host.Frame) [][]byte {
	var out [][]byte
	for _, f := range frames {
		err := p.Packetize(f, func(pieces [][]byte) error {
			out = append(out, bytes.Join(pieces, nil))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// FreeAU returns an emit func that frees the access unit's payload into a,
// as a frame would.
func FreeAU(a *pool.Allocator) func(*rtp.AccessUnit) error {
	return func(au *rtp.AccessUnit) error {
		pool.FreeMemory(a, &au.Payload)
		return nil
	}
}

// SendTo returns a packetizer's send func that joins the pieces into one
// packet Malloc'd from a and pushes it into d with emit, as a loopback
// peer would; the last Push error is stored in *pushErr.
func SendTo(a *pool.Allocator, d rtp.Depacketizer, emit func(*rtp.AccessUnit) error, pushErr *error) func([][]byte) error {
	return func(pieces [][]byte) error {
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
			*pushErr = err
		}
		return nil
	}
}

// VideoSteadyState checks that packetizing frames with p (shifted by step
// per run) and depacketizing them allocates nothing once warm, and that
// packetizing alone allocates nothing. Run it only without -race and
// zcdebug, which allocate on their own.
func VideoSteadyState(t *testing.T, p rtp.Packetizer, newDep NewDep, frames []*host.Frame, step time.Duration) {
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := newDep(a)
	var pushErr error
	send := SendTo(a, d, FreeAU(a), &pushErr)
	nop := func([][]byte) error { return nil }
	run := func() {
		for _, f := range frames {
			f.PTS += step
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

// SeqPacketizer is a packetizer whose initial sequence number and
// timestamp can be set.
type SeqPacketizer interface {
	rtp.Packetizer
	SetInitial(seq uint16, ts uint32)
	NextSequence() uint16
}

// RoundTrip packetizes frames with p (payload type 96, SSRC 0x1234, at
// most mtu bytes a packet; sequence and timestamp wrap inside the run),
// checks the packets' headers and markers, depacketizes them and checks
// that exactly the frames' units and PTS come back, the first frame alone
// a keyframe, with headers freed and nothing dropped.
func RoundTrip(t *testing.T, p SeqPacketizer, mtu int, newDep NewDep, frames []*host.Frame) {
	p.SetInitial(65530, 0xfffff000) // sequence and timestamp wrap inside the run
	pkts := Packetize(t, p, frames)
	if p.NextSequence() != uint16(65530+len(pkts)) {
		t.Fatalf("sequence %d after %d packets", p.NextSequence(), len(pkts))
	}
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := newDep(a)
	col := &Collector{T: t, A: a}
	var lastTS uint32
	for i, b := range pkts {
		if len(b) > mtu {
			t.Fatalf("packet %d is %d bytes", i, len(b))
		}
		h, _, _, err := rtp.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.SSRC != 0x1234 || h.PayloadType != 96 {
			t.Fatalf("header %+v", h)
		}
		if i > 0 && h.Timestamp != lastTS && !lastMarker(pkts[i-1]) {
			t.Fatalf("packet %d: timestamp changed without a marker", i)
		}
		lastTS = h.Timestamp
		if err := col.Push(d, b); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("not balanced: %d", pool.InUse(a))
	}
	if len(col.AUs) != len(frames) {
		t.Fatalf("%d AUs for %d frames", len(col.AUs), len(frames))
	}
	for i, f := range frames {
		var want [][]byte
		for _, u := range f.Units {
			want = append(want, codec.AppendSpanBytes(nil, &f.Payload, u))
		}
		if !EqualUnits(col.AUs[i].Units, want) {
			t.Fatalf("frame %d units differ", i)
		}
		if col.AUs[i].PTS != int64(f.PTS) || col.AUs[i].Key != (i == 0) {
			t.Fatalf("frame %d: pts %d key %v", i, col.AUs[i].PTS, col.AUs[i].Key)
		}
	}
	if s := d.Stats(); s.HeaderBytes == 0 || s.Dropped+s.Skipped+s.Malformed+s.Lost != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func lastMarker(b []byte) bool { return b[1]&0x80 != 0 }

// PacketizeViews checks, with a new packetizer per frame, that every
// payload piece send gets is a view of
// the frame's own buffers, never a copy; only the first piece (the
// headers) is the packetizer's.
func PacketizeViews(t *testing.T, newP func() rtp.Packetizer, frames []*host.Frame) {
	for _, f := range frames {
		c := &Collector{T: t}
		for _, b := range f.Payload.Buffers {
			c.Track(b)
		}
		hdr := -1
		err := newP().Packetize(f, func(pieces [][]byte) error {
			if hdr == -1 {
				hdr = len(pieces[0])
			}
			if c.Inside(pieces[0]) {
				t.Fatal("header piece aliases the frame")
			}
			for _, b := range pieces[1:] {
				if !c.Inside(b) {
					t.Fatal("payload piece is not a view of the frame")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
