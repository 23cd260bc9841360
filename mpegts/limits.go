package mpegts

import "time"

// Limits on peer-controlled sizes and counts. Each names the abuse it
// blocks; a rejection is reported as a *limit.LimitError naming the
// constant (wrapped with the PID or table it concerns).
const (
	// DefaultMaxPESSize caps the bytes one PES may collect before it is
	// dropped (Options.MaxPESSize overrides it). A video PES with length 0
	// ends only at the next PUSI: a peer that never sends one would make the
	// demuxer retain every packet's Source (SRT packet slots) forever.
	DefaultMaxPESSize = 4 << 20

	// MaxPESHeaderSize is the largest PES header (9 fixed bytes plus a
	// 255-byte header_data_length); it bounds the scratch a header that
	// straddles packets is gathered in, so no wire count sizes a buffer.
	MaxPESHeaderSize = 9 + 255

	// MaxUnitsPerAU caps the NAL units one video access unit may hold: a
	// PES made of back-to-back start codes would otherwise grow the unit
	// table by one entry per 3 bytes (over a million for one PES).
	MaxUnitsPerAU = 1024

	// MaxSectionSize is the largest PAT or PMT section (section_length is
	// at most 1021 for both, ISO/IEC 13818-1 2.4.4): a larger claim is
	// either garbage or an attempt to make the demuxer assemble an endless
	// section from many packets.
	MaxSectionSize = 3 + 1021

	// MaxPrograms caps the PAT entries examined: only the first program is
	// used; the rest are counted. A PAT section cannot hold more than 253,
	// so this only guards the loop against a lying section_length.
	MaxPrograms = 253

	// MaxPMTStreams caps the elementary streams one PMT may list. Only the
	// first video and the first audio stream are used; a PMT listing
	// hundreds of streams is rejected rather than walked on every repeat.
	MaxPMTStreams = 64

	// MaxTracks is the number of elementary streams the demuxer follows:
	// one video and one audio. Any other stream (a second program, a second
	// audio language) is counted in Stats and ignored, never half-handled
	// (Monibuca panics there).
	MaxTracks = 2

	// MaxTimestampJump is the largest step between consecutive timestamps
	// (PTS/DTS of any selected stream, or PCR) that counts as continuous.
	// A larger jump, forward or back, is a discontinuity: the demuxer
	// rebases its output timeline so timestamps stay monotonic instead of
	// leaping hours ahead (stalling players) or going backwards (which a
	// looping or restarted source, or a hostile peer, would cause).
	MaxTimestampJump = 5 * time.Second

	// MaxFlaggedStep is the largest forward step still accepted as is after
	// a discontinuity_indicator: with the flag set, any backward step or a
	// forward one beyond this rebases.
	MaxFlaggedStep = 1 * time.Second

	// MaxPTSDelay caps how far a PES's PTS may lie after its DTS (B-frame
	// reordering is a few frames); a larger or negative gap is garbage and
	// the PTS is taken to be the DTS.
	MaxPTSDelay = 5 * time.Second

	// ResyncConfirm is how many sync bytes 188 bytes apart Resync wants
	// before it trusts an offset: a single 0x47 occurs in any payload.
	ResyncConfirm = 3
)

const (
	// MaxParamSetSize caps an in-band SPS/PPS/VPS the demuxer copies to
	// report in Config: real ones are under a few hundred bytes; a huge fake
	// one must not cost a large copy on every keyframe. Larger ones are
	// passed through in the access unit but not recorded.
	MaxParamSetSize = 1024

	// MaxPCRStep is the largest step between consecutive PCRs that counts
	// as continuous (the standard wants a PCR at least every 100 ms): a
	// larger step either way marks a discontinuity, after which the next
	// timestamp rebases if it jumps (see MaxFlaggedStep).
	MaxPCRStep = 1 * time.Second
)
