// Package transport is SRT's live-mode transport: a UDP listener with the
// caller-listener handshake (induction answered statelessly with a SYN
// cookie, conclusion decided by the application through Request), a caller
// (Dial), and connections with a receiver (in-order delivery, loss reports,
// ACK/ACKACK RTT, too-late skipping, key refresh) and a sender (retransmit
// on NAK, release on ACK, too-late drop). The wire format is package
// srt/wire.
//
// It exists for CPU and memory: datagrams are read straight into pooled
// fixed-size packet slots (Packet) that are recycled for ever, decrypted in
// place and handed to the reader of the connection without a copy; one
// goroutine reads each socket and routes by destination socket ID to the
// connection's bounded queue; all of a connection's receive state lives on
// the goroutine calling Conn.ReadPacket, which also runs its timer (10 ms
// while a gap is recovered, 100 ms otherwise: the ACKs of flowing data ride
// on its arrival). There is no goroutine per connection and no allocation
// per packet.
//
// Unlike libsrt, packets are delivered as soon as they are in order (no
// TSBPD hold); a gap is waited for at most the latency after the first
// packet behind it arrived. On a peer's SHUTDOWN every packet already
// received is delivered before io.EOF.
//
// Ownership: a Packet from ReadPacket belongs to the caller until it calls
// Decommission (exactly once, from any goroutine). Close releases
// everything still queued or buffered.
package transport
