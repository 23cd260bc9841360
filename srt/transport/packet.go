package transport

import (
	"encoding/binary"
	"sync"
)

// Packet is one received (or, for the sender, one sent) SRT datagram held in
// a fixed slot of its socket's pool. The slot is pointer-free memory allocated
// in slabs and recycled for ever: receiving a datagram allocates nothing, and
// the payload a reader gets is the slot itself, decrypted in place.
//
// A Packet returned by Conn.ReadPacket belongs to the caller until it calls
// Decommission, exactly once, from any goroutine.
type Packet struct {
	slot []byte // len = cap = MaxDatagram; part of a pool slab
	n    int    // bytes of the datagram in slot
	pool *packetPool

	// inUse is set by get and cleared by Decommission (both under the
	// pool's mutex), so that a second Decommission panics instead of
	// handing the slot out twice.
	inUse bool

	// Parsed header (data packets): sequence number, the second header
	// word (PP, O, KK, R, message number), timestamp, destination socket.
	seq    uint32
	word1  uint32
	ts     uint32
	dst    uint32
	arrive int64 // monotonic nanoseconds since the connection's Start
}

// Data returns the packet's payload, decrypted. The bytes stay valid until
// Decommission; the caller must not use them afterwards.
func (p *Packet) Data() []byte { return p.slot[headerSize:p.n] }

// Seq returns the packet's 31-bit sequence number.
func (p *Packet) Seq() uint32 { return p.seq }

// MsgNo returns the packet's 26-bit message number.
func (p *Packet) MsgNo() uint32 { return p.word1 & 0x03FFFFFF }

// Timestamp returns the sender's timestamp: microseconds since the peer's
// connection start (32-bit, wraps after about 71 minutes).
func (p *Packet) Timestamp() uint32 { return p.ts }

// raw returns the whole datagram, header included. The bytes stay valid
// until Decommission.
func (p *Packet) raw() []byte { return p.slot[:p.n] }

// setLen records that the slot holds an n-byte datagram (n <= MaxDatagram).
func (p *Packet) setLen(n int) { p.n = n }

// Decommission returns the packet's slot to its pool. It may be called from
// any goroutine, exactly once per packet; a second call panics (a double free
// would hand one slot to two owners).
func (p *Packet) Decommission() {
	pp := p.pool
	pp.mu.Lock()
	if !p.inUse {
		pp.mu.Unlock()
		panic("transport: Packet decommissioned twice")
	}
	p.inUse = false
	p.n = 0
	pp.free = append(pp.free, p)
	pp.out--
	pp.mu.Unlock()
}

// headerSize is the SRT packet header: four 32-bit words.
const headerSize = 16

// parseData fills the packet's header fields from its datagram (a data
// packet, at least headerSize bytes).
func (p *Packet) parseData() {
	b := p.slot[:headerSize]
	p.seq = binary.BigEndian.Uint32(b[0:4]) & 0x7FFFFFFF
	p.word1 = binary.BigEndian.Uint32(b[4:8])
	p.ts = binary.BigEndian.Uint32(b[8:12])
	p.dst = binary.BigEndian.Uint32(b[12:16])
}

// packetPool hands out packet slots from slabs it allocates poolChunk at a
// time, up to a cap. It is safe for concurrent use.
type packetPool struct {
	mu   sync.Mutex
	free []*Packet
	max  int // cap on slots ever allocated
	all  int // slots allocated so far
	out  int // slots handed out and not yet decommissioned
}

// newPacketPool returns a pool of at most maxPackets slots, allocated as
// needed.
func newPacketPool(maxPackets int) *packetPool {
	if maxPackets < 1 {
		maxPackets = 1
	}
	return &packetPool{max: maxPackets}
}

// get returns a free packet (its length zero), or nil when the pool's cap is
// reached. It is safe from any goroutine.
func (pp *packetPool) get() *Packet {
	pp.mu.Lock()
	if len(pp.free) == 0 && !pp.grow() {
		pp.mu.Unlock()
		return nil
	}
	p := pp.free[len(pp.free)-1]
	pp.free = pp.free[:len(pp.free)-1]
	p.inUse = true
	pp.out++
	pp.mu.Unlock()
	return p
}

// grow adds up to poolChunk slots; false when the cap is reached. Called with
// mu held.
func (pp *packetPool) grow() bool {
	k := min(poolChunk, pp.max-pp.all)
	if k <= 0 {
		return false
	}
	if cap(pp.free) < pp.all+k {
		// The free list holds every slot there is, so Decommission's
		// append never reallocates it: grow it here, with the slots.
		free := make([]*Packet, len(pp.free), 2*(pp.all+k))
		copy(free, pp.free)
		pp.free = free
	}
	slab := make([]byte, k*MaxDatagram)
	pkts := make([]Packet, k)
	for i := range pkts {
		pkts[i].slot = slab[i*MaxDatagram : (i+1)*MaxDatagram : (i+1)*MaxDatagram]
		pkts[i].pool = pp
		pp.free = append(pp.free, &pkts[i])
	}
	pp.all += k
	return true
}

// outstanding returns how many packets are handed out and not yet
// decommissioned (tests check it returns to zero).
func (pp *packetPool) outstanding() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.out
}
