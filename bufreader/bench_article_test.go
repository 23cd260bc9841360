package bufreader_test

// The Monibuca BufReader article's four benchmark scenarios, reproduced as
// the article describes them, so its numbers can be checked. They are
// deliberately NOT fair, and bench_fair_test.go has the fair twins:
//   - the bufio side allocates per op (make for every read, and for every
//     packet and subscriber copy), while the bufreader side reads views;
//   - bufio gets its default 4 KiB buffer and bufreader its 16 KiB blocks;
//   - the bufio side's Read may return fewer than 1024 bytes, so the sides do
//     not even consume the same bytes per op;
//   - every goroutine generates its test data and builds its reader inside
//     the timed RunParallel body, and the GC figures are raw totals over the
//     whole run (setup included), not per op.
//
// Run them with: go test -run '^$' -bench 'BenchmarkArticle_' ./bufreader/

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/zcingest/zerocopy/bufreader"
)

const (
	// articleDataSize is the data each goroutine generates for its mock
	// connection (the article generates it inside the benchmark body).
	articleDataSize = 1 << 20
	// articleStreamDataSize is the same for each of the 100 streams of the
	// StreamingServer scenario, smaller so 100 of them stay modest.
	articleStreamDataSize = 256 << 10
	// articlePacket is the article's "1KB data packets".
	articlePacket = 1024
	// articleStreams is the article's "100 concurrent streams".
	articleStreams = 100
	// articleSubscribers is how many subscribers each stream forwards to.
	articleSubscribers = 2
)

// articleMockNetworkReader models the article's mockNetworkReader: every Read
// returns a random number of bytes between minChunk and maxChunk, drawn from
// a seeded RNG, to imitate the uneven sizes a TCP socket returns. Two changes
// keep it usable for b.N iterations: the chunk is clipped to len(p) (the
// article slices p[:chunkSize], which panics when p is shorter) and the
// offset wraps to the start at the end of the data (the article's version
// returns (0, nil) for ever once the data runs out).
type articleMockNetworkReader struct {
	data     []byte
	offset   int
	rng      *rand.Rand
	minChunk int
	maxChunk int
}

func newArticleMockNetworkReader(data []byte, seed int64) *articleMockNetworkReader {
	return &articleMockNetworkReader{
		data:     data,
		rng:      rand.New(rand.NewSource(seed)),
		minChunk: 64,
		maxChunk: 2048,
	}
}

func (m *articleMockNetworkReader) Read(p []byte) (int, error) {
	chunk := min(m.minChunk+m.rng.Intn(m.maxChunk-m.minChunk+1), len(p))
	n := copy(p[:chunk], m.data[m.offset:])
	m.offset += n
	if m.offset >= len(m.data) {
		m.offset = 0
	}
	return n, nil
}

// articleRandomData is the article-style setup: random bytes generated inside
// the benchmark.
func articleRandomData(seed int64, size int) []byte {
	data := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(data)
	return data
}

// articlePacketData returns whole [u32 BE size][payload] packets (payloads of
// 64..2048 bytes), so a wrapping mock reader stays in frame.
func articlePacketData(seed int64, size int) []byte {
	rng := rand.New(rand.NewSource(seed))
	data := make([]byte, 0, size+2048+4)
	for len(data) < size {
		n := 64 + rng.Intn(2048-64+1)
		data = binary.BigEndian.AppendUint32(data, uint32(n))
		start := len(data)
		data = append(data, make([]byte, n)...)
		rng.Read(data[start:])
	}
	return data
}

var (
	articleSink atomic.Uint64
	articleSeed atomic.Int64
)

// articleProcess stands in for the article's processData: it reads the
// bytes and publishes a result, so neither side's work can be optimised away.
//
//go:noinline
func articleProcess(p []byte) uint64 {
	var s uint64
	for _, c := range p {
		s += uint64(c)
	}
	return s
}

// articleSubscriber keeps the last packet it was given, as a subscriber's
// queue would. That is what makes the bufio side's per-packet copies escape
// to the heap, as they did in the article (a copy nobody keeps may live on
// the stack with Go 1.26).
type articleSubscriber struct{ last []byte }

//go:noinline
func (s *articleSubscriber) deliver(p []byte) uint64 {
	s.last = p
	return articleProcess(p)
}

// articleMemStats brackets a benchmark run the way the article does: raw
// totals of GC runs, MB allocated and (optionally) mallocs over the whole
// run, setup included.
func articleMemStats(b *testing.B, mallocs bool, run func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.NumGC-before.NumGC), "gc-runs")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/1024/1024, "MB-alloc")
	if mallocs {
		b.ReportMetric(float64(after.Mallocs-before.Mallocs), "mallocs")
	}
}

// BenchmarkArticle_ConcurrentNetworkRead: many connections reading 1 KiB
// packets; bufio allocates a new buffer for every read.
func BenchmarkArticle_ConcurrentNetworkRead(b *testing.B) {
	b.Run("bufio", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			seed := articleSeed.Add(1)
			reader := bufio.NewReader(newArticleMockNetworkReader(articleRandomData(seed, articleDataSize), seed))
			var sum uint64
			for pb.Next() {
				buf := make([]byte, articlePacket)
				n, _ := reader.Read(buf)
				sum += articleProcess(buf[:n])
			}
			articleSink.Add(sum)
		})
	})
	b.Run("bufreader", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			seed := articleSeed.Add(1)
			reader := bufreader.New(newArticleMockNetworkReader(articleRandomData(seed, articleDataSize), seed), bufreader.Options{})
			defer reader.Recycle()
			var sum uint64
			for pb.Next() {
				_ = reader.ReadRange(articlePacket, func(data []byte) {
					sum += articleProcess(data)
				})
			}
			articleSink.Add(sum)
		})
	})
}

// BenchmarkArticle_ConcurrentProtocolParsing: a 4-byte length header, then the
// payload; bufio allocates both.
func BenchmarkArticle_ConcurrentProtocolParsing(b *testing.B) {
	b.Run("bufio", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			seed := articleSeed.Add(1)
			reader := bufio.NewReader(newArticleMockNetworkReader(articlePacketData(seed, articleDataSize), seed))
			var sum uint64
			for pb.Next() {
				header := make([]byte, 4)
				if _, err := io.ReadFull(reader, header); err != nil {
					b.Error(err)
					return
				}
				payload := make([]byte, binary.BigEndian.Uint32(header))
				if _, err := io.ReadFull(reader, payload); err != nil {
					b.Error(err)
					return
				}
				sum += articleProcess(payload)
			}
			articleSink.Add(sum)
		})
	})
	b.Run("bufreader", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			seed := articleSeed.Add(1)
			reader := bufreader.New(newArticleMockNetworkReader(articlePacketData(seed, articleDataSize), seed), bufreader.Options{})
			defer reader.Recycle()
			var sum uint64
			for pb.Next() {
				size, err := reader.ReadBE32()
				if err != nil {
					b.Error(err)
					return
				}
				err = reader.ReadRange(int(size), func(data []byte) {
					sum += articleProcess(data)
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
			articleSink.Add(sum)
		})
	})
}

// BenchmarkArticle_GCPressure: continuous concurrent reading and processing,
// reporting total GC runs, MB allocated and mallocs; bufio allocates the read
// buffer and a copy of what it read for the consumer (2 allocs/op).
func BenchmarkArticle_GCPressure(b *testing.B) {
	b.Run("bufio", func(b *testing.B) {
		b.ReportAllocs()
		articleMemStats(b, true, func() {
			b.RunParallel(func(pb *testing.PB) {
				seed := articleSeed.Add(1)
				reader := bufio.NewReader(newArticleMockNetworkReader(articleRandomData(seed, articleDataSize), seed))
				var consumer articleSubscriber
				var sum uint64
				for pb.Next() {
					buf := make([]byte, articlePacket)
					n, _ := reader.Read(buf)
					data := make([]byte, n)
					copy(data, buf[:n])
					sum += consumer.deliver(data)
				}
				articleSink.Add(sum)
			})
		})
	})
	b.Run("bufreader", func(b *testing.B) {
		b.ReportAllocs()
		articleMemStats(b, true, func() {
			b.RunParallel(func(pb *testing.PB) {
				seed := articleSeed.Add(1)
				reader := bufreader.New(newArticleMockNetworkReader(articleRandomData(seed, articleDataSize), seed), bufreader.Options{})
				defer reader.Recycle()
				var sum uint64
				for pb.Next() {
					_ = reader.ReadRange(articlePacket, func(data []byte) {
						sum += articleProcess(data)
					})
				}
				articleSink.Add(sum)
			})
		})
	})
}

// BenchmarkArticle_StreamingServer: 100 concurrent streams (one goroutine
// each), each reading length-prefixed packets and forwarding every packet to
// its subscribers; bufio allocates the header, the payload and a copy per
// subscriber (4 allocs/op), bufreader hands the same views to each subscriber.
func BenchmarkArticle_StreamingServer(b *testing.B) {
	parallelism := (articleStreams + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.Run("bufio", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		articleMemStats(b, false, func() {
			b.RunParallel(func(pb *testing.PB) {
				seed := articleSeed.Add(1)
				reader := bufio.NewReader(newArticleMockNetworkReader(articlePacketData(seed, articleStreamDataSize), seed))
				var subs [articleSubscribers]articleSubscriber
				var sum uint64
				for pb.Next() {
					header := make([]byte, 4)
					if _, err := io.ReadFull(reader, header); err != nil {
						b.Error(err)
						return
					}
					payload := make([]byte, binary.BigEndian.Uint32(header))
					if _, err := io.ReadFull(reader, payload); err != nil {
						b.Error(err)
						return
					}
					for i := range subs {
						forwarded := make([]byte, len(payload))
						copy(forwarded, payload)
						sum += subs[i].deliver(forwarded)
					}
				}
				articleSink.Add(sum)
			})
		})
	})
	b.Run("bufreader", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(parallelism)
		articleMemStats(b, false, func() {
			b.RunParallel(func(pb *testing.PB) {
				seed := articleSeed.Add(1)
				reader := bufreader.New(newArticleMockNetworkReader(articlePacketData(seed, articleStreamDataSize), seed), bufreader.Options{})
				defer reader.Recycle()
				var sum uint64
				for pb.Next() {
					size, err := reader.ReadBE32()
					if err != nil {
						b.Error(err)
						return
					}
					err = reader.ReadRange(int(size), func(data []byte) {
						for range articleSubscribers {
							sum += articleProcess(data)
						}
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
				articleSink.Add(sum)
			})
		})
	})
}
