package pool

import (
	"slices"

	"github.com/langhuihui/gomem"
)

// Arena pins: the pinned gomem adds an arena only when none has room for a
// Malloc, and drops an arena as soon as it is empty while another exists.
// A publisher whose ring outgrows its arenas therefore keeps making and
// dropping arenas (megabytes of garbage per second). ReserveArenas makes
// the arenas a ring needs exist once, when publishing starts, and keeps each
// alive with a small pin.
const (
	// ArenaPinBytes is the piece of each reserved arena kept allocated so
	// that gomem never drops the arena.
	ArenaPinBytes = 64
	// MaxArenaPins bounds the arenas one reservation adds (gomem's largest
	// arena is gomem.MaxBlockSize, 4 MiB: 16 of them hold 64 MiB).
	MaxArenaPins = 16
)

// ReserveArenas grows a's arenas until they total at least size bytes and
// returns the pins that keep them: free each with Free before the
// allocator's balance check. Owning goroutine only. A Malloc of a whole
// arena forces gomem to add one; all of it but the pin is freed at once, so
// the reservation costs address space, not touched pages.
func ReserveArenas(a *Allocator, size int) (pins [][]byte) {
	for range MaxArenaPins {
		total := 0
		for _, c := range a.GetChildren() {
			total += c.Size
		}
		if total >= size {
			break
		}
		arenas := len(a.GetChildren())
		n := min(size-total, gomem.MaxBlockSize)
		if len(pins) > 0 {
			// A pinned arena has all but its pin free, so anything smaller
			// than a whole arena would fit there: ask for a whole one.
			n = gomem.MaxBlockSize
		}
		b := Malloc(a, n)
		if len(b) <= ArenaPinBytes || len(a.GetChildren()) == arenas {
			Free(a, b) // it fit in an arena we have: nothing to pin
			break
		}
		Free(a, b[:len(b)-ArenaPinBytes])
		pins = append(pins, b[len(b)-ArenaPinBytes:])
	}
	return pins
}

// pinArenas keeps every arena of a that holds no pin yet from ever being
// dropped, by taking a few bytes of it directly from the arena (not through
// a, so a's malloc and free totals do not see them and Balanced is
// unaffected; Recycle resets the arena with the pin in it). The pinned gomem
// drops an arena the moment it empties while another exists, so an
// allocator whose working set crosses an arena boundary (a publisher's ring
// filling and draining) would otherwise make and drop arenas for ever: the
// ingest benchmark measured 0.48 allocated bytes per ingested byte at
// 4.7 Mbit/s. With pins, arenas grow to the connection's peak working set
// once and stay until the allocator is recycled. Called by Malloc when gomem
// has just added an arena, so on the owning goroutine.
func pinArenas(a *Allocator) {
	t := tableOf(a)
	if t == nil {
		return
	}
	for _, c := range a.GetChildren() {
		if slices.Contains(t.pinned, c) {
			continue
		}
		if c.Malloc(ArenaPinBytes) != nil {
			t.pinned = append(t.pinned, c)
		}
		// A full arena cannot be pinned now; it cannot be dropped either
		// until it empties, and the next growth tries again.
	}
}

// FreePins frees what ReserveArenas returned.
func FreePins(a *Allocator, pins [][]byte) {
	for _, b := range pins {
		Free(a, b)
	}
}
