package session_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
	"github.com/zcingest/zerocopy/rtmp/session"
)

// memConn is a net.Conn that reads a fixed byte stream and discards writes.
type memConn struct{ r io.Reader }

func (c *memConn) Read(p []byte) (int, error)          { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)         { return len(p), nil }
func (c *memConn) Close() error                        { return nil }
func (c *memConn) LocalAddr() net.Addr                 { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1935} }
func (c *memConn) RemoteAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000} }
func (c *memConn) SetDeadline(time.Time) error         { return nil }
func (c *memConn) SetReadDeadline(time.Time) error     { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error    { return nil }
func (c *memConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

// clientHello is C0+C1+C2 of a simple handshake: version 3, a C1 with a
// zero version field (so the server answers with the simple handshake) and
// a C2 the server reads and discards.
func clientHello(testing.TB) []byte {
	hello := make([]byte, 1+1536+1536)
	hello[0] = 3
	for i := 9; i < 1+1536; i++ {
		hello[i] = byte(i * 7)
	}
	return hello
}

// publishStream is a well-formed publish: connect, createStream, publish,
// an AVC sequence header, a keyframe, an AAC header and a frame, and
// closing commands.
func publishStream(t testing.TB) []byte {
	a, b := publishParts(t)
	return append(a, b...)
}

// publishParts splits publishStream after the publish command.
func publishParts(t testing.TB) (commands, media []byte) {
	var wire bytes.Buffer
	w := chunk.NewWriter(&wire, 128)
	q := func(h chunk.Header, body []byte) {
		if err := w.Queue(h, [][]byte{body}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := func(streamID uint32, name string, txn float64, obj amf0.Value, args ...amf0.Value) {
		b, err := amf0.AppendCommand(nil, name, txn, obj, args...)
		if err != nil {
			t.Fatal(err)
		}
		q(chunk.Header{CSID: 3, TypeID: chunk.TypeCommandAMF0, StreamID: streamID}, b)
	}
	cmd(0, "connect", 1, amf0.Object{{Key: "app", Value: "live"}, {Key: "tcUrl", Value: "rtmp://127.0.0.1/live"}})
	cmd(0, "createStream", 2, nil)
	cmd(1, "publish", 3, nil, "fuzz", "live")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	commands = bytes.Clone(wire.Bytes())
	wire.Reset()
	avcc := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xeb}
	q(chunk.Header{CSID: 6, TypeID: chunk.TypeVideo, StreamID: 1}, avcc)
	key := append([]byte{0x17, 1, 0, 0, 0, 0, 0, 0, 5, 0x65}, bytes.Repeat([]byte{0xaa}, 300)...)
	key[8] = byte(len(key) - 9)
	q(chunk.Header{CSID: 6, TypeID: chunk.TypeVideo, StreamID: 1, Timestamp: 0}, key[:9+int(key[8])])
	q(chunk.Header{CSID: 4, TypeID: chunk.TypeAudio, StreamID: 1}, []byte{0xaf, 0, 0x12, 0x10})
	q(chunk.Header{CSID: 4, TypeID: chunk.TypeAudio, StreamID: 1, Timestamp: 23}, append([]byte{0xaf, 1}, bytes.Repeat([]byte{0x21}, 200)...))
	cmd(1, "FCUnpublish", 4, nil, "fuzz")
	cmd(1, "deleteStream", 5, nil, float64(1))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return commands, wire.Bytes()
}

// FuzzSession feeds arbitrary bytes after a valid handshake to a whole
// server session: it must end with an error or EOF, never panic, and free
// every byte it Malloc'd.
func FuzzSession(f *testing.F) {
	hello := clientHello(f)
	good := publishStream(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(aggregateSeed(f))
	f.Add([]byte{})
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0}) // Set Chunk Size 0
	f.Add([]byte{0xc3, 0xc3, 0xc3})                                  // type-3 chunks on an unopened stream
	f.Fuzz(func(t *testing.T, data []byte) {
		h := hub.New(hub.Options{CloseWait: time.Millisecond}, slog.New(slog.DiscardHandler))
		defer h.Close()
		conn := &memConn{r: bytes.NewReader(append(append([]byte(nil), hello...), data...))}
		st, _ := session.Serve(conn, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
		if st.AllocMalloc != st.AllocFree {
			t.Fatalf("allocator unbalanced: malloc %d free %d", st.AllocMalloc, st.AllocFree)
		}
	})
}

// TestWellFormedPublishStream checks the fuzz seed itself is a working
// publish, so the fuzzer starts from a meaningful place.
func TestWellFormedPublishStream(t *testing.T) {
	h := hub.New(hub.Options{SubscribeWait: 5 * time.Second}, slog.New(slog.DiscardHandler))
	defer h.Close()
	commands, media := publishParts(t)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(append(clientHello(t), commands...))
		// Let the subscriber attach before any frame is sent.
		for h.Stream("live/fuzz") == nil || h.Stream("live/fuzz").Info().Subscribers == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = pw.Write(media)
		pw.Close()
	}()
	got := make(chan int, 1)
	go func() {
		sub, err := h.Subscribe("live/fuzz")
		if err != nil {
			got <- -1
			return
		}
		defer sub.Close()
		n := 0
		for {
			f, err := sub.Next(context.Background())
			if err != nil {
				got <- n
				return
			}
			n++
			f.Release()
		}
	}()
	st, err := session.Serve(&memConn{r: pr}, session.Config{}, hubHost{h}, slog.New(slog.DiscardHandler))
	if err != nil && err != io.EOF {
		t.Fatalf("session: %v", err)
	}
	if st.Ingest.VideoFrames != 1 || st.Ingest.AudioFrames != 1 {
		t.Fatalf("ingest %+v", st.Ingest)
	}
	if n := <-got; n != 2 {
		t.Fatalf("subscriber got %d frames, want 2", n)
	}
	if st.AllocMalloc != st.AllocFree {
		t.Fatalf("allocator unbalanced: %d/%d", st.AllocMalloc, st.AllocFree)
	}
}
