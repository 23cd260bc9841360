package zerocopy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// st2CarryLine matches a publisher's close log: its carried TS packets,
// their copied bytes and the bytes it skipped.
var st2CarryLine = regexp.MustCompile(`msg="srt connection closed".*role=publish.* skipped_bytes=(\d+).* carry_packets=(\d+) carry_bytes_copied=(\d+)`)

// st2CheckCarried checks that some publisher split TS packets across SRT
// packets, that each carried packet cost exactly 188 copied bytes, and
// that nothing was skipped. With lostTail, the stream's end may be cut
// inside a TS packet: libsrt in live mode closes without lingering
// (SRTO_LINGER 0), so ffmpeg's last packet or two may never be sent, and
// the carry begun from the last one that came is dropped at close (fewer
// than 188 bytes, copied and then skipped).
func st2CheckCarried(t *testing.T, ts *stServer, lostTail bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		m = st2CarryLine.FindStringSubmatch(ts.log.String())
		time.Sleep(20 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no publisher close line with carry counters")
	}
	skipped, _ := strconv.Atoi(m[1])
	carried, _ := strconv.Atoi(m[2])
	copied, _ := strconv.Atoi(m[3])
	tail := 0
	if lostTail && skipped < 188 {
		tail = skipped
	}
	if carried == 0 || skipped != tail || copied != 188*carried+tail {
		t.Fatalf("carry_packets=%d carry_bytes_copied=%d skipped_bytes=%d: want split packets carried at 188 bytes each, none skipped", carried, copied, skipped)
	}
	t.Logf("%d TS packets carried across SRT packets (%d bytes copied), none skipped", carried, copied)
}

// TestSRT2SplitTSPacketsFFmpeg: ffmpeg sends 1000-byte SRT payloads (not a
// multiple of 188), so most SRT packets end inside a TS packet; every
// access unit still reads back over SRT play identical to the source's.
func TestSRT2SplitTSPacketsFFmpeg(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "split.ts")
	// The player asks first and waits (subscribe waittimeout), so it gets
	// the stream from its first keyframe.
	wait := stRecord(t, ctx, ts.url("subscribe:/live/split", ""), out)
	time.Sleep(300 * time.Millisecond)
	if err := stPush(ctx, clip, "srt://"+ts.srt+"?streamid=publish:/live/split&pkt_size=1000"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// libsrt closes without lingering, so ffmpeg's last packet or two
	// may never be sent, and with them the last audio PES (the muxer
	// packs several AAC frames per PES): see the Go client test for the
	// whole file.
	stSameUnits(t, clip, out, "0:v", 0.8)
	stSameUnits(t, clip, out, "0:a", 0.8)
	st2CheckCarried(t, ts, true)
}

// TestSRT2SplitTSPacketsGoClient: a gosrt caller writes a TS file in SRT
// payloads of uneven sizes (1000, 100, 50, 1316, 777 bytes), so TS packets
// are split at every offset, some across three SRT packets; every access
// unit reads back over SRT play identical to the file's.
func TestSRT2SplitTSPacketsGoClient(t *testing.T) {
	ts := stStartServer(t, "", "")
	clip := testclip.FLV(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ts")
	if b, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "mpegts", "-y", src).CombinedOutput(); err != nil {
		t.Fatalf("ts: %v: %s", err, b)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(dir, "split.ts")
	wait := stRecord(t, ctx, ts.url("subscribe:/live/gosplit", ""), out)
	time.Sleep(300 * time.Millisecond)

	st2PushFile(t, ts.srt, "publish:/live/gosplit", data, []int{1000, 100, 50, 1316, 777})
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	stSameUnits(t, src, out, "0:v", 0.95)
	stSameUnits(t, src, out, "0:a", 0.95)
	st2CheckCarried(t, ts, false)
}

// st2PushFile publishes data (a TS file, byte for byte) as a gosrt caller,
// in SRT payloads of the given sizes in turn, paced at about 4 Mbit/s
// (gosrt's write queue does not block), then lingers until the last
// packets are acknowledged and closes.
func st2PushFile(t *testing.T, addr, streamid string, data []byte, sizes []int) {
	t.Helper()
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamid
	conn, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i, off := 0, 0; off < len(data); i++ {
		n := min(sizes[i%len(sizes)], len(data)-off)
		if _, err := conn.Write(data[off : off+n]); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
		off += n
		<-tick.C
	}
	time.Sleep(500 * time.Millisecond) // beyond the latency: everything delivered
}
