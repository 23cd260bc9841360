package auth

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/limit"
)

// md5hex is the test's own MD5, independent of the package's helper.
func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func newTestServer(t testing.TB) (*Server, string) {
	t.Helper()
	s := NewServer("zerocopy")
	ch := s.Challenges()
	if len(ch) != 2 || !strings.HasPrefix(ch[0], "Digest ") || ch[1] != `Basic realm="zerocopy"` {
		t.Fatalf("challenges %q", ch)
	}
	c, err := ParseChallenge(ch[0])
	if err != nil || c.Scheme != Digest || c.Realm != "zerocopy" || len(c.Nonce) != nonceHex {
		t.Fatalf("own challenge: %+v %v", c, err)
	}
	return s, c.Nonce
}

// TestDigestVectors checks Verify against responses computed here from
// RFC 2617's formulas with crypto/md5, with and without qop=auth.
func TestDigestVectors(t *testing.T) {
	s, nonce := newTestServer(t)
	const uri = "rtsp://127.0.0.1:8554/live/x"
	ha1 := md5hex("alice:zerocopy:s3cret")
	ha2 := md5hex("ANNOUNCE:" + uri)
	noQOP := md5hex(ha1 + ":" + nonce + ":" + ha2)
	withQOP := md5hex(ha1 + ":" + nonce + ":00000001:0a4f113b:auth:" + ha2)

	for _, tc := range []struct {
		name, header string
	}{
		{"no qop", fmt.Sprintf(`Digest username="alice", realm="zerocopy", nonce="%s", uri="%s", response="%s"`, nonce, uri, noQOP)},
		{"qop auth", fmt.Sprintf(`Digest username="alice",realm="zerocopy",nonce="%s",uri="%s",qop=auth,nc=00000001,cnonce="0a4f113b",response="%s",algorithm=MD5`, nonce, uri, withQOP)},
		{"upper-case response and scheme", fmt.Sprintf(`DIGEST username="alice", realm="zerocopy", nonce="%s", uri="%s", response="%s"`, nonce, uri, strings.ToUpper(noQOP))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Parse(tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if c.User != "alice" || c.URI != uri || c.Scheme != Digest {
				t.Errorf("%+v", c)
			}
			if !c.Verify("ANNOUNCE", "s3cret") {
				t.Error("right password refused")
			}
			if c.Verify("ANNOUNCE", "s3cret ") || c.Verify("ANNOUNCE", "") || c.Verify("SETUP", "s3cret") {
				t.Error("wrong password or method accepted")
			}
			if err := s.Verify("ANNOUNCE", uri, tc.header, "alice", "s3cret"); err != nil {
				t.Errorf("Server.Verify: %v", err)
			}
			if err := s.Verify("ANNOUNCE", uri+"/other", tc.header, "alice", "s3cret"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("other uri: %v", err)
			}
			if err := s.Verify("ANNOUNCE", uri, tc.header, "bob", "s3cret"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("other user: %v", err)
			}
			// Nothing secret in what a log would print.
			for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c)} {
				if strings.Contains(strings.ToLower(out), noQOP) || strings.Contains(strings.ToLower(out), withQOP) {
					t.Errorf("response printed: %s", out)
				}
			}
		})
	}
}

func TestBasic(t *testing.T) {
	s, _ := newTestServer(t)
	h := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pa:ss"))
	c, err := s.Parse(h)
	if err != nil || c.User != "bob" || c.Scheme != Basic {
		t.Fatalf("%v %v", c, err)
	}
	if !c.Verify("DESCRIBE", "pa:ss") || c.Verify("DESCRIBE", "pa:s") || c.Verify("DESCRIBE", "") {
		t.Error("basic verify")
	}
	if out := fmt.Sprintf("%v %+v", c, *c); strings.Contains(out, "pa:ss") {
		t.Errorf("password printed: %s", out)
	}
	if err := s.Verify("DESCRIBE", "ignored for basic", h, "bob", "pa:ss"); err != nil {
		t.Error(err)
	}
}

func TestNonce(t *testing.T) {
	s, nonce := newTestServer(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	hdr := func(n string) string {
		return fmt.Sprintf(`Digest username="a", realm="zerocopy", nonce="%s", uri="u", response="%s"`, n, strings.Repeat("0", 32))
	}
	if _, err := s.Parse(hdr(nonce)); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
	now = now.Add(NonceLifetime + time.Second)
	if _, err := s.Parse(hdr(nonce)); !errors.Is(err, ErrStaleNonce) {
		t.Errorf("expired nonce: %v", err)
	}
	if st := s.StaleChallenges(); !strings.Contains(st[0], "stale=TRUE") {
		t.Errorf("stale challenge %q", st[0])
	} else if c, err := ParseChallenge(st[0]); err != nil || !c.Stale {
		t.Errorf("stale not parsed: %+v %v", c, err)
	}
	// Another server's nonce, a tampered one and garbage are forged, not stale.
	other, otherNonce := newTestServer(t)
	_ = other
	tampered := []byte(s.newNonce())
	tampered[0] ^= 1
	for _, n := range []string{otherNonce, string(tampered), "abc", strings.Repeat("z", nonceHex)} {
		_, err := s.Parse(hdr(n))
		if err == nil || errors.Is(err, ErrStaleNonce) {
			t.Errorf("nonce %q: %v", n, err)
		}
	}
	// Nonces are unique.
	if s.newNonce() == s.newNonce() {
		t.Error("nonce repeated")
	}
}

// hostileHeaders must all be refused without panicking; limit names the
// expected *limit.LimitError, "" a malformed-header error.
var hostileHeaders = []struct{ name, header, limit string }{
	{"too long", "Digest username=\"" + strings.Repeat("a", MaxHeaderLength) + "\"", "MaxHeaderLength"},
	{"too many params", "Digest " + manyParams(MaxParams+1), "MaxParams"},
	{"empty", "", ""},
	{"unknown scheme", "Bearer abc", ""},
	{"basic not base64", "Basic !!!", ""},
	{"basic no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob")), ""},
	{"digest missing response", `Digest username="a", realm="zerocopy", nonce="n", uri="u"`, ""},
	{"digest unterminated", `Digest username="a`, ""},
	{"digest no equals", `Digest username`, ""},
	{"digest duplicate", `Digest username="a", username="b", realm="zerocopy", nonce="n", uri="u", response="00000000000000000000000000000000"`, ""},
	{"digest short response", `Digest username="a", realm="zerocopy", nonce="n", uri="u", response="abc"`, ""},
	{"digest md5-sess", `Digest username="a", realm="zerocopy", nonce="n", uri="u", response="00000000000000000000000000000000", algorithm=MD5-sess`, ""},
	{"digest qop no nc", `Digest username="a", realm="zerocopy", nonce="n", uri="u", response="00000000000000000000000000000000", qop=auth`, ""},
	{"digest auth-int", `Digest username="a", realm="zerocopy", nonce="n", uri="u", response="00000000000000000000000000000000", qop=auth-int, nc=00000001, cnonce="x"`, ""},
	{"digest other realm", `Digest username="a", realm="other", nonce="n", uri="u", response="00000000000000000000000000000000"`, ""},
	{"digest text after quote", `Digest username="a"x, realm="zerocopy"`, ""},
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "p%d=x, ", i)
	}
	return b.String()
}

func TestParseHostile(t *testing.T) {
	s, _ := newTestServer(t)
	for _, tc := range hostileHeaders {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Parse(tc.header)
			if err == nil {
				t.Fatal("accepted")
			}
			var le *limit.LimitError
			if tc.limit != "" && (!errors.As(err, &le) || le.Name != tc.limit) {
				t.Fatalf("want %s, got %v", tc.limit, err)
			}
			if tc.limit == "" && errors.As(err, &le) {
				t.Fatalf("want a syntax error, got %v", err)
			}
		})
	}
}

// TestAnswer checks the client side against the test's own MD5 and the
// server side against the client side.
func TestAnswer(t *testing.T) {
	const uri = "rtsp://cam/Streaming/Channels/101"
	// A camera's challenge with qop and opaque.
	ch := `Digest realm="IP Camera(C1234)", nonce="4e5749344d5459314d6a4d364d6a6b344e5467", qop="auth,auth-int", opaque="5ccc069c403ebaf9f0171e9517f40e41", stale="FALSE"`
	h, err := Answer(ch, "DESCRIBE", uri, "admin", "12345")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseParams(strings.TrimPrefix(h, "Digest "))
	if err != nil {
		t.Fatalf("%s: %v", h, err)
	}
	if p["qop"] != "auth" || p["nc"] != "00000001" || len(p["cnonce"]) != 16 || p["opaque"] != "5ccc069c403ebaf9f0171e9517f40e41" || p["uri"] != uri {
		t.Errorf("answer params %v", p)
	}
	ha1 := md5hex("admin:IP Camera(C1234):12345")
	want := md5hex(ha1 + ":4e5749344d5459314d6a4d364d6a6b344e5467:00000001:" + p["cnonce"] + ":auth:" + md5hex("DESCRIBE:"+uri))
	if p["response"] != want {
		t.Errorf("response %s, want %s", p["response"], want)
	}

	// Without qop.
	h, err = Answer(`Digest realm="r", nonce="n"`, "OPTIONS", "*", "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	wantH := fmt.Sprintf(`Digest username="u", realm="r", nonce="n", uri="*", response="%s"`, md5hex(md5hex("u:r:p")+":n:"+md5hex("OPTIONS:*")))
	if h != wantH {
		t.Errorf("got  %s\nwant %s", h, wantH)
	}

	// Basic.
	if h, err := Answer(`Basic realm="r"`, "OPTIONS", "*", "u", "p w"); err != nil || h != "Basic "+base64.StdEncoding.EncodeToString([]byte("u:p w")) {
		t.Errorf("basic %q %v", h, err)
	}

	// Our own server accepts our own client, both schemes.
	s, _ := newTestServer(t)
	for _, v := range s.Challenges() {
		h, err := Answer(v, "SETUP", uri+"/trackID=0", `we"ird\user`, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify("SETUP", uri+"/trackID=0", h, `we"ird\user`, "pw"); err != nil {
			t.Errorf("%s: %v", v[:6], err)
		}
	}

	// Refusals.
	for _, tc := range []struct{ ch, user, pass, uri string }{
		{`Digest realm="r", nonce="n", algorithm=SHA-256`, "u", "p", "*"},
		{`Digest realm="r", nonce="n", qop="auth-int"`, "u", "p", "*"},
		{`Digest realm="r"`, "u", "p", "*"},
		{`Negotiate abc`, "u", "p", "*"},
		{`Digest realm="r", nonce="n"`, "u\r\nX-Injected: 1", "p", "*"},
		{`Digest realm="r", nonce="n"`, "u", "p", "rtsp://h/\r\nX: 1"},
		{`Basic realm="r"`, "u:x", "p", "*"},
	} {
		if h, err := Answer(tc.ch, "OPTIONS", tc.uri, tc.user, tc.pass); err == nil {
			t.Errorf("%q accepted: %s", tc.ch, h)
		} else if strings.Contains(err.Error(), tc.pass+"\"") {
			t.Errorf("password in error %v", err)
		}
	}
}

func TestPickChallenge(t *testing.T) {
	digest := `Digest realm="r", nonce="n"`
	basic := `Basic realm="r"`
	for _, tc := range []struct {
		in   []string
		want string
		err  bool
	}{
		{[]string{basic, digest}, digest, false},
		{[]string{digest, basic}, digest, false},
		{[]string{basic}, basic, false},
		{[]string{`Digest realm="r", nonce="n", algorithm=SHA-256`, basic}, basic, false},
		{[]string{`Negotiate x`}, "", true},
		{nil, "", true},
	} {
		got, err := PickChallenge(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("PickChallenge(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// FuzzParse feeds Authorization values to Server.Parse (and challenges to
// ParseChallenge): no panics, and nothing accepted without the fields
// Verify needs.
func FuzzParse(f *testing.F) {
	s := NewServer("zerocopy")
	nonce := strings.TrimSuffix(strings.SplitN(s.Challenges()[0], `nonce="`, 2)[1], `"`)
	f.Add(fmt.Sprintf(`Digest username="alice", realm="zerocopy", nonce="%s", uri="rtsp://h/x", response="%s"`, nonce, strings.Repeat("a", 32)))
	f.Add(fmt.Sprintf(`Digest username="alice",realm="zerocopy",nonce="%s",uri="rtsp://h/x",qop=auth,nc=00000001,cnonce="0a4f113b",response="%s"`, nonce, strings.Repeat("b", 32)))
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("bob:pw")))
	f.Add(s.Challenges()[0])
	f.Add(`Digest realm="IP Camera(C1234)", nonce="4e57", qop="auth,auth-int", opaque="5ccc", stale="FALSE"`)
	for _, tc := range hostileHeaders {
		if len(tc.header) <= MaxHeaderLength {
			f.Add(tc.header)
		}
	}
	f.Fuzz(func(t *testing.T, h string) {
		if c, err := s.Parse(h); err == nil {
			if c.Scheme == Digest && (c.Nonce != nonce && len(c.Nonce) != nonceHex || len(c.response) != 32) {
				t.Fatalf("accepted %+v", c)
			}
			c.Verify("DESCRIBE", "pw")
		}
		if c, err := ParseChallenge(h); err == nil {
			c.Answer("DESCRIBE", "rtsp://h/x", "u", "p")
		}
	})
}
