package transport

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// skipMark fills the ring slot of a sequence number the peer asked us to
// skip (DROPREQ): the slot is neither missing nor deliverable.
var skipMark = new(Packet)

// receiver is a connection's live-mode receive state. Only the goroutine
// in ReadPacket (holding readMu) touches it.
type receiver struct {
	// ring holds the packets not yet delivered, indexed by the low bits
	// of their sequence number, for sequence numbers in [next, max).
	ring     []*Packet
	next     uint32 // next sequence number to deliver
	max      uint32 // one past the highest sequence number received
	missing  int    // nil slots in [next, max): packets lost so far
	buffered int    // packets in ring (skipMark excluded)

	fresh   bool  // something new arrived since the last full ACK
	acked   bool  // the last full ACK's ACKACK arrived
	lastACK int64 // when the last full ACK was sent
	ackSeq  uint32
	ackNo   uint32
	acks    [ackHistory]sentACK
	lastNAK int64
	lastRcv int64 // when the peer last sent anything

	// Counts for the rates in ACKs, restarted each second.
	ratePkts, rateBytes uint64
	rateStart           int64
	pktRate, byteRate   uint32

	peerShutdown bool

	// The last key refresh handled: its KM bytes (a repeat of them is
	// answered from here) and when; see minKeyRefreshInterval.
	lastKM     [maxKMSize]byte
	lastKMLen  int
	lastKMAt   int64
	lastKMGood bool
}

// sentACK remembers when full ACK number no was sent, for its ACKACK.
type sentACK struct {
	no uint32
	at int64
}

func (r *receiver) init(isn uint32) {
	r.next, r.max, r.ackSeq = isn, isn, isn
	r.acked = true
}

// ensureRing allocates the ring on the first data packet, so that a
// connection that only sends (SRT play) never pays for it.
func (r *receiver) ensureRing() {
	if r.ring == nil {
		r.ring = make([]*Packet, FlowWindow)
	}
}

// slot returns the ring index of sequence number s.
func slot(s uint32) uint32 { return s & (FlowWindow - 1) }

// pop removes and returns the packet at next if it is there.
func (r *receiver) pop() *Packet {
	for r.next != r.max {
		i := slot(r.next)
		p := r.ring[i]
		if p == nil {
			return nil
		}
		r.ring[i] = nil
		r.next = wire.SeqInc(r.next)
		if p == skipMark {
			continue
		}
		r.buffered--
		return p
	}
	return nil
}

// skipGap skips the missing packets at next up to the first packet
// buffered behind them and returns how many were skipped (0 when nothing
// is buffered behind next).
func (r *receiver) skipGap() int {
	n := 0
	for s := r.next; s != r.max; s = wire.SeqInc(s) {
		p := r.ring[slot(s)]
		if p != nil && p != skipMark {
			r.skipTo(s)
			return max(n, 1)
		}
		if p == nil {
			n++
		}
	}
	return 0
}

// lateGap returns the first packet buffered behind a gap at next and the
// number of packets missing before it, or nil when next is not a gap.
func (r *receiver) lateGap() (*Packet, uint32, int) {
	if r.next == r.max || r.ring[slot(r.next)] != nil {
		return nil, 0, 0
	}
	n := 0
	for s := r.next; s != r.max; s = wire.SeqInc(s) {
		p := r.ring[slot(s)]
		switch {
		case p == nil:
			n++
		case p != skipMark:
			return p, s, n
		}
	}
	return nil, 0, 0
}

// skipTo moves next to s (within [next, max]), forgetting the slots before
// it: missing ones are no longer missing, skip marks are cleared.
func (r *receiver) skipTo(s uint32) {
	for r.next != s {
		i := slot(r.next)
		switch p := r.ring[i]; {
		case p == nil:
			r.missing--
		case p == skipMark:
			r.ring[i] = nil
		default:
			// Callers only skip to the first buffered packet.
			r.ring[i] = nil
			r.buffered--
			p.Decommission()
		}
		r.next = wire.SeqInc(r.next)
	}
	if wire.SeqLess(r.ackSeq, r.next) {
		r.ackSeq = r.next
	}
}

// release decommissions every buffered packet and empties the ring.
func (r *receiver) release() {
	for i, p := range r.ring {
		if p != nil {
			if p != skipMark {
				p.Decommission()
			}
			r.ring[i] = nil
		}
	}
	r.buffered, r.missing = 0, 0
	r.next = r.max
}

// handle processes one datagram from the peer: data goes into the ring,
// control packets are acted on. It takes ownership of p.
func (c *Conn) handle(p *Packet) {
	now := c.now()
	c.r.lastRcv = now
	b := p.raw()
	if len(b) < wire.HeaderSize {
		c.st.malformed.Add(1)
		p.Decommission()
		return
	}
	if !wire.IsControl(b) {
		c.handleData(p, now)
		if c.r.fresh && now-c.r.lastACK >= int64(ackInterval) {
			// ACKs of flowing data ride on its arrival, not on a
			// timer (see idleTick).
			c.sendACK(now)
		}
		return
	}
	h, cif, err := wire.ParseControlHeader(b)
	if err != nil {
		c.st.malformed.Add(1)
		p.Decommission()
		return
	}
	c.handleControl(&h, cif, now)
	p.Decommission()
}

// handleData files the data packet p by sequence number.
func (c *Conn) handleData(p *Packet, now int64) {
	r := &c.r
	p.parseData()
	p.arrive = now
	seq := p.seq
	d := wire.SeqDiff(r.next, seq) // seq - next
	if d < 0 {
		// Already delivered or skipped: a late retransmit or a copy.
		c.st.dup.Add(1)
		p.Decommission()
		return
	}
	if d >= FlowWindow {
		// Beyond our flow window: the sender has moved on further
		// than we could ever wait for (it dropped what it could not
		// send, or we missed its DROPREQ). Waiting would stall the
		// stream for good, so give up what lies more than a window
		// behind this packet.
		c.jump(wire.SeqAdd(seq, -(FlowWindow - 1)))
	}
	r.ensureRing()
	i := slot(seq)
	if dm := wire.SeqDiff(r.max, seq); dm >= 0 {
		if dm > 0 {
			// The packets in [max, seq) are missing: report them now.
			r.missing += int(dm)
			c.st.loss.Add(uint64(dm))
			c.sendNAKRange(r.max, wire.SeqAdd(seq, -1))
		}
		r.max = wire.SeqInc(seq)
	} else {
		if r.ring[i] != nil {
			c.st.dup.Add(1)
			p.Decommission()
			return
		}
		r.missing--
	}
	if p.word1&(1<<26) != 0 {
		c.st.retrans.Add(1)
	}
	if key := wire.KeyFlags(p.word1>>27) & 3; key != wire.KeyNone {
		if c.p.Cipher == nil || !c.decrypt(p, key) {
			// A payload we cannot decrypt is lost: leave the slot
			// missing so that it is NAKed (and skipped in time).
			r.missing++
			c.st.undecryptable.Add(1)
			p.Decommission()
			return
		}
	}
	r.ring[i] = p
	r.buffered++
	r.fresh = true
	r.ratePkts++
	r.rateBytes += uint64(p.n)
	c.st.pkts.Add(1)
	c.st.bytes.Add(uint64(p.n - wire.HeaderSize))
}

// jump moves the delivery point forward to s (more than a flow window
// ahead), dropping whatever lies before it, received or not (counted).
func (c *Conn) jump(s uint32) {
	r := &c.r
	n := 0
	for r.next != s && r.next != r.max {
		i := slot(r.next)
		switch p := r.ring[i]; {
		case p == nil:
			r.missing--
			n++
		case p == skipMark:
			r.ring[i] = nil
		default:
			r.ring[i] = nil
			r.buffered--
			p.Decommission()
			n++
		}
		r.next = wire.SeqInc(r.next)
	}
	if r.next != s {
		// Never seen: neither missing (not yet NAKed) nor buffered.
		n += int(wire.SeqDiff(r.next, s))
		r.next, r.max = s, s
	}
	r.ackSeq = r.next
	r.fresh = true
	c.st.drop.Add(uint64(n))
}

// handleControl acts on one control packet from the peer. cif is borrowed
// from the packet and only valid during the call.
func (c *Conn) handleControl(h *wire.ControlHeader, cif []byte, now int64) {
	switch h.Type {
	case wire.CtrlKeepalive:
	case wire.CtrlACK:
		if len(cif) >= 12 && c.st.rttSamples.Load() == 0 {
			// A connection that only sends measures no RTT itself:
			// show the peer receiver's estimate from its full ACKs.
			c.st.rtt.Store(int64(binary.BigEndian.Uint32(cif[4:])) * int64(time.Microsecond))
			c.st.rttVar.Store(int64(binary.BigEndian.Uint32(cif[8:])) * int64(time.Microsecond))
		}
		if c.snd.onACK(h.TypeSpecific, cif, time.Now()) {
			c.sendControl(wire.CtrlACKACK, 0, h.TypeSpecific, nil)
		}
	case wire.CtrlNAK:
		c.snd.onNAK(cif, time.Now())
	case wire.CtrlACKACK:
		c.onACKACK(h.TypeSpecific, now)
	case wire.CtrlShutdown:
		c.r.peerShutdown = true
	case wire.CtrlDropReq:
		if first, last, err := wire.ParseDropReq(cif); err == nil {
			c.dropRange(first, last)
		}
	case wire.CtrlPeerError:
		c.end(ErrPeerError, false, true)
	case wire.CtrlUser:
		if h.Subtype == wire.SubtypeKMREQ {
			c.onKMREQ(cif)
		}
	case wire.CtrlHandshake:
		// A retransmitted conclusion reaches the listener (sent to
		// socket 0); anything else here is late and harmless.
	default:
		c.st.malformed.Add(1)
	}
}

// onACKACK turns the ACKACK of full ACK number no into an RTT sample,
// smoothed as libsrt does (RTT 7/8, RTTVar 3/4).
func (c *Conn) onACKACK(no uint32, now int64) {
	for i := range c.r.acks {
		a := &c.r.acks[i]
		if a.no != no || a.at == 0 {
			continue
		}
		sample := now - a.at
		a.at = 0
		if no == c.r.ackNo {
			c.r.acked = true
		}
		rtt, v := c.st.rtt.Load(), c.st.rttVar.Load()
		if c.st.rttSamples.Add(1) == 1 {
			rtt, v = sample, sample/2
		} else {
			dev := rtt - sample
			if dev < 0 {
				dev = -dev
			}
			v = (3*v + dev) / 4
			rtt = (7*rtt + sample) / 8
		}
		c.st.rtt.Store(rtt)
		c.st.rttVar.Store(v)
		return
	}
}

// dropRange skips [first, last] on the peer's request (DROPREQ): the
// sender gave those packets up, so they are no longer NAKed or waited for.
func (c *Conn) dropRange(first, last uint32) {
	r := &c.r
	if wire.SeqLess(last, first) || wire.SeqDiff(first, last) >= FlowWindow {
		return
	}
	if wire.SeqLess(last, r.next) {
		return
	}
	if wire.SeqLess(first, r.next) {
		first = r.next
	}
	if wire.SeqDiff(r.next, last) >= FlowWindow {
		return
	}
	r.ensureRing()
	// Slots past max become known: mark them so they are not NAKed.
	for s := first; ; s = wire.SeqInc(s) {
		i := slot(s)
		if !wire.SeqLess(s, r.max) {
			r.ring[i] = skipMark
		} else if r.ring[i] == nil {
			r.ring[i] = skipMark
			r.missing--
			c.st.drop.Add(1)
		}
		if s == last {
			break
		}
	}
	if !wire.SeqLess(last, r.max) {
		r.max = wire.SeqInc(last)
	}
}

// onTick runs the receiver's timers: too-late skips, the full ACK, the
// periodic NAK, keepalive and the peer idle timeout.
func (c *Conn) onTick() {
	now := c.now()
	r := &c.r
	if now-r.lastRcv > int64(c.p.PeerIdleTimeout) {
		c.end(ErrPeerIdle, true, true)
		return
	}
	// A gap still missing Latency after the first packet behind it
	// arrived is given up: the sender would drop it by now anyway.
	if p, s, n := r.lateGap(); p != nil && now-p.arrive >= int64(c.p.Latency) {
		c.st.drop.Add(uint64(n))
		r.skipTo(s)
		r.fresh = true
	}
	if now-r.rateStart >= int64(time.Second) {
		el := now - r.rateStart
		r.pktRate = uint32(r.ratePkts * uint64(time.Second) / uint64(el))
		r.byteRate = uint32(r.rateBytes * uint64(time.Second) / uint64(el))
		r.ratePkts, r.rateBytes, r.rateStart = 0, 0, now
	}
	if r.fresh || (!r.acked && now-r.lastACK >= int64(ackRepeat)) {
		// Something new to acknowledge, or the last ACK (or its
		// ACKACK) was lost: the sender must not wait for its drop
		// timer to free what we have.
		c.sendACK(now)
	}
	if r.missing > 0 {
		rtt, v := c.st.rtt.Load(), c.st.rttVar.Load()
		if now-r.lastNAK >= max(int64(minNAKInterval), rtt+4*v) {
			c.sendLossList(now)
		}
	}
	c.snd.tick(time.Now())
	if now-c.lastSend.Load() >= int64(keepaliveInterval) {
		c.sendControl(wire.CtrlKeepalive, 0, 0, nil)
	}
	c.st.bufPkts.Store(uint64(r.buffered))
	if r.buffered > 0 {
		c.st.bufMs.Store(uint64((now - r.oldestArrival()) / int64(time.Millisecond)))
	} else {
		c.st.bufMs.Store(0)
	}
}

// pace sets the timer's period: ackInterval while a gap waits for its
// retransmission (periodic NAKs, the too-late skip), idleTick otherwise.
// The timer is reset only when that changes.
func (c *Conn) pace() {
	if fast := c.r.missing > 0; fast != c.tickFast {
		c.tickFast = fast
		if fast {
			c.tick.Reset(ackInterval)
		} else {
			c.tick.Reset(idleTick)
		}
	}
}

// oldestArrival returns the arrival time of the first buffered packet.
func (r *receiver) oldestArrival() int64 {
	for s := r.next; s != r.max; s = wire.SeqInc(s) {
		if p := r.ring[slot(s)]; p != nil && p != skipMark {
			return p.arrive
		}
	}
	return 0
}

// sendACK sends a full ACK: the first sequence number not received, our
// RTT estimate, free buffer and receive rates.
func (c *Conn) sendACK(now int64) {
	r := &c.r
	s := r.next
	for s != r.max && r.ring[slot(s)] != nil {
		s = wire.SeqInc(s)
	}
	r.ackSeq = s
	r.ackNo++
	if r.ackNo == 0 {
		r.ackNo = 1
	}
	r.acks[r.ackNo%ackHistory] = sentACK{no: r.ackNo, at: now}
	r.fresh, r.acked = false, false
	r.lastACK = now
	ack := wire.ACK{LastACKSeq: s,
		RTT:      uint32(c.st.rtt.Load() / int64(time.Microsecond)),
		RTTVar:   uint32(c.st.rttVar.Load() / int64(time.Microsecond)),
		AvailBuf: uint32(max(FlowWindow-r.buffered, 2)), PktRecvRate: r.pktRate,
		LinkCapacity: r.pktRate, // no probing in live mode
		RecvRate:     r.byteRate, Size: wire.ACKFullSize}
	var cif [wire.ACKFullSize]byte
	c.sendControl(wire.CtrlACK, 0, r.ackNo, wire.AppendACK(cif[:0], &ack))
}

// sendNAKRange sends a NAK for [first, last] at once (a gap just seen).
func (c *Conn) sendNAKRange(first, last uint32) {
	var cif [8]byte
	c.sendControl(wire.CtrlNAK, 0, 0, wire.AppendNAK(cif[:0], first, last))
	c.r.lastNAK = c.now()
}

// sendLossList sends the periodic NAK: every gap in [next, max), at most
// MaxLossRangesPerNAK ranges.
func (c *Conn) sendLossList(now int64) {
	r := &c.r
	var buf [MaxLossRangesPerNAK * 8]byte
	cif, ranges := buf[:0], 0
	inGap := false
	var first uint32
	for s := r.next; ; s = wire.SeqInc(s) {
		end := s == r.max
		missing := !end && r.ring[slot(s)] == nil
		if missing && !inGap {
			inGap, first = true, s
		} else if !missing && inGap {
			inGap = false
			cif = wire.AppendNAK(cif, first, wire.SeqAdd(s, -1))
			if ranges++; ranges == MaxLossRangesPerNAK {
				break
			}
		}
		if end {
			break
		}
	}
	if len(cif) > 0 {
		c.sendControl(wire.CtrlNAK, 0, 0, cif)
	}
	r.lastNAK = now
}

// sendControl sends a control packet built in the connection's control
// buffer (ReadPacket goroutine only).
func (c *Conn) sendControl(t wire.ControlType, sub uint16, typeSpecific uint32, cif []byte) {
	h := wire.ControlHeader{Type: t, Subtype: sub, TypeSpecific: typeSpecific, Timestamp: c.timestamp(), DestSocket: c.p.PeerID}
	b := c.ctrl[:wire.HeaderSize+len(cif)]
	h.Put(b)
	copy(b[wire.HeaderSize:], cif)
	if t == wire.CtrlKeepalive || t == wire.CtrlShutdown {
		// libsrt's keepalive and shutdown carry one empty word.
		b = c.ctrl[:wire.HeaderSize+4]
		clear(b[wire.HeaderSize:])
	}
	_ = c.p.Write(b)
}

// decrypt decrypts p's payload in place with key kk; false when we do not
// hold that key.
func (c *Conn) decrypt(p *Packet, kk wire.KeyFlags) bool {
	return c.p.Cipher.Decrypt(p.Data(), kk, p.seq) == nil
}

// onKMREQ handles a key refresh: the sender announces its next key (or
// both). We install it and answer KMRSP with the same key material; a KM we
// cannot unwrap is answered with the bad-secret state, as libsrt does.
func (c *Conn) onKMREQ(cif []byte) {
	if c.p.Cipher == nil {
		var st [4]byte
		binary.BigEndian.PutUint32(st[:], wire.KMStateNoSecret)
		c.sendControl(wire.CtrlUser, wire.SubtypeKMRSP, 0, st[:])
		return
	}
	r := &c.r
	now := c.now()
	if r.lastKMAt != 0 && len(cif) == r.lastKMLen && bytes.Equal(cif, r.lastKM[:r.lastKMLen]) {
		// libsrt sends a KMREQ again until its KMRSP arrives: answer a
		// repeat as before, without deriving the key again.
		c.answerKM(cif, r.lastKMGood)
		return
	}
	if r.lastKMAt != 0 && now-r.lastKMAt < int64(minKeyRefreshInterval) {
		// Each refresh costs a PBKDF2 derivation (about a millisecond);
		// a peer sending new ones faster than any libsrt would is
		// ignored until the interval passed (it will send again).
		c.st.malformed.Add(1)
		return
	}
	r.lastKMAt = now
	r.lastKMLen = copy(r.lastKM[:], cif)
	if r.lastKMLen < len(cif) {
		r.lastKMLen = -1 // longer than any KM: never a repeat
	}
	km, err := wire.ParseKM(cif)
	r.lastKMGood = false
	if err == nil {
		var nc *wire.Cipher
		if nc, err = c.p.Cipher.Refresh(&km, c.p.Passphrase); err == nil {
			c.p.Cipher = nc
			r.lastKMGood = true
			c.st.keyRefresh.Add(1)
			c.answerKM(cif, true)
			return
		}
	}
	c.p.Log.Warn("srt key refresh failed", "socket", c.p.LocalID, "peer", c.p.Peer, "err", err)
	c.answerKM(cif, false)
}

// answerKM answers a key refresh: the KM echoed when it was installed,
// else the bad-secret state.
func (c *Conn) answerKM(cif []byte, good bool) {
	if good {
		c.sendControl(wire.CtrlUser, wire.SubtypeKMRSP, 0, cif)
		return
	}
	var st [4]byte
	binary.BigEndian.PutUint32(st[:], wire.KMStateBadSecret)
	c.sendControl(wire.CtrlUser, wire.SubtypeKMRSP, 0, st[:])
}
