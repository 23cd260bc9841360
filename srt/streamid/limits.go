package streamid

// Limits on a streamid, which arrives from an unauthenticated peer in the
// conclusion handshake.
const (
	// MaxLength is SRT's own bound (the SID extension carries at most 512
	// bytes); anything longer is a peer probing the parser, not a client.
	MaxLength = 512
	// MaxKeys bounds the key=value pairs of the access-control form, so a
	// streamid of a hundred empty pairs costs no more than a few.
	MaxKeys = 16
	// MaxPathLength bounds the resource name a stream is published under:
	// longer paths only bloat logs, metrics labels and the hub's map.
	MaxPathLength = 256
)
