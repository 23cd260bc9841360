// Package handshake implements the RTMP handshake: the server side (both the
// simple handshake, where S2 echoes C1, and the digest or "complex" handshake
// that Flash Player, ffmpeg, librtmp and OBS use) and a simple or digest
// client for tests and benchmarks.
//
// The digest handshake hides a 32-byte HMAC-SHA256 digest in C1 and S1 at an
// offset derived from four bytes of the packet. In schema 0 the offset bytes
// are C1[8:12] and the digest lies in C1[12:740]; in schema 1 they are
// C1[772:776] and the digest lies in C1[776:1504]. The client signs C1 with
// the Flash Player key, the server signs S1 with the Flash Media Server key,
// and S2 ends with a signature keyed by C1's digest, which a client that
// checks the server (ffmpeg when playing) verifies. RTMPE (C0 version 6, a
// Diffie-Hellman exchange) is not supported.
package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/zcingest/zerocopy/bufreader"
)

// Protocol constants.
const (
	// Version is the only RTMP version accepted in C0 and sent in S0.
	Version = 3
	// PacketSize is the size of C1, S1, C2 and S2.
	PacketSize = 1536

	digestLen   = 32
	digestRange = 728 // digest offsets are taken modulo this
	// DefaultServerVersion is sent in S1 bytes 4..7 of a digest handshake.
	// Its first byte must be at least 3, or ffmpeg skips verifying S1 and S2.
	DefaultServerVersion = 0x0d0e0a0d
	// DefaultClientVersion is sent in C1 bytes 4..7 by a digest Client
	// (Flash Player 9.0.124.2, as ffmpeg sends).
	DefaultClientVersion = 0x09007c02
)

// The Flash Player and Flash Media Server keys. C1 and S1 digests are keyed by
// the text part alone (the first 30 and 36 bytes); the S2 and C2 signature
// keys are derived from the full keys.
var (
	keySuffix = []byte{
		0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
		0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
	}
	playerKey = append([]byte("Genuine Adobe Flash Player 001"), keySuffix...)       // 62 bytes
	serverKey = append([]byte("Genuine Adobe Flash Media Server 001"), keySuffix...) // 68 bytes
)

const (
	playerKeyTextLen = 30
	serverKeyTextLen = 36
)

// ErrVersion is returned when C0 (or S0) carries a version other than 3.
var ErrVersion = errors.New("unsupported RTMP version")

// ErrDigest is returned by a digest Client when S1 or S2 fails verification.
var ErrDigest = errors.New("digest verification failed")

// Options configures Serve. The zero value is ready to use.
type Options struct {
	// Rand supplies the random bytes of S1 and S2; nil means crypto/rand.
	Rand io.Reader
	// Time is sent in S1 bytes 0..3 (the server's epoch in milliseconds).
	Time uint32
	// ServerVersion is sent in S1 bytes 4..7 of a digest handshake; zero
	// means DefaultServerVersion.
	ServerVersion uint32
	// RequireDigest rejects clients whose C1 carries no valid digest instead
	// of falling back to the simple handshake.
	RequireDigest bool
}

// Result describes a completed handshake.
type Result struct {
	// Digest reports that the digest ("complex") handshake was used.
	Digest bool
	// Schema is the digest schema (0: offset in bytes 8..11, 1: offset in
	// bytes 772..775) when Digest is set.
	Schema int
	// PeerTime and PeerVersion are bytes 0..3 and 4..7 of the peer's
	// C1 (Serve) or S1 (Client).
	PeerTime, PeerVersion uint32
}

// Serve runs the server side of the handshake: it reads C0 and C1 from r,
// writes S0, S1 and S2 to w in one Write, and reads C2. When C1 carries a
// valid digest in either schema, S1 and S2 are signed (digest handshake);
// otherwise S2 echoes C1 (simple handshake), unless opts.RequireDigest is set.
// C2 is read and discarded: ffmpeg's C2 echoes nothing we could check in the
// digest handshake, and some clients send garbage in the simple one.
//
// Serve does not set deadlines; arm one on the connection around it. Its
// reads from r are atomic, so on error nothing of the next phase has been
// consumed. Errors name the phase and wrap the cause (ErrVersion, a source
// error, io.ErrUnexpectedEOF).
func Serve(r *bufreader.Reader, w io.Writer, opts Options) (Result, error) {
	var res Result
	v, err := r.ReadByte()
	if err != nil {
		return res, fmt.Errorf("rtmp handshake: read C0: %w", err)
	}
	if v != Version {
		if v == 6 || v == 8 {
			return res, fmt.Errorf("rtmp handshake: C0 version %d (RTMPE) is not supported: %w", v, ErrVersion)
		}
		return res, fmt.Errorf("rtmp handshake: C0 version %d, want %d: %w", v, Version, ErrVersion)
	}
	hs := new(state) // 4.6 KB: keep it off the goroutine stack
	c1 := hs.c1[:]
	if err := readFull(r, c1); err != nil {
		return res, fmt.Errorf("rtmp handshake: read C1: %w", err)
	}
	res.PeerTime = binary.BigEndian.Uint32(c1[0:])
	res.PeerVersion = binary.BigEndian.Uint32(c1[4:])

	out := hs.out[:]
	out[0] = Version
	s1, s2 := out[1:1+PacketSize], out[1+PacketSize:]
	if err := fillRandom(opts.Rand, s1[8:]); err != nil {
		return res, fmt.Errorf("rtmp handshake: S1 random: %w", err)
	}
	put32(s1[0:], opts.Time)

	clientDigest, schema := []byte(nil), -1
	if res.PeerVersion != 0 {
		clientDigest, schema = findDigest(c1, playerKey[:playerKeyTextLen])
	}
	switch {
	case schema >= 0:
		res.Digest, res.Schema = true, schema
		sv := opts.ServerVersion
		if sv == 0 {
			sv = DefaultServerVersion
		}
		put32(s1[4:], sv)
		off := digestOffset(s1, schema)
		mac := hmac.New(sha256.New, serverKey[:serverKeyTextLen])
		sign(mac, s1, off, s1[off:off])

		// S2: random bytes, then HMAC(HMAC(serverKey, C1 digest), S2[:1504]).
		if err := fillRandom(opts.Rand, s2); err != nil {
			return res, fmt.Errorf("rtmp handshake: S2 random: %w", err)
		}
		signPacket(s2, serverKey, clientDigest)
	case opts.RequireDigest:
		return res, fmt.Errorf("rtmp handshake: C1 (version %#08x) carries no valid digest", res.PeerVersion)
	default:
		// Simple handshake: S1 version is zero, S2 echoes C1.
		put32(s1[4:], 0)
		copy(s2, c1)
	}
	if _, err := w.Write(out); err != nil {
		return res, fmt.Errorf("rtmp handshake: write S0S1S2: %w", err)
	}
	if err := r.Skip(PacketSize); err != nil {
		return res, fmt.Errorf("rtmp handshake: read C2: %w", err)
	}
	return res, nil
}

// state holds one handshake's packets.
type state struct {
	c1  [PacketSize]byte
	out [1 + 2*PacketSize]byte
}

// readFull copies exactly len(p) bytes from r into p (the handshake needs C1
// contiguous to hash it; this is control-path data).
func readFull(r *bufreader.Reader, p []byte) error {
	n := 0
	return r.ReadRange(len(p), func(b []byte) { n += copy(p[n:], b) })
}

// digestOffset returns where the digest lies in a 1536-byte C1 or S1 for
// the given schema.
func digestOffset(p []byte, schema int) int {
	base := 8
	if schema == 1 {
		base = 772
	}
	sum := int(p[base]) + int(p[base+1]) + int(p[base+2]) + int(p[base+3])
	return sum%digestRange + base + 4
}

// findDigest looks for a valid digest keyed by key in schema 0, then schema
// 1, and returns it (a sub-slice of p) and the schema, or -1.
func findDigest(p, key []byte) ([]byte, int) {
	mac := hmac.New(sha256.New, key)
	var sum [sha256.Size]byte
	for schema := range 2 {
		off := digestOffset(p, schema)
		got := sign(mac, p, off, sum[:0])
		if hmac.Equal(got, p[off:off+digestLen]) {
			return p[off : off+digestLen], schema
		}
	}
	return nil, -1
}

// sign computes mac over p without the 32 bytes at off and appends the sum
// to dst. When dst aliases p[off:off], the digest is written in place.
func sign(mac hash.Hash, p []byte, off int, dst []byte) []byte {
	mac.Reset()
	mac.Write(p[:off])
	mac.Write(p[off+digestLen:])
	return mac.Sum(dst)
}

// signPacket writes into the last 32 bytes of p (S2 or C2) the signature
// HMAC(HMAC(key, peerDigest), p[:1504]).
func signPacket(p, key, peerDigest []byte) {
	m := hmac.New(sha256.New, key)
	m.Write(peerDigest)
	var k [sha256.Size]byte
	m = hmac.New(sha256.New, m.Sum(k[:0]))
	m.Write(p[:PacketSize-digestLen])
	m.Sum(p[:PacketSize-digestLen])
}

// checkPacket reports whether p's last 32 bytes are the signature
// signPacket would write.
func checkPacket(p, key, peerDigest []byte) bool {
	var q [PacketSize]byte
	copy(q[:], p)
	signPacket(q[:], key, peerDigest)
	return bytes.Equal(q[PacketSize-digestLen:], p[PacketSize-digestLen:])
}

func fillRandom(src io.Reader, p []byte) error {
	if src == nil {
		_, _ = rand.Read(p) // never fails (Go 1.24+)
		return nil
	}
	_, err := io.ReadFull(src, p)
	return err
}

func put32(p []byte, v uint32) {
	p[0], p[1], p[2], p[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
