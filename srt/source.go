package srt

import (
	"github.com/zcingest/zerocopy/pool"
)

// decommissioner is a received SRT packet: a transport.Packet, whose slot
// the datagram was read into (tests use stand-ins).
type decommissioner interface{ Decommission() }

// packetSource is one SRT packet whose payload (up to seven TS packets)
// frames borrow instead of copying: an mpegts.Source. The read loop holds
// it while it feeds the packet to the demuxer, and every access unit whose
// bytes live in it holds it once more; the last Release decommissions the
// packet (its slot goes back to the socket's packet pool).
//
// Every call happens on the connection's goroutine: the read loop, the
// demuxer, and frame recycling (frames go back to their publisher, which
// is this goroutine), so the count needs no atomics.
type packetSource struct {
	pkt  decommissioner
	refs int32
	pool *sourcePool
}

// Retain adds a hold (mpegts.Source).
func (s *packetSource) Retain() {
	if s.refs <= 0 {
		panic("srt: Retain of a released packet")
	}
	s.refs++
}

// Release drops a hold (host.Holder); the last one decommissions the
// packet and returns the wrapper to its pool.
func (s *packetSource) Release() {
	s.refs--
	switch {
	case s.refs == 0:
		s.pkt.Decommission()
		s.pkt = nil
		s.pool.put(s)
	case s.refs < 0:
		panic("srt: packet released more often than retained")
	}
}

// sourcePool recycles one connection's packet wrappers, so steady state
// allocates nothing per datagram. It counts what it hands out, so a test
// can assert every packet was decommissioned.
type sourcePool struct {
	free           []*packetSource
	taken          int64 // packets wrapped
	decommissioned int64 // packets given back to their pool
}

// get wraps p with one hold, the caller's.
func (sp *sourcePool) get(p decommissioner) *packetSource {
	var s *packetSource
	if n := len(sp.free); n > 0 {
		s = sp.free[n-1]
		sp.free[n-1] = nil
		sp.free = sp.free[:n-1]
	} else {
		s = &packetSource{pool: sp}
	}
	s.pkt, s.refs = p, 1
	sp.taken++
	return s
}

func (sp *sourcePool) put(s *packetSource) {
	sp.decommissioned++
	sp.free = append(sp.free, s)
}

// outstanding is the number of packets still held by frames or the
// demuxer.
func (sp *sourcePool) outstanding() int64 { return sp.taken - sp.decommissioned }

// carrySource is one TS packet that straddled two SRT packets (a sender
// whose payload size is not a multiple of 188): its tail of one packet and
// its head from the next are copied, once, into 188 bytes Malloc'd from the
// connection's allocator, so the demuxer gets the contiguous packet it
// needs. It is an mpegts.Source like packetSource: frames whose payload
// lies in it hold it, and the last Release frees the bytes through package
// pool, on the connection's goroutine (frames are recycled there).
type carrySource struct {
	buf  []byte // PacketSize bytes from pool.Malloc; nil while pooled
	n    int    // bytes gathered so far
	refs int32
	pool *carryPool
}

// Retain adds a hold (mpegts.Source).
func (c *carrySource) Retain() {
	if c.refs <= 0 {
		panic("srt: Retain of a released carry packet")
	}
	c.refs++
}

// Release drops a hold (host.Holder); the last one frees the bytes.
func (c *carrySource) Release() {
	c.refs--
	switch {
	case c.refs == 0:
		pool.Free(c.pool.alloc, c.buf)
		c.buf, c.n = nil, 0
		c.pool.freed++
		c.pool.free = append(c.pool.free, c)
	case c.refs < 0:
		panic("srt: carry packet released more often than retained")
	}
}

// carryPool recycles one connection's carry wrappers; their bytes come
// from (and go back to) the connection's allocator.
type carryPool struct {
	alloc *pool.Allocator
	free  []*carrySource
	taken int64 // carry packets started
	freed int64 // and freed
}

// get returns a carry packet with one hold, the caller's.
func (cp *carryPool) get() *carrySource {
	var c *carrySource
	if n := len(cp.free); n > 0 {
		c = cp.free[n-1]
		cp.free[n-1] = nil
		cp.free = cp.free[:n-1]
	} else {
		c = &carrySource{pool: cp}
	}
	c.buf, c.n, c.refs = pool.Malloc(cp.alloc, tsPacketSize), 0, 1
	cp.taken++
	return c
}
