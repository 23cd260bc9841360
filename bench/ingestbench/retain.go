package ingestbench

import (
	"errors"
	"time"
)

// ErrNotAvailable marks a row whose server is not built into this tree
// (e.g. our SRT before it lands); the run skips the row and says so.
var ErrNotAvailable = errors.New("not available in this build")

// Retention defaults: what our ring keeps per stream with the shipped
// config (global.publish.ringduration 12s, ringbytes 32 MiB), so the
// retaining floor and the GOP-caching peer hold the same bytes.
const (
	DefaultRetainDuration = 12 * time.Second
	DefaultRetainBytes    = 32 << 20
	// DefaultRetainBlock is the retaining floor's block: as large as the
	// plain floor's read buffer, so both make reads of the same size.
	DefaultRetainBlock = 64 << 10
)

// retention bounds what a retaining server keeps per stream: data older
// than maxAge, or beyond maxBytes, is released, oldest first.
type retention struct {
	maxAge    time.Duration
	maxBytes  int
	blockSize int
}

// retainBlock is one block of a retaining ring: buf[:n] holds read bytes,
// sealed is when the block filled up (the age of its newest byte).
type retainBlock struct {
	buf    []byte
	n      int
	sealed time.Time
}

// retainRing is the retaining floor's memory: each read goes into the free
// tail of the newest block; a full block is sealed and kept until it is
// older than maxAge or the ring holds more than maxBytes, then released in
// order. A new block reuses the most recently released one (LIFO, so its
// pages are already faulted in) and is allocated only while the ring is
// still growing, as a GOP-caching server's first pass through its memory.
// One goroutine only.
type retainRing struct {
	ret    retention
	blocks []retainBlock // oldest first; the last one is being filled
	head   int           // blocks[:head] are released slots (nil buf)
	free   [][]byte      // released blocks, most recent last
	held   int           // bytes of the blocks in the ring
	// minRoom is the least free tail a read gets (a UDP datagram must
	// fit whole); 0 means any.
	minRoom int
}

func newRetainRing(r retention, minRoom int) *retainRing {
	if r.blockSize <= 0 {
		r.blockSize = DefaultRetainBlock
	}
	r.blockSize = max(r.blockSize, 2*minRoom)
	return &retainRing{ret: r, minRoom: max(minRoom, 1)}
}

// room returns the free tail of the newest block, starting a new block
// when the tail is shorter than minRoom. The bytes stop being valid at
// the next call to commit.
func (r *retainRing) room() []byte {
	if len(r.blocks) == r.head || len(r.blocks[len(r.blocks)-1].buf)-r.blocks[len(r.blocks)-1].n < r.minRoom {
		r.grow()
	}
	b := &r.blocks[len(r.blocks)-1]
	return b.buf[b.n:]
}

// commit records that n bytes were read into the last room.
func (r *retainRing) commit(n int) {
	if n > 0 {
		r.blocks[len(r.blocks)-1].n += n
	}
}

// grow seals the current block, releases expired blocks and starts a new
// one.
func (r *retainRing) grow() {
	now := time.Now()
	if len(r.blocks) > r.head {
		r.blocks[len(r.blocks)-1].sealed = now
	}
	// Release in order: the oldest while it is too old or the ring too big
	// (never the block just sealed).
	for r.head < len(r.blocks)-1 {
		b := &r.blocks[r.head]
		if now.Sub(b.sealed) <= r.ret.maxAge && r.held+r.ret.blockSize <= r.ret.maxBytes {
			break
		}
		r.free = append(r.free, b.buf)
		r.held -= len(b.buf)
		*b = retainBlock{}
		r.head++
	}
	// Compact the slot slice once half of it is released slots.
	if r.head > 64 && r.head*2 > len(r.blocks) {
		n := copy(r.blocks, r.blocks[r.head:])
		clear(r.blocks[n:])
		r.blocks = r.blocks[:n]
		r.head = 0
	}
	var buf []byte
	if k := len(r.free); k > 0 {
		buf = r.free[k-1]
		r.free[k-1] = nil
		r.free = r.free[:k-1]
	} else {
		buf = make([]byte, r.ret.blockSize)
	}
	r.blocks = append(r.blocks, retainBlock{buf: buf})
	r.held += len(buf)
}

// gopCache keeps frames handed over by a library (no copy) for as long as
// our ring would: entries older than maxAge behind the newest, or beyond
// maxBytes, are dropped oldest first. One goroutine only.
type gopCache struct {
	ret     retention
	entries []gopEntry
	head    int
	held    int
}

type gopEntry struct {
	pts   time.Duration
	video [][]byte
	audio []byte
	size  int
}

func newGOPCache(r retention) *gopCache { return &gopCache{ret: r} }

// keep takes video (an access unit's NAL units) or audio (one frame).
func (g *gopCache) keep(pts time.Duration, video [][]byte, audio []byte) {
	size := len(audio)
	for _, nalu := range video {
		size += len(nalu)
	}
	g.entries = append(g.entries, gopEntry{pts: pts, video: video, audio: audio, size: size})
	g.held += size
	for g.head < len(g.entries)-1 {
		e := &g.entries[g.head]
		if pts-e.pts <= g.ret.maxAge && g.held <= g.ret.maxBytes {
			break
		}
		g.held -= e.size
		*e = gopEntry{}
		g.head++
	}
	if g.head > 256 && g.head*2 > len(g.entries) {
		n := copy(g.entries, g.entries[g.head:])
		clear(g.entries[n:])
		g.entries = g.entries[:n]
		g.head = 0
	}
}
