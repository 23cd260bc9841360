package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrWrongPassphrase is returned when a KM message's keys do not unwrap
// with the passphrase given (RFC 3394's integrity check fails): the
// handshake is refused with RejBadSecret.
var ErrWrongPassphrase = errors.New("srt: wrong passphrase")

// ErrNoKey is returned by Cipher.Decrypt and Encrypt for a packet whose KK
// names a key the cipher does not have (KeyNone, KeyBoth, or an odd key
// never announced).
var ErrNoKey = errors.New("srt: packet encrypted with a key not announced")

// kekIterations and kekSaltSize are SRT's PBKDF2 parameters: 2048 rounds of
// HMAC-SHA1 over the last 8 bytes of the KM salt.
const (
	kekIterations = 2048
	kekSaltSize   = 8
)

// kek derives the key encrypting key from passphrase and the KM salt.
func kek(passphrase string, salt *[KMSaltSize]byte, keyLen int) ([]byte, error) {
	return pbkdf2.Key(sha1.New, passphrase, salt[KMSaltSize-kekSaltSize:], kekIterations, keyLen)
}

// keyWrapIV is RFC 3394's default initial value.
const keyWrapIV = 0xA6A6A6A6A6A6A6A6

// KeyWrap wraps plain (a multiple of 8 bytes, at least 16) with kek as RFC
// 3394 section 2.2.1 describes and returns the len(plain)+8 byte result.
func KeyWrap(kek, plain []byte) ([]byte, error) {
	if len(plain)%8 != 0 || len(plain) < 16 {
		return nil, fmt.Errorf("srt key wrap: %d bytes is not a multiple of 8 of at least 16", len(plain))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(plain) / 8
	out := make([]byte, 8+len(plain))
	copy(out[8:], plain)
	a := uint64(keyWrapIV)
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			binary.BigEndian.PutUint64(b[:8], a)
			copy(b[8:], out[8*i:8*i+8])
			block.Encrypt(b[:], b[:])
			a = binary.BigEndian.Uint64(b[:8]) ^ uint64(n*j+i)
			copy(out[8*i:], b[8:])
		}
	}
	binary.BigEndian.PutUint64(out, a)
	return out, nil
}

// KeyUnwrap undoes KeyWrap (RFC 3394 section 2.2.2) and returns the
// len(wrapped)-8 byte key data, or ErrWrongPassphrase when the integrity
// check fails (kek is not the key the data was wrapped with).
func KeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, malformed("wrapped key of %d bytes", len(wrapped))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, 8*n)
	copy(out, wrapped[8:])
	a := binary.BigEndian.Uint64(wrapped)
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			binary.BigEndian.PutUint64(b[:8], a^uint64(n*j+i))
			copy(b[8:], out[8*(i-1):8*i])
			block.Decrypt(b[:], b[:])
			a = binary.BigEndian.Uint64(b[:8])
			copy(out[8*(i-1):], b[8:])
		}
	}
	var got, want [8]byte
	binary.BigEndian.PutUint64(got[:], a)
	binary.BigEndian.PutUint64(want[:], keyWrapIV)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		clear(out)
		return nil, ErrWrongPassphrase
	}
	return out, nil
}

// Cipher en/decrypts data packet payloads with a connection's stream
// encrypting keys (AES-CTR, SRT's IV: the KM salt XOR the packet sequence
// number). It is built by NewKM, KeyMaterial.Unwrap or Cipher.Refresh and
// its keys never change afterwards (a refresh builds a new Cipher). Decrypt
// may run concurrently with Encrypt, but neither concurrently with itself:
// each direction has one keystream buffer in the Cipher (a connection
// decrypts on its receive goroutine and encrypts on its writer).
type Cipher struct {
	keyLen    int
	salt      [KMSaltSize]byte
	even, odd cipher.Block
	rx, tx    ctrScratch
}

// ctrScratch is one direction's keystream buffer: one packet's counter
// blocks, encrypted in place. It lives in the Cipher, not on the stack,
// because cipher.Block is an interface: a stack array passed to its Encrypt
// would escape and be allocated per call.
type ctrScratch struct {
	ks [(MaxPayload + aes.BlockSize - 1) / aes.BlockSize * aes.BlockSize]byte
}

// KeyLen returns the key length in bytes (16, 24 or 32).
func (c *Cipher) KeyLen() int { return c.keyLen }

// Has reports whether c holds the key kk (KeyEven or KeyOdd).
func (c *Cipher) Has(kk KeyFlags) bool {
	return c.block(kk) != nil
}

func (c *Cipher) block(kk KeyFlags) cipher.Block {
	switch kk {
	case KeyEven:
		return c.even
	case KeyOdd:
		return c.odd
	}
	return nil
}

// Decrypt decrypts payload in place: the data packet with sequence number
// seq whose header's KK is kk. It allocates nothing.
func (c *Cipher) Decrypt(payload []byte, kk KeyFlags, seq uint32) error {
	return c.xor(&c.rx, payload, kk, seq)
}

// Encrypt encrypts payload in place for the data packet with sequence
// number seq, with key kk (which the packet's header must carry). It
// allocates nothing.
func (c *Cipher) Encrypt(payload []byte, kk KeyFlags, seq uint32) error {
	return c.xor(&c.tx, payload, kk, seq)
}

// xor applies the CTR keystream. The counter block is the salt's first 14
// bytes with the sequence number XORed into bytes 10..13, and a 16-bit
// block counter in bytes 14..15 (HaiCrypt's layout).
//
// All counter blocks of the payload are written first and then encrypted
// in place, one Encrypt call each, and the keystream is XORed in one pass:
// writing a counter's last two bytes just before Encrypt loads the block
// defeats store-to-load forwarding, and that stall (with the per-block XOR
// call) made a block-at-a-time loop 1.3 us per 1316-byte payload.
func (c *Cipher) xor(s *ctrScratch, p []byte, kk KeyFlags, seq uint32) error {
	b := c.block(kk)
	if b == nil {
		return ErrNoKey
	}
	hi := binary.BigEndian.Uint64(c.salt[0:8])
	lo := binary.BigEndian.Uint64(c.salt[8:16])&^0xFFFF ^ uint64(seq)<<16
	for ctr := uint64(0); len(p) > 0; {
		// Payloads are at most MaxPayload, one chunk; longer input
		// (a caller's mistake, not a peer's) is still handled right.
		chunk := p[:min(len(p), len(s.ks))]
		ks := s.ks[:(len(chunk)+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize]
		for i := 0; i < len(ks); i += aes.BlockSize {
			binary.BigEndian.PutUint64(ks[i:], hi)
			binary.BigEndian.PutUint64(ks[i+8:], lo|ctr&0xFFFF)
			ctr++
		}
		for i := 0; i < len(ks); i += aes.BlockSize {
			blk := ks[i : i+aes.BlockSize]
			b.Encrypt(blk, blk)
		}
		subtle.XORBytes(chunk, chunk, ks)
		p = p[len(chunk):]
	}
	return nil
}

// NewKM creates fresh key material for a caller that encrypts: a random
// salt and a random even stream encrypting key of keyLen bytes (16, 24 or
// 32), wrapped with the key derived from passphrase. It returns the KM
// message to send in the conclusion's KMREQ and the cipher for the
// connection's packets (sent with KeyEven).
func NewKM(passphrase string, keyLen int) (KeyMaterial, *Cipher, error) {
	if EncryptionField(keyLen) == 0 {
		return KeyMaterial{}, nil, fmt.Errorf("srt KM: key length %d, want 16, 24 or 32", keyLen)
	}
	km := KeyMaterial{Key: KeyEven, Cipher: KMCipherAESCTR, SE: kmSEMPEGTS, KeyLen: keyLen}
	var sek [32]byte
	rand.Read(km.Salt[:])
	rand.Read(sek[:keyLen])
	defer clear(sek[:])
	k, err := kek(passphrase, &km.Salt, keyLen)
	if err != nil {
		return KeyMaterial{}, nil, err
	}
	defer clear(k)
	if km.Wrap, err = KeyWrap(k, sek[:keyLen]); err != nil {
		return KeyMaterial{}, nil, err
	}
	c := &Cipher{keyLen: keyLen, salt: km.Salt}
	if c.even, err = aes.NewCipher(sek[:keyLen]); err != nil {
		return KeyMaterial{}, nil, err
	}
	return km, c, nil
}

// Unwrap derives the key encrypting key from passphrase and km's salt,
// unwraps km's stream encrypting key(s) and returns a cipher holding them.
// A wrong passphrase returns ErrWrongPassphrase.
func (km *KeyMaterial) Unwrap(passphrase string) (*Cipher, error) {
	return km.unwrapInto(&Cipher{}, passphrase)
}

// Refresh returns a new cipher with the keys of km (a key refresh KMREQ)
// and, for a key km does not carry, c's: after an odd key is announced the
// even one stays valid until the sender switches. c is not changed.
func (c *Cipher) Refresh(km *KeyMaterial, passphrase string) (*Cipher, error) {
	if km.KeyLen != c.keyLen || km.Salt != c.salt {
		// A new salt changes every IV: keys of the old one cannot be kept.
		return km.Unwrap(passphrase)
	}
	return km.unwrapInto(&Cipher{even: c.even, odd: c.odd}, passphrase)
}

func (km *KeyMaterial) unwrapInto(c *Cipher, passphrase string) (*Cipher, error) {
	want := km.KeyLen + kmWrapOverhead
	if km.Key == KeyBoth {
		want += km.KeyLen
	}
	if EncryptionField(km.KeyLen) == 0 || km.Key == KeyNone || km.Key > KeyBoth || len(km.Wrap) != want || want > MaxKMWrap {
		return nil, malformed("KM with KK %d, %d-byte keys and %d wrapped bytes", km.Key, km.KeyLen, len(km.Wrap))
	}
	k, err := kek(passphrase, &km.Salt, km.KeyLen)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	keys, err := KeyUnwrap(k, km.Wrap)
	if err != nil {
		return nil, err
	}
	defer clear(keys)
	c.keyLen, c.salt = km.KeyLen, km.Salt
	if km.Key&KeyEven != 0 {
		if c.even, err = aes.NewCipher(keys[:km.KeyLen]); err != nil {
			return nil, err
		}
		keys = keys[km.KeyLen:]
	}
	if km.Key&KeyOdd != 0 {
		if c.odd, err = aes.NewCipher(keys[:km.KeyLen]); err != nil {
			return nil, err
		}
	}
	return c, nil
}
