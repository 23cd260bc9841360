package srt

import "time"

// Limits of the SRT server. Each blocks one way a peer (or a flood of
// them) could make the server spend without bound.
const (
	// MaxPendingHandshakes bounds conclusion handshakes being decided at
	// once (auth callbacks may block): a flood of callers is refused with
	// REJX_OVERLOAD instead of spawning a goroutine each.
	MaxPendingHandshakes = 64
	// MinPassphrase and MaxPassphrase are libsrt's bounds (SRTO_PASSPHRASE
	// takes 10 to 79 bytes); libsrt refuses shorter and longer ones.
	MinPassphrase = 10
	MaxPassphrase = 79
	// MaxSendDropIntervals cuts a player whose connection dropped
	// packets unacknowledged (older than its latency plus the transport's
	// SendDropDelay) in this many stats intervals in a row: it stopped
	// acknowledging, so feeding it costs the link and the send buffer
	// for nothing. A lossy but live player loses a packet now and then,
	// not every second.
	MaxSendDropIntervals = 5
	// payloadSize is one SRT message of TS: 7 packets of 188 bytes, the
	// size every SRT peer expects in live mode.
	payloadSize  = 7 * tsPacketSize
	tsPacketSize = 188
	// allocatorSize is a publishing connection's allocator: its frames'
	// payloads are the transport's packet slots (foreign memory), so the
	// allocator only backs the Writer API and stays tiny.
	allocatorSize = 4096
	// statsInterval is how often a connection reports its SRT statistics
	// (a map, which allocates) to the host and checks its send buffer.
	statsInterval = time.Second
	// ingestInterval is how often a publisher reports its byte and
	// allocator counters (no allocation), so that a rate over a couple of
	// seconds is accurate.
	ingestInterval = 100 * time.Millisecond
	// drainWait bounds waiting for a player to acknowledge the end of a
	// stream before its connection closes.
	drainWait = 2 * time.Second
	// maxURLMillis bounds the millisecond values of a pull URL (latency,
	// conntimeo, peeridletimeo): an hour, far beyond any sane setting, so
	// a typo cannot overflow a duration or park a pull for ever.
	maxURLMillis = 3600 * 1000
)
