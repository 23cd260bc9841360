//go:build linux

package session

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readBatch makes the kernel hold a publishing connection's bytes until a
// mark of them is queued (SO_RCVLOWAT), so the read goroutine wakes once
// per few KiB instead of once per TCP segment (DefaultReadLowWater says
// what that saves). Reads themselves are unchanged: a read returns what is
// queued.
//
// The mark is the bytes the publisher sends in ReadLowWaterLatency, from
// its bitrate over the media messages' own timestamps (no clock is read),
// capped by the configured size. A timer guards against a mark the peer
// stops filling: when no media message has been read for delay, the mark
// drops to one byte, which makes the kernel wake the reader for whatever is
// queued (Linux re-checks readiness when SO_RCVLOWAT changes), and the
// next message puts it back.
//
// touch and stop run on the connection goroutine, lower on the timer's.
type readBatch struct {
	rc    syscall.RawConn
	max   int
	delay time.Duration
	timer *time.Timer

	lowered atomic.Bool // the mark is one byte; the read loop's fast check
	mu      sync.Mutex  // orders lower against touch and stop
	stopped bool        // guarded by mu
	mark    int         // the mark when not lowered; guarded by mu

	// The bitrate window, connection goroutine only: media bytes since
	// the message with timestamp winStart.
	winStart uint32
	winBytes int
	winBegun bool

	// ctl is b.setsockopt, made once: a method value made per call would
	// be allocated per call. val is its argument and its result (0 once
	// set); guarded like set's callers.
	ctl func(fd uintptr)
	val int
}

// startReadBatch sets the mark on conn, or returns nil when size is not
// above one byte or conn is not a socket that takes it.
func startReadBatch(conn net.Conn, size int, delay time.Duration) *readBatch {
	sc, ok := conn.(syscall.Conn)
	if !ok || size <= 1 || delay <= 0 {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &readBatch{rc: rc, max: size, mark: size, delay: delay}
	b.ctl = b.setsockopt
	if !b.set(size) {
		return nil
	}
	b.timer = time.AfterFunc(delay, b.lower)
	return b
}

// set sets SO_RCVLOWAT to n; callers hold mu, or own b alone.
func (b *readBatch) set(n int) bool {
	b.val = n
	return b.rc.Control(b.ctl) == nil && b.val == 0
}

func (b *readBatch) setsockopt(fd uintptr) {
	if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, b.val) == nil {
		b.val = 0
	}
}

// lower drops the mark to one byte: no media message came for delay.
func (b *readBatch) lower() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.lowered.Load() {
		return
	}
	b.lowered.Store(true)
	b.set(1)
}

// touch records a media message of n bytes with timestamp ts (ms): the
// timer starts over, a lowered mark goes back up, and once a window of
// stream time has passed the mark follows the bitrate.
func (b *readBatch) touch(ts uint32, n int) {
	b.timer.Reset(b.delay)
	want := 0
	b.winBytes += n
	if !b.winBegun {
		b.winStart, b.winBytes, b.winBegun = ts, 0, true // its bytes came before the window
	} else if span := ts - b.winStart; span >= 1<<31 {
		b.winStart, b.winBytes = ts, 0 // went back (or wrapped): start over
	} else if span >= ReadLowWaterWindow {
		want = min(max(int(int64(b.winBytes)*ReadLowWaterLatency/int64(span)), 1), b.max)
		b.winStart, b.winBytes = ts, 0
	}
	if !b.lowered.Load() && (want == 0 || (want > b.mark*3/4 && want < b.mark*5/4)) {
		return
	}
	b.mu.Lock()
	if want != 0 {
		b.mark = want
	}
	if !b.stopped {
		b.lowered.Store(false)
		b.set(b.mark)
	}
	b.mu.Unlock()
}

// stop ends batching for good (the publish ended: commands that follow
// are read as they come). The socket may be closed already.
func (b *readBatch) stop() {
	b.timer.Stop()
	b.mu.Lock()
	b.stopped = true
	b.set(1)
	b.mu.Unlock()
}
