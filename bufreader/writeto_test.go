package bufreader

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zcingest/zerocopy/pool"
)

// TestWriteToLoopbackConn writes a stream through the reader to a TCP peer
// on 127.0.0.1 (one writev per batch of blocks on a *net.TCPConn) and
// checks the peer got every byte, with nothing copied by the reader.
func TestWriteToLoopbackConn(t *testing.T) {
	data := []byte(pattern(1 << 20))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(conn)
		received <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))

	r := New(iotest.HalfReader(bytes.NewReader(data)), Options{BlockSize: 4096})
	defer r.Recycle()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil { // leave some bytes buffered first
		t.Fatal(err)
	}
	copiedBefore := r.Stats().BytesCopied
	n, err := r.WriteTo(conn)
	if err != nil || n != int64(len(data)-len(head)) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(data)-len(head))
	}
	if copied := r.Stats().BytesCopied - copiedBefore; copied != 0 {
		t.Fatalf("WriteTo copied %d bytes", copied)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := <-received
	if !bytes.Equal(got, data[len(head):]) {
		t.Fatalf("peer received %d bytes, want %d matching bytes", len(got), len(data)-len(head))
	}
}

// TestWriteToBuffer checks WriteTo into a bytes.Buffer through every source
// shape, with a view and a take before it.
func TestWriteToBuffer(t *testing.T) {
	data := []byte(pattern(5000))
	for _, v := range iotestVariants {
		r := New(v.make(data, io.EOF), Options{BlockSize: MinBlockSize})
		if err := r.ReadRange(10, func([]byte) {}); err != nil {
			t.Fatal(err)
		}
		m, err := r.Take(300)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := r.WriteTo(&buf)
		if err != nil || n != int64(len(data)-310) || !bytes.Equal(buf.Bytes(), data[310:]) {
			t.Errorf("%s: WriteTo = %d, %v; want the last %d bytes", v.name, n, err, len(data)-310)
		}
		r.Recycle()
		pool.FreeMemory(r.Allocator(), &m)
		if !pool.Balanced(r.Allocator()) {
			t.Errorf("%s: %d bytes leaked", v.name, pool.InUse(r.Allocator()))
		}
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	buf   bytes.Buffer
	limit int
}

var errWriterFull = errors.New("test: writer full")

func (w *failingWriter) Write(p []byte) (int, error) {
	room := w.limit - w.buf.Len()
	if len(p) <= room {
		return w.buf.Write(p)
	}
	w.buf.Write(p[:room])
	return room, errWriterFull
}

// TestWriteToWriterError checks that a failing writer stops WriteTo with
// its error and that exactly the unwritten bytes stay readable.
func TestWriteToWriterError(t *testing.T) {
	data := []byte(pattern(3000))
	for _, limit := range []int{0, 1, 255, 256, 1000, 2999} {
		r := New(bytes.NewReader(data), Options{BlockSize: MinBlockSize})
		w := &failingWriter{limit: limit}
		n, err := r.WriteTo(w)
		if !errors.Is(err, errWriterFull) || n != int64(limit) {
			t.Fatalf("limit %d: WriteTo = %d, %v", limit, n, err)
		}
		rest, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(append(w.buf.Bytes(), rest...), data) {
			t.Fatalf("limit %d: written and remaining bytes do not add up to the stream", limit)
		}
		r.Recycle()
	}
}
