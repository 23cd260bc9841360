package flv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/zcingest/zerocopy/limit"
)

func TestWriterRejectsOversizedBody(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	big := make([]byte, MaxDataSize/2+1)
	err := w.WriteTag(TagHeader{Type: TagVideo}, [][]byte{big, big})
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxDataSize" || buf.Len() != 0 || w.Written() != 0 {
		t.Fatalf("err %v, %d bytes written", err, buf.Len())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	k := min(len(p), f.n)
	f.n -= k
	if k < len(p) {
		return k, io.ErrClosedPipe
	}
	return k, nil
}

func TestWriterPropagatesErrors(t *testing.T) {
	w := NewWriter(&failWriter{n: 20})
	if err := w.WriteFileHeader(true, true); err != nil {
		t.Fatal(err)
	}
	err := w.WriteTag(TagHeader{Type: TagAudio}, [][]byte{[]byte("0123456789")})
	if err != io.ErrClosedPipe || w.Written() != 20 {
		t.Fatalf("err %v, written %d", err, w.Written())
	}
	for _, b := range w.iov[:cap(w.iov)] {
		if b != nil {
			t.Fatal("writer keeps a reference to the payload")
		}
	}
}

// TestWriterOverTCP checks the writev path (net.Conn implements it) against
// the generic one.
func TestWriterOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(c)
	if err := w.WriteFileHeader(true, true); err != nil {
		t.Fatal(err)
	}
	for _, tg := range sampleTags {
		half := len(tg.body) / 2
		if err := w.WriteTag(tg.h, [][]byte{tg.body[:half], nil, tg.body[half:]}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if want := buildStream(t, sampleTags); !bytes.Equal(<-got, want) {
		t.Fatal("TCP stream differs from the buffered one")
	}
}
