package wire

// Limits of the wire format. Each bounds what one datagram from a peer can
// make a parser do or keep.
const (
	// MaxStreamID is libsrt's limit on the SID extension (SRT's
	// MAX_SID_LENGTH, 512 bytes): a longer streamid is a malformed
	// handshake, never a larger buffer.
	MaxStreamID = 512
	// MaxExtensions bounds the HSv5 extension blocks walked in one
	// conclusion handshake. libsrt sends at most five (HSREQ, KMREQ, SID,
	// CONGESTION, FILTER/GROUP); a datagram full of empty 4-byte
	// extensions would otherwise cost hundreds of iterations per packet
	// on the listener's single reader goroutine.
	MaxExtensions = 16
	// MaxLossRangesPerNAK is how many loss ranges AppendNAK callers put in
	// one NAK: 8 bytes each, 182 ranges fill a 1500-byte datagram after
	// the IP, UDP and SRT headers. More losses go in the next periodic NAK.
	MaxLossRangesPerNAK = (1500 - 20 - 8 - HeaderSize) / 8
	// MaxKMWrap is the longest wrapped key field a KM message can carry
	// (two 32-byte keys plus RFC 3394's 8-byte integrity block). ParseKM
	// takes exactly the length KK and the key length imply, so a peer
	// cannot make Unwrap derive and unwrap more than this.
	MaxKMWrap = 2*32 + 8
)
