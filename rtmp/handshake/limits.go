package handshake

// The handshake reads no length or count off the wire: C0 is one byte and C1
// and C2 are fixed 1536-byte packets, so nothing a peer sends can make it
// allocate or buffer more. Its only exposure is time, which the caller
// bounds: Serve sets no deadline, and the RTMP session arms one fixed
// deadline for the whole handshake (session.Config.HandshakeTimeout) that
// trickled bytes cannot extend.
