package flv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/internal/testclip"
)

func runTool(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testclip.GenerateTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// hvcC returns the body of the first hvcC box in an MP4 file.
func hvcC(t *testing.T, mp4 []byte) []byte {
	t.Helper()
	i := bytes.Index(mp4, []byte("hvcC"))
	if i < 4 {
		t.Fatal("no hvcC box")
	}
	n := int(mp4[i-4])<<24 | int(mp4[i-3])<<16 | int(mp4[i-2])<<8 | int(mp4[i-1])
	if n < 8+23 || i-4+n > len(mp4) {
		t.Fatalf("hvcC box of %d bytes", n)
	}
	return mp4[i+4 : i-4+n]
}

// annexBUnits splits a byte stream at its start codes.
func annexBUnits(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+3 <= len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			end := i
			for end > start && b[end-1] == 0 {
				end--
			}
			nals = append(nals, b[start:end])
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	return nals
}

// TestHEVCRecordMatchesFFmpeg derives the HEVCDecoderConfigurationRecord
// from the parameter sets of real x265 streams (4:2:0 8-bit with B-frames,
// 4:4:4 10-bit) and compares every field the SPS determines with the hvcC
// box ffmpeg writes for the same stream into MP4. It then writes an FLV
// file with the Enhanced RTMP sequence start and the frames framed by
// AppendFrameBody and has ffprobe read it.
func TestHEVCRecordMatchesFFmpeg(t *testing.T) {
	testclip.NeedFFmpeg(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, pixfmt, bf string }{{"420-8bit-bframes", "yuv420p", "2"}, {"444-10bit", "yuv444p10le", "0"}} {
		t.Run(tc.name, func(t *testing.T) {
			mp4 := filepath.Join(dir, tc.name+".mp4")
			annexb := filepath.Join(dir, tc.name+".265")
			runTool(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "1",
				"-pix_fmt", tc.pixfmt, "-c:v", "libx265", "-preset", "ultrafast", "-bf", tc.bf, "-x265-params", "log-level=none", "-y", mp4)
			runTool(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", mp4, "-c", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "hevc", "-y", annexb)
			data, err := os.ReadFile(mp4)
			if err != nil {
				t.Fatal(err)
			}
			want := hvcC(t, data)
			stream, err := os.ReadFile(annexb)
			if err != nil {
				t.Fatal(err)
			}
			var vps, sps, pps [][]byte
			nals := annexBUnits(stream)
			for _, n := range nals {
				switch codec.H265Type(n[0]) {
				case codec.H265VPS:
					vps = append(vps, n)
				case codec.H265SPS:
					sps = append(sps, n)
				case codec.H265PPS:
					pps = append(pps, n)
				}
			}
			vc := host.VideoConfig{Codec: codec.H265, VPS: vps[:1], SPS: sps[:1], PPS: pps[:1]}
			body, err := VideoSequenceHeaderBody(vc)
			if err != nil {
				t.Fatal(err)
			}
			got := body[5:] // after the enhanced header: byte, 'hvc1'
			// Bytes 1..12: profile space, tier, profile, compatibility,
			// constraint flags, level; 16..18: chroma format and bit
			// depths; 21: temporal layers, nesting, length size.
			for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18} {
				if got[i] != want[i] {
					t.Errorf("record byte %d: %#02x, ffmpeg's hvcC %#02x\nours   % x\nffmpeg % x", i, got[i], want[i], got[:23], want[:23])
				}
			}
			if got[21]&0x3f != want[21]&0x3f {
				t.Errorf("record byte 21: %#02x, ffmpeg's %#02x", got[21], want[21])
			}
			if _, err := codec.ParseHEVCConfig(got); err != nil {
				t.Fatal(err)
			}

			// An FLV file: the sequence start, then every access unit as
			// FormatUnits framed by AppendFrameBody, timed by ffprobe.
			out, _ := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0", mp4).Output()
			var aus [][][]byte
			var cur [][]byte
			vcl := false
			for _, n := range nals {
				typ := codec.H265Type(n[0])
				first := typ.IsVCL() && len(n) > 2 && n[2]&0x80 != 0
				if vcl && (first || !typ.IsVCL() && (typ == codec.H265AUD || typ == codec.H265VPS || typ == codec.H265SPS || typ == codec.H265PPS || typ == codec.H265SEIPrefix)) {
					aus, cur, vcl = append(aus, cur), nil, false
				}
				cur = append(cur, n)
				vcl = vcl || typ.IsVCL()
			}
			aus = append(aus, cur)
			lines := strings.Fields(string(out))
			if len(lines) != len(aus) {
				t.Fatalf("%d access units, ffprobe counts %d packets", len(aus), len(lines))
			}
			var file bytes.Buffer
			w := NewWriter(&file)
			if err := w.WriteFileHeader(true, false); err != nil {
				t.Fatal(err)
			}
			if err := w.WriteTag(TagHeader{Type: TagVideo}, [][]byte{body}); err != nil {
				t.Fatal(err)
			}
			var scratch []byte
			var pieces [][]byte
			for i, au := range aus {
				f := strings.Split(lines[i], ",")
				pts, _ := strconv.Atoi(f[0])
				dts, _ := strconv.Atoi(f[1])
				// MP4 time base here is 1/12800 (x265 at 25 fps).
				fr := unitsFrame(codec.H265, strings.Contains(f[2], "K"), time.Duration(dts)*time.Second/12800, time.Duration(pts)*time.Second/12800, au, 3)
				var err error
				scratch, pieces, _, err = AppendFrameBody(scratch[:0], pieces[:0], fr)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WriteTag(TagHeader{Type: TagVideo, Timestamp: uint32(fr.DTS / time.Millisecond)}, pieces); err != nil {
					t.Fatal(err)
				}
			}
			// Debian's ffmpeg 5.1 predates Enhanced RTMP in its FLV demuxer
			// (6.1), so the file is read back with our parser: the record,
			// then every access unit's units (AUDs dropped) in order.
			b := file.Bytes()[FileHeaderSize+PreviousTagSizeSize:]
			for n := -1; len(b) >= TagHeaderSize; n++ {
				size := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
				m := splitMemory(b[TagHeaderSize : TagHeaderSize+size])
				v, err := ParseVideo(&m)
				if err != nil || v.Codec != codec.H265 || !v.Enhanced {
					t.Fatalf("tag %d: %+v, %v", n, v, err)
				}
				if n >= 0 {
					spans, err := codec.SplitAVCC(&m, v.DataOffset, 4, nil)
					if err != nil {
						t.Fatal(err)
					}
					var want [][]byte
					for _, u := range aus[n] {
						if codec.H265Type(u[0]) != codec.H265AUD {
							want = append(want, u)
						}
					}
					if len(spans) != len(want) {
						t.Fatalf("tag %d: %d units, want %d", n, len(spans), len(want))
					}
					for k, sp := range spans {
						if !bytes.Equal(codec.AppendSpanBytes(nil, &m, sp), want[k]) {
							t.Fatalf("tag %d unit %d differs", n, k)
						}
					}
				}
				b = b[TagHeaderSize+size+PreviousTagSizeSize:]
			}
		})
	}
}
