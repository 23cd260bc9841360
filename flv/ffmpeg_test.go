package flv

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/zcingest/zerocopy/bufreader"
	"github.com/zcingest/zerocopy/codec"
	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/pool"
)

// clipStats is what one pass over the ffmpeg clip saw.
type clipStats struct {
	script, videoHeaders, videoFrames, videoEnds, keyframes int
	audioHeaders, audioFrames                               int
	multiBufferFrames                                       int // video frames whose payload spans several blocks
	nalus                                                   int
}

// TestFFmpegClip reads a real FLV file written by ffmpeg (H.264 + AAC)
// through the Reader with several sources and block sizes, parses every tag
// body, checks every keyframe carries an IDR NAL unit, writes every tag back
// with the Writer and compares the result byte for byte.
func TestFFmpegClip(t *testing.T) {
	path := testclip.FLV(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := testclip.PacketCounts(t, path)
	for _, tc := range []struct {
		name  string
		src   func() io.Reader
		block int
	}{
		{"plain", func() io.Reader { return bytes.NewReader(data) }, 0},
		{"onebyte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }, 0},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, 0},
		{"half-smallblocks", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, bufreader.MinBlockSize},
		{"onebyte-smallblocks", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) }, bufreader.MinBlockSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			st := readClip(t, tc.src(), tc.block, &out)
			if st.videoFrames != counts["video"] || st.audioFrames != counts["audio"] {
				t.Errorf("frames: video %d audio %d; ffprobe counts %v", st.videoFrames, st.audioFrames, counts)
			}
			if st.script != 1 || st.videoHeaders != 1 || st.audioHeaders != 1 || st.videoEnds != 1 {
				t.Errorf("control tags: %+v", st)
			}
			// 2 s at 25 fps with -g 25: a keyframe every second.
			if st.keyframes != 2 {
				t.Errorf("%d keyframes, want 2", st.keyframes)
			}
			if tc.block == bufreader.MinBlockSize && st.multiBufferFrames == 0 {
				t.Error("no video payload spanned several blocks; the split paths were not exercised")
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Errorf("rewritten file differs: %d bytes, input %d", out.Len(), len(data))
			}
			t.Logf("%+v", st)
		})
	}
}

// readClip reads an FLV stream, parses every tag and writes it to out.
func readClip(t *testing.T, src io.Reader, blockSize int, out io.Writer) clipStats {
	t.Helper()
	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(src, bufreader.Options{Allocator: a, BlockSize: blockSize})
	r := NewReader(br, ReaderOptions{})
	w := NewWriter(out)
	h, err := r.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasVideo || !h.HasAudio || h.Version != 1 {
		t.Fatalf("header %+v", h)
	}
	if err := w.WriteFileHeader(h.HasVideo, h.HasAudio); err != nil {
		t.Fatal(err)
	}
	var (
		st     clipStats
		tag    Tag
		spans  []codec.Span
		avc    codec.AVCConfig
		cfgBuf []byte
		tags   int
	)
	for {
		err := r.ReadTag(&tag)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tag %d: %v", tags, err)
		}
		tags++
		body := &tag.Payload
		switch tag.Type {
		case TagScript:
			st.script++
			if got := codec.AppendSpanBytes(nil, body, codec.Span{Off: 0, Len: 13}); string(got) != "\x02\x00\x0aonMetaData" {
				t.Fatalf("script tag starts %q", got)
			}
		case TagVideo:
			v, err := ParseVideo(body)
			if err != nil {
				t.Fatalf("tag %d: %v", tags, err)
			}
			if v.Codec != codec.H264 || v.Enhanced || v.CTS != 0 {
				t.Fatalf("tag %d: %+v", tags, v)
			}
			switch v.PacketType {
			case PacketSequenceHeader:
				st.videoHeaders++
				cfgBuf = codec.AppendSpanBytes(cfgBuf[:0], body, codec.Span{Off: v.DataOffset, Len: body.Size - v.DataOffset})
				if err := avc.Unmarshal(cfgBuf); err != nil {
					t.Fatalf("AVC config: %v", err)
				}
				if avc.LengthSize != 4 || len(avc.SPS) != 1 || len(avc.PPS) != 1 {
					t.Fatalf("AVC config %+v", avc)
				}
			case PacketFrame:
				st.videoFrames++
				if len(body.Buffers) > 1 {
					st.multiBufferFrames++
				}
				if avc.LengthSize == 0 {
					t.Fatal("frame before the sequence header")
				}
				spans, err = codec.SplitAVCC(body, v.DataOffset, avc.LengthSize, spans[:0])
				if err != nil {
					t.Fatalf("tag %d: %v", tags, err)
				}
				st.nalus += len(spans)
				idr := codec.H264IsKeyframe(body, spans)
				if v.FrameType.IsKey() {
					st.keyframes++
					if !idr {
						t.Fatalf("tag %d: keyframe without an IDR NAL unit", tags)
					}
				} else if idr {
					t.Fatalf("tag %d: inter frame with an IDR NAL unit", tags)
				}
			case PacketEndOfSequence:
				st.videoEnds++
			default:
				t.Fatalf("tag %d: %+v", tags, v)
			}
		case TagAudio:
			au, err := ParseAudio(body)
			if err != nil {
				t.Fatalf("tag %d: %v", tags, err)
			}
			if au.Codec != codec.AAC || au.DataOffset != 2 {
				t.Fatalf("tag %d: %+v", tags, au)
			}
			if au.PacketType == AudioSequenceHeader {
				st.audioHeaders++
				asc, err := codec.ParseAudioSpecificConfig(codec.AppendSpanBytes(nil, body, codec.Span{Off: 2, Len: body.Size - 2}))
				if err != nil || asc.ObjectType != codec.AACLC || asc.SampleRate != 44100 || asc.Channels() != 1 {
					t.Fatalf("AudioSpecificConfig %+v: %v", asc, err)
				}
			} else {
				st.audioFrames++
			}
		default:
			t.Fatalf("tag %d: type %d", tags, tag.Type)
		}
		if err := w.WriteTagMemory(&tag); err != nil {
			t.Fatal(err)
		}
		pool.FreeMemory(a, &tag.Payload)
	}
	stats := br.Stats()
	br.Recycle()
	if !pool.Balanced(a) {
		t.Fatalf("allocator unbalanced after freeing every payload: %d bytes in use", pool.InUse(a))
	}
	pool.Recycle(a)
	// Payload bytes are never copied: the reader copies at most tag headers
	// (and the file header) that straddle blocks.
	if limit := int64(tags*TagHeaderSize + 13); stats.BytesCopied > limit {
		t.Errorf("reader copied %d bytes, more than the %d header bytes", stats.BytesCopied, limit)
	}
	return st
}

// TestFFmpegClipElementaryStreams extracts the clip's H.264 NAL units (via
// SplitAVCC spans, as Annex B) and AAC frames (with ADTS headers from the
// AudioSpecificConfig) into raw files and checks that ffprobe finds as many
// packets in them as in the FLV: the spans cover exactly the NAL units and
// the ADTS headers are valid.
func TestFFmpegClipElementaryStreams(t *testing.T) {
	path := testclip.FLV(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := testclip.PacketCounts(t, path)

	a := pool.NewAllocator(1 << 20)
	br := bufreader.New(iotest.HalfReader(bytes.NewReader(data)), bufreader.Options{Allocator: a, BlockSize: bufreader.MinBlockSize})
	r := NewReader(br, ReaderOptions{})
	if _, err := r.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	var (
		h264, aac bytes.Buffer
		tag       Tag
		spans     []codec.Span
		iov       [][]byte
		avc       codec.AVCConfig
		asc       codec.AudioSpecificConfig
		startCode = []byte{0, 0, 0, 1}
	)
	for {
		if err := r.ReadTag(&tag); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		body := &tag.Payload
		switch tag.Type {
		case TagVideo:
			v, err := ParseVideo(body)
			if err != nil {
				t.Fatal(err)
			}
			switch v.PacketType {
			case PacketSequenceHeader:
				if err := avc.Unmarshal(codec.AppendSpanBytes(nil, body, codec.Span{Off: v.DataOffset, Len: body.Size - v.DataOffset})); err != nil {
					t.Fatal(err)
				}
			case PacketFrame:
				if spans, err = codec.SplitAVCC(body, v.DataOffset, avc.LengthSize, spans[:0]); err != nil {
					t.Fatal(err)
				}
				iov = iov[:0]
				if v.FrameType.IsKey() {
					for _, ps := range avc.SPS {
						iov = append(iov, startCode, ps)
					}
					for _, ps := range avc.PPS {
						iov = append(iov, startCode, ps)
					}
				}
				for _, s := range spans {
					iov = append(iov, startCode)
					iov = codec.AppendSpan(iov, body, s)
				}
				bufs := net.Buffers(iov)
				if _, err := bufs.WriteTo(&h264); err != nil {
					t.Fatal(err)
				}
			}
		case TagAudio:
			au, err := ParseAudio(body)
			if err != nil {
				t.Fatal(err)
			}
			if au.PacketType == AudioSequenceHeader {
				if err := asc.Unmarshal(codec.AppendSpanBytes(nil, body, codec.Span{Off: au.DataOffset, Len: body.Size - au.DataOffset})); err != nil {
					t.Fatal(err)
				}
				break
			}
			n := body.Size - au.DataOffset
			hdr, err := asc.AppendADTSHeader(nil, n)
			if err != nil {
				t.Fatal(err)
			}
			aac.Write(hdr)
			aac.Write(codec.AppendSpanBytes(nil, body, codec.Span{Off: au.DataOffset, Len: n}))
		}
		pool.FreeMemory(a, &tag.Payload)
	}
	br.Recycle()
	if !pool.Balanced(a) {
		t.Fatalf("allocator unbalanced: %d bytes in use", pool.InUse(a))
	}
	pool.Recycle(a)

	dir := t.TempDir()
	for _, es := range []struct {
		name, kind string
		data       []byte
	}{{"clip.h264", "video", h264.Bytes()}, {"clip.aac", "audio", aac.Bytes()}} {
		p := filepath.Join(dir, es.name)
		if err := os.WriteFile(p, es.data, 0o644); err != nil {
			t.Fatal(err)
		}
		got := testclip.PacketCounts(t, p)
		if got[es.kind] != counts[es.kind] {
			t.Errorf("%s: ffprobe reads %v, the FLV has %d %s packets", es.name, got, counts[es.kind], es.kind)
		}
	}
}
