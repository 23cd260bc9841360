package server

import (
	"context"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
)

// recordConn is a net.Conn that records the slices each Write gets. It is
// not a *net.TCPConn, so net.Buffers.WriteTo hands it the writev's pieces
// one by one, exactly as given.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordConn) Write(b []byte) (int, error)      { c.writes = append(c.writes, b); return len(b), nil }
func (c *recordConn) SetWriteDeadline(time.Time) error { return nil }

func within(b []byte, bufs ...[]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, x := range bufs {
		s := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
		if cap(x) > 0 && p >= s && p+uintptr(len(b)) <= s+uintptr(cap(x)) {
			return true
		}
	}
	return false
}

// TestUnitsEgressCopiesNoMediaByte: every byte HTTP-FLV hands to writev
// for a FormatUnits frame is either one of the session's own small header
// buffers or a view of the frame's payload ranges, and the views cover
// every unit byte but the dropped AUD: no media byte is copied on egress.
func TestUnitsEgressCopiesNoMediaByte(t *testing.T) {
	units := [][]byte{{0x09, 0xf0}, {0x67, 0x64, 0, 0x1f, 0xac}, {0x68, 0xeb}, {0x65, 0x88, 0x84, 0, 0x33, 0xff, 1, 2, 3, 4}}
	var all []byte
	f := &host.Frame{Kind: host.Video, Codec: codec.H264, Format: host.FormatUnits, Keyframe: true, DTS: time.Second, PTS: time.Second + 80*time.Millisecond}
	for _, u := range units {
		f.Units = append(f.Units, codec.Span{Off: len(all), Len: len(u)})
		all = append(all, u...)
	}
	// Three ranges, cut inside the SPS and inside the slice.
	for _, r := range [][]byte{all[:4], all[4:12], all[12:]} {
		f.Payload.PushOne(r[:len(r):len(r)])
	}
	conn := &recordConn{}
	fs := &flvSession{ctx: context.Background(), conn: conn, stats: &EgressStats{}, header: make([]byte, 0, 64)}
	// The second write is the steady state: the session's buffers have
	// grown to the frame (the first may leave pieces in a buffer it then
	// outgrew).
	for range 2 {
		conn.writes = conn.writes[:0]
		fs.stats.PayloadBytes.Store(0)
		if err := fs.writeFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	media := 0
	for _, w := range conn.writes {
		switch {
		case within(w, f.Payload.Buffers...):
			media += len(w)
		case within(w, fs.header, fs.body, fs.size, crlf):
		default:
			t.Fatalf("writev piece % x is neither frame memory nor a session header buffer", w)
		}
	}
	if want := len(all) - 2; media != want {
		t.Fatalf("%d bytes sent from frame memory, want %d", media, want)
	}
	if got := fs.stats.PayloadBytes.Load(); got != int64(len(all)-2) {
		t.Fatalf("payload counter %d, want %d", got, len(all)-2)
	}
}
