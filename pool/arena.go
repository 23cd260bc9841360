package pool

import (
	"slices"

	"github.com/langhuihui/gomem"
)

// Arena pins: the pinned gomem adds an arena only when none has room for a
// Malloc, and drops an arena as soon as it is empty while another exists.
// A publisher whose ring outgrows its arenas would therefore keep making
// and dropping arenas (megabytes of garbage per second). So every arena
// gomem adds gets a pin (pinArenas) and stays until the allocator is
// recycled: arenas grow with the working set, once. ReserveArenas can make
// them up front, but need not: growth costs one make per arena, and an
// arena made before it is needed is allocated (TotalAlloc) even if its
// pages are never touched.
const (
	// ArenaPinBytes is the piece of each arena kept allocated so that gomem
	// never drops the arena: one granule, so that the arena's free space
	// stays whole granules (block.go).
	ArenaPinBytes = Granule
	// MaxArenaPins bounds the arenas one reservation adds (gomem's largest
	// arena is gomem.MaxBlockSize, 4 MiB: 16 of them hold 64 MiB).
	MaxArenaPins = 16
)

// ReserveArenas grows a's arenas until they total at least size bytes,
// each pinned like an arena gomem adds on demand. Owning goroutine only.
// A Malloc of a whole arena forces gomem to add one; all of it is freed at
// once, so the reservation costs address space and a make, not touched
// pages. It returns no pins any more (the arenas keep their own until
// Recycle), but a non-nil empty slice, so that callers testing their pins
// for nil to reserve once still do; pass it to FreePins as before.
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
		// A pinned arena has all but its pin free, so anything smaller than
		// a whole arena could fit there: ask for a whole one.
		n := gomem.MaxBlockSize
		if arenas == 1 {
			n = min(roundGranule(size-total), n)
		}
		b := a.Malloc(n)
		trackMalloc(a, b)
		grew := len(a.GetChildren()) > arenas
		if grew && len(b) > ArenaPinBytes {
			// Free all but the last granule, pin the arena from that free
			// space, then free the last granule too.
			trackFree(a, b[:len(b)-ArenaPinBytes])
			a.Free(b[:len(b)-ArenaPinBytes])
			pinArenas(a)
			b = b[len(b)-ArenaPinBytes:]
		}
		trackFree(a, b)
		a.Free(b)
		if !grew {
			break // it fit in an arena we have: nothing to add
		}
	}
	return [][]byte{}
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
// has just added an arena, so on the owning goroutine. The first arena is
// pinned only at a growth that finds room in it: an allocator that never
// grows keeps all of its first arena, and gomem does not drop a sole arena.
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
