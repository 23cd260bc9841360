package chunk

// Limits. The Default* values are used when the matching Options field is
// zero; the others are fixed. Every rejection is a *limit.LimitError naming
// the constant (or Options field) that fired.
const (
	// DefaultMaxReassemblyBytes caps the payload bytes held in partially
	// received messages across all chunk streams of one connection. It blocks
	// a peer that opens many chunk streams and starts a large message on each
	// without finishing any, which would otherwise pin
	// MaxChunkStreams × MaxMessageLength bytes of pool memory.
	DefaultMaxReassemblyBytes = 8 << 20

	// DefaultMaxMessageLength caps the declared length of one message. The
	// wire field is 24 bits (16 MiB); a cap below it stops one header from
	// committing the connection to buffering a huge message. 8 MiB holds any
	// real keyframe (a 4K intra frame at high bitrate is a few MiB).
	DefaultMaxMessageLength = 8 << 20

	// DefaultMaxChunkStreams caps how many chunk stream ids one connection
	// may use. Each id keeps header-compression state forever, so without a
	// cap a peer cycling through the 65,598 possible ids grows the reader's
	// state without bound. Encoders use a handful (ffmpeg: 2..8).
	DefaultMaxChunkStreams = 64

	// MaxChunkSize is the largest chunk size the reader applies; a Set Chunk
	// Size above it is clamped. No message can exceed the 24-bit length
	// field, so a larger chunk size would change nothing, and the chunk size
	// never sizes an allocation: the reader takes min(chunk size, bytes left
	// in the message) at a time. It blocks nothing by itself but documents
	// that values up to 0xFFFFFFFF are harmless.
	MaxChunkSize = 0xFFFFFF

	// MinChunkSize is the smallest chunk size. A Set Chunk Size of 0 is a
	// protocol error (it would make no progress); 1 is legal but makes the
	// peer pay a header per payload byte, so it costs the reader CPU in
	// proportion to input bytes only.
	MinChunkSize = 1

	// DefaultZeroCopyMinChunkSize is the smallest chunk size at which chunk
	// payloads are taken (zero-copy); below it they are copied into pooled
	// segments. Every taken chunk leaves its header bytes as a separate free
	// fragment between two taken ranges, and gomem's free tree degenerates
	// into a list when it holds many equal-size fragments in address order:
	// an 8 MiB message at the default chunk size of 128 (65,536 fragments)
	// costs 6.7 s of CPU, quadratic in the chunk count. Copying small chunks
	// blocks that CPU exhaustion. Peers that matter use large chunks: OBS
	// sends 4096, ffmpeg adopts the size the server announces.
	DefaultZeroCopyMinChunkSize = 4096

	// CopySegmentSize is the largest segment Malloc'd for copied chunks. A
	// segment is sized min(CopySegmentSize, bytes left in the message), so a
	// length read off the wire can commit at most this much memory ahead of
	// the data per chunk stream.
	CopySegmentSize = 16 << 10

	// DefaultChunkSize is the chunk size in force before any Set Chunk Size.
	DefaultChunkSize = 128

	// maxHeaderLen is the longest chunk header: 3-byte basic header, 11-byte
	// type-0 message header and 4-byte extended timestamp.
	maxHeaderLen = 3 + 11 + 4
)

// Aggregate messages (type 22).
const (
	// MaxAggregateMessages caps the sub-messages unpacked from one aggregate
	// message. Each one becomes a frame (a ring slot and a frame header), so
	// without a cap one 8 MiB aggregate of empty tags would make the read loop
	// publish hundreds of thousands of frames. Servers that aggregate (FMS,
	// Wowza) bundle well under a second of audio and video: tens of tags.
	MaxAggregateMessages = 256

	// aggregateTagHeaderLen is an FLV tag header inside an aggregate: type,
	// 24-bit data size, 24-bit timestamp, 8-bit timestamp extension, 24-bit
	// stream id.
	aggregateTagHeaderLen = 11

	// aggregateBackPointerLen is the 32-bit back pointer after each tag.
	aggregateBackPointerLen = 4
)
