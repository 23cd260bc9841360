package transport

import (
	"sync/atomic"
	"time"
)

// Stats are a connection's counters (libsrt's names). They are read with
// atomics and may be taken from any goroutine at any time.
type Stats struct {
	PktRecv        uint64 // data packets received (duplicates excluded)
	ByteRecv       uint64 // payload bytes of those packets
	PktRecvLoss    uint64 // packets detected missing (gaps), NAKed
	PktRecvDrop    uint64 // packets given up: too late, or dropped on the sender's request
	PktRecvRetrans uint64 // retransmitted packets received (R flag)
	PktRecvDup     uint64 // duplicates and packets behind the delivery point, dropped
	PktRecvDropped uint64 // datagrams dropped before the receiver: queue full, beyond the flow window, undecryptable
	PktMalformed   uint64 // control packets that did not parse
	PktSent        uint64
	PktSendLoss    uint64 // packets the peer reported lost (NAKed)
	PktSendDrop    uint64 // packets dropped unsent or unacknowledged (too late, buffer full)
	PktRetrans     uint64
	RTT, RTTVar    time.Duration
	RecvBufPkts    uint64 // packets buffered behind a gap
	SendBufPkts    uint64 // packets kept for retransmission
	RecvBufMs      uint64 // age of the oldest buffered packet, milliseconds
	SendBufMs      uint64 // age span of the send buffer, milliseconds
}

// recvCounters are the receive side's statistics, written by the
// ReadPacket goroutine (and the socket reader for queueDrop), read by Stats.
type recvCounters struct {
	pkts, bytes, loss, drop, retrans, dup atomic.Uint64
	queueDrop, window, undecryptable      atomic.Uint64
	malformed, keyRefresh                 atomic.Uint64
	bufPkts, bufMs                        atomic.Uint64
	rtt, rttVar                           atomic.Int64 // nanoseconds
	rttSamples                            atomic.Uint64
}

// Stats returns the connection's counters so far.
func (c *Conn) Stats() Stats {
	s := Stats{
		PktRecv:        c.st.pkts.Load(),
		ByteRecv:       c.st.bytes.Load(),
		PktRecvLoss:    c.st.loss.Load(),
		PktRecvDrop:    c.st.drop.Load(),
		PktRecvRetrans: c.st.retrans.Load(),
		PktRecvDup:     c.st.dup.Load(),
		PktRecvDropped: c.st.queueDrop.Load() + c.st.window.Load() + c.st.undecryptable.Load(),
		PktMalformed:   c.st.malformed.Load(),
		RTT:            time.Duration(c.st.rtt.Load()),
		RTTVar:         time.Duration(c.st.rttVar.Load()),
		RecvBufPkts:    c.st.bufPkts.Load(),
		RecvBufMs:      c.st.bufMs.Load(),
	}
	ss := c.snd.stats()
	s.PktSent = ss.Sent
	s.PktSendLoss = ss.Loss
	s.PktSendDrop = ss.Drop
	s.PktRetrans = ss.Retrans
	s.SendBufPkts = ss.BufPkts
	s.SendBufMs = ss.BufMs
	return s
}

// ListenerStats are a listener's socket counters.
type ListenerStats struct {
	Datagrams     uint64 // datagrams read
	PoolExhausted uint64 // dropped: no free packet slot (MaxPoolPackets)
	QueueFull     uint64 // dropped: the connection's inbound queue was full or it was closing
	UnknownSocket uint64 // dropped: no connection with that socket ID from that address
	Malformed     uint64 // dropped: too short, or a handshake that did not parse
	Handshakes    uint64 // handshake packets handled
	Rejected      uint64 // conclusions refused (by Reject, overload or a bad cookie)
	Accepted      uint64 // connections accepted
	Conns         uint64 // connections open now
	PoolPackets   uint64 // packet slots handed out now
}

type listenerCounters struct {
	datagrams, poolExhausted, queueFull, unknown, malformed atomic.Uint64
	handshakes, rejected, accepted                          atomic.Uint64
}
