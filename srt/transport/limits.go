package transport

import (
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// Limits of the SRT transport. Each is a named bound on memory or work a
// peer (or a flood of peers) could otherwise make us spend without end.
const (
	// MaxDatagram is the size of one packet slot: the largest UDP payload
	// an SRT peer sends on Ethernet (libsrt's default MSS is 1500 bytes
	// including the IP and UDP headers, so its datagrams are smaller). A
	// longer datagram is truncated by the kernel and dropped as malformed.
	MaxDatagram = 1500
	// MaxPoolPackets caps the packet slots of one socket's pool (1.5 GB
	// at most). Publishers' frames hold their packets for as long as the
	// hub's ring keeps them (12 s at 4.7 Mbit/s is about 5,400 packets a
	// stream), and players keep up to MaxSendBuffer each, so the cap must
	// fit every stream of a busy server; the hub's ring and the
	// connection caps bound it first. It is the last bound: slots are
	// recycled forever, so this is what a burst can pin. When it is
	// reached, datagrams are dropped (counted) and SRT retransmits them.
	MaxPoolPackets = 1 << 20
	// DialPoolPackets caps the pool of a dialed connection (one peer):
	// its flow window plus its inbound queue.
	DialPoolPackets = FlowWindow + InboundQueue
	// SocketBuffer is the listener socket's kernel receive and send
	// buffer we ask for (libsrt asks for its flow window of 8192 packets,
	// about 12 MB; the kernel clamps to net.core.rmem_max/wmem_max). The
	// default 208 KB holds under 100 full datagrams: a burst from many
	// publishers while the reader is descheduled would be lost in the
	// kernel, and a lost tail is only noticed when the next packet comes.
	SocketBuffer = 8 << 20
	// poolChunk is how many slots the pool adds at once: one slab of
	// poolChunk*MaxDatagram pointer-free bytes, so growth allocates rarely.
	poolChunk = 64
	// InboundQueue bounds the datagrams queued from the socket reader to
	// one connection: a reader that stalls costs drops (counted), never
	// unbounded memory or a blocked socket reader shared by every peer.
	InboundQueue = 1024
	// FlowWindow bounds the packets a receiving connection buffers behind
	// a gap (and is the flow window we announce): about 11 MB, or 0.9 s at
	// 100 Mbit/s. It must be a power of two (the ring is indexed by the
	// sequence number's low bits, which stay consistent across the 31-bit
	// wrap).
	FlowWindow = 8192
	// AcceptQueue bounds conclusion handshakes waiting for Accept to hand
	// them out; when it is full the caller is refused with REJX_OVERLOAD.
	AcceptQueue = 64
	// MaxPendingRequests bounds handshakes kept by the listener at once
	// (queued, being decided, or decided and kept to answer retransmitted
	// conclusions), so a flood of callers with valid cookies cannot grow
	// the table without end; over it callers get REJX_OVERLOAD.
	MaxPendingRequests = 1024
	// DefaultHandshakeTimeout is how long an undecided request is kept
	// (and a decided one's answer, for retransmitted conclusions) when
	// Config.HandshakeTimeout is zero. libsrt callers give up after 3 s.
	DefaultHandshakeTimeout = 3 * time.Second
	// DefaultLatency is libsrt's default receiver latency (SRTO_LATENCY).
	DefaultLatency = 120 * time.Millisecond
	// DefaultPeerIdleTimeout is libsrt's SRTO_PEERIDLETIMEO default.
	DefaultPeerIdleTimeout = 5 * time.Second
	// MaxLossRangesPerNAK bounds the loss list of one NAK we send, so it
	// fits a datagram (each range is 8 bytes): the rest is reported by the
	// next periodic NAK.
	MaxLossRangesPerNAK = 128
	// MaxLatency bounds the latency a peer's handshake can make a
	// connection use (libsrt's field allows 65 s): the receiver waits
	// that long for a lost packet before skipping it, stalling the
	// stream, and a sender keeps unacknowledged packets that long. Ours
	// (Config.Latency) is used as configured; zerocopy's config caps it
	// at the same 10 s.
	MaxLatency = 10 * time.Second
	// MaxStreamID is libsrt's bound on SRTO_STREAMID (512 bytes).
	MaxStreamID = 512

	// ackInterval is how often a receiver sends a full ACK (libsrt's
	// COMM_SYN_INTERVAL), when something new arrived since the last one.
	ackInterval = 10 * time.Millisecond
	// idleTick is the receiver's timer period while no gap waits for a
	// NAK or a skip: the ACKs of flowing data go out as packets are
	// handled (every ackInterval), so the timer only repeats a lost ACK,
	// acknowledges the end of a burst, sends keepalives and checks the
	// idle timeout, none of which needs 10 ms precision. A 10 ms timer
	// per connection cost a fifth of the receive CPU (wake-ups) at 32
	// paced publishers.
	idleTick = 100 * time.Millisecond
	// minKeyRefreshInterval spaces the key refreshes (KMREQ) a peer may
	// make us derive: each costs a PBKDF2 run (2048 HMAC-SHA1 rounds,
	// about a millisecond), libsrt refreshes once per 2^24 packets, and
	// a repeated KMREQ is answered from the last one without a run.
	minKeyRefreshInterval = time.Second
	// maxKMSize is the longest KM message: a 16-byte header, a 16-byte
	// salt and both wrapped keys; a longer KMREQ is never remembered.
	maxKMSize = 16 + 16 + wire.MaxKMWrap
	// ackRepeat is how long a full ACK waits for its ACKACK before it is
	// sent again even though nothing new arrived (libsrt repeats it too).
	ackRepeat = 100 * time.Millisecond
	// minNAKInterval is the floor of the periodic NAK interval (libsrt's
	// 20 ms); the interval is otherwise RTT + 4*RTTVar.
	minNAKInterval = 20 * time.Millisecond
	// keepaliveInterval: a connection that sent nothing for this long sends
	// a keepalive, so the peer's idle timer does not fire.
	keepaliveInterval = time.Second
	// ackHistory is how many sent full ACKs are remembered to match their
	// ACKACK (RTT samples); older ACKACKs are ignored.
	ackHistory = 64
	// initialRTT and initialRTTVar are libsrt's starting estimates.
	initialRTT    = 100 * time.Millisecond
	initialRTTVar = 50 * time.Millisecond
	// cookieSecretSize is the key of the SYN cookie's keyed hash.
	cookieSecretSize = 32
	// cookiePeriod is the SYN cookie's time step; the current and the
	// previous step are accepted.
	cookiePeriod = time.Minute
	// maxMTU is the largest MTU we accept from a caller (libsrt's maximum).
	maxMTU = 1500
	// srtVersion is what we announce in HSRSP (libsrt 1.5.1's encoding).
	srtVersion = 0x010501
)

// Limits of the sender.
const (
	// MaxSendBuffer bounds the packets one sending connection keeps for
	// retransmission: 1.4 s at 60 Mbit/s of 1316-byte messages, more than
	// DefaultLatency+SendDropDelay at any rate a player is fed. A peer that
	// stops acknowledging costs drops (counted), never unbounded memory.
	MaxSendBuffer = 8192
	// SendDropDelay is how long past the peer's latency an unacknowledged
	// packet is kept (libsrt's SRT_TLPKTDROP_MINTHRESHOLD_MS): by then the
	// peer's TSBPD deadline for it has passed, so a retransmission would
	// only waste the link.
	SendDropDelay = time.Second
	// initialSendRing is the send ring's first size; it doubles up to
	// MaxSendBuffer, so a slow stream costs 4 KB of ring, not 128 KB.
	initialSendRing = 256
)

// Caller-side limits and defaults.
const (
	// DefaultConnectTimeout is libsrt's SRTO_CONNTIMEO default: how long
	// Dial keeps retrying the handshake when DialConfig.ConnectTimeout is
	// zero.
	DefaultConnectTimeout = 3 * time.Second
	// handshakeRetry is how often an unanswered handshake request is sent
	// again (libsrt retries every 250 ms).
	handshakeRetry = 250 * time.Millisecond
	// DefaultKeyLength is the AES key length a caller with a passphrase
	// proposes when the listener advertises none (libsrt's
	// SRTO_PBKEYLEN default).
	DefaultKeyLength = 16
)
