package rtptest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/pool"
	"github.com/zcingest/zerocopy/rtsp/rtp"
)

// VideoCase is one table case of a video depacketizer: the packets pushed
// and what must come out.
type VideoCase struct {
	Pkts    [][]byte
	Want    [][][]byte // units per emitted AU
	Keys    []bool
	Dropped int64
	Skipped int64
	Bad     int64 // malformed
	Lost    int64
}

// CheckVideo pushes c's packets and checks the access units (units,
// keyframe flags, DTS <= PTS and increasing), the counters, and that the
// allocator balances.
func CheckVideo(t *testing.T, newDep NewDep, c VideoCase) {
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, err := newDep(a)
	if err != nil {
		t.Fatal(err)
	}
	col := &Collector{T: t, A: a}
	var malformed int64
	for _, p := range c.Pkts {
		if err := col.Push(d, p); err != nil {
			if !errors.Is(err, rtp.ErrMalformed) {
				t.Fatalf("push: %v", err)
			}
			malformed++
		}
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("allocator not balanced: %d in use", pool.InUse(a))
	}
	if len(col.AUs) != len(c.Want) {
		t.Fatalf("emitted %d AUs, want %d: %+v", len(col.AUs), len(c.Want), col.AUs)
	}
	for i, au := range col.AUs {
		if !EqualUnits(au.Units, c.Want[i]) || au.Key != c.Keys[i] {
			t.Fatalf("AU %d: %x key %v, want %x key %v", i, au.Units, au.Key, c.Want[i], c.Keys[i])
		}
		if au.DTS > au.PTS || (i > 0 && au.DTS <= col.AUs[i-1].DTS) {
			t.Fatalf("AU %d: dts %d pts %d", i, au.DTS, au.PTS)
		}
	}
	s := d.Stats()
	if s.Dropped != c.Dropped || s.Skipped != c.Skipped || s.Malformed != c.Bad || malformed != c.Bad || s.Lost != c.Lost {
		t.Fatalf("stats %+v (errors %d), want dropped %d skipped %d malformed %d lost %d", s, malformed, c.Dropped, c.Skipped, c.Bad, c.Lost)
	}
	if s.Packets != int64(len(c.Pkts)) || s.AccessUnits != int64(len(c.Want)) {
		t.Fatalf("stats %+v", s)
	}
}

// TimestampWrapPTS pushes four 30 fps keyframes (payload key) whose RTP
// timestamps wrap and checks that PTS runs on without a jump.
func TimestampWrapPTS(t *testing.T, newDep NewDep, key []byte) {
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := newDep(a)
	col := &Collector{T: t, A: a}
	ts := uint32(0xffffffff - 2999)
	for i := range 4 {
		col.Push(d, Packet(uint16(i), ts+uint32(i)*3000, true, key))
	}
	d.Close()
	for i, au := range col.AUs {
		if want := int64(i) * int64(time.Second) / 30; au.PTS != want {
			t.Fatalf("AU %d pts %v want %v", i, time.Duration(au.PTS), time.Duration(want))
		}
	}
	if !pool.Balanced(a) {
		t.Fatal("not balanced")
	}
}

// AccessUnitLimit pushes 1400-byte fragments of one NAL (the first
// starting with the fragmentation header start, the others with cont)
// until the access unit passes rtp.MaxAccessUnitSize: the push must fail
// as malformed, the unit be dropped once, and the allocator balance.
func AccessUnitLimit(t *testing.T, newDep NewDep, start, cont []byte) {
	a := pool.NewAllocator(1 << 20)
	defer pool.Recycle(a)
	d, _ := newDep(a)
	col := &Collector{T: t, A: a}
	frag := make([]byte, 1400)
	copy(frag, start)
	var err error
	for i := 0; err == nil && i < rtp.MaxAccessUnitSize/(len(frag)-len(start))+2; i++ {
		err = col.Push(d, Packet(uint16(i), 0, false, frag))
		copy(frag, cont)
	}
	if !errors.Is(err, rtp.ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
	d.Close()
	if !pool.Balanced(a) || d.Stats().Dropped != 1 {
		t.Fatalf("balanced %v stats %+v", pool.Balanced(a), d.Stats())
	}
}

// EmitErrorReturned checks that emit's error is returned from Push, also
// from the flush a timestamp change causes (which frees the new packet
// too); key is a keyframe payload.
func EmitErrorReturned(t *testing.T, newDep NewDep, key []byte) {
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	d, _ := newDep(a)
	boom := fmt.Errorf("boom")
	err := d.Push(Malloc(a, Packet(1, 0, true, key)), func(*rtp.AccessUnit) error { return boom })
	if err != boom {
		t.Fatalf("err = %v", err)
	}
	// a timestamp-change flush whose emit fails frees the new packet too
	d.Push(Malloc(a, Packet(2, 3000, false, key)), nil)
	if err := d.Push(Malloc(a, Packet(3, 6000, false, key)), func(*rtp.AccessUnit) error { return boom }); err != boom {
		t.Fatalf("err = %v", err)
	}
	d.Close()
	if !pool.Balanced(a) {
		t.Fatalf("not balanced: %d", pool.InUse(a))
	}
}
