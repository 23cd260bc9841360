package zerocopy_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// A static pull: the child pulls the listed path at start with no player,
// keeps it while the parent is away (retrying), and pulls it again once
// the parent is back and publishes it; a player then reads it.
func TestQUIC2StaticPullAcrossParentRestart(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	addr := qcFreeUDP(t)
	parent, stopParent := qcStart(t, "    listenaddr: "+addr+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kill := qcPushLoop(ctx, clip, "rtmp://"+parent.rtmp+"/live/s")
	qcWait(t, 10*time.Second, "parent stream", func() bool { return parent.Hub().Stream("live/s") != nil })
	child, _ := qcStart(t, "    listenaddr: \"\"\n    parent: "+addr+"\n    pull:\n      - live/s\n")
	qcWait(t, 10*time.Second, "static pull", func() bool {
		return child.childStats().ActivePulls.Load() == 1 && child.Hub().Stream("live/s") != nil
	})
	if parent.parentStats().Pulls.Load() != 1 {
		t.Fatalf("parent served %d pulls", parent.parentStats().Pulls.Load())
	}
	time.Sleep(2 * time.Second) // no player: a static pull does not stop
	if child.childStats().Stops.Load() != 0 || child.childStats().ActivePulls.Load() != 1 {
		t.Fatalf("static pull stopped: stops %d active %d", child.childStats().Stops.Load(), child.childStats().ActivePulls.Load())
	}

	kill()
	stopParent()
	qcWait(t, 10*time.Second, "pull end", func() bool { return child.childStats().ActivePulls.Load() == 0 })
	time.Sleep(time.Second) // the child retries against nothing

	parent2, _ := qcStart(t, "    listenaddr: "+addr+"\n")
	kill2 := qcPushLoop(ctx, clip, "rtmp://"+parent2.rtmp+"/live/s")
	defer kill2()
	qcWait(t, 30*time.Second, "static pull again", func() bool {
		return child.childStats().Pulls.Load() >= 2 && child.childStats().ActivePulls.Load() == 1
	})
	if parent2.parentStats().Pulls.Load() != 1 {
		t.Fatalf("new parent served %d pulls", parent2.parentStats().Pulls.Load())
	}
	tags := qc2ReadFLV(t, ctx, "http://"+child.http+"/live/s.flv", 2*time.Second)
	if tags.video < 20 || tags.keyframes < 1 {
		t.Fatalf("player on the child: %+v", tags)
	}
}

// A pull survives a parent restart while a player on the child waits
// through reconnectwait: the HTTP-FLV response never ends, and the stream
// resumes on it (a keyframe and video after the restart) once the new
// parent publishes it again.
func TestQUIC2PlayerWaitsThroughParentRestart(t *testing.T) {
	clip := testclip.FLV(t)
	qcBaseline(t)
	addr := qcFreeUDP(t)
	parent, stopParent := qcStart(t, "    listenaddr: "+addr+"\n")
	// reconnectwait 20s and stopdelay 10s outlast the restart (a few s).
	child, _ := qcStartWait(t, "20s", "    listenaddr: \"\"\n    parent: "+addr+"\n    stopdelay: 10s\n")
	qcWait(t, 5*time.Second, "registration", func() bool { return child.childStats().Registrations.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kill := qcPushLoop(ctx, clip, "rtmp://"+parent.rtmp+"/live/w")
	qcWait(t, 10*time.Second, "parent stream", func() bool { return parent.Hub().Stream("live/w") != nil })

	p := qc2StartPlayer(t, ctx, "http://"+child.http+"/live/w.flv")
	// Enough that the parent's publisher's control copies are below the
	// 0.5% its teardown check allows.
	qcWait(t, 15*time.Second, "first video", func() bool { return p.snapshot().video > 20 && p.snapshot().bytes > 150_000 })

	kill()
	stopParent()
	restarted := time.Now()
	qcWait(t, 10*time.Second, "pull end", func() bool { return child.childStats().ActivePulls.Load() == 0 })
	before := p.snapshot()
	time.Sleep(500 * time.Millisecond)

	parent2, _ := qcStart(t, "    listenaddr: "+addr+"\n")
	kill2 := qcPushLoop(ctx, clip, "rtmp://"+parent2.rtmp+"/live/w")
	defer kill2()
	qcWait(t, 30*time.Second, "pull again", func() bool { return child.childStats().Pulls.Load() >= 2 })
	qcWait(t, 15*time.Second, "video after the restart", func() bool {
		s := p.snapshot()
		return s.keyframes > before.keyframes && s.video > before.video+20 && s.bytes > before.bytes+150_000
	})
	after := p.snapshot()
	if after.err != nil {
		t.Fatalf("player ended: %v", after.err)
	}
	t.Logf("player: %d video tags (%d keyframes) before, %d (%d) after; parent away %v",
		before.video, before.keyframes, after.video-before.video, after.keyframes-before.keyframes, time.Since(restarted).Round(time.Millisecond))
	p.stop()
	if s := p.snapshot(); s.err != nil && s.err != context.Canceled && ctx.Err() == nil {
		t.Logf("player after stop: %v", s.err)
	}
}

// qc2Tags counts what an HTTP-FLV player read.
type qc2Tags struct {
	video, audio, keyframes int
	bytes                   int64
	err                     error // why the response ended, if it did
}

type qc2Player struct {
	mu     sync.Mutex
	tags   qc2Tags
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *qc2Player) snapshot() qc2Tags {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tags
}

func (p *qc2Player) stop() { p.cancel(); <-p.done }

// qc2StartPlayer reads url as FLV on a goroutine until stop.
func qc2StartPlayer(t *testing.T, ctx context.Context, url string) *qc2Player {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	p := &qc2Player{cancel: cancel, done: make(chan struct{})}
	t.Cleanup(p.stop)
	go func() {
		defer close(p.done)
		err := qc2ParseFLV(ctx, url, func(typ byte, first byte, n int) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.tags.bytes += int64(n)
			switch typ {
			case 9:
				p.tags.video++
				if first>>4 == 1 {
					p.tags.keyframes++
				}
			case 8:
				p.tags.audio++
			}
		})
		p.mu.Lock()
		p.tags.err = err
		p.mu.Unlock()
	}()
	return p
}

// qc2ReadFLV reads url as FLV for d and returns what it got.
func qc2ReadFLV(t *testing.T, ctx context.Context, url string, d time.Duration) qc2Tags {
	t.Helper()
	p := qc2StartPlayer(t, ctx, url)
	time.Sleep(d)
	p.stop()
	return p.snapshot()
}

// qc2ParseFLV GETs url and walks its FLV tags, calling tag for each with
// the tag type, the body's first byte and the tag's size. It returns why
// the walk ended.
func qc2ParseFLV(ctx context.Context, url string, tag func(typ, first byte, n int)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:3]) != "FLV" {
		return fmt.Errorf("not FLV: %q", hdr[:3])
	}
	var th [11]byte
	for {
		if _, err := io.ReadFull(br, th[:]); err != nil {
			return err
		}
		size := int(binary.BigEndian.Uint32(th[0:4]) & 0xffffff)
		first, err := br.Peek(min(size, 1))
		if err != nil {
			return err
		}
		var f byte
		if len(first) > 0 {
			f = first[0]
		}
		if _, err := br.Discard(size + 4); err != nil {
			return err
		}
		tag(th[0]&0x1f, f, size+15)
	}
}
