//go:build !race

package transport

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestSenderWriteAllocs: in steady state (ring grown, pool warm) a Write,
// the ACK that frees it, a NAK retransmission and a tick allocate nothing.
func TestSenderWriteAllocs(t *testing.T) {
	r := newSendRig(0, 64)
	r.s.write1 = func([]byte) error { return nil }
	msg := msgOf(3)
	ack := ackCIF(0, time.Millisecond)
	nak := nakCIF(0)
	seq := uint32(0)
	step := func() {
		r.s.write(msg, r.t0)
		putU32(nak, seq)
		r.s.onNAK(nak, r.t0)
		seq++
		putU32(ack, seq)
		r.s.onACK(1, ack, r.t0)
		r.s.tick(r.t0)
	}
	for range 100 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Fatalf("%v allocations per write", n)
	}
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// TestDialWriteAllocs: Conn.Write on a dialed connection, with our own
// listener's connection reading and acknowledging on the other end, costs
// no allocation per message in steady state (both ends counted: the
// measure is process-wide).
func TestDialWriteAllocs(t *testing.T) {
	l, err := Listen("127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		req, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		c, _ := req.Accept()
		accepted <- c
	}()
	c, err := Dial(context.Background(), l.Addr().String(), DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lc := <-accepted
	if lc == nil {
		t.Fatal("not accepted")
	}
	defer lc.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := lc.ReadPacket()
			if err != nil {
				return
			}
			p.Decommission()
		}
	}()
	reader := dtDrain(c)
	msg := msgOf(9)
	// Batches of 100, each acknowledged before the next: the pools reach
	// their high-water mark in the warm-up, as with a paced stream.
	batches := func(k int) {
		for range k {
			for range 100 {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
			}
			for deadline := time.Now().Add(time.Second); c.Stats().SendBufPkts != 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	batches(20)
	// AllocsPerRun truncates the average to an integer; count exactly.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	batches(20)
	runtime.ReadMemStats(&after)
	// A packet pool whose high-water mark rises by a chunk (timing on a
	// shared machine) allocates two objects (slab and headers): allow
	// three such steps, far below one allocation per Write.
	if n := after.Mallocs - before.Mallocs; n > 6 {
		t.Fatalf("%d allocations in 2000 Writes (and the receiving end's work)", n)
	}
	c.Close()
	<-reader
	lc.Close()
	<-done
}
