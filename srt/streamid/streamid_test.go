package streamid

import (
	"errors"
	"strings"
	"testing"

	"github.com/zcingest/zerocopy/limit"
)

var parseTests = []struct {
	in      string
	want    ID
	wantErr error
}{
	{in: "publish:/live/x", want: ID{Mode: Publish, Path: "live/x"}},
	{in: "publish:live/x", want: ID{Mode: Publish, Path: "live/x"}},
	{in: "publish:/live/x?key=abc", want: ID{Mode: Publish, Path: "live/x", Query: "key=abc"}},
	{in: "subscribe:/live/x", want: ID{Mode: Play, Path: "live/x"}},
	{in: "play:/live/x/", want: ID{Mode: Play, Path: "live/x"}},
	{in: "read:/live/x", want: ID{Mode: Play, Path: "live/x"}},
	{in: "#!::r=live/x,m=publish", want: ID{Mode: Publish, Path: "live/x"}},
	{in: "#!::r=live/x,m=publish,u=alice,s=secret", want: ID{Mode: Publish, Path: "live/x", User: "alice", Query: "key=secret"}},
	{in: "#!::m=request,r=/live/x", want: ID{Mode: Play, Path: "live/x"}},
	{in: "#!::r=live/x", want: ID{Mode: Play, Path: "live/x"}},
	{in: "#!::r=live/x?a=1,s=k&y", want: ID{Mode: Play, Path: "live/x", Query: "key=k%26y&a=1"}},
	{in: "#!::r=live/x,t=stream,h=example.com,x=y", want: ID{Mode: Play, Path: "live/x"}},
	{in: "#!::r=live/x,t=file", wantErr: ErrBadMode},
	{in: "#!::r=live/x,m=bidirectional", wantErr: ErrBadMode},
	{in: "#!::r=live/x,m=bogus", wantErr: ErrBadMode},
	{in: "#!::m=publish", wantErr: ErrBadRequest},
	{in: "#!::r=live/x,,m=publish", wantErr: ErrBadRequest},
	{in: "#!::r=live/x,novalue", wantErr: ErrBadRequest},
	{in: "#!::" + strings.Repeat("a=b,", 20) + "r=x", wantErr: ErrBadRequest},
	{in: "bogus:/live/x", wantErr: ErrBadMode},
	{in: "live/x", wantErr: ErrBadRequest},
	{in: "", wantErr: ErrBadRequest},
	{in: "publish:", wantErr: ErrBadRequest},
	{in: "publish:/", wantErr: ErrBadRequest},
	{in: "publish:/live/../x", wantErr: ErrBadRequest},
	{in: "publish:/live//x", wantErr: ErrBadRequest},
	{in: "publish:/live/ x", wantErr: ErrBadRequest},
	{in: "publish:/live/x\x00", wantErr: ErrBadRequest},
	{in: "publish:/" + strings.Repeat("a", 300), wantErr: ErrBadRequest},
	{in: "publish:/live/" + strings.Repeat("x", 600), wantErr: ErrBadRequest},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		got, err := Parse(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%.40q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%.40q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// A 600-character streamid is refused by the named limit, before any
// other parsing.
func TestParseTooLongNamesLimit(t *testing.T) {
	_, err := Parse("publish:/live/" + strings.Repeat("x", 586))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxLength" || le.Got != 600 || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v, want MaxLength limit (got 600) wrapping ErrBadRequest", err)
	}
}

func FuzzStreamID(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrBadMode) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if id.Mode != Publish && id.Mode != Play {
			t.Fatalf("mode %v", id.Mode)
		}
		if id.Path == "" || len(id.Path) > MaxPathLength || strings.HasPrefix(id.Path, "/") || strings.Contains("/"+id.Path+"/", "/../") {
			t.Fatalf("path %q", id.Path)
		}
		if len(s) > MaxLength {
			t.Fatalf("accepted %d bytes", len(s))
		}
	})
}
