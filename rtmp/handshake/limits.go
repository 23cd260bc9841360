package handshake

import "time"

// The handshake reads no length or count off the wire: C0 is one byte and C1
// and C2 are fixed 1536-byte packets, so nothing a peer sends can make it
// allocate or buffer more. Its only exposure is time.
const (
	// Timeout is the deadline a session should arm on the connection for the
	// whole handshake (Serve does not touch deadlines itself). It blocks a
	// peer that trickles C0C1 or C2 a byte at a time (slowloris) from holding
	// a connection slot indefinitely.
	Timeout = 10 * time.Second
)
