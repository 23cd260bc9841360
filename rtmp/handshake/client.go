package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// ClientOptions configures Client. The zero value runs a simple handshake.
type ClientOptions struct {
	// Digest makes the client sign C1 (in Schema) and verify S1's digest and
	// S2's signature, as ffmpeg does when it plays a stream.
	Digest bool
	// Schema is the digest schema used for C1 (0 or 1).
	Schema int
	// Rand supplies C1's random bytes; nil means crypto/rand.
	Rand io.Reader
	// Time is sent in C1 bytes 0..3.
	Time uint32
	// Version is sent in C1 bytes 4..7 of a digest handshake; zero means
	// DefaultClientVersion. (A simple handshake always sends zero.)
	Version uint32
}

// Client runs the client side of the handshake over r and w: it writes C0
// and C1, reads S0, S1 and S2, and writes C2. In a simple handshake it
// requires S2 to echo C1; in a digest handshake it requires valid S1 and S2
// digests (ErrDigest). It is meant for tests and load generators, so it uses
// io.ReadFull on r and allocates its packets.
func Client(r io.Reader, w io.Writer, opts ClientOptions) (Result, error) {
	var res Result
	c0c1 := make([]byte, 1+PacketSize)
	c0c1[0] = Version
	c1 := c0c1[1:]
	if err := fillRandom(opts.Rand, c1[8:]); err != nil {
		return res, fmt.Errorf("rtmp handshake: C1 random: %w", err)
	}
	put32(c1[0:], opts.Time)
	var c1Digest []byte
	if opts.Digest {
		v := opts.Version
		if v == 0 {
			v = DefaultClientVersion
		}
		put32(c1[4:], v)
		schema := opts.Schema & 1
		off := digestOffset(c1, schema)
		sign(hmac.New(sha256.New, playerKey[:playerKeyTextLen]), c1, off, c1[off:off])
		c1Digest = c1[off : off+digestLen]
	} else {
		put32(c1[4:], 0)
	}
	if _, err := w.Write(c0c1); err != nil {
		return res, fmt.Errorf("rtmp handshake: write C0C1: %w", err)
	}

	s := make([]byte, 1+2*PacketSize)
	if _, err := io.ReadFull(r, s); err != nil {
		return res, fmt.Errorf("rtmp handshake: read S0S1S2: %w", err)
	}
	if s[0] != Version {
		return res, fmt.Errorf("rtmp handshake: S0 version %d, want %d: %w", s[0], Version, ErrVersion)
	}
	s1, s2 := s[1:1+PacketSize], s[1+PacketSize:]
	res.PeerTime, res.PeerVersion = binary.BigEndian.Uint32(s1[0:]), binary.BigEndian.Uint32(s1[4:])

	c2 := make([]byte, PacketSize)
	if opts.Digest {
		s1Digest, schema := findDigest(s1, serverKey[:serverKeyTextLen])
		if schema < 0 {
			return res, fmt.Errorf("rtmp handshake: S1: %w", ErrDigest)
		}
		if !checkPacket(s2, serverKey, c1Digest) {
			return res, fmt.Errorf("rtmp handshake: S2 signature: %w", ErrDigest)
		}
		res.Digest, res.Schema = true, schema
		if err := fillRandom(opts.Rand, c2); err != nil {
			return res, fmt.Errorf("rtmp handshake: C2 random: %w", err)
		}
		signPacket(c2, playerKey, s1Digest)
	} else {
		if !bytes.Equal(s2, c1) {
			return res, fmt.Errorf("rtmp handshake: S2 does not echo C1")
		}
		copy(c2, s1)
	}
	if _, err := w.Write(c2); err != nil {
		return res, fmt.Errorf("rtmp handshake: write C2: %w", err)
	}
	return res, nil
}
