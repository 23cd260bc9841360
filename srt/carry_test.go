package srt

import (
	"io"
	"log/slog"
	"testing"

	"github.com/datarhei/gosrt/packet"

	"github.com/zcingest/zerocopy/mpegts"
	"github.com/zcingest/zerocopy/pool"
)

// nullTS is n null TS packets (PID 0x1FFF), continuity counters running.
func nullTS(n int) []byte {
	b := make([]byte, 0, n*tsPacketSize)
	for i := range n {
		p := make([]byte, tsPacketSize)
		p[0], p[1], p[2], p[3] = 0x47, 0x1F, 0xFF, 0x10|byte(i&0x0F)
		b = append(b, p...)
	}
	return b
}

func newTestPublisher() *publisher {
	p := &publisher{st: &ConnStats{}, srv: &Server{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		alloc: pool.NewAllocator(allocatorSize), demux: mpegts.NewDemuxer(mpegts.Options{})}
	p.carries.alloc = p.alloc
	p.emitFn = func(au *mpegts.AccessUnit) error { releaseSources(au); pool.ResetMemory(&au.Payload); return nil }
	return p
}

// feedChunks feeds data to p in SRT payloads of the given sizes in turn.
func feedChunks(t *testing.T, p *publisher, data []byte, sizes []int) {
	t.Helper()
	for i, off := 0, 0; off < len(data); i++ {
		n := min(sizes[i%len(sizes)], len(data)-off)
		pkt := packet.NewPacket(nil)
		pkt.SetData(data[off : off+n])
		src := p.src.get(pkt)
		if err := p.feed(pkt.Data(), src); err != nil {
			t.Fatal(err)
		}
		src.Release()
		off += n
	}
}

// TS packets split across SRT payloads of any size (a payload shorter
// than a TS packet included) are each completed with one 188-byte copy,
// none skipped, and every carry buffer goes back to the allocator.
func TestCarrySplitPackets(t *testing.T) {
	for _, sizes := range [][]int{{1000}, {1316}, {100}, {1, 187, 188, 189, 50, 1316}} {
		p := newTestPublisher()
		data := nullTS(70)
		feedChunks(t, p, data, sizes)
		if p.carry != nil {
			t.Fatalf("sizes %v: a carry left over after whole packets", sizes)
		}
		if got := p.demux.Stats().Packets; got != 70 {
			t.Errorf("sizes %v: %d TS packets pushed, want 70", sizes, got)
		}
		if p.st.SkippedBytes != 0 || p.st.CarryBytesCopied != 188*p.st.CarryPackets {
			t.Errorf("sizes %v: skipped %d, carried %d packets with %d bytes copied", sizes, p.st.SkippedBytes, p.st.CarryPackets, p.st.CarryBytesCopied)
		}
		if sizes[0] == 1316 && p.st.CarryPackets != 0 {
			t.Errorf("whole TS packets carried")
		}
		p.demux.Close()
		if !pool.Balanced(p.alloc) || p.src.outstanding() != 0 || p.carries.taken != p.carries.freed {
			t.Errorf("sizes %v: allocator balanced %v, packets outstanding %d, carries %d/%d", sizes, pool.Balanced(p.alloc), p.src.outstanding(), p.carries.taken, p.carries.freed)
		}
	}
}

// A carried tail whose continuation does not line up (the next payload
// starts a TS packet itself) is dropped and counted, and the stream goes
// on; a tail left at the end is freed by dropCarry.
func TestCarryStrayTail(t *testing.T) {
	p := newTestPublisher()
	data := nullTS(10)
	feedChunks(t, p, data[:188*3+40], []int{188*3 + 40}) // 40-byte tail carried
	if p.carry == nil || p.carry.n != 40 {
		t.Fatal("no 40-byte carry")
	}
	feedChunks(t, p, data[188*4:], []int{188 * 6}) // aligned: the tail was not continued
	if p.st.SkippedBytes != 40 || p.demux.Stats().Packets != 9 || p.carry != nil {
		t.Fatalf("skipped %d, packets %d, carry %v", p.st.SkippedBytes, p.demux.Stats().Packets, p.carry != nil)
	}
	feedChunks(t, p, data[:100], []int{100})
	p.dropCarry()
	p.demux.Close()
	if !pool.Balanced(p.alloc) || p.carries.taken != p.carries.freed {
		t.Fatal("carry buffers not freed")
	}
}
