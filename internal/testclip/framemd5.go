package testclip

import (
	"strconv"
	"strings"
	"testing"
)

// Packet is one line of ffmpeg's framemd5 output for a stream copy.
type Packet struct {
	DTS, PTS int64
	Size     int
	Hash     string
}

// FrameMD5 runs `ffmpeg -i input -map spec -c copy -f framemd5 -` and
// returns the packets of the selected streams in order. spec selects one
// stream type ("0:v" or "0:a"), so the output of different files compares
// packet by packet regardless of stream order.
func FrameMD5(t testing.TB, input, spec string) []Packet {
	t.Helper()
	out, err := run("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", input,
		"-map", spec, "-c", "copy", "-f", "framemd5", "-")
	if err != nil {
		t.Fatalf("testclip: %v", err)
	}
	var pkts []Packet
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 6 {
			t.Fatalf("testclip: unexpected framemd5 line %q", line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		dts, err1 := strconv.ParseInt(f[1], 10, 64)
		pts, err2 := strconv.ParseInt(f[2], 10, 64)
		size, err3 := strconv.Atoi(f[4])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("testclip: unexpected framemd5 line %q", line)
		}
		pkts = append(pkts, Packet{DTS: dts, PTS: pts, Size: size, Hash: f[5]})
	}
	return pkts
}
