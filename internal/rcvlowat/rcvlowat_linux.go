//go:build linux

package rcvlowat

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Batch makes the kernel hold a publishing connection's bytes until a mark
// of them is queued (SO_RCVLOWAT), so the read goroutine wakes once per
// few KiB instead of once per TCP segment (DefaultSize says what that
// saves). Reads themselves are unchanged: a read returns what is queued.
//
// The mark is the bytes the publisher sends in Latency, from its bitrate
// over the media's own timestamps (no clock is read), capped by the
// configured size. A timer guards against a mark the peer stops filling:
// when no media has been read for the delay, the mark drops to one byte,
// which makes the kernel wake the reader for whatever is queued (Linux
// re-checks readiness when SO_RCVLOWAT changes), and the next media puts
// it back.
//
// Touch and Stop run on the connection goroutine, lower on the timer's.
// A nil *Batch (batching off) does nothing.
type Batch struct {
	rc    syscall.RawConn
	max   int
	delay time.Duration
	timer *time.Timer

	lowered atomic.Bool // the mark is one byte; Touch's fast check
	mu      sync.Mutex  // orders lower against Touch and Stop
	stopped bool        // guarded by mu
	mark    int         // the mark when not lowered; guarded by mu

	// The bitrate window, connection goroutine only: media bytes since
	// the media at winStart; winLast is the latest time seen, since the
	// tracks of one stream (audio and video) interleave slightly out of
	// order.
	winStart time.Duration
	winLast  time.Duration
	winBytes int
	winBegun bool

	// ctl is b.setsockopt, made once: a method value made per call would
	// be allocated per call. val is its argument and its result (0 once
	// set); guarded like set's callers.
	ctl func(fd uintptr)
	val int
}

// Start sets the mark on conn, or returns nil when size is not above one
// byte, delay is not positive, or conn is not a socket that takes it.
func Start(conn net.Conn, size int, delay time.Duration) *Batch {
	sc, ok := conn.(syscall.Conn)
	if !ok || size <= 1 || delay <= 0 {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &Batch{rc: rc, max: size, mark: size, delay: delay}
	b.ctl = b.setsockopt
	if !b.set(size) {
		return nil
	}
	b.timer = time.AfterFunc(delay, b.lower)
	return b
}

// set sets SO_RCVLOWAT to n; callers hold mu, or own b alone.
func (b *Batch) set(n int) bool {
	b.val = n
	return b.rc.Control(b.ctl) == nil && b.val == 0
}

func (b *Batch) setsockopt(fd uintptr) {
	if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, b.val) == nil {
		b.val = 0
	}
}

// lower drops the mark to one byte: no media came for delay.
func (b *Batch) lower() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.lowered.Load() {
		return
	}
	b.lowered.Store(true)
	b.set(1)
}

// Touch records media of n bytes at stream time t (a message timestamp,
// an access unit's decoding time): the timer starts over, a lowered mark
// goes back up, and once Window of stream time has passed the mark
// follows the bitrate. Times a little out of order (another track's) are
// counted; a jump back by more than Window (a wrap, a new timeline)
// starts the window over.
func (b *Batch) Touch(t time.Duration, n int) {
	if b == nil {
		return
	}
	b.timer.Reset(b.delay)
	want := 0
	switch {
	case !b.winBegun:
		// Its bytes came before the window.
		b.winStart, b.winLast, b.winBytes, b.winBegun = t, t, 0, true
	case t < b.winLast-Window:
		b.winStart, b.winLast, b.winBytes = t, t, 0
	default:
		b.winBytes += n
		b.winLast = max(b.winLast, t)
		if span := b.winLast - b.winStart; span >= Window {
			want = min(max(int(int64(b.winBytes)*int64(Latency)/int64(span)), 1), b.max)
			b.winStart, b.winBytes = b.winLast, 0
		}
	}
	// A mark within a quarter of the bitrate's is kept: no syscall.
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

// Stop ends batching for good (the publish ended: requests and commands
// that follow are read as they come). The socket may be closed already.
func (b *Batch) Stop() {
	if b == nil {
		return
	}
	b.timer.Stop()
	b.mu.Lock()
	b.stopped = true
	b.set(1)
	b.mu.Unlock()
}

// Mark reads conn's SO_RCVLOWAT: what the kernel holds back before it
// wakes the reader (a fresh socket reports 0 or 1).
func Mark(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, errors.New("rcvlowat: not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil {
		return 0, err
	}
	return v, serr
}
