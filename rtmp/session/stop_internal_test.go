package session

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/rtmp/chunk"
)

// expirySpy reports when someone sets an expired write deadline.
type expirySpy struct {
	net.Conn
	expired chan struct{}
}

func (c *expirySpy) SetWriteDeadline(t time.Time) error {
	err := c.Conn.SetWriteDeadline(t)
	if t.Before(time.Now()) {
		select {
		case c.expired <- struct{}{}:
		default:
		}
	}
	return err
}

// TestPlayerStopWinsOverRearm: stop expires the write deadline, and a send
// that starts right after (the player between two frames, or the read
// loop's acknowledgement) used to re-arm it with WriteTimeout and block on
// a peer that does not read for the whole 10 s. stop must return at once.
func TestPlayerStopWinsOverRearm(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	peer, err := net.Dial("tcp", ln.Addr().String()) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.(*net.TCPConn).SetReadBuffer(4096)
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	_ = sc.(*net.TCPConn).SetWriteBuffer(4096)

	spy := &expirySpy{Conn: sc, expired: make(chan struct{}, 1)}
	s := &session{cfg: Config{WriteTimeout: 10 * time.Second}.withDefaults(), conn: spy, log: slog.New(slog.DiscardHandler)}
	s.cw = chunk.NewWriter(spy, 4096)
	_, cancel := context.WithCancel(context.Background())
	p := &player{s: s, cancel: cancel, done: make(chan struct{})}
	big := make([]byte, 8<<20) // far more than the socket buffers hold
	sendErr := make(chan error, 1)
	go func() {
		defer close(p.done)
		<-spy.expired // stop has expired the deadline; now a frame goes out
		sendErr <- s.send(func(w *chunk.Writer) error {
			return w.Queue(chunk.Header{CSID: videoCSID, TypeID: chunk.TypeVideo, StreamID: 1}, [][]byte{big})
		})
	}()
	start := time.Now()
	p.stop()
	took := time.Since(start)
	if took > time.Second {
		t.Fatalf("stop took %v: a send re-armed the write deadline after stop expired it", took)
	}
	if err := <-sendErr; err == nil {
		t.Fatal("a send after stop succeeded")
	}
}
