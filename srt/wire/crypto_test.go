package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/benburkert/openpgp/aes/keywrap"
	gcrypto "github.com/datarhei/gosrt/crypto"
	gpacket "github.com/datarhei/gosrt/packet"
)

func newGosrtCrypto(keyLen int) (gcrypto.Crypto, error) { return gcrypto.New(keyLen) }

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestKeyWrapRFC3394 checks the test vectors of RFC 3394 section 4.
func TestKeyWrapRFC3394(t *testing.T) {
	for _, v := range []struct{ kek, key, wrapped string }{
		{"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
			"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF",
			"96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
		{"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF",
			"64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607",
			"031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
		{"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607",
			"A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
		{"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	} {
		kek, key, want := unhex(v.kek), unhex(v.key), unhex(v.wrapped)
		got, err := KeyWrap(kek, key)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("wrap %s with %s: %X %v", v.key, v.kek, got, err)
		}
		plain, err := KeyUnwrap(kek, want)
		if err != nil || !bytes.Equal(plain, key) {
			t.Fatalf("unwrap: %X %v", plain, err)
		}
		bad := bytes.Clone(want)
		bad[len(bad)-1] ^= 1
		if _, err := KeyUnwrap(kek, bad); !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("corrupted wrap: %v", err)
		}
	}
	// The implementation gosrt uses agrees on random keys too.
	for _, n := range []int{16, 24, 32, 48, 64} {
		kek, key := make([]byte, 16+n%3*8), make([]byte, n)
		rand.Read(kek)
		rand.Read(key)
		ours, _ := KeyWrap(kek, key)
		theirs, err := keywrap.Wrap(kek, key)
		if err != nil || !bytes.Equal(ours, theirs) {
			t.Fatalf("%d-byte key: ours %X, keywrap %X %v", n, ours, theirs, err)
		}
	}
	if _, err := KeyUnwrap(make([]byte, 16), make([]byte, 20)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if _, err := KeyWrap(make([]byte, 16), make([]byte, 12)); err == nil {
		t.Fatal("wrapped 12 bytes")
	}
}

// payload is a TS-like message.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestCryptoFromGosrt: a KM and a payload encrypted by gosrt's crypto are
// unwrapped and decrypted by ours; a wrong passphrase fails.
func TestCryptoFromGosrt(t *testing.T) {
	const pass = "correct horse battery"
	for _, keyLen := range []int{16, 24, 32} {
		for _, kk := range []gpacket.PacketEncryption{gpacket.EvenKeyEncrypted, gpacket.OddKeyEncrypted, gpacket.EvenAndOddKey} {
			gc, err := gcrypto.New(keyLen)
			if err != nil {
				t.Fatal(err)
			}
			gkm := &gpacket.CIFKeyMaterialExtension{}
			if err := gc.MarshalKM(gkm, pass, kk); err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer
			gkm.Marshal(&raw)
			km, err := ParseKM(raw.Bytes())
			if err != nil {
				t.Fatalf("%d/%v: %v", keyLen, kk, err)
			}
			if km.KeyLen != keyLen || uint(km.Key) != uint(kk) {
				t.Fatalf("KM %+v", km)
			}
			if _, err := km.Unwrap("wrong passphrase"); !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("wrong passphrase: %v", err)
			}
			c, err := km.Unwrap(pass)
			if err != nil {
				t.Fatal(err)
			}
			for _, pk := range []gpacket.PacketEncryption{gpacket.EvenKeyEncrypted, gpacket.OddKeyEncrypted} {
				if kk != gpacket.EvenAndOddKey && pk != kk {
					if c.Has(KeyFlags(pk)) {
						t.Fatalf("cipher has key %v not in the KM", pk)
					}
					continue
				}
				for _, n := range []int{0, 1, 15, 16, 17, 188, 1316, MaxPayload, MaxPayload + 1, 3000} {
					for _, seq := range []uint32{0, 1, 0x12345678 & SeqMask, SeqMask} {
						want := payload(n)
						b := bytes.Clone(want)
						if err := gc.EncryptOrDecryptPayload(b, pk, seq); err != nil {
							t.Fatal(err)
						}
						if n >= 16 && bytes.Equal(b, want) { // shorter ones can match by chance
							t.Fatal("gosrt did not encrypt")
						}
						if err := c.Decrypt(b, KeyFlags(pk), seq); err != nil || !bytes.Equal(b, want) {
							t.Fatalf("%d/%v: %d bytes seq %d: %v", keyLen, pk, n, seq, err)
						}
					}
				}
			}
		}
	}
}

// TestCryptoToGosrt: gosrt unwraps a KM from NewKM and decrypts what
// Cipher.Encrypt produced.
func TestCryptoToGosrt(t *testing.T) {
	const pass = "0123456789"
	for _, keyLen := range []int{16, 24, 32} {
		km, c, err := NewKM(pass, keyLen)
		if err != nil {
			t.Fatal(err)
		}
		if c.KeyLen() != keyLen || !c.Has(KeyEven) || c.Has(KeyOdd) {
			t.Fatal("NewKM cipher keys")
		}
		raw, err := AppendKM(nil, &km)
		if err != nil {
			t.Fatal(err)
		}
		var gkm gpacket.CIFKeyMaterialExtension
		if err := gkm.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		gc, _ := gcrypto.New(keyLen)
		if err := gc.UnmarshalKM(&gkm, "not the passphrase"); err == nil {
			t.Fatal("gosrt unwrapped with a wrong passphrase")
		}
		gc, _ = gcrypto.New(keyLen)
		if err := gc.UnmarshalKM(&gkm, pass); err != nil {
			t.Fatal(err)
		}
		want := payload(1316)
		b := bytes.Clone(want)
		if err := c.Encrypt(b, KeyEven, 4242); err != nil {
			t.Fatal(err)
		}
		if err := gc.EncryptOrDecryptPayload(b, gpacket.EvenKeyEncrypted, 4242); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("gosrt decrypt: %v", err)
		}
		// Our own parse/unwrap of our KM.
		km2, err := ParseKM(raw)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := km2.Unwrap(pass)
		if err != nil {
			t.Fatal(err)
		}
		c.Encrypt(b, KeyEven, 1)
		c2.Decrypt(b, KeyEven, 1)
		if !bytes.Equal(b, want) {
			t.Fatal("own round trip")
		}
		if err := c.Decrypt(b, KeyOdd, 1); !errors.Is(err, ErrNoKey) {
			t.Fatal(err)
		}
		if err := c.Decrypt(b, KeyNone, 1); !errors.Is(err, ErrNoKey) {
			t.Fatal(err)
		}
	}
	if _, _, err := NewKM(pass, 20); err == nil {
		t.Fatal("20-byte key accepted")
	}
}

// TestCryptoRefresh: a KMREQ announcing the odd key keeps the even one.
func TestCryptoRefresh(t *testing.T) {
	const pass = "refresh-passphrase"
	gc, _ := gcrypto.New(16)
	gkm := &gpacket.CIFKeyMaterialExtension{}
	gc.MarshalKM(gkm, pass, gpacket.EvenKeyEncrypted)
	var raw bytes.Buffer
	gkm.Marshal(&raw)
	km, _ := ParseKM(raw.Bytes())
	c, err := km.Unwrap(pass)
	if err != nil {
		t.Fatal(err)
	}
	gc.GenerateSEK(gpacket.OddKeyEncrypted)
	gkm2 := &gpacket.CIFKeyMaterialExtension{}
	gc.MarshalKM(gkm2, pass, gpacket.OddKeyEncrypted)
	raw.Reset()
	gkm2.Marshal(&raw)
	km2, _ := ParseKM(raw.Bytes())
	c2, err := c.Refresh(&km2, pass)
	if err != nil {
		t.Fatal(err)
	}
	if c.Has(KeyOdd) || !c2.Has(KeyOdd) || !c2.Has(KeyEven) {
		t.Fatal("refresh keys")
	}
	for _, k := range []gpacket.PacketEncryption{gpacket.EvenKeyEncrypted, gpacket.OddKeyEncrypted} {
		want := payload(100)
		b := bytes.Clone(want)
		gc.EncryptOrDecryptPayload(b, k, 9)
		c2.Decrypt(b, KeyFlags(k), 9)
		if !bytes.Equal(b, want) {
			t.Fatalf("key %v after refresh", k)
		}
	}
	if _, err := c.Refresh(&km2, "wrong"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatal(err)
	}
}

// kmSeeds are valid KM messages: table entries and fuzz seeds.
func kmSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, keyLen := range []int{16, 24, 32} {
		for _, kk := range []gpacket.PacketEncryption{gpacket.EvenKeyEncrypted, gpacket.OddKeyEncrypted, gpacket.EvenAndOddKey} {
			gc, _ := gcrypto.New(keyLen)
			gkm := &gpacket.CIFKeyMaterialExtension{}
			if err := gc.MarshalKM(gkm, "0123456789", kk); err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer
			gkm.Marshal(&raw)
			out = append(out, raw.Bytes())
		}
	}
	return out
}

func TestKMMalformed(t *testing.T) {
	for _, good := range kmSeeds(t) {
		km, err := ParseKM(good)
		if err != nil {
			t.Fatal(err)
		}
		re, err := AppendKM(nil, &km)
		if err != nil || !bytes.Equal(re, good) {
			t.Fatalf("re-marshal differs: %x vs %x %v", re, good, err)
		}
		for n := range len(good) {
			if _, err := ParseKM(good[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d of %d bytes: %v", n, len(good), err)
			}
		}
		for _, c := range []struct {
			off int
			val byte
		}{{0, 0x11}, {1, 0}, {3, 0}, {8, 1}, {14, 2}, {15, 5}} {
			b := bytes.Clone(good)
			b[c.off] = c.val
			if _, err := ParseKM(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("byte %d = %#x: %v", c.off, c.val, err)
			}
		}
	}
	for _, c := range []struct {
		b  []byte
		st uint32
		ok bool
	}{
		{[]byte{0, 0, 0, 3}, KMStateNoSecret, true},
		{[]byte{4, 0, 0, 0}, KMStateBadSecret, true},
		{[]byte{0, 0, 0, 5}, 0, false},
		{[]byte{0, 0, 4}, 0, false},
	} {
		if st, ok := ParseKMState(c.b); st != c.st || ok != c.ok {
			t.Fatalf("%x: %d %v", c.b, st, ok)
		}
	}
}
