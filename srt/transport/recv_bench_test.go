package transport

import (
	"net"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// recvRig is a listener with one registered conn fed data packets from a
// plain UDP socket (the "peer"), one at a time, over loopback.
type recvRig struct {
	l    *Listener
	c    *Conn
	peer *net.UDPConn
	buf  []byte
	seq  uint32
	enc  *wire.Cipher
}

func newRecvRig(tb testing.TB, encrypt bool) *recvRig {
	tb.Helper()
	l, err := Listen("127.0.0.1:0", Config{})
	if err != nil {
		tb.Fatal(err)
	}
	peer, err := net.DialUDP("udp", nil, l.sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		tb.Fatal(err)
	}
	p := connParams{PeerID: 77, Peer: peer.LocalAddr().(*net.UDPAddr).AddrPort(), ISN: 1000, Pool: l.pool, Start: time.Now(), PeerIdleTimeout: time.Minute}
	r := &recvRig{l: l, peer: peer, buf: make([]byte, wire.HeaderSize+1316), seq: 1000}
	if encrypt {
		_, ci, err := wire.NewKM(ltPass, 16)
		if err != nil {
			tb.Fatal(err)
		}
		p.Cipher, r.enc = ci, ci
	}
	c, _ := l.register(&p)
	r.c = c
	for i := range r.buf[wire.HeaderSize:] {
		r.buf[wire.HeaderSize+i] = byte(i)
	}
	return r
}

// round sends one data packet and reads it back.
func (r *recvRig) round(tb testing.TB) {
	h := wire.DataHeader{Seq: r.seq, Position: wire.PositionSolo, MsgNo: r.seq & wire.MsgNoMask, DestSocket: r.c.p.LocalID}
	if r.enc != nil {
		h.Key = wire.KeyEven
		for i := range r.buf[wire.HeaderSize:] {
			r.buf[wire.HeaderSize+i] = byte(i)
		}
		_ = r.enc.Encrypt(r.buf[wire.HeaderSize:], wire.KeyEven, r.seq)
	}
	h.Put(r.buf)
	if _, err := r.peer.Write(r.buf); err != nil {
		tb.Fatal(err)
	}
	p, err := r.c.ReadPacket()
	if err != nil {
		tb.Fatal(err)
	}
	if p.Seq() != r.seq || len(p.Data()) != 1316 || p.Data()[100] != 100 {
		tb.Fatalf("got seq %d (%d bytes), want %d", p.Seq(), len(p.Data()), r.seq)
	}
	p.Decommission()
	r.seq = wire.SeqInc(r.seq)
}

func (r *recvRig) close(tb testing.TB) {
	r.peer.Close()
	r.l.Close()
	if n := r.l.pool.outstanding(); n != 0 {
		tb.Errorf("%d packets outstanding", n)
	}
}

// BenchmarkReceive: one data packet over loopback through the listener's
// reader, the conn's queue and ReadPacket, per iteration.
func BenchmarkReceive(b *testing.B) {
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "aes"
		}
		b.Run(name, func(b *testing.B) {
			r := newRecvRig(b, enc)
			b.ReportAllocs()
			b.SetBytes(1316)
			for b.Loop() {
				r.round(b)
			}
			b.StopTimer()
			r.close(b)
		})
	}
}
