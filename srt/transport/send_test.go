package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/srt/wire"
)

// sendRig is a sender whose datagrams land in a slice instead of a socket.
type sendRig struct {
	s    *sender
	pool *packetPool
	t0   time.Time
	out  [][]byte // copies of every datagram sent
}

const rigPeer = 0x0BADCAFE

func newSendRig(isn uint32, poolCap int) *sendRig {
	r := &sendRig{pool: newPacketPool(poolCap), t0: time.Now()}
	r.s = newSender(&connParams{
		PeerID:  rigPeer,
		ISN:     isn,
		Latency: 120 * time.Millisecond,
		Start:   r.t0,
		Pool:    r.pool,
		Write: func(b []byte) error {
			r.out = append(r.out, bytes.Clone(b))
			return nil
		},
	})
	return r
}

func (r *sendRig) write(t *testing.T, msg []byte, at time.Duration) {
	t.Helper()
	n, err := r.s.write(msg, r.t0.Add(at))
	if err != nil || n != len(msg) {
		t.Fatalf("write: %d, %v", n, err)
	}
}

// data returns the datagrams sent that are data packets, parsed.
func (r *sendRig) data(t *testing.T) ([]wire.DataHeader, [][]byte) {
	t.Helper()
	var hs []wire.DataHeader
	var ps [][]byte
	for _, b := range r.out {
		if wire.IsControl(b) {
			continue
		}
		h, err := wire.ParseDataHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		ps = append(ps, b[wire.HeaderSize:])
	}
	return hs, ps
}

// dropReqs returns the lo..hi ranges of the DROPREQs sent.
func (r *sendRig) dropReqs(t *testing.T) [][2]uint32 {
	t.Helper()
	var got [][2]uint32
	for _, b := range r.out {
		if !wire.IsControl(b) {
			continue
		}
		h, cif, err := wire.ParseControlHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != wire.CtrlDropReq || h.DestSocket != rigPeer || len(cif) != 8 {
			t.Fatalf("control packet %+v cif %x", h, cif)
		}
		got = append(got, [2]uint32{binary.BigEndian.Uint32(cif), binary.BigEndian.Uint32(cif[4:])})
	}
	return got
}

func msgOf(i int) []byte {
	m := make([]byte, 1316)
	for j := range m {
		m[j] = byte(i + j)
	}
	return m
}

// ackCIF is a full ACK's control information field acknowledging seq.
func ackCIF(seq uint32, rtt time.Duration) []byte {
	cif := make([]byte, 28)
	binary.BigEndian.PutUint32(cif, seq)
	binary.BigEndian.PutUint32(cif[4:], uint32(rtt.Microseconds()))
	return cif
}

func nakCIF(words ...uint32) []byte {
	cif := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(cif[4*i:], w)
	}
	return cif
}

func TestSenderHeaders(t *testing.T) {
	r := newSendRig(wire.SeqMask-1, 64) // the sequence number wraps on the third message
	for i := range 3 {
		r.write(t, msgOf(i), time.Duration(i)*time.Millisecond)
	}
	hs, ps := r.data(t)
	if len(hs) != 3 {
		t.Fatalf("%d datagrams", len(hs))
	}
	wantSeq := []uint32{wire.SeqMask - 1, wire.SeqMask, 0}
	for i, h := range hs {
		if h.Seq != wantSeq[i] || h.Position != wire.PositionSolo || h.MsgNo != uint32(i+1) ||
			h.Key != wire.KeyNone || h.Retransmitted || h.InOrder || h.DestSocket != rigPeer {
			t.Errorf("packet %d: %+v", i, h)
		}
		if want := uint32(i * 1000); h.Timestamp != want {
			t.Errorf("packet %d: timestamp %d, want %d", i, h.Timestamp, want)
		}
		if !bytes.Equal(ps[i], msgOf(i)) {
			t.Errorf("packet %d: payload differs", i)
		}
	}
	if st := r.s.stats(); st.Sent != 3 || st.BufPkts != 3 || st.BufMs != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSenderMsgNoWraps(t *testing.T) {
	r := newSendRig(7, 64)
	r.s.nextMsgNo = wire.MsgNoMask
	r.write(t, []byte("a"), 0)
	r.write(t, []byte("b"), 0)
	hs, _ := r.data(t)
	if hs[0].MsgNo != wire.MsgNoMask || hs[1].MsgNo != 1 {
		t.Fatalf("msgno %d then %d: 0 is reserved, the wrap goes to 1", hs[0].MsgNo, hs[1].MsgNo)
	}
}

func TestSenderTooBig(t *testing.T) {
	r := newSendRig(0, 4)
	_, err := r.s.write(make([]byte, wire.MaxPayload+1), r.t0)
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Got != wire.MaxPayload+1 {
		t.Fatalf("err %v", err)
	}
	if n, err := r.s.write(make([]byte, wire.MaxPayload), r.t0); err != nil || n != wire.MaxPayload {
		t.Fatalf("a full-size message: %d, %v", n, err)
	}
}

func TestSenderACK(t *testing.T) {
	const isn = wire.SeqMask - 3 // the acknowledged range wraps
	r := newSendRig(isn, 64)
	for i := range 10 {
		r.write(t, msgOf(i), 0)
	}
	if !r.s.onACK(1, ackCIF(wire.SeqAdd(isn, 4), 25*time.Millisecond), r.t0) {
		t.Error("a full ACK must be answered with an ACKACK")
	}
	if st := r.s.stats(); st.BufPkts != 6 || r.pool.outstanding() != 6 {
		t.Errorf("after ACK of 4: %+v, pool %d", st, r.pool.outstanding())
	}
	// A light ACK frees too, without an ACKACK.
	if r.s.onACK(0, ackCIF(wire.SeqAdd(isn, 6), 0)[:4], r.t0) {
		t.Error("a light ACK is not answered")
	}
	if r.pool.outstanding() != 4 {
		t.Errorf("after light ACK: pool %d", r.pool.outstanding())
	}
	// An old ACK frees nothing; one beyond what was sent frees all.
	r.s.onACK(2, ackCIF(isn, 0), r.t0)
	if r.pool.outstanding() != 4 {
		t.Errorf("after stale ACK: pool %d", r.pool.outstanding())
	}
	r.s.onACK(3, ackCIF(wire.SeqAdd(isn, 1000), 0), r.t0)
	if r.pool.outstanding() != 0 || r.s.stats().BufPkts != 0 {
		t.Errorf("after ACK past the end: pool %d", r.pool.outstanding())
	}
	// The sender goes on from where it was.
	r.write(t, msgOf(10), 0)
	hs, _ := r.data(t)
	if last := hs[len(hs)-1]; last.Seq != wire.SeqAdd(isn, 10) {
		t.Errorf("next seq %d", last.Seq)
	}
	r.s.onACK(4, ackCIF(wire.SeqAdd(isn, 11), 0), r.t0)
	if r.pool.outstanding() != 0 {
		t.Errorf("pool %d", r.pool.outstanding())
	}
}

func TestSenderNAK(t *testing.T) {
	const isn = 1000
	r := newSendRig(isn, 64)
	for i := range 10 {
		r.write(t, msgOf(i), 0)
	}
	r.s.onACK(1, ackCIF(isn+2, 0), r.t0) // 1000, 1001 acknowledged
	r.out = nil
	// 1003 alone, 1005..1007, and 999..1001 (gone: a DROPREQ for it).
	r.s.onNAK(nakCIF(isn+3, 1<<31|(isn+5), isn+7, 1<<31|(isn-1), isn+1), r.t0)
	hs, ps := r.data(t)
	wantSeq := []uint32{isn + 3, isn + 5, isn + 6, isn + 7}
	if len(hs) != len(wantSeq) {
		t.Fatalf("%d retransmissions: %+v", len(hs), hs)
	}
	for i, h := range hs {
		if h.Seq != wantSeq[i] || !h.Retransmitted || h.MsgNo != h.Seq-isn+1 {
			t.Errorf("retransmission %d: %+v", i, h)
		}
		if !bytes.Equal(ps[i], msgOf(int(h.Seq-isn))) {
			t.Errorf("retransmission %d: payload differs", i)
		}
	}
	if d := r.dropReqs(t); len(d) != 1 || d[0] != [2]uint32{isn - 1, isn + 1} {
		t.Errorf("dropreqs %v", d)
	}
	st := r.s.stats()
	if st.Retrans != 4 || st.Loss != 7 || st.Sent != 14 {
		t.Errorf("stats %+v", st)
	}
	// A NAK of what was never sent is ignored; a truncated range too.
	r.out = nil
	r.s.onNAK(nakCIF(isn+50, 1<<31|(isn+60), isn+70, 1<<31|(isn+3)), r.t0)
	if len(r.out) != 0 {
		t.Errorf("%d datagrams for a bogus NAK", len(r.out))
	}
}

func TestSenderTooLate(t *testing.T) {
	const isn = 50
	r := newSendRig(isn, 64)
	for i := range 5 {
		r.write(t, msgOf(i), time.Duration(i)*10*time.Millisecond)
	}
	late := 120*time.Millisecond + SendDropDelay
	r.s.tick(r.t0.Add(late)) // nothing is older than that yet
	if st := r.s.stats(); st.Drop != 0 || st.BufPkts != 5 {
		t.Fatalf("early tick: %+v", st)
	}
	r.s.tick(r.t0.Add(late + 25*time.Millisecond)) // the first three are
	if st := r.s.stats(); st.Drop != 3 || st.BufPkts != 2 || r.pool.outstanding() != 2 {
		t.Fatalf("tick: %+v", st)
	}
	if d := r.dropReqs(t); len(d) != 1 || d[0] != [2]uint32{isn, isn + 2} {
		t.Errorf("dropreqs %v", d)
	}
}

// TestSenderStopsACKing: a peer that never acknowledges costs at most
// MaxSendBuffer packets, the rest dropped oldest first and counted.
func TestSenderStopsACKing(t *testing.T) {
	r := newSendRig(0, MaxSendBuffer+100)
	msg := msgOf(1)
	for range MaxSendBuffer + 10 {
		r.write(t, msg, 0)
	}
	st := r.s.stats()
	if st.BufPkts != MaxSendBuffer || st.Drop != 10 || r.pool.outstanding() != MaxSendBuffer {
		t.Fatalf("%+v, pool %d", st, r.pool.outstanding())
	}
	if d := r.dropReqs(t); len(d) != 10 || d[9] != [2]uint32{9, 9} {
		t.Errorf("dropreqs %v", d)
	}
	r.s.close()
	if r.pool.outstanding() != 0 {
		t.Errorf("close left %d packets", r.pool.outstanding())
	}
}

// TestSenderPoolExhausted: when the pool is out of slots, the sender gives
// up its own oldest packet rather than the new one.
func TestSenderPoolExhausted(t *testing.T) {
	r := newSendRig(0, 4)
	for i := range 6 {
		r.write(t, msgOf(i), 0)
	}
	if st := r.s.stats(); st.BufPkts != 4 || st.Drop != 2 || st.Sent != 6 {
		t.Fatalf("%+v", st)
	}
	hs, _ := r.data(t)
	if len(hs) != 6 {
		t.Fatalf("%d sent", len(hs))
	}
	// A pool emptied by someone else: the message is dropped and counted.
	r.s.close()
	other := newSendRig(0, 1)
	p := other.pool.get()
	if _, err := other.s.write(msgOf(0), other.t0); err != nil {
		t.Fatal(err)
	}
	if st := other.s.stats(); st.Drop != 1 || st.Sent != 0 {
		t.Fatalf("%+v", st)
	}
	p.Decommission()
}

func TestSenderClose(t *testing.T) {
	r := newSendRig(0, 64)
	r.write(t, msgOf(0), 0)
	r.s.close()
	r.s.close()
	if r.pool.outstanding() != 0 {
		t.Fatalf("pool %d", r.pool.outstanding())
	}
	if _, err := r.s.write(msgOf(1), r.t0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	r.s.onNAK(nakCIF(0), r.t0)
	r.s.onACK(1, ackCIF(1, 0), r.t0)
	r.s.tick(r.t0.Add(time.Hour))
}

// FuzzSenderControl feeds arbitrary ACK and NAK fields to a sender holding
// packets: no panic, and every packet is either buffered or back in the pool.
func FuzzSenderControl(f *testing.F) {
	f.Add(uint32(0), nakCIF(3, 1<<31|5, 7), ackCIF(4, 0))
	f.Add(uint32(wire.SeqMask-2), nakCIF(1<<31|wire.SeqMask, 2), ackCIF(1, 0)[:4])
	f.Add(uint32(5), []byte{0x80, 0, 0}, []byte{1})
	f.Fuzz(func(t *testing.T, isn uint32, nak, ack []byte) {
		r := newSendRig(isn, 32)
		for i := range 20 {
			r.s.write(msgOf(i), r.t0)
		}
		r.s.onNAK(nak, r.t0)
		r.s.onACK(1, ack, r.t0)
		r.s.onNAK(nak, r.t0)
		if got := r.s.stats().BufPkts; int(got) != r.pool.outstanding() {
			t.Fatalf("buffered %d, pool %d", got, r.pool.outstanding())
		}
		r.s.close()
		if r.pool.outstanding() != 0 {
			t.Fatalf("pool %d after close", r.pool.outstanding())
		}
	})
}

// TestSenderEncrypts: with a cipher the payload goes out encrypted with the
// even key (KK 1) and a receiver holding the unwrapped key material reads
// the message back; retransmissions carry the same ciphertext.
func TestSenderEncrypts(t *testing.T) {
	const pass = "a passphrase of some length"
	km, c, err := wire.NewKM(pass, 16)
	if err != nil {
		t.Fatal(err)
	}
	r := newSendRig(77, 8)
	r.s = newSender(&connParams{PeerID: rigPeer, ISN: 77, Start: r.t0, Pool: r.pool, Cipher: c, Write: r.s.write1})
	r.write(t, msgOf(5), 0)
	r.s.onNAK(nakCIF(77), r.t0)
	hs, ps := r.data(t)
	if len(hs) != 2 || hs[0].Key != wire.KeyEven || hs[1].Key != wire.KeyEven || !hs[1].Retransmitted {
		t.Fatalf("headers %+v", hs)
	}
	if bytes.Equal(ps[0], msgOf(5)) || !bytes.Equal(ps[0], ps[1]) {
		t.Fatal("the payload went out in the clear, or the retransmission differs")
	}
	rx, err := km.Unwrap(pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := rx.Decrypt(ps[0], hs[0].Key, hs[0].Seq); err != nil || !bytes.Equal(ps[0], msgOf(5)) {
		t.Fatalf("decrypted payload differs (%v)", err)
	}
}

// BenchmarkSenderWrite is the sender's cost per 1316-byte message: header,
// copy, (encryption,) buffering, and the ACK that frees it; the socket
// write is a no-op.
func BenchmarkSenderWrite(b *testing.B) {
	for _, encrypted := range []bool{false, true} {
		b.Run(fmt.Sprintf("encrypted=%v", encrypted), func(b *testing.B) {
			pool := newPacketPool(64)
			p := connParams{Start: time.Now(), Pool: pool, Latency: 120 * time.Millisecond, Write: func([]byte) error { return nil }}
			if encrypted {
				_, c, err := wire.NewKM("benchmark passphrase", 16)
				if err != nil {
					b.Fatal(err)
				}
				p.Cipher = c
			}
			s := newSender(&p)
			msg := msgOf(1)
			ack := ackCIF(0, 0)
			now := time.Now()
			seq := uint32(0)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				s.write(msg, now)
				seq++
				binary.BigEndian.PutUint32(ack, seq)
				s.onACK(1, ack, now)
			}
		})
	}
}
