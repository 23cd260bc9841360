package srt

import (
	"strings"
	"testing"

	"github.com/datarhei/gosrt/packet"
)

// A packet held by the read loop and two access units is decommissioned
// by the last Release, and its wrapper is reused without allocating.
func TestSourcePoolRefCount(t *testing.T) {
	var sp sourcePool
	p := packet.NewPacket(nil)
	p.SetData(make([]byte, 1316))
	s := sp.get(p)
	s.Retain()  // AU 1
	s.Retain()  // AU 2
	s.Release() // the read loop
	s.Release() // AU 1
	if sp.decommissioned != 0 || p.Data() == nil {
		t.Fatal("decommissioned while held")
	}
	s.Release() // AU 2
	if sp.decommissioned != 1 || sp.outstanding() != 0 {
		t.Fatalf("taken %d decommissioned %d", sp.taken, sp.decommissioned)
	}
	q := packet.NewPacket(nil)
	allocs := testing.AllocsPerRun(100, func() {
		s := sp.get(q)
		s.refs++ // keep q alive across runs: only the wrapper's cost is measured
		s.refs--
		sp.put(s)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reused wrapper", allocs)
	}
}

func TestSourceOverRelease(t *testing.T) {
	var sp sourcePool
	s := sp.get(packet.NewPacket(nil))
	s.Release()
	defer func() {
		if recover() == nil {
			t.Fatal("second Release did not panic")
		}
	}()
	s.refs = 0
	s.Release()
}

func TestValidatePassphrase(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{{"", true}, {"123456789", false}, {"1234567890", true}, {strings.Repeat("x", 79), true}, {strings.Repeat("x", 80), false}} {
		if err := ValidatePassphrase(tc.p); (err == nil) != tc.ok {
			t.Errorf("ValidatePassphrase(%d bytes) = %v", len(tc.p), err)
		}
	}
}
