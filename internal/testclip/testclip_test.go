package testclip

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

func TestFLVGeneratedOnce(t *testing.T) {
	p1 := FLV(t)
	st, err := os.Stat(p1)
	if err != nil || st.Size() == 0 {
		t.Fatalf("clip %s: %v", p1, err)
	}
	if p2 := FLV(t); p2 != p1 {
		t.Fatalf("second call returned %s, want %s", p2, p1)
	}
	b, err := os.ReadFile(p1)
	if err != nil || string(b[:3]) != "FLV" {
		t.Fatalf("not an FLV file: %v", err)
	}
	counts := PacketCounts(t, p1)
	if counts["video"] != 50 || counts["audio"] == 0 {
		t.Fatalf("ffprobe counts %v, want 50 video packets (2 s at 25 fps) and some audio", counts)
	}
}

// fakeTB records how NeedFFmpeg stopped a test. Fatalf and Skipf end the
// call with a panic that run recovers, as the real ones end the goroutine.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

type stopped struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (f *fakeTB) run(fn func(testing.TB)) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
		}
	}()
	fn(f)
}

// Without ffmpeg on PATH the helper skips, unless ZC_REQUIRE_FFMPEG or CI
// asks for the real peers: then it fails and says what is missing.
func TestNeedFFmpegFailsWhenRequired(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg, no ffprobe
	for _, tc := range []struct {
		name, require, ci string
		wantFail          bool
	}{
		{"neither set", "", "", false},
		{"ZC_REQUIRE_FFMPEG=0", "0", "", false},
		{"CI=false", "", "false", false},
		{"ZC_REQUIRE_FFMPEG=1", "1", "", true},
		{"CI=true", "", "true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.require)
			t.Setenv(CIEnv, tc.ci)
			for name, fn := range map[string]func(testing.TB){
				"NeedFFmpeg": NeedFFmpeg,
				"FLV":        func(tb testing.TB) { FLV(tb) },
			} {
				f := &fakeTB{}
				f.run(fn)
				switch {
				case tc.wantFail && (f.fatal == "" || f.skip != ""):
					t.Errorf("%s: fatal %q, skip %q; want a failure", name, f.fatal, f.skip)
				case tc.wantFail && !strings.Contains(f.fatal, "ffmpeg and ffprobe not found"):
					t.Errorf("%s: failure %q does not name the missing tools", name, f.fatal)
				case !tc.wantFail && (f.skip == "" || f.fatal != ""):
					t.Errorf("%s: fatal %q, skip %q; want a skip", name, f.fatal, f.skip)
				}
			}
		})
	}
}
