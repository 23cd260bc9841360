package handshake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/pool"
)

func detRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// clientBytes returns what a client sends: C0, C1 (built by Client with the
// given options) and a C2 of filler.
func clientBytes(t testing.TB, opts ClientOptions) []byte {
	t.Helper()
	var out bytes.Buffer
	opts.Rand = detRand(1)
	_, err := Client(bytes.NewReader(nil), &out, opts)
	if err == nil {
		t.Fatal("client without a server succeeded")
	}
	return append(out.Bytes(), bytes.Repeat([]byte{0xC2}, PacketSize)...)
}

func newReader(src io.Reader) *bufreader.Reader {
	return bufreader.New(src, bufreader.Options{BlockSize: 1024})
}

func TestRoundTripPipe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   ClientOptions
		digest bool
	}{
		{"simple", ClientOptions{}, false},
		{"digest-schema0", ClientOptions{Digest: true, Schema: 0}, true},
		{"digest-schema1", ClientOptions{Digest: true, Schema: 1}, true},
		{"digest-custom-version", ClientOptions{Digest: true, Version: 0x80000702, Time: 77}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			defer cc.Close()
			defer sc.Close()
			_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
			_ = sc.SetDeadline(time.Now().Add(5 * time.Second))
			type out struct {
				res Result
				err error
			}
			done := make(chan out, 1)
			go func() {
				br := newReader(sc)
				res, err := Serve(br, sc, Options{Time: 1234})
				br.Recycle()
				done <- out{res, err}
			}()
			cres, err := Client(cc, cc, tc.opts)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			s := <-done
			if s.err != nil {
				t.Fatalf("server: %v", s.err)
			}
			if s.res.Digest != tc.digest || cres.Digest != tc.digest {
				t.Fatalf("digest: server %v client %v, want %v", s.res.Digest, cres.Digest, tc.digest)
			}
			if tc.digest && s.res.Schema != tc.opts.Schema {
				t.Fatalf("server saw schema %d, want %d", s.res.Schema, tc.opts.Schema)
			}
			if s.res.PeerTime != tc.opts.Time || cres.PeerTime != 1234 {
				t.Fatalf("times: server saw %d, client saw %d", s.res.PeerTime, cres.PeerTime)
			}
		})
	}
}

// TestDigestC1Independent builds a digest C1 here, without the package's
// helpers, and checks Serve's S1 and S2 against an independent computation.
func TestDigestC1Independent(t *testing.T) {
	fpKey := []byte("Genuine Adobe Flash Player 001")
	fmsText := []byte("Genuine Adobe Flash Media Server 001")
	suffix := []byte{
		0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
		0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
	}
	fmsFull := append(append([]byte{}, fmsText...), suffix...)
	hm := func(key []byte, parts ...[]byte) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	for schema := range 2 {
		t.Run(fmt.Sprint("schema", schema), func(t *testing.T) {
			c1 := make([]byte, 1536)
			for i := range c1 {
				c1[i] = byte(i*7 + schema)
			}
			copy(c1[4:], []byte{9, 0, 124, 2})
			var pos int
			if schema == 0 {
				pos = (int(c1[8])+int(c1[9])+int(c1[10])+int(c1[11]))%728 + 12
			} else {
				pos = (int(c1[772])+int(c1[773])+int(c1[774])+int(c1[775]))%728 + 776
			}
			d := hm(fpKey, c1[:pos], c1[pos+32:])
			copy(c1[pos:], d)
			in := append(append([]byte{3}, c1...), make([]byte, 1536)...)
			var out bytes.Buffer
			br := newReader(bytes.NewReader(in))
			defer br.Recycle()
			res, err := Serve(br, &out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Digest || res.Schema != schema {
				t.Fatalf("result %+v", res)
			}
			s := out.Bytes()
			if len(s) != 1+2*1536 || s[0] != 3 {
				t.Fatalf("S0S1S2 length %d", len(s))
			}
			s1, s2 := s[1:1537], s[1537:]
			if s1[4] < 3 {
				t.Fatalf("S1 version byte %d < 3: ffmpeg would not verify", s1[4])
			}
			found := false
			for _, base := range []int{8, 772} {
				p := (int(s1[base])+int(s1[base+1])+int(s1[base+2])+int(s1[base+3]))%728 + base + 4
				if bytes.Equal(hm(fmsText, s1[:p], s1[p+32:]), s1[p:p+32]) {
					found = true
				}
			}
			if !found {
				t.Fatal("S1 digest does not verify with the FMS key")
			}
			sig := hm(hm(fmsFull, d), s2[:1504])
			if !bytes.Equal(sig, s2[1504:]) {
				t.Fatal("S2 signature does not verify against C1's digest")
			}
		})
	}
}

func TestServeErrors(t *testing.T) {
	simple := clientBytes(t, ClientOptions{})
	digest := clientBytes(t, ClientOptions{Digest: true})
	badDigest := bytes.Clone(digest)
	badDigest[1+100] ^= 0xFF // version stays non-zero; the digest no longer matches
	for _, tc := range serveCases(simple, digest, badDigest) {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []string{"plain", "onebyte", "half", "dataerr"} {
				var src io.Reader = bytes.NewReader(tc.in)
				switch wrap {
				case "onebyte":
					src = iotest.OneByteReader(src)
				case "half":
					src = iotest.HalfReader(src)
				case "dataerr":
					src = iotest.DataErrReader(src)
				}
				br := newReader(src)
				res, err := Serve(br, io.Discard, Options{RequireDigest: tc.require})
				br.Recycle()
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("%s: err %v, want %v", wrap, err, tc.wantErr)
					}
					continue
				}
				if tc.wantAnyErr {
					if err == nil {
						t.Fatalf("%s: no error", wrap)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", wrap, err)
				}
				if res.Digest != tc.digest {
					t.Fatalf("%s: digest %v, want %v", wrap, res.Digest, tc.digest)
				}
			}
		})
	}
}

type serveCase struct {
	name       string
	in         []byte
	require    bool
	digest     bool
	wantErr    error
	wantAnyErr bool
}

func serveCases(simple, digest, badDigest []byte) []serveCase {
	return []serveCase{
		{name: "simple", in: simple},
		{name: "digest", in: digest, digest: true},
		{name: "bad-digest-falls-back", in: badDigest},
		{name: "bad-digest-required", in: badDigest, require: true, wantAnyErr: true},
		{name: "simple-required", in: simple, require: true, wantAnyErr: true},
		{name: "version-6-rtmpe", in: append([]byte{6}, simple[1:]...), wantErr: ErrVersion},
		{name: "version-0", in: append([]byte{0}, simple[1:]...), wantErr: ErrVersion},
		{name: "version-ff", in: []byte{0xFF}, wantErr: ErrVersion},
		{name: "empty", in: nil, wantErr: io.EOF},
		{name: "c0-only", in: []byte{3}, wantErr: io.EOF},
		{name: "short-c1", in: simple[:1000], wantErr: io.ErrUnexpectedEOF},
		{name: "short-c2", in: simple[:1537+100], wantErr: io.ErrUnexpectedEOF},
		{name: "no-c2", in: simple[:1537], wantErr: io.EOF},
	}
}

func FuzzServe(f *testing.F) {
	simple := clientBytes(f, ClientOptions{})
	digest := clientBytes(f, ClientOptions{Digest: true})
	badDigest := bytes.Clone(digest)
	badDigest[1+100] ^= 0xFF
	for _, tc := range serveCases(simple, digest, badDigest) {
		f.Add(tc.in)
	}
	f.Add(clientBytes(f, ClientOptions{Digest: true, Schema: 1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		alloc := pool.NewAllocator(64 << 10)
		br := bufreader.New(bytes.NewReader(in), bufreader.Options{Allocator: alloc, BlockSize: 512})
		res, err := Serve(br, io.Discard, Options{Rand: detRand(2)})
		br.Recycle()
		if !pool.Balanced(alloc) {
			t.Fatalf("unbalanced: %d bytes in use", pool.InUse(alloc))
		}
		pool.Recycle(alloc)
		if err == nil && len(in) < 1+2*PacketSize {
			t.Fatalf("success on %d bytes", len(in))
		}
		if err != nil && res.Digest && len(in) >= 1+2*PacketSize {
			t.Fatalf("digest result with error %v", err)
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz/FuzzServe from the table
// when ZC_WRITE_SEEDS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("ZC_WRITE_SEEDS") != "1" {
		t.Skip("set ZC_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	simple := clientBytes(t, ClientOptions{})
	digest := clientBytes(t, ClientOptions{Digest: true})
	badDigest := bytes.Clone(digest)
	badDigest[1+100] ^= 0xFF
	dir := filepath.Join("testdata", "fuzz", "FuzzServe")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := serveCases(simple, digest, badDigest)
	cases = append(cases, serveCase{name: "digest-schema1", in: clientBytes(t, ClientOptions{Digest: true, Schema: 1})})
	for _, tc := range cases {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.in)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+tc.name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
