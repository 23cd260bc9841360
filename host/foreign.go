package host

import "github.com/zcingest/zerocopy/pool"

// Holder is foreign memory a frame's payload points into: buffers a
// transport owns, such as SRT's packet slots, which the frame borrows
// instead of copying them into the allocator. Release gives them back.
//
// Release runs exactly once per Hold, on the publishing goroutine (the
// frame's owner) when the frame is recycled; a Holder shared by several
// frames counts its holds itself.
type Holder interface {
	Release()
}

// Hold marks f's payload as foreign memory held by h: on recycle the frame
// calls h.Release instead of freeing its payload to the allocator. A frame
// is either all allocator memory or all foreign memory: call Hold for every
// holder whose bytes the payload references, before the frame is published.
// Publishing goroutine only.
func (f *Frame) Hold(h Holder) {
	if len(f.holders) == cap(f.holders) && f.owner != nil {
		// An SRT keyframe holds dozens of packets: grow from the pool's
		// recycled slices rather than by doubling a fresh one each time
		// a frame first carries more than before.
		f.holders = f.owner.growHolders(f.holders)
	}
	f.holders = append(f.holders, h)
}

// Foreign reports whether f's payload is foreign memory (see Hold).
func (f *Frame) Foreign() bool { return len(f.holders) > 0 }

func (f *Frame) releaseForeign() {
	for i, h := range f.holders {
		h.Release()
		f.holders[i] = nil
	}
	f.holders = f.holders[:0]
	// The payload's slice headers point into memory that is no longer
	// ours: drop them so nothing can read it after the release.
	pool.ResetMemory(&f.Payload)
}
