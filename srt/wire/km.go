package wire

import (
	"encoding/binary"
	"fmt"
)

// KM message constants (HaiCrypt's key material message, SRT draft
// section 3.2.2).
const (
	KMSign         = 0x2029 // "HAI" in PnP Vendor ID encoding
	kmVersion      = 1
	kmPacketType   = 2 // KMmsg
	KMCipherAESCTR = 2
	kmSEMPEGTS     = 2 // stream encapsulation: MPEG-TS/SRT
	KMSaltSize     = 16
	kmHeaderSize   = 16
	kmWrapOverhead = 8 // RFC 3394 integrity check block
)

// KM states a responder may send in a KMRSP instead of key material
// (SRT_KM_S_*), as a single 32-bit word.
const (
	KMStateNoSecret  = 3 // the responder has no passphrase
	KMStateBadSecret = 4 // the responder's passphrase does not unwrap the key
)

// KeyMaterial is a KM message: the stream encrypting key(s), wrapped with a
// key derived from the passphrase and Salt.
type KeyMaterial struct {
	Key      KeyFlags // KK: KeyEven, KeyOdd or KeyBoth: which keys Wrap holds
	KEKIndex uint32   // 0: the passphrase-derived key
	Cipher   uint8    // KMCipherAESCTR
	Auth     uint8    // 0: none
	SE       uint8    // stream encapsulation, 2
	KeyLen   int      // 16, 24 or 32 bytes per key
	Salt     [KMSaltSize]byte
	// Wrap is the RFC 3394 wrapped key(s): KeyLen (twice for KeyBoth)
	// plus 8 bytes. From ParseKM it aliases the parsed buffer and is
	// valid as long as that buffer is.
	Wrap []byte
}

// ParseKM parses a KM message (a handshake's KMREQ/KMRSP content or a
// user-defined control packet's CIF). km.Wrap aliases b. Bytes after the
// wrapped keys are ignored. Errors wrap ErrMalformed; it never panics and
// allocates nothing on success.
func ParseKM(b []byte) (KeyMaterial, error) {
	var km KeyMaterial
	if len(b) < kmHeaderSize {
		return km, malformed("KM message of %d bytes", len(b))
	}
	if b[0] != kmVersion<<4|kmPacketType {
		return km, malformed("KM version/type byte %#x", b[0])
	}
	if s := binary.BigEndian.Uint16(b[1:]); s != KMSign {
		return km, malformed("KM signature %#x", s)
	}
	km.Key = KeyFlags(b[3] & 3)
	if km.Key == KeyNone {
		return km, malformed("KM carries no key (KK 0)")
	}
	km.KEKIndex = binary.BigEndian.Uint32(b[4:])
	km.Cipher, km.Auth, km.SE = b[8], b[9], b[10]
	if km.Cipher != KMCipherAESCTR {
		return km, malformed("KM cipher %d, only AES-CTR (2) is supported", km.Cipher)
	}
	slen := int(b[14]) * 4
	km.KeyLen = int(b[15]) * 4
	if slen != KMSaltSize {
		return km, malformed("KM salt of %d bytes, need %d", slen, KMSaltSize)
	}
	if km.KeyLen != 16 && km.KeyLen != 24 && km.KeyLen != 32 {
		return km, malformed("KM key length %d", km.KeyLen)
	}
	wl := km.KeyLen + kmWrapOverhead
	if km.Key == KeyBoth {
		wl += km.KeyLen
	}
	if len(b) < kmHeaderSize+slen+wl {
		return km, malformed("KM message of %d bytes, need %d", len(b), kmHeaderSize+slen+wl)
	}
	copy(km.Salt[:], b[kmHeaderSize:])
	km.Wrap = b[kmHeaderSize+slen : kmHeaderSize+slen+wl]
	return km, nil
}

// ParseKMState returns the state of a KMRSP that carries one instead of key
// material (4 bytes: KMStateNoSecret or KMStateBadSecret), and false for
// anything else. libsrt writes the word in network order; gosrt reads it
// little-endian, so both are accepted.
func ParseKMState(b []byte) (uint32, bool) {
	if len(b) != 4 {
		return 0, false
	}
	for _, s := range [2]uint32{binary.BigEndian.Uint32(b), binary.LittleEndian.Uint32(b)} {
		if s == KMStateNoSecret || s == KMStateBadSecret {
			return s, true
		}
	}
	return 0, false
}

// AppendKM appends the KM message km to dst. It fails when the key length
// or the wrapped key length is not one a peer accepts.
func AppendKM(dst []byte, km *KeyMaterial) ([]byte, error) {
	if km.KeyLen != 16 && km.KeyLen != 24 && km.KeyLen != 32 {
		return dst, fmt.Errorf("srt KM: key length %d", km.KeyLen)
	}
	want := km.KeyLen + kmWrapOverhead
	if km.Key == KeyBoth {
		want += km.KeyLen
	}
	if km.Key == KeyNone || km.Key > KeyBoth || len(km.Wrap) != want {
		return dst, fmt.Errorf("srt KM: %d wrapped bytes for KK %d and %d-byte keys, want %d", len(km.Wrap), km.Key, km.KeyLen, want)
	}
	var h [kmHeaderSize]byte
	h[0] = kmVersion<<4 | kmPacketType
	binary.BigEndian.PutUint16(h[1:], KMSign)
	h[3] = byte(km.Key & 3)
	binary.BigEndian.PutUint32(h[4:], km.KEKIndex)
	h[8], h[9], h[10] = km.Cipher, km.Auth, km.SE
	h[14] = KMSaltSize / 4
	h[15] = byte(km.KeyLen / 4)
	dst = append(dst, h[:]...)
	dst = append(dst, km.Salt[:]...)
	return append(dst, km.Wrap...), nil
}

// EncryptionField returns the handshake encryption field for a key length
// (16, 24, 32 -> 2, 3, 4), or 0 for anything else.
func EncryptionField(keyLen int) uint16 {
	switch keyLen {
	case 16, 24, 32:
		return uint16(keyLen / 8)
	}
	return 0
}
