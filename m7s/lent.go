package zerocopym7s

import (
	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// sweepEvery is how many frames go by between sweeps for ring frames m7s
// dropped without handing them back as a write slot (a slot discarded
// while a reader held it, or one parked when the ring shrinks). It bounds
// how long their ranges stay lent; a sweep walks one map entry per slot.
const sweepEvery = 256

// lentRanges tracks the payload ranges lent to m7s ring frames, by frame.
//
// The ranges are attached with PushOne after InitRecycleIndexes, so m7s's
// Recycle frees only what m7s itself allocated in the frame (sequence
// headers, conversion headers) and never these. They are freed here,
// through pool, on the connection goroutine: when m7s hands the same frame
// back as the write slot (it has reset it, so it no longer reads them), in
// a sweep once m7s has emptied a frame it dropped, or all at once after the
// publisher's dispose. Freeing through pool keeps its whole-block
// accounting: the reader's blocks go back to gomem whole instead of as
// thousands of small gaps that fragment gomem's free tree. When m7s freed
// the ranges itself with gomem, that fragmentation made the connection
// allocator grow new arenas: 1.6 bytes allocated per ingested byte at
// 4 Mbit/s.
type lentRanges struct {
	byFrame map[*gomem.RecyclableMemory]*gomem.Memory
	spare   []*gomem.Memory
	frames  int
}

// lend attaches payload's ranges to rm, the current write slot's memory,
// and empties payload. rm's previous ranges are freed first: m7s has reset
// rm, since it hands it out for writing again.
func (l *lentRanges) lend(alloc *pool.Allocator, rm *gomem.RecyclableMemory, payload *gomem.Memory) {
	if l.byFrame == nil {
		l.byFrame = make(map[*gomem.RecyclableMemory]*gomem.Memory)
	}
	held := l.reclaim(alloc, rm)
	if held == nil {
		if n := len(l.spare); n > 0 {
			held, l.spare = l.spare[n-1], l.spare[:n-1]
		} else {
			held = new(gomem.Memory)
		}
		l.byFrame[rm] = held
	}
	rm.InitRecycleIndexes(2) // m7s's Recycle frees only what it allocates itself
	for _, b := range payload.Buffers {
		if len(b) > 0 {
			rm.PushOne(b)
			held.PushOne(b)
		}
	}
	pool.ResetMemory(payload)
	if l.frames++; l.frames >= sweepEvery {
		l.frames = 0
		l.sweep(alloc)
	}
}

// reclaim frees what was lent to rm, the current write slot's memory
// (m7s has reset it, since it hands it out for writing again), and
// returns rm's entry, if any.
func (l *lentRanges) reclaim(alloc *pool.Allocator, rm *gomem.RecyclableMemory) *gomem.Memory {
	held := l.byFrame[rm]
	if held != nil && held.Size > 0 {
		pool.FreeMemory(alloc, held)
	}
	return held
}

// sweep frees the ranges of frames m7s has emptied (Recycle, Discard)
// without handing them back for writing.
func (l *lentRanges) sweep(alloc *pool.Allocator) {
	for rm, held := range l.byFrame {
		if rm.Size == 0 {
			if held.Size > 0 {
				pool.FreeMemory(alloc, held)
			}
			delete(l.byFrame, rm)
			l.spare = append(l.spare, held)
		}
	}
}

// freeAll frees every lent range. Call it only once m7s no longer reads the
// frames: after the publisher's dispose.
func (l *lentRanges) freeAll(alloc *pool.Allocator) {
	for rm, held := range l.byFrame {
		if held.Size > 0 {
			pool.FreeMemory(alloc, held)
		}
		delete(l.byFrame, rm)
	}
	l.spare = nil
}
