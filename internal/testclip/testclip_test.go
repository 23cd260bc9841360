package testclip

import (
	"os"
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
