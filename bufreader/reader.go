// Package bufreader is a chained, pooled reader that fills gomem blocks
// straight from an io.Reader and hands out either borrowed views of those
// blocks or ownership of exact byte ranges.
//
// # Memory
//
// The reader owns a chain of blocks Malloc'd from one
// *gomem.ScalableMemoryAllocator. The allocator has no lock, so a Reader, its
// allocator and every range taken from it must be used on one goroutine
// (frames released elsewhere are handed back to that goroutine to be freed).
//
// Bytes leave the reader in one of two ways:
//
//   - Views (ReadRange, Peek, ReadLine, the small integer reads): the reader
//     keeps ownership. A view is valid until the next call on the Reader.
//   - Transfers (Take, TakeInto): the caller receives exact sub-ranges of the
//     blocks and must free them with pool.Free on the same allocator. The
//     reader never reuses a taken range.
//
// Bytes that were consumed but not taken are the reader's. It frees them at
// well-defined points: when the read position leaves a block (at the next call
// that needs bytes from the following block), when a Take splits a block (the
// gap before the taken range is freed at once), or when the last block is
// refilled (the consumed bytes are reused in place). A block whose remaining
// room is too small for a good fill is sealed; if it is not the first block,
// its unused room is freed at that moment. When the only block runs short of
// room, fills go into its consumed front instead, if that is large enough:
// the block wraps around like a ring, and its two parts are rejoined once
// the read position leaves the back part (unless something was taken from
// it; then that part is freed as usual). So a reader that keeps up with its
// source refills one block, whose memory stays in the CPU cache.
//
// The bound: after every call returns, the pool memory the reader owns (not
// counting ranges it handed out with Take or TakeInto) is at most
//
//	Buffered() + 3*BlockSize
//
// where BlockSize is Options.BlockSize after clamping to [MinBlockSize,
// MaxBlockSize]. The chain is a head block (the one being read), any number
// of middle blocks and a tail block (the one being filled). A middle block
// holds exactly its unread bytes and nothing else. The head and the tail are
// each at most BlockSize, and each counts its own unread bytes in Buffered;
// they are the same block when the chain has one, and the back and front
// parts of one block after a wrap. The third BlockSize is the
// spare: one released block nothing was taken from, kept for the next fill
// to save allocator work and cache misses. The bound holds whatever mix of
// calls a parser makes and whatever sizes the source's reads have, including
// a failed ReadRange, Take or Peek that buffered everything the source had.
// Buffered() grows only while a call waits for bytes: past MaxBuffered (or
// MaxPeek, or MaxLineLength+2 for a line) by less than one fill of at most
// BlockSize. Recycle frees everything the reader still owns.
//
// # Errors
//
// ReadRange, Take, TakeInto, Peek, ReadLine and the integer reads are atomic:
// they buffer everything they need before consuming anything, so an error
// (including a read timeout) leaves the stream where it was. Data that the
// source returns together with an error is delivered before the error. A
// timeout from the source is returned once and the call may be retried; any
// other error is sticky.
package bufreader

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/internal/timeout"
	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

// ErrClosed is returned by every call made after Recycle or Close.
var ErrClosed = errors.New("bufreader: use of recycled reader")

// errNegativeRead mirrors bufio's check on misbehaving sources.
var errNegativeRead = errors.New("bufreader: source returned an invalid count from Read")

// Options configures a Reader. The zero value uses the defaults in limits.go.
type Options struct {
	// Allocator supplies the blocks. When nil the reader creates its own and
	// ends it on Recycle (see there).
	Allocator *gomem.ScalableMemoryAllocator
	// BlockSize is the size of each block Malloc'd for filling.
	BlockSize int
	// MaxBuffered caps n for ReadRange, Take, TakeInto and Peek. It is
	// never below 8, so integer reads cannot hit it.
	MaxBuffered int
	// MaxLineLength caps ReadLine and each MIME header line.
	MaxLineLength int
	// MaxPeek caps Peek.
	MaxPeek int
	// MaxHeaderFields and MaxHeaderBytes cap ReadMIMEHeader.
	MaxHeaderFields int
	MaxHeaderBytes  int
	// ReadTimeout, when positive and the source has SetReadDeadline, makes a
	// read fail once the source has delivered nothing for between 3/4 of
	// ReadTimeout and ReadTimeout. The deadline is re-armed at most once per
	// ReadTimeout/4, not on every fill.
	ReadTimeout time.Duration
}

// Stats are the reader's counters.
type Stats struct {
	BytesRead    int64 // bytes delivered by the source
	BytesCopied  int64 // bytes the reader copied: Read, straddling integers, assembled lines and peeks
	BytesTaken   int64 // bytes whose ownership went to callers
	Fills        int64 // successful reads from the source
	DeadlineArms int64 // SetReadDeadline calls
}

type deadliner interface {
	SetReadDeadline(time.Time) error
}

// block is one chain entry: a Malloc'd region, or after a wrap one of two
// parts of one. mem holds the whole region the entry still may own;
// mem[:w] has been filled, mem[r:w] is unread, and mem[keep:] is still the
// reader's (everything before keep was freed or taken). cap(mem) > len(mem)
// only for a wrapped front, whose capacity past len is the previous entry's
// memory (see wrap); every other entry has cap(mem) == len(mem).
type block struct {
	mem        []byte
	keep, r, w int
}

// Reader is a chained reader over pooled blocks. It is not safe for
// concurrent use.
type Reader struct {
	// The fields every call touches come first and fill exactly two cache
	// lines (the struct's size class keeps it 64-byte aligned): the view
	// fast paths read only the first line, and a fill only the first two.
	// A server rotating over many connections then misses on 2 lines of a
	// reader per packet instead of up to 5 (cachegrind, fair Stream).
	src         io.Reader
	blocks      []block // active blocks are blocks[head:]; the last one is filled
	head        int
	buffered    int // unread bytes in the chain
	maxBuffered int

	err     error // pending error from the source
	minFill int
	closed  bool
	timed   bool // deadline != nil, checked on every fill
	stats   Stats

	alloc     *gomem.ScalableMemoryAllocator
	ownsAlloc bool
	spare     []byte // one whole released block, reused by the next fill

	blockSize                       int
	maxLine, maxPeek                int
	maxHeaderFields, maxHeaderBytes int
	timeout                         time.Duration
	deadline                        deadliner
	armedAt                         time.Time

	scratch  [8]byte
	assembly []byte // contiguous copies of lines or peeks that straddle blocks
	iov      [][]byte
}

// New returns a Reader that fills pooled blocks from src.
func New(src io.Reader, opts Options) *Reader {
	// A zero or negative size takes the default.
	r := &Reader{
		src:             src,
		alloc:           opts.Allocator,
		blockSize:       cmp.Or(max(opts.BlockSize, 0), DefaultBlockSize),
		maxBuffered:     cmp.Or(max(opts.MaxBuffered, 0), DefaultMaxBuffered),
		maxLine:         cmp.Or(max(opts.MaxLineLength, 0), DefaultMaxLineLength),
		maxPeek:         cmp.Or(max(opts.MaxPeek, 0), DefaultMaxPeek),
		maxHeaderFields: cmp.Or(max(opts.MaxHeaderFields, 0), DefaultMaxHeaderFields),
		maxHeaderBytes:  cmp.Or(max(opts.MaxHeaderBytes, 0), DefaultMaxHeaderBytes),
		timeout:         opts.ReadTimeout,
	}
	r.blockSize = min(max(r.blockSize, MinBlockSize), MaxBlockSize)
	// Integer reads buffer up to 8 bytes through the same path as ReadRange;
	// a smaller cap would make them fail or succeed depending on how the
	// source happened to chunk the stream.
	r.maxBuffered = max(r.maxBuffered, 8)
	// A tail block with less spare room than this is sealed and a new block
	// is started, so fills stay large.
	r.minFill = r.blockSize / 4
	if r.alloc == nil {
		r.alloc = pool.NewAllocator(max(DefaultAllocatorSize, 2*r.blockSize))
		r.ownsAlloc = true
	}
	if r.timeout > 0 {
		r.deadline, _ = src.(deadliner)
		r.timed = r.deadline != nil
	}
	return r
}

// Allocator returns the allocator the reader's blocks (and taken ranges) come from.
func (r *Reader) Allocator() *gomem.ScalableMemoryAllocator { return r.alloc }

// Stats returns a snapshot of the reader's counters.
func (r *Reader) Stats() Stats { return r.stats }

// Buffered returns the number of unread bytes held by the reader.
func (r *Reader) Buffered() int { return r.buffered }

// Recycle frees every byte the reader still owns and makes the reader
// unusable: every later call returns ErrClosed. Recycle is idempotent.
//
// With an allocator from Options, that is all: taken ranges stay valid and
// remain the caller's to free, and the allocator is the caller's to end.
//
// If the reader created its own allocator, Recycle also ends it. When
// nothing taken from it is outstanding, it is recycled (pool.Recycle).
// Otherwise it is abandoned (pool.Abandon): the taken ranges stay valid for
// as long as their holders keep them, freeing them with pool.Free is then a
// no-op (on any goroutine), and the garbage collector reclaims the allocator
// and its memory once the last of them is dropped. Free taken ranges before
// Recycle to have the memory return to the allocator's pool instead.
func (r *Reader) Recycle() {
	if r.closed {
		return
	}
	r.closed = true
	for i := r.head; i < len(r.blocks); i++ {
		b := &r.blocks[i]
		pool.Free(r.alloc, b.mem[b.keep:])
	}
	pool.Free(r.alloc, r.spare)
	r.spare = nil
	clear(r.blocks)
	r.blocks, r.head, r.buffered = nil, 0, 0
	clear(r.iov)
	r.assembly = nil
	if r.ownsAlloc {
		if pool.Balanced(r.alloc) {
			pool.Recycle(r.alloc)
		} else {
			pool.Abandon(r.alloc)
		}
	}
}

// Close is Recycle with the io.Closer signature. It does not close the source.
func (r *Reader) Close() error {
	r.Recycle()
	return nil
}

// ---- filling ----

// fill reads once from the source into the chain. It returns nil when at
// least one byte arrived; an error that came with data is kept and returned
// by the next fill.
func (r *Reader) fill() error {
	if r.closed {
		return ErrClosed
	}
	if err := r.err; err != nil {
		if timeout.Is(err) {
			r.err = nil
		}
		return err
	}
	// The common case, a tail with unread bytes and room to fill, is
	// decided here without a call; tailForFill handles everything else
	// (reuse in place, sealing, a new block). Same for the deadline check.
	var b *block
	if k := len(r.blocks); k > r.head {
		if t := &r.blocks[k-1]; t.r < t.w && len(t.mem)-t.w >= r.minFill {
			b = t
		}
	}
	if b == nil {
		b = r.tailForFill()
	}
	if r.timed {
		r.armDeadline()
	}
	for range maxEmptyReads {
		n, err := r.src.Read(b.mem[b.w:])
		if n < 0 || n > len(b.mem)-b.w {
			r.err = errNegativeRead
			return r.err
		}
		if n > 0 {
			b.w += n
			r.buffered += n
			r.stats.BytesRead += int64(n)
			r.stats.Fills++
			if err != nil {
				r.err = err
			}
			return nil
		}
		if err != nil {
			if !timeout.Is(err) {
				r.err = err
			}
			return err
		}
	}
	r.err = io.ErrNoProgress
	return r.err
}

// tailForFill returns the block to read into: the last block when it has
// enough spare room (reusing its consumed bytes in place when it has been
// read to the end), the consumed front of the last block when it is also
// the head (see wrap), the spare, or a freshly Malloc'd block.
func (r *Reader) tailForFill() *block {
	var mem []byte
	if r.head < len(r.blocks) {
		t := &r.blocks[len(r.blocks)-1]
		if t.r == t.w {
			// Everything in the tail has been consumed, so the bytes still
			// owned ([keep, w)) can be overwritten.
			t.r, t.w = t.keep, t.keep
		}
		if len(t.mem)-t.w >= r.minFill {
			return t
		}
		if len(r.blocks)-1 == r.head && t.r-t.keep >= r.minFill {
			mem = r.wrap(t)
		} else {
			r.seal(t)
		}
	}
	if r.head > 0 && len(r.blocks) == cap(r.blocks) {
		n := copy(r.blocks, r.blocks[r.head:])
		clear(r.blocks[n:])
		r.blocks, r.head = r.blocks[:n], 0
	}
	if mem == nil {
		mem = r.spare
		r.spare = nil
	}
	if mem == nil {
		mem = pool.Malloc(r.alloc, r.blockSize)
	}
	r.blocks = append(r.blocks, block{mem: mem})
	return &r.blocks[len(r.blocks)-1]
}

// wrap splits t, the only block, which is short of room but whose consumed
// front [keep, r) could take a fill, into two chain entries over the same
// memory: t keeps [r, len) with its unread bytes and becomes the head only,
// and the returned front becomes the tail that the next fills go into.
//
// This is what keeps the reader's writes in the CPU cache. Moving on to
// another block instead makes every fill write memory last touched a whole
// block earlier: with two 16 KiB blocks alternating and the source's bytes
// passing through as well, more than an L1 cache's worth lies between two
// writes to the same line, so every line the source writes misses (9 per
// KiB read in the fair benchmarks, against none for bufio, which slides its
// unread tail to the front of its one buffer; the reader cannot slide
// without copying payload bytes). Wrapped, the reader cycles through one
// block like a ring.
//
// The front keeps the capacity of the whole remaining block: cap(mem) >
// len(mem) marks a wrapped front, and the capacity past its end is exactly
// t's memory. When t is released with nothing taken from it, front rejoins
// it to the front instead of freeing it (see front), so the next fills run
// on into it and the block stays whole. Nothing is freed or taken by the
// split, and the front's bytes were consumed and not taken, so they are the
// reader's to overwrite.
func (r *Reader) wrap(t *block) []byte {
	front := t.mem[t.keep:t.r]
	t.mem = t.mem[t.r:]
	t.w -= t.r
	t.keep, t.r = 0, 0
	return front
}

// seal stops filling t, the tail, before a new block is appended.
func (r *Reader) seal(t *block) {
	switch {
	case t.r == t.w:
		// Nothing unread in it: release it now.
		r.release(t)
		r.blocks = r.blocks[:len(r.blocks)-1]
	case len(r.blocks)-1 > r.head:
		// It becomes a middle block, which must hold nothing but
		// unread bytes (see the package's memory bound): give its
		// unused room back now. Sealed with short reads, each block
		// would otherwise keep up to minFill-1 idle bytes, a quarter
		// of every block a long ReadRange or Peek buffers.
		// The capacity cut also ends a wrapped front's claim on the
		// block's rest (see wrap): the rest is freed when its own
		// entry is released.
		pool.Free(r.alloc, t.mem[t.w:])
		t.mem = t.mem[:t.w:t.w]
	default:
		// It is the head: its room stays with it until the block is
		// released, so a block nothing was taken from can be reused
		// whole as the spare.
	}
}

// release gives back a block that has been read to the end. A block nothing
// was taken from is kept as the next fill's block instead of being freed:
// that saves a Free and a Malloc per block and refills memory that is
// still in the CPU cache. Otherwise the bytes still owned are freed.
func (r *Reader) release(b *block) {
	if b.keep == 0 && r.spare == nil && len(b.mem) == r.blockSize {
		r.spare = b.mem
	} else {
		pool.Free(r.alloc, b.mem[b.keep:])
	}
	*b = block{}
}

func (r *Reader) armDeadline() {
	if r.deadline == nil {
		return
	}
	now := time.Now()
	if now.Sub(r.armedAt) < r.timeout/4 {
		return
	}
	r.armedAt = now
	r.stats.DeadlineArms++
	_ = r.deadline.SetReadDeadline(now.Add(r.timeout))
}

// ensure buffers at least n unread bytes without consuming any.
func (r *Reader) ensure(n int) error {
	// Closed comes first: after Recycle every call reports ErrClosed,
	// whatever its arguments.
	if r.closed {
		return ErrClosed
	}
	if n < 0 {
		return fmt.Errorf("bufreader: negative length %d", n)
	}
	if n > r.maxBuffered {
		return &limit.LimitError{Name: "MaxBuffered", Limit: int64(r.maxBuffered), Got: int64(n)}
	}
	for r.buffered < n {
		if err := r.fill(); err != nil {
			if err == io.EOF && r.buffered > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// front returns the first block with unread bytes, releasing blocks before
// it that have been read to the end. It returns nil when nothing is buffered.
func (r *Reader) front() *block {
	for r.head < len(r.blocks) {
		b := &r.blocks[r.head]
		if b.r < b.w {
			return b
		}
		if r.head == len(r.blocks)-1 {
			return nil // the tail is kept for the next fill
		}
		if next := &r.blocks[r.head+1]; cap(next.mem) > len(next.mem) {
			// next is the wrapped front of b's block, and its capacity
			// past len is exactly b's memory (see wrap).
			if b.keep == 0 {
				// All of b is still the reader's: rejoin it to the
				// front, so fills run on into it.
				next.mem = next.mem[:cap(next.mem)]
				*b = block{}
				r.head++
				continue
			}
			// Part of b was taken: b's remaining bytes are freed below,
			// and the front no longer reaches into them.
			next.mem = next.mem[:len(next.mem):len(next.mem)]
		}
		r.release(b)
		r.head++
	}
	return nil
}

// advance consumes n buffered bytes (n <= r.buffered).
func (r *Reader) advance(n int) {
	r.buffered -= n
	for n > 0 {
		b := r.front()
		k := min(n, b.w-b.r)
		b.r += k
		n -= k
	}
}

// ---- views ----

// ReadRange consumes exactly n bytes and calls yield with them as one or more
// slices of the reader's blocks, in order. The slices are valid only during
// the call to yield; yield must not retain them or call back into the reader.
// If fewer than n bytes can be had, nothing is consumed and the error is
// io.ErrUnexpectedEOF (or io.EOF when no byte was buffered), the source's
// error, or a *limit.LimitError when n exceeds MaxBuffered.
//
// ReadRange never needs its n bytes in one block: its slices come from
// consecutive blocks, so the package's memory bound, Buffered()+3*BlockSize,
// holds during and after the call, also when it fails after buffering all
// the source had.
func (r *Reader) ReadRange(n int, yield func([]byte)) error {
	// Fast path, kept small enough for the compiler to inline into the
	// caller (then yield, usually a closure literal, is called directly):
	// the head block alone holds all n bytes. This is what readRange would
	// do (ensure would not fill, and front would return this block without
	// releasing anything), minus its calls, which matters for small packets.
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= n && n > 0 && n <= r.maxBuffered {
			e := b.r + n
			view := b.mem[b.r:e:e]
			b.r = e
			r.buffered -= n
			yield(view)
			return nil
		}
	}
	return r.readRange(n, yield)
}

// readRange is ReadRange's general path: it buffers n bytes and yields them
// block by block.
func (r *Reader) readRange(n int, yield func([]byte)) error {
	if err := r.ensure(n); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	// The common case after a fill: the head block now holds all n bytes
	// (it was the only block and the fill went into it), and front would
	// return it without releasing anything. n > 0 bytes are buffered, so
	// the head exists.
	if b := &r.blocks[r.head]; b.w-b.r >= n {
		e := b.r + n
		view := b.mem[b.r:e:e]
		b.r = e
		r.buffered -= n
		yield(view)
		return nil
	}
	for n > 0 {
		b := r.front()
		k := min(n, b.w-b.r)
		view := b.mem[b.r : b.r+k : b.r+k]
		b.r += k
		r.buffered -= k
		n -= k
		yield(view)
	}
	return nil
}

// Peek returns the next n bytes without consuming them. The slice is valid
// until the next call on the Reader. When the bytes straddle two blocks they
// are copied into an internal buffer (counted in Stats.BytesCopied). On error
// nothing changes; a *limit.LimitError is returned when n exceeds MaxPeek.
// Pool memory stays within the package's bound, Buffered()+3*BlockSize; the
// copy is heap memory of at most max(MaxPeek, MaxLineLength) bytes.
func (r *Reader) Peek(n int) ([]byte, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if n > r.maxPeek {
		return nil, &limit.LimitError{Name: "MaxPeek", Limit: int64(r.maxPeek), Got: int64(n)}
	}
	if n <= 0 {
		return nil, nil
	}
	if err := r.ensure(n); err != nil {
		return nil, err
	}
	b := r.front()
	if b.w-b.r >= n {
		return b.mem[b.r : b.r+n : b.r+n], nil
	}
	return r.assemble(0, n), nil
}

// assemble copies buffered bytes [off, off+n) into the assembly buffer.
func (r *Reader) assemble(off, n int) []byte {
	if cap(r.assembly) < n {
		r.assembly = make([]byte, 0, max(r.maxLine, r.maxPeek, n))
	}
	out := r.assembly[:0]
	for i := r.head; i < len(r.blocks) && len(out) < n; i++ {
		b := &r.blocks[i]
		seg := b.mem[b.r:b.w]
		if off >= len(seg) {
			off -= len(seg)
			continue
		}
		seg = seg[off:]
		off = 0
		out = append(out, seg[:min(len(seg), n-len(out))]...)
	}
	r.stats.BytesCopied += int64(n)
	return out
}

// ---- ownership transfer ----

// TakeInto consumes exactly n bytes and appends them to dst as sub-ranges of
// the reader's blocks. Ownership of those ranges passes to the caller, who
// must free them with pool.Free (or pool.FreeMemory) on the reader's
// allocator, on the reader's goroutine. The reader never writes to them
// again. Appending to dst allocates only when dst.Buffers is out of capacity.
// On error nothing is consumed. The taken ranges do not count against the
// reader's memory bound (see the package doc); they are the caller's.
func (r *Reader) TakeInto(dst *gomem.Memory, n int) error {
	if err := r.ensure(n); err != nil {
		return err
	}
	r.stats.BytesTaken += int64(n)
	r.buffered -= n
	for n > 0 {
		b := r.front()
		k := min(n, b.w-b.r)
		// The consumed bytes before the taken range are freed now, so no
		// untracked gap is left behind.
		pool.Free(r.alloc, b.mem[b.keep:b.r])
		dst.PushOne(b.mem[b.r : b.r+k : b.r+k])
		b.r += k
		b.keep = b.r
		n -= k
	}
	return nil
}

// Take is TakeInto with a new gomem.Memory (which allocates its slice of
// buffers). Prefer TakeInto with a reused Memory on hot paths.
func (r *Reader) Take(n int) (gomem.Memory, error) {
	var m gomem.Memory
	err := r.TakeInto(&m, n)
	return m, err
}

// ---- skipping ----

// Discard skips the next n bytes, filling as needed, and returns how many
// were discarded; fewer than n only together with an error.
func (r *Reader) Discard(n int) (discarded int, err error) {
	// Fast path (inlinable): the head block holds all n bytes. This is
	// what advance would do, minus its calls; skipping a few header bytes
	// is common. A recycled reader has no blocks, so it never gets here.
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= n && n > 0 {
			b.r += n
			r.buffered -= n
			return n, nil
		}
	}
	return r.discard(n)
}

// discard is Discard's general path.
func (r *Reader) discard(n int) (discarded int, err error) {
	if r.closed {
		return 0, ErrClosed
	}
	for discarded < n {
		if r.buffered == 0 {
			if err = r.fill(); err != nil {
				return discarded, err
			}
		}
		k := min(n-discarded, r.buffered)
		r.advance(k)
		discarded += k
	}
	return discarded, nil
}

// Skip discards exactly n bytes; it fails with io.ErrUnexpectedEOF if the
// stream ends first.
func (r *Reader) Skip(n int) error {
	// Same fast path as Discard, repeated so that Skip itself stays
	// inlinable.
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= n && n > 0 {
			b.r += n
			r.buffered -= n
			return nil
		}
	}
	return r.skip(n)
}

// skip is Skip's general path.
func (r *Reader) skip(n int) error {
	d, err := r.discard(n)
	if err == io.EOF && d > 0 {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// ---- small reads ----

// ReadByte consumes and returns one byte.
func (r *Reader) ReadByte() (byte, error) {
	// Fast path (inlinable): the head block has an unread byte.
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.r < b.w {
			c := b.mem[b.r]
			b.r++
			r.buffered--
			return c, nil
		}
	}
	return r.readByte()
}

// readByte is ReadByte's general path.
func (r *Reader) readByte() (byte, error) {
	if err := r.ensure(1); err != nil {
		return 0, err
	}
	b := r.front()
	c := b.mem[b.r]
	b.r++
	r.buffered--
	return c, nil
}

// small returns the next n (1..8) bytes, contiguous, and consumes them. The
// bytes are a view or, when they straddle blocks, a copy in r.scratch.
func (r *Reader) small(n int) ([]byte, error) {
	if r.closed {
		return nil, ErrClosed
	}
	if n < 1 || n > 8 {
		return nil, fmt.Errorf("bufreader: integer width %d out of range 1..8", n)
	}
	if err := r.ensure(n); err != nil {
		return nil, err
	}
	b := r.front()
	if b.w-b.r >= n {
		p := b.mem[b.r : b.r+n]
		b.r += n
		r.buffered -= n
		return p, nil
	}
	p := r.scratch[:n]
	for i := range p {
		b = r.front()
		p[i] = b.mem[b.r]
		b.r++
	}
	r.buffered -= n
	r.stats.BytesCopied += int64(n)
	return p, nil
}

// ReadBE consumes n (1..8) bytes and returns them as a big-endian integer.
func (r *Reader) ReadBE(n int) (uint64, error) {
	// Fast path (inlinable): the head block has at least 8 unread bytes, so
	// one 8-byte load, shifted down to the top n bytes, replaces a loop
	// with a bounds check per byte.
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= 8 && uint(n-1) < 8 {
			v := binary.BigEndian.Uint64(b.mem[b.r:]) >> (64 - 8*uint(n))
			b.r += n
			r.buffered -= n
			return v, nil
		}
	}
	return r.readBE(n)
}

// readBE is ReadBE's general path.
func (r *Reader) readBE(n int) (uint64, error) {
	p, err := r.small(n)
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, err
}

// ReadLE consumes n (1..8) bytes and returns them as a little-endian integer.
func (r *Reader) ReadLE(n int) (uint64, error) {
	p, err := r.small(n)
	var v uint64
	for i := len(p) - 1; i >= 0; i-- {
		v = v<<8 | uint64(p[i])
	}
	return v, err
}

// ReadBE16, ReadBE24 and ReadBE32 are ReadBE for the common widths. Each
// has its own fast path with a fixed width, which saves ReadBE's width
// checks and variable shift on every header field.
func (r *Reader) ReadBE16() (uint16, error) {
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= 2 {
			v := binary.BigEndian.Uint16(b.mem[b.r:])
			b.r += 2
			r.buffered -= 2
			return v, nil
		}
	}
	v, err := r.readBE(2)
	return uint16(v), err
}

func (r *Reader) ReadBE24() (uint32, error) {
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= 3 {
			p := b.mem[b.r : b.r+3]
			b.r += 3
			r.buffered -= 3
			return uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2]), nil
		}
	}
	v, err := r.readBE(3)
	return uint32(v), err
}

func (r *Reader) ReadBE32() (uint32, error) {
	if h := r.head; h < len(r.blocks) {
		if b := &r.blocks[h]; b.w-b.r >= 4 {
			v := binary.BigEndian.Uint32(b.mem[b.r:])
			b.r += 4
			r.buffered -= 4
			return v, nil
		}
	}
	v, err := r.readBE(4)
	return uint32(v), err
}

// ReadLE32 is ReadLE(4).
func (r *Reader) ReadLE32() (uint32, error) { v, err := r.ReadLE(4); return uint32(v), err }

// ---- lines ----

// ReadLine consumes one line and returns it without its "\n" or "\r\n". The
// slice is valid until the next call on the Reader. A line that straddles
// blocks is copied into an internal buffer (counted in Stats.BytesCopied).
// A line longer than MaxLineLength fails with a *limit.LimitError, and a
// stream that ends mid-line fails with io.ErrUnexpectedEOF; in both cases
// nothing is consumed.
func (r *Reader) ReadLine() ([]byte, error) {
	idx, err := r.indexNewline()
	if err != nil {
		return nil, err
	}
	var line []byte
	if b := r.front(); b.w-b.r > idx {
		line = b.mem[b.r : b.r+idx : b.r+idx]
	} else {
		line = r.assemble(0, idx)
	}
	r.advance(idx + 1)
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// indexNewline returns the offset of the next '\n' among the unread bytes,
// filling as needed, but never looking further than the line limit allows.
func (r *Reader) indexNewline() (int, error) {
	limitBytes := r.maxLine + 1 // a trailing '\r' is not part of the line
	scanned := 0
	for {
		off := scanned
		for i := r.head; i < len(r.blocks) && scanned < limitBytes+1; i++ {
			b := &r.blocks[i]
			seg := b.mem[b.r:b.w]
			if off >= len(seg) {
				off -= len(seg)
				continue
			}
			seg = seg[off:]
			off = 0
			seg = seg[:min(len(seg), limitBytes+1-scanned)]
			if j := bytes.IndexByte(seg, '\n'); j >= 0 {
				idx := scanned + j
				if idx > r.maxLine && !(idx == r.maxLine+1 && r.byteAt(idx-1) == '\r') {
					return 0, &limit.LimitError{Name: "MaxLineLength", Limit: int64(r.maxLine), Got: int64(idx)}
				}
				return idx, nil
			}
			scanned += len(seg)
		}
		if scanned > limitBytes {
			return 0, &limit.LimitError{Name: "MaxLineLength", Limit: int64(r.maxLine), Got: int64(scanned)}
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && r.buffered > 0 {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// byteAt returns the unread byte at offset off (off < r.buffered).
func (r *Reader) byteAt(off int) byte {
	for i := r.head; ; i++ {
		b := &r.blocks[i]
		if n := b.w - b.r; off >= n {
			off -= n
			continue
		}
		return b.mem[b.r+off]
	}
}

// ---- io interfaces ----

// Read implements io.Reader. It copies buffered bytes into p (counted in
// Stats.BytesCopied), reading from the source only when nothing is
// buffered. Bytes that arrived together with an error are returned before
// the error.
func (r *Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.buffered == 0 {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) && r.buffered > 0 {
		b := r.front()
		k := copy(p[n:], b.mem[b.r:b.w])
		b.r += k
		r.buffered -= k
		n += k
	}
	r.stats.BytesCopied += int64(n)
	return n, nil
}

// WriteTo implements io.WriterTo. It writes the buffered bytes and then
// everything the source delivers until io.EOF, passing the blocks themselves
// to w as net.Buffers (one writev on a net.Conn), without copying them.
func (r *Reader) WriteTo(w io.Writer) (written int64, err error) {
	if r.closed {
		return 0, ErrClosed
	}
	for {
		if r.buffered == 0 {
			if err = r.fill(); err != nil {
				if err == io.EOF {
					err = nil
				}
				return written, err
			}
		}
		r.iov = r.iov[:0]
		for i := r.head; i < len(r.blocks); i++ {
			if b := &r.blocks[i]; b.r < b.w {
				r.iov = append(r.iov, b.mem[b.r:b.w])
			}
		}
		bufs := net.Buffers(r.iov)
		n, werr := bufs.WriteTo(w)
		clear(r.iov)
		r.advance(int(n))
		written += n
		if werr != nil {
			return written, werr
		}
	}
}
