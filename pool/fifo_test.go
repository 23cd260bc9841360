package pool

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// fifoLoad describes a publisher's memory pattern: a reader fills
// blockSize blocks from the socket with reads of varying size, frames take
// their payloads as sub-ranges of those blocks (the chunk headers between
// them are freed at once), and the ring keeps frames for retention before
// freeing them, oldest first. Every so often a small control message is
// Malloc'd and held for a while. Sizes follow a fixed seed, so a run is
// deterministic.
type fifoLoad struct {
	bitrate   int // bits per second of payload
	retention time.Duration
	blockSize int
	duration  time.Duration
	reserve   int // ReserveArenas at the start (0: none)
}

// fifoResult is what a run measured.
type fifoResult struct {
	peakHeld    int64 // most payload bytes the ring held at once
	peakInUse   int64 // most bytes callers held (InUse)
	peakArenas  int   // most bytes of arenas at once
	peakTouched int   // most bytes of arenas ever handed out (a bound on RSS)
	peakGomem   int64 // most bytes lent by gomem (whole granules)
	made        int   // arenas made over the run
	madeLate    int   // arenas made after the ring first filled
	lastMade    time.Duration
}

type fifoFrame struct {
	at     time.Duration
	pieces [][]byte
	size   int
}

func runFIFO(t *testing.T, l fifoLoad) fifoResult {
	t.Helper()
	const (
		fps        = 25
		gop        = 50 // frames per keyframe
		chunkSize  = 4096
		chunkHdr   = 1 // fmt 3 basic header between chunks of a message
		msgHdr     = 12
		audioEvery = 23 * time.Millisecond
		audioBytes = 372
	)
	minFill := l.blockSize / 4 // bufreader: a tail with less room is sealed
	rng := rand.New(rand.NewPCG(1, 2))
	a := NewAllocator(64 << 10)
	var pins [][]byte
	if l.reserve > 0 {
		pins = ReserveArenas(a, l.reserve)
	}
	var res fifoResult
	seen := map[any]int{} // arena -> high-water mark of handed-out bytes
	filled := false
	var now time.Duration
	note := func() {
		size := 0
		for _, c := range a.GetChildren() {
			size += c.Size
			if _, ok := seen[c]; !ok {
				seen[c] = 0
				res.made++
				res.lastMade = now
				if filled {
					res.madeLate++
				}
			}
			hw := c.Size
			if bs := c.GetBlocks(); len(bs) > 0 && bs[len(bs)-1].End == c.Size {
				hw = bs[len(bs)-1].Start
			}
			seen[c] = max(seen[c], hw)
		}
		res.peakArenas = max(res.peakArenas, size)
		touched := 0
		for _, c := range a.GetChildren() {
			touched += seen[c]
		}
		res.peakTouched = max(res.peakTouched, touched)
		res.peakInUse = max(res.peakInUse, InUse(a))
		res.peakGomem = max(res.peakGomem, a.GetTotalMalloc()-a.GetTotalFree())
	}
	note()

	// The reader: the tail block and how much of it is written; bytes
	// written and not yet taken are pending[pendOff:].
	var tail []byte
	w := 0
	var pending [][]byte
	read := func(n int) { // n more stream bytes arrive
		for n > 0 {
			if tail == nil || len(tail)-w < minFill {
				if tail != nil && w < len(tail) {
					Free(a, tail[w:]) // sealed: its unused room goes back
				}
				tail, w = Malloc(a, l.blockSize), 0
				note()
			}
			r := min(n, len(tail)-w, 512+rng.IntN(8<<10))
			pending = append(pending, tail[w:w+r])
			w += r
			n -= r
		}
	}
	// take hands the next n pending bytes to the caller as pieces.
	take := func(n int) (pieces [][]byte) {
		for n > 0 {
			p := pending[0]
			k := min(n, len(p))
			pieces = append(pieces, p[:k])
			if k == len(p) {
				pending = pending[1:]
			} else {
				pending[0] = p[k:]
			}
			n -= k
		}
		return pieces
	}
	// message reads one RTMP message of n payload bytes; the headers are
	// freed, the payload pieces returned.
	message := func(n int) (pieces [][]byte) {
		read(msgHdr + n + (n-1)/chunkSize*chunkHdr)
		for _, h := range take(msgHdr) {
			Free(a, h)
		}
		for left := n; left > 0; {
			k := min(left, chunkSize)
			pieces = append(pieces, take(k)...)
			left -= k
			if left > 0 {
				for _, h := range take(chunkHdr) {
					Free(a, h)
				}
			}
		}
		return pieces
	}

	var ring []fifoFrame
	var held int64
	type ctl struct {
		b     []byte
		until time.Duration
	}
	var ctls []ctl
	frameBytes := l.bitrate / 8 / fps
	nextAudio := time.Duration(0)
	for i := 0; ; i++ {
		now = time.Duration(i) * time.Second / fps
		if now >= l.duration {
			break
		}
		for ; nextAudio <= now; nextAudio += audioEvery {
			ring = append(ring, fifoFrame{nextAudio, message(audioBytes), audioBytes})
			held += audioBytes
		}
		n := frameBytes * (80 + rng.IntN(40)) / 100
		if i%gop == 0 {
			n *= 5
		} else {
			n = n * (gop - 5) / (gop - 1)
		}
		ring = append(ring, fifoFrame{now, message(n), n})
		held += int64(n)
		if i%fps == 0 { // a control message now and then, held a while
			ctls = append(ctls, ctl{Malloc(a, 100+rng.IntN(3000)), now + time.Duration(rng.IntN(3000))*time.Millisecond})
		}
		for len(ctls) > 0 && ctls[0].until <= now {
			Free(a, ctls[0].b)
			ctls = ctls[1:]
		}
		res.peakHeld = max(res.peakHeld, held)
		note()
		for len(ring) > 0 && ring[0].at < now-l.retention {
			for _, p := range ring[0].pieces {
				Free(a, p)
			}
			held -= int64(ring[0].size)
			ring = ring[1:]
			filled = true
		}
	}
	for _, f := range ring {
		for _, p := range f.pieces {
			Free(a, p)
		}
	}
	for _, c := range ctls {
		Free(a, c.b)
	}
	for _, p := range pending {
		Free(a, p)
	}
	if w < len(tail) {
		Free(a, tail[w:])
	}
	FreePins(a, pins)
	if !Balanced(a) {
		t.Fatalf("%d bytes in use after teardown", InUse(a))
	}
	Recycle(a)
	return res
}

// TestFIFOArenasTrackRing drives an allocator the way a publisher's ring
// does (issue 12) and reports arena bytes against the bytes the ring
// holds. Arenas may be larger than what is handed out (growth doubles, up
// to gomem's 4 MiB), but pages are touched only where ranges were handed
// out, so the high-water mark of handed-out bytes is what costs RSS. It
// must stay within what gomem lends (the ring's granules: its bytes plus
// the sealed blocks' room) and a few granules: with gomem's search missing
// free space behind a smaller free block, a 4.7 Mbit/s ring holding 7.5 MB
// touched 12.3 MB of arenas (17.0 MB with the old 8 MiB reservation), and
// 2.06 Mbit/s 6.1 MB for 3.35 MB. Arenas are made while the ring grows to
// its peak, never in the second half of the run (no churn).
func TestFIFOArenasTrackRing(t *testing.T) {
	const run = 90 * time.Second
	for _, l := range []fifoLoad{
		{bitrate: 2_060_000, retention: 12 * time.Second, blockSize: 16 << 10, duration: run},
		{bitrate: 4_700_000, retention: 12 * time.Second, blockSize: 16 << 10, duration: run},
		{bitrate: 4_700_000, retention: 12 * time.Second, blockSize: 16 << 10, duration: run, reserve: 8 << 20},
		{bitrate: 4_700_000, retention: 12 * time.Second, blockSize: 4 << 10, duration: run},
	} {
		r := runFIFO(t, l)
		name := fmt.Sprintf("%.2f Mbit/s, %d-byte blocks, reservation %d", float64(l.bitrate)/1e6, l.blockSize, l.reserve)
		t.Logf("%s: ring held %.2f MB, in use %.2f MB, lent by gomem %.2f MB, arenas %.2f MB (%d made, the last at %v), touched %.2f MB",
			name, float64(r.peakHeld)/1e6, float64(r.peakInUse)/1e6, float64(r.peakGomem)/1e6,
			float64(r.peakArenas)/1e6, r.made, r.lastMade, float64(r.peakTouched)/1e6)
		if slack := int64(r.peakTouched) - r.peakGomem; slack > 8*Granule {
			t.Errorf("%s: %d bytes of arenas touched beyond the %d gomem lent at most (fragmentation)", name, slack, r.peakGomem)
		}
		if limit := r.peakHeld + r.peakHeld/5 + 256<<10; int64(r.peakTouched) > limit {
			t.Errorf("%s: %d bytes of arenas touched for a ring of %d; want at most %d", name, r.peakTouched, r.peakHeld, limit)
		}
		if r.lastMade >= run/2 {
			t.Errorf("%s: an arena made at %v, after the ring had long been full (churn)", name, r.lastMade)
		}
	}
}

// TestSlabReturnsWhenEmptied: a granule carved up by small Mallocs goes
// back to gomem as soon as its last piece is freed, whether its room was
// used up or not, and the next small Malloc starts a new one.
func TestSlabReturnsWhenEmptied(t *testing.T) {
	a := NewAllocator(64 << 10)
	for _, sizes := range [][]int{{100}, {Granule / 2, Granule / 2}, {Granule - 1, 1}, {3000, Granule - 100, 50}} {
		var held [][]byte
		for _, n := range sizes {
			held = append(held, Malloc(a, n))
		}
		for _, b := range held {
			Free(a, b)
		}
		if !Balanced(a) || InUse(a) != 0 {
			t.Fatalf("sizes %v: malloc %d free %d, InUse %d after freeing every piece", sizes, a.GetTotalMalloc(), a.GetTotalFree(), InUse(a))
		}
	}
	// Pieces of one granule freed in any order, some in parts.
	x, y := Malloc(a, 5000), Malloc(a, 7000)
	if InUse(a) != 12000 || a.GetTotalMalloc()-a.GetTotalFree() != Granule {
		t.Fatalf("InUse %d, gomem lent %d; want 12000 in one granule", InUse(a), a.GetTotalMalloc()-a.GetTotalFree())
	}
	Free(a, y[:10])
	Free(a, x)
	Free(a, y[10:])
	if !Balanced(a) {
		t.Fatalf("InUse %d after freeing everything", InUse(a))
	}
	Recycle(a)
}
