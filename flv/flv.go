// Package flv is the FLV tag layer shared by RTMP ingest (an RTMP audio or
// video message body is an FLV tag body) and HTTP-FLV egress: tag body
// header parsing (legacy AVC/HEVC/AAC and Enhanced RTMP), tag header
// encoding, a streaming Reader that takes tag payloads out of a
// bufreader.Reader without copying them, and a Writer that writes tags with
// one vectored write without copying the payload.
//
// # Ownership
//
// Parsers (ParseVideo, ParseAudio) only read the gomem.Memory they are
// given. Reader.ReadTag transfers ownership of each tag's payload ranges to
// the caller, who frees them with pool.FreeMemory on the bufreader's
// allocator, on the reader's goroutine. Writer.WriteTag reads the payload
// slices only during the call.
package flv

import (
	"errors"
	"fmt"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/limit"
)

// Tag types.
const (
	TagAudio  uint8 = 8
	TagVideo  uint8 = 9
	TagScript uint8 = 18
)

// Sizes of the fixed parts of the format.
const (
	FileHeaderSize      = 9  // signature, version, flags, DataOffset
	TagHeaderSize       = 11 // type, DataSize, Timestamp, TimestampExtended, StreamID
	PreviousTagSizeSize = 4
)

// File header flags.
const (
	flagAudio = 0x04
	flagVideo = 0x01
)

var (
	// ErrTruncated reports a tag body too short for the header its first
	// byte announces.
	ErrTruncated = errors.New("flv: truncated tag body")

	// ErrUnsupported reports a well-formed tag body using a feature this
	// package does not implement (Enhanced RTMP Multitrack).
	ErrUnsupported = errors.New("flv: unsupported feature")

	// ErrPreviousTagSize reports a PreviousTagSize field that does not match
	// the tag before it (see ReaderOptions.IgnorePreviousTagSize).
	ErrPreviousTagSize = errors.New("flv: PreviousTagSize mismatch")

	// ErrPayloadNotReleased is returned by ReadTag when the Tag still holds
	// a payload: free it (pool.FreeMemory) or move it out first.
	ErrPayloadNotReleased = errors.New("flv: ReadTag into a Tag whose payload was not released")

	errNotFLV = errors.New("flv: missing FLV signature")
)

// FourCC is an Enhanced RTMP codec FourCC, big-endian ('h','v','c','1').
type FourCC uint32

// Video and audio FourCCs of Enhanced RTMP.
const (
	FourCCAVC  FourCC = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCHEVC FourCC = 'h'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCAV1  FourCC = 'a'<<24 | 'v'<<16 | '0'<<8 | '1'
	FourCCVP9  FourCC = 'v'<<24 | 'p'<<16 | '0'<<8 | '9'
	FourCCAAC  FourCC = 'm'<<24 | 'p'<<16 | '4'<<8 | 'a'
	FourCCOpus FourCC = 'O'<<24 | 'p'<<16 | 'u'<<8 | 's'
	FourCCFLAC FourCC = 'f'<<24 | 'L'<<16 | 'a'<<8 | 'C'
	FourCCAC3  FourCC = 'a'<<24 | 'c'<<16 | '-'<<8 | '3'
	FourCCEAC3 FourCC = 'e'<<24 | 'c'<<16 | '-'<<8 | '3'
	FourCCMP3  FourCC = '.'<<24 | 'm'<<16 | 'p'<<8 | '3'
)

// String returns the four characters, with non-printable bytes escaped.
func (f FourCC) String() string {
	b := [4]byte{byte(f >> 24), byte(f >> 16), byte(f >> 8), byte(f)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("FourCC(%#08x)", uint32(f))
		}
	}
	return string(b[:])
}

// Header is the FLV file header.
type Header struct {
	Version    uint8
	HasAudio   bool
	HasVideo   bool
	DataOffset uint32 // size of the header; 9 for version 1
}

// TagHeader is the 11-byte header of a tag, decoded.
type TagHeader struct {
	Type      uint8  // TagAudio, TagVideo, TagScript (the low 5 bits of the first byte)
	Filter    bool   // the body is encrypted (pre-processing required)
	Timestamp uint32 // milliseconds: 24 bits plus the extended byte as bits 24..31
	StreamID  uint32 // 24 bits, always 0 in files
}

// Tag is one tag read by Reader.ReadTag. Payload is the tag body (the RTMP
// message body for audio and video), owned by whoever holds the Tag: see
// Reader.ReadTag.
type Tag struct {
	TagHeader
	Payload gomem.Memory
}

// PutTagHeader appends the 11-byte tag header to dst and returns the
// extended slice. tagType is written as given (TagVideo, or TagVideo|0x20
// for the filter bit), the timestamp's low 24 bits go into Timestamp and
// bits 24..31 into TimestampExtended, and StreamID is 0. dataSize must be in
// [0, MaxDataSize]; anything else is a programming error and panics (the
// Writer checks it and returns an error instead).
func PutTagHeader(dst []byte, tagType uint8, dataSize int, timestampMs uint32) []byte {
	if dataSize < 0 || dataSize > MaxDataSize {
		panic(fmt.Sprintf("flv.PutTagHeader: data size %d out of range [0,%d]", dataSize, MaxDataSize))
	}
	return append(dst, tagType,
		byte(dataSize>>16), byte(dataSize>>8), byte(dataSize),
		byte(timestampMs>>16), byte(timestampMs>>8), byte(timestampMs), byte(timestampMs>>24),
		0, 0, 0)
}

// PutPreviousTagSize appends the 4-byte big-endian PreviousTagSize field to
// dst. For a tag it is TagHeaderSize plus the body size; the field after the
// file header is 0.
func PutPreviousTagSize(dst []byte, size uint32) []byte {
	return append(dst, byte(size>>24), byte(size>>16), byte(size>>8), byte(size))
}

// FileHeader returns the 13 bytes that start an FLV file: the 9-byte
// version 1 header and the PreviousTagSize0 field.
func FileHeader(hasVideo, hasAudio bool) []byte {
	return AppendFileHeader(make([]byte, 0, FileHeaderSize+PreviousTagSizeSize), hasVideo, hasAudio)
}

// AppendFileHeader is FileHeader appending to dst.
func AppendFileHeader(dst []byte, hasVideo, hasAudio bool) []byte {
	var flags byte
	if hasAudio {
		flags |= flagAudio
	}
	if hasVideo {
		flags |= flagVideo
	}
	return append(dst, 'F', 'L', 'V', 1, flags, 0, 0, 0, FileHeaderSize, 0, 0, 0, 0)
}

func dataSizeError(got int) error {
	return &limit.LimitError{Name: "MaxDataSize", Limit: MaxDataSize, Got: int64(got)}
}
