package rtp

import (
	"fmt"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// Assembler gathers the ranges of one access unit for a depacketizer: each
// range is a sub-slice of a pushed packet whose ownership moves into the
// unit. It enforces MaxAccessUnitSize, MaxAccessUnitRanges and
// MaxAccessUnitUnits. Its slices are reused, so steady state allocates
// nothing. Used on the connection's goroutine only.
type Assembler struct {
	alloc *pool.Allocator
	au    AccessUnit
}

// NewAssembler returns an assembler whose ranges belong to alloc.
func NewAssembler(alloc *pool.Allocator) *Assembler {
	a := &Assembler{alloc: alloc}
	a.au.Payload.Buffers = make([][]byte, 0, 16)
	a.au.Units = make([]codec.Span, 0, 8)
	return a
}

// Size is the payload bytes gathered so far.
func (a *Assembler) Size() int { return a.au.Payload.Size }

// Units is the number of units started so far.
func (a *Assembler) Units() int { return len(a.au.Units) }

// Empty reports whether nothing is held.
func (a *Assembler) Empty() bool { return len(a.au.Payload.Buffers) == 0 }

// Check reports whether adding a range of n bytes (and units new units)
// would pass a limit, without changing anything. Callers check a whole
// packet first, so a rejected packet leaves the unit as it was.
func (a *Assembler) Check(n, ranges, units int) error {
	if err := limit.Check("MaxAccessUnitSize", int64(a.au.Payload.Size+n), MaxAccessUnitSize); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := limit.Check("MaxAccessUnitRanges", int64(len(a.au.Payload.Buffers)+ranges), MaxAccessUnitRanges); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := limit.Check("MaxAccessUnitUnits", int64(len(a.au.Units)+units), MaxAccessUnitUnits); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

func (a *Assembler) push(b []byte) {
	a.au.Payload.Buffers = append(a.au.Payload.Buffers, b)
	a.au.Payload.Size += len(b)
}

// AddUnit takes ownership of b as a new unit of one range. Empty b is
// ignored.
func (a *Assembler) AddUnit(b []byte) {
	if len(b) == 0 {
		return
	}
	a.au.Units = append(a.au.Units, codec.Span{Off: a.au.Payload.Size, Len: len(b)})
	a.push(b)
}

// ExtendUnit takes ownership of b as the continuation of the last unit
// (the next fragment of an FU). With no unit started it starts one.
func (a *Assembler) ExtendUnit(b []byte) {
	if len(b) == 0 {
		return
	}
	n := len(a.au.Units)
	if n == 0 {
		a.AddUnit(b)
		return
	}
	a.au.Units[n-1].Len += len(b)
	a.push(b)
}

// Unit returns the span of unit i; i must be below Units().
func (a *Assembler) Unit(i int) codec.Span { return a.au.Units[i] }

// Byte returns the payload byte at logical offset off (< Size()).
func (a *Assembler) Byte(off int) byte { return codec.ByteAt(&a.au.Payload, off) }

// AccessUnit returns the unit being built, for the depacketizer to fill in
// PTS, DTS and Keyframe and to inspect its units. It is valid until the
// next Drop or Emit.
func (a *Assembler) AccessUnit() *AccessUnit { return &a.au }

// Drop frees every range held and empties the unit.
func (a *Assembler) Drop() {
	pool.FreeMemory(a.alloc, &a.au.Payload)
	clear(a.au.Units)
	a.au.Units = a.au.Units[:0]
	a.au.PTS, a.au.DTS, a.au.Keyframe = 0, 0, false
}

// Emit passes the unit to emit, then frees whatever emit left in its
// payload and empties it. emit's error is returned.
func (a *Assembler) Emit(emit func(*AccessUnit) error) error {
	err := emit(&a.au)
	a.Drop()
	return err
}

// AddUnitPieces takes ownership of pieces (consecutive ranges of one
// packet, see Parts.Sub) as a new unit. Empty pieces are skipped; with no
// bytes at all nothing is added.
func (a *Assembler) AddUnitPieces(pieces [][]byte) {
	started := false
	for _, b := range pieces {
		if len(b) == 0 {
			continue
		}
		if !started {
			a.AddUnit(b)
			started = true
			continue
		}
		a.au.Units[len(a.au.Units)-1].Len += len(b)
		a.push(b)
	}
}

// ExtendUnitPieces takes ownership of pieces as the continuation of the
// last unit (see ExtendUnit).
func (a *Assembler) ExtendUnitPieces(pieces [][]byte) {
	for _, b := range pieces {
		a.ExtendUnit(b)
	}
}
