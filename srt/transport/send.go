package transport

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/srt/wire"
)

// rexmitBit is the R flag in the first byte of the data header's second
// word: set in place on a buffered packet to retransmit it.
const rexmitBit = 1 << 2

// seqSub returns a-b in the wrapped 31-bit sequence space.
func seqSub(a, b uint32) int32 { return wire.SeqDiff(b, a) }

// senderStats is the sending half of Stats.
type senderStats struct {
	Sent    uint64 // data packets put on the wire, retransmissions included (libsrt's pktSent)
	Retrans uint64 // retransmissions answered to NAKs
	Loss    uint64 // sequence numbers the peer reported lost (NAKed)
	Drop    uint64 // packets dropped unacknowledged: too late, buffer full or pool exhausted
	BufPkts uint64 // packets held waiting for an ACK
	BufMs   uint64 // span of send times those packets cover
}

// sendEntry is one packet kept until the peer acknowledges it or it is too
// late to matter.
type sendEntry struct {
	p    *Packet
	sent time.Duration // since Start, when it was first sent
}

// sender is the live-mode sending side of a connection (SRT play). Write
// runs on the player's goroutine; onACK, onNAK and tick run on the
// ReadPacket goroutine; mu serialises them. Packets go out the moment they
// are written (live mode has no congestion window) and stay in a ring,
// contiguous in sequence order, until acknowledged or too late.
type sender struct {
	mu sync.Mutex

	write1  func(b []byte) error
	pool    *packetPool
	cipher  *wire.Cipher
	key     wire.KeyFlags // KK of every packet: the even key (odd if that is all the cipher has), or none
	start   time.Time
	peerID  uint32
	dropAge time.Duration // Latency + SendDropDelay

	nextSeq   uint32 // sequence number of the next message written
	nextMsgNo uint32 // 1..2^26-1

	ring     []sendEntry // power-of-two ring; grows up to MaxSendBuffer
	head     int         // index of the oldest entry
	count    int
	firstSeq uint32 // sequence number of ring[head]

	closed bool
	st     senderStats

	// ctl is the DROPREQ datagram, built in place so that dropping
	// allocates nothing.
	ctl [wire.HeaderSize + wire.DropReqSize]byte
}

func newSender(p *connParams) *sender {
	s := &sender{
		write1:    p.Write,
		pool:      p.Pool,
		cipher:    p.Cipher,
		start:     p.Start,
		peerID:    p.PeerID,
		dropAge:   p.Latency + SendDropDelay,
		nextSeq:   p.ISN & wire.SeqMask,
		firstSeq:  p.ISN & wire.SeqMask,
		nextMsgNo: 1,
		ring:      make([]sendEntry, initialSendRing),
	}
	if s.cipher != nil {
		s.key = wire.KeyEven
		if !s.cipher.Has(wire.KeyEven) {
			s.key = wire.KeyOdd
		}
	}
	return s
}

// write sends msg as one solo live message: a pooled packet gets the data
// header, a copy of msg (the caller's buffer is not retained, and the bytes
// must live until acknowledged), in-place encryption, and is kept for
// retransmission. It never blocks: when the buffer or the packet pool is
// full the oldest unacknowledged packet is dropped and counted (or, with
// the pool still empty, msg itself).
func (s *sender) write(msg []byte, now time.Time) (int, error) {
	if len(msg) > wire.MaxPayload {
		return 0, fmt.Errorf("srt send: %w", &limit.LimitError{Name: "MaxPayload", Limit: wire.MaxPayload, Got: int64(len(msg))})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	if s.count == MaxSendBuffer {
		s.dropFront(1)
	}
	p := s.pool.get()
	if p == nil && s.count > 0 {
		// Our own oldest packet is worth less than the new one. One
		// try only: a pool shared with other connections (a listener's)
		// may hand the slot to someone else, and a write must stay
		// cheap however long the pool stays empty.
		s.dropFront(1)
		p = s.pool.get()
	}
	if p == nil {
		s.st.Drop++
		return len(msg), nil
	}
	ts := now.Sub(s.start)
	seq := s.nextSeq
	b := p.slot[:wire.HeaderSize+len(msg)]
	h := wire.DataHeader{
		Seq:        seq,
		Position:   wire.PositionSolo,
		MsgNo:      s.nextMsgNo,
		Timestamp:  uint32(ts.Microseconds()),
		DestSocket: s.peerID,
	}
	h.Key = s.key
	h.Put(b)
	copy(b[wire.HeaderSize:], msg)
	if s.cipher != nil {
		// It cannot fail: key is one the cipher holds.
		_ = s.cipher.Encrypt(b[wire.HeaderSize:], s.key, seq)
	}
	p.n = len(b)
	s.nextSeq = wire.SeqInc(seq)
	if s.nextMsgNo++; s.nextMsgNo > wire.MsgNoMask {
		s.nextMsgNo = 1
	}
	s.push(p, ts)
	s.st.Sent++
	// A failed send is a lost datagram to SRT: the peer NAKs it.
	_ = s.write1(b)
	return len(msg), nil
}

// push appends p to the ring, doubling it while under MaxSendBuffer.
func (s *sender) push(p *Packet, sent time.Duration) {
	if s.count == len(s.ring) {
		grown := make([]sendEntry, 2*len(s.ring))
		for i := range s.count {
			grown[i] = s.ring[(s.head+i)&(len(s.ring)-1)]
		}
		s.ring, s.head = grown, 0
	}
	s.ring[(s.head+s.count)&(len(s.ring)-1)] = sendEntry{p: p, sent: sent}
	s.count++
}

// at is the entry i places after the oldest.
func (s *sender) at(i int) *sendEntry {
	return &s.ring[(s.head+i)&(len(s.ring)-1)]
}

// freeFront decommissions the n oldest entries.
func (s *sender) freeFront(n int) {
	for range n {
		e := s.at(0)
		e.p.Decommission()
		*e = sendEntry{}
		s.head = (s.head + 1) & (len(s.ring) - 1)
		s.count--
	}
	s.firstSeq = wire.SeqAdd(s.firstSeq, int32(n))
}

// dropFront drops the n oldest entries unacknowledged, counts them and
// tells the peer with a DROPREQ so it stops asking for them.
func (s *sender) dropFront(n int) {
	if n <= 0 {
		return
	}
	lo := s.firstSeq
	s.freeFront(n)
	s.st.Drop += uint64(n)
	s.sendDropReq(lo, wire.SeqAdd(s.firstSeq, -1))
}

// sendDropReq sends a DROPREQ for lo..hi. The message number is 0: every
// message is one packet, so the range says it all.
func (s *sender) sendDropReq(lo, hi uint32) {
	b := s.ctl[:]
	h := wire.ControlHeader{
		Type:       wire.CtrlDropReq,
		Timestamp:  uint32(time.Since(s.start).Microseconds()),
		DestSocket: s.peerID,
	}
	h.Put(b)
	_ = s.write1(wire.AppendDropReq(b[:wire.HeaderSize], lo, hi))
}

// onACK frees every packet before the acknowledged sequence number (the
// first word of cif). It reports whether the ACK is a full one, which the
// caller answers with an ACKACK carrying typeSpecific (the ACK number); a
// light ACK (one word) or a small one (ACK number 0) only frees.
func (s *sender) onACK(typeSpecific uint32, cif []byte, now time.Time) (sendACKACK bool) {
	a, err := wire.ParseACK(cif)
	if err != nil {
		return false
	}
	s.mu.Lock()
	n := seqSub(a.LastACKSeq, s.firstSeq)
	if n > int32(s.count) {
		// The peer acknowledges what we never sent: free all we hold.
		n = int32(s.count)
	}
	if n > 0 {
		s.freeFront(int(n))
	}
	s.mu.Unlock()
	return typeSpecific != 0 && a.Size > wire.ACKLightSize
}

// onNAK retransmits every reported sequence number still buffered, with
// the R flag set (only the header word changes: the payload is already
// encrypted). Reported numbers already gone get one DROPREQ per range. A
// malformed loss list is acted on up to its first bad entry.
func (s *sender) onNAK(cif []byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	_ = wire.ParseNAK(cif, s.retransmit)
}

// retransmit resends lo..hi (inclusive) as far as it is buffered.
func (s *sender) retransmit(lo, hi uint32) {
	lo &= wire.SeqMask
	if seqSub(hi, lo) < 0 {
		return
	}
	if seqSub(hi, s.nextSeq) >= 0 {
		// Never sent: a bogus report, counted only up to what exists.
		hi = wire.SeqAdd(s.nextSeq, -1)
		if seqSub(hi, lo) < 0 {
			return
		}
	}
	s.st.Loss += uint64(seqSub(hi, lo)) + 1
	if seqSub(lo, s.firstSeq) < 0 {
		// Part of the range is gone (acknowledged or dropped): the peer
		// still wants it, so tell it to stop asking.
		last := hi
		if seqSub(hi, s.firstSeq) >= 0 {
			last = wire.SeqAdd(s.firstSeq, -1)
		}
		s.sendDropReq(lo, last)
		lo = s.firstSeq
	}
	from := seqSub(lo, s.firstSeq)
	to := seqSub(hi, s.firstSeq)
	if to >= int32(s.count) {
		to = int32(s.count) - 1
	}
	for i := from; i <= to; i++ {
		p := s.at(int(i)).p
		b := p.raw()
		b[4] |= rexmitBit
		s.st.Retrans++
		s.st.Sent++
		_ = s.write1(b)
	}
}

// tick drops the packets too late to matter: sent longer ago than the
// peer's latency plus SendDropDelay. The peer has given up on them (its
// TSBPD deadline passed), so retransmitting would only waste the link.
func (s *sender) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	cutoff := now.Sub(s.start) - s.dropAge
	n := 0
	for n < s.count && s.at(n).sent < cutoff {
		n++
	}
	s.dropFront(n)
}

// stats reports the counters and what the buffer holds.
func (s *sender) stats() senderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.BufPkts = uint64(s.count)
	if s.count > 0 {
		st.BufMs = uint64((s.at(s.count-1).sent - s.at(0).sent).Milliseconds())
	}
	return st
}

// close decommissions every buffered packet; later writes fail with
// net.ErrClosed. It is idempotent.
func (s *sender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.freeFront(s.count)
}
