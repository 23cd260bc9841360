package mpegts

import (
	"bytes"
	"os"
	"testing"
	"unsafe"
)

// inBounds reports whether b lies inside data.
func inBounds(data, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= base && p+uintptr(len(b)) <= base+uintptr(len(data))
}

// fuzzSeeds are the table tests' inputs: synthetic streams, their hostile
// variants, and the head of the ffmpeg clip when ffmpeg is installed.
func fuzzSeeds(f *testing.F) [][]byte {
	base := synStream(f, 12, 0, 0, 0)
	seeds := [][]byte{base, synStream(f, 12, 1<<33-muxOffset-5*frameTicks, 0, 0), synStream(f, 12, 0, 6, 3600*90000)}
	mut := func(fn func(pk [][]byte) [][]byte) {
		seeds = append(seeds, join(fn(packets(base))))
	}
	mut(func(pk [][]byte) [][]byte { setPESLength(pk, MuxAudioPID, 0); return pk })
	mut(func(pk [][]byte) [][]byte { setPESLength(pk, MuxAudioPID, 0xFFFF); return pk })
	mut(func(pk [][]byte) [][]byte { setPESLength(pk, MuxVideoPID, 0xFFFF); return pk })
	mut(func(pk [][]byte) [][]byte { return append(pk[:20], pk[21:]...) }) // a CC gap
	mut(func(pk [][]byte) [][]byte { return replacePSI(pk, psiPkt(0, patSec(1, 0)), nil) })
	mut(func(pk [][]byte) [][]byte {
		return replacePSI(pk, nil, psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxPMTPID, StreamTypeAAC, 0)))
	})
	mut(func(pk [][]byte) [][]byte {
		return replacePSI(pk, psiPkt(0, patSec(0, 0x10, 1, MuxPMTPID, 2, 0x1001)),
			psiPkt(MuxPMTPID, pmtSec(1, MuxVideoPID, StreamTypeH264, MuxVideoPID, StreamTypeAAC, MuxAudioPID, StreamTypeAAC, 0x102)))
	})
	mut(func(pk [][]byte) [][]byte {
		for _, p := range pk {
			if pidOf(p) == MuxVideoPID && !pusiOf(p) {
				p[3] = p[3]&0xCF | 0x30
				p[4] = 200 // an adaptation field longer than the packet
				break
			}
		}
		return pk
	})
	seeds = append(seeds, append([]byte{1, 2, 3, 0x47, 5}, base[:20*PacketSize]...)) // misaligned
	seeds = append(seeds, append(bytes.Clone(base[:10*PacketSize]), base[10*PacketSize+7:]...))
	if clipsAvailable() {
		if data, err := os.ReadFile(tsClip(f, "h264")); err == nil {
			seeds = append(seeds, data[:min(len(data), 40*PacketSize)])
		}
	}
	return seeds
}

func clipsAvailable() bool {
	_, err := runTool("ffmpeg", "-version")
	return err == nil
}

func FuzzDemux(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{}
		if len(data)%3 == 0 {
			opts.MaxPESSize = 2000
		}
		d := NewDemuxer(opts)
		var l ledger
		var c collector
		emit := func(au *AccessUnit) error {
			for _, b := range au.Payload.Buffers {
				if !inBounds(data, b) {
					t.Fatalf("payload range outside the pushed packets")
				}
			}
			for _, src := range au.Sources {
				if src.(*countSource).refs < 1 {
					t.Fatalf("AU source not retained")
				}
			}
			return c.emit(au)
		}
		feed(t, d, data, &l, emit)
		d.Config()
		c.releaseAll()
		d.Close()
		if err := l.balanced(); err != nil {
			t.Fatal(err)
		}
	})
}

// resyncRef is the obvious implementation Resync must agree with.
func resyncRef(b []byte) int {
outer:
	for i := range b {
		for k := 0; k < ResyncConfirm; k++ {
			j := i + k*PacketSize
			if j >= len(b) {
				if k == 0 {
					continue outer
				}
				break
			}
			if b[j] != syncByte {
				continue outer
			}
		}
		return i
	}
	return -1
}

func FuzzResync(f *testing.F) {
	base := synStream(f, 3, 0, 0, 0)
	f.Add(base)
	f.Add(append([]byte{1, 2, 3, 4, 5}, base...))
	f.Add(append([]byte{0x47, 0, 0x47, 9}, base...))
	f.Add(bytes.Repeat([]byte{0x47, 0}, 300))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := Resync(b), resyncRef(b)
		if got != want {
			t.Fatalf("Resync = %d, want %d", got, want)
		}
		if got >= 0 && b[got] != syncByte {
			t.Fatalf("Resync returned a non-sync offset")
		}
	})
}
