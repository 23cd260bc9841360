package bufreader

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/pool"
)

// readerCase is a script of calls with the outcome each must have. Every
// case runs through every source in iotestVariants and through a source
// split at every offset, with small and odd block sizes so that the calls
// meet block boundaries everywhere.
type readerCase struct {
	name  string
	input string
	cfg   config
	steps []step
}

var (
	long = pattern(1500) // spans several 256-byte blocks
	ints = string([]byte{
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
		0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0xf4,
	})
)

// text returns n printable bytes that differ with off, for line contents.
func text(off, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((off+i*7+i/26)%26)
	}
	return string(b)
}

var readerCases = []readerCase{
	// ReadRange
	{name: "ReadRange/small reads in one block", input: long, steps: []step{
		{op: opReadRange, n: 10, want: long[:10]},
		{op: opReadRange, n: 0},
		{op: opReadRange, n: 100, want: long[10:110]},
	}},
	{name: "ReadRange/crosses blocks", input: long, steps: []step{
		{op: opReadRange, n: 300, want: long[:300]},
		{op: opReadRange, n: 700, want: long[300:1000]},
		{op: opReadRange, n: 500, want: long[1000:]},
		{op: opReadRange, n: 1, err: errEOF},
		{op: opReadRange, n: 0},
	}},
	{name: "ReadRange/short stream consumes nothing", input: long, steps: []step{
		{op: opReadRange, n: 1600, err: errUnexpectedEOF},
		{op: opReadRange, n: 1501, err: errUnexpectedEOF},
		{op: opReadRange, n: 1500, want: long},
		{op: opReadRange, n: 1, err: errEOF},
		{op: opReadRange, n: 1, err: errEOF},
	}},
	{name: "ReadRange/negative length", input: long, steps: []step{
		{op: opReadRange, n: -1, err: errInvalid},
		{op: opReadRange, n: 5, want: long[:5]},
	}},
	{name: "ReadRange/MaxBuffered", input: long, cfg: config{maxBuffered: 1000}, steps: []step{
		{op: opReadRange, n: 1001, err: limMaxBuffered},
		{op: opReadRange, n: 1000, want: long[:1000]},
		{op: opReadRange, n: 501, err: errUnexpectedEOF},
		{op: opReadRange, n: 500, want: long[1000:]},
	}},
	{name: "ReadRange/empty stream", input: "", steps: []step{
		{op: opReadRange, n: 1, err: errEOF},
		{op: opReadRange, n: 0},
	}},
	{name: "ReadRange/stream ends with an error", input: long, cfg: config{termErr: true}, steps: []step{
		{op: opReadRange, n: 2000, err: errTermClass},
		{op: opReadRange, n: 1500, want: long},
		{op: opReadRange, n: 1, err: errTermClass},
		{op: opReadRange, n: 0},
	}},

	// Peek
	{name: "Peek/does not consume", input: long, steps: []step{
		{op: opPeek, n: 10, want: long[:10]},
		{op: opPeek, n: 10, want: long[:10]},
		{op: opReadRange, n: 10, want: long[:10]},
		{op: opPeek, n: 0},
		{op: opPeek, n: -3},
		{op: opPeek, n: 1, want: long[10:11]},
	}},
	{name: "Peek/straddles blocks", input: long, steps: []step{
		{op: opReadRange, n: 250, want: long[:250]},
		{op: opPeek, n: 20, want: long[250:270]},
		{op: opPeek, n: 600, want: long[250:850]},
		{op: opReadRange, n: 600, want: long[250:850]},
		{op: opPeek, n: 650, want: long[850:]},
		{op: opPeek, n: 651, err: errUnexpectedEOF},
		{op: opReadRange, n: 650, want: long[850:]},
		{op: opPeek, n: 1, err: errEOF},
	}},
	{name: "Peek/short stream", input: "abc", steps: []step{
		{op: opPeek, n: 4, err: errUnexpectedEOF},
		{op: opPeek, n: 3, want: "abc"},
		{op: opReadRange, n: 3, want: "abc"},
		{op: opPeek, n: 1, err: errEOF},
	}},
	{name: "Peek/MaxPeek", input: long, cfg: config{maxPeek: 300}, steps: []step{
		{op: opPeek, n: 301, err: limMaxPeek},
		{op: opPeek, n: 300, want: long[:300]},
		{op: opReadByte, val: uint64(long[0])},
	}},
	{name: "Peek/MaxBuffered below MaxPeek", input: long, cfg: config{maxPeek: 2000, maxBuffered: 500}, steps: []step{
		{op: opPeek, n: 600, err: limMaxBuffered},
		{op: opPeek, n: 500, want: long[:500]},
	}},
	{name: "Peek/stream ends with an error", input: "abc", cfg: config{termErr: true}, steps: []step{
		{op: opPeek, n: 4, err: errTermClass},
		{op: opPeek, n: 3, want: "abc"},
	}},

	// Take and TakeInto
	{name: "Take/exact ranges across blocks", input: long, steps: []step{
		{op: opTake, n: 100, want: long[:100]},
		{op: opTake, n: 600, want: long[100:700]},
		{op: opTakeInto, n: 300, want: long[700:1000]},
		{op: opReadRange, n: 50, want: long[1000:1050]},
		{op: opTakeInto, n: 450, want: long[1050:]},
		{op: opTake, n: 1, err: errEOF},
		{op: opTakeInto, n: 0},
	}},
	{name: "Take/short stream consumes nothing", input: long, steps: []step{
		{op: opTake, n: 2000, err: errUnexpectedEOF},
		{op: opTakeInto, n: 1501, err: errUnexpectedEOF},
		{op: opTake, n: 1500, want: long},
		{op: opTake, n: 0},
		{op: opTakeInto, n: 1, err: errEOF},
	}},
	{name: "Take/negative length and MaxBuffered", input: long, cfg: config{maxBuffered: 512}, steps: []step{
		{op: opTake, n: -1, err: errInvalid},
		{op: opTakeInto, n: -7, err: errInvalid},
		{op: opTakeInto, n: 513, err: limMaxBuffered},
		{op: opTake, n: 512, want: long[:512]},
		{op: opTakeInto, n: 512, want: long[512:1024]},
	}},
	{name: "Take/interleaved with views", input: long, steps: []step{
		{op: opPeek, n: 5, want: long[:5]},
		{op: opTake, n: 5, want: long[:5]},
		{op: opReadByte, val: uint64(long[5])},
		{op: opTakeInto, n: 255, want: long[6:261]},
		{op: opReadBE32, val: be(long[261:265])},
		{op: opTake, n: 1, want: long[265:266]},
		{op: opDiscard, n: 100, count: 100},
		{op: opTakeInto, n: 3, want: long[366:369]},
		{op: opReadRange, n: 131, want: long[369:500]},
		{op: opTake, n: 1000, want: long[500:]},
	}},

	// Discard and Skip
	{name: "Discard/within and across blocks", input: long, steps: []step{
		{op: opDiscard, n: 10, count: 10},
		{op: opReadRange, n: 5, want: long[10:15]},
		{op: opDiscard, n: 900, count: 900},
		{op: opReadByte, val: uint64(long[915])},
		{op: opDiscard, n: 0},
		{op: opDiscard, n: -4},
		{op: opDiscard, n: 1000, count: 584, err: errEOF},
		{op: opDiscard, n: 1, err: errEOF},
	}},
	{name: "Skip/exact or UnexpectedEOF", input: long, steps: []step{
		{op: opSkip, n: 10},
		{op: opReadByte, val: uint64(long[10])},
		{op: opSkip, n: 1000},
		{op: opSkip, n: 1000, err: errUnexpectedEOF},
		{op: opSkip, n: 1, err: errEOF},
		{op: opSkip, n: 0},
	}},
	{name: "Discard/stream ends with an error", input: long, cfg: config{termErr: true}, steps: []step{
		{op: opDiscard, n: 2000, count: 1500, err: errTermClass},
		{op: opSkip, n: 1, err: errTermClass},
		{op: opDiscard, n: 0},
	}},

	// ReadByte
	{name: "ReadByte/every byte of a short stream", input: "ab", steps: []step{
		{op: opReadByte, val: 'a'},
		{op: opReadByte, val: 'b'},
		{op: opReadByte, err: errEOF},
		{op: opReadByte, err: errEOF},
	}},
	{name: "ReadByte/across blocks", input: long, steps: []step{
		{op: opReadRange, n: 255, want: long[:255]},
		{op: opReadByte, val: uint64(long[255])},
		{op: opReadByte, val: uint64(long[256])},
		{op: opReadByte, val: uint64(long[257])},
		{op: opReadRange, n: 1242, want: long[258:]},
		{op: opReadByte, err: errEOF},
	}},
	{name: "ReadByte/stream ends with an error", input: "a", cfg: config{termErr: true}, steps: []step{
		{op: opReadByte, val: 'a'},
		{op: opReadByte, err: errTermClass},
	}},

	// Integer reads
	{name: "ReadBE/widths 1 to 8", input: ints, steps: []step{
		{op: opReadBE, n: 1, val: be(ints[0:1])},
		{op: opReadBE, n: 2, val: be(ints[1:3])},
		{op: opReadBE, n: 3, val: be(ints[3:6])},
		{op: opReadBE, n: 4, val: be(ints[6:10])},
		{op: opReadBE, n: 5, val: be(ints[10:15])},
		{op: opReadBE, n: 6, val: be(ints[15:21])},
		{op: opReadBE, n: 7, val: be(ints[21:28])},
		{op: opReadBE, n: 8, val: be(ints[28:36])},
		{op: opReadBE, n: 1, err: errEOF},
	}},
	{name: "ReadLE/widths 1 to 8", input: ints, steps: []step{
		{op: opReadLE, n: 1, val: le(ints[0:1])},
		{op: opReadLE, n: 2, val: le(ints[1:3])},
		{op: opReadLE, n: 3, val: le(ints[3:6])},
		{op: opReadLE, n: 4, val: le(ints[6:10])},
		{op: opReadLE, n: 5, val: le(ints[10:15])},
		{op: opReadLE, n: 6, val: le(ints[15:21])},
		{op: opReadLE, n: 7, val: le(ints[21:28])},
		{op: opReadLE, n: 8, val: le(ints[28:36])},
		{op: opReadLE, n: 1, err: errEOF},
	}},
	{name: "ReadBE/fixed-width helpers", input: ints, steps: []step{
		{op: opReadBE16, val: be(ints[0:2])},
		{op: opReadBE24, val: be(ints[2:5])},
		{op: opReadBE32, val: be(ints[5:9])},
		{op: opReadLE32, val: le(ints[9:13])},
	}},
	{name: "ReadBE/width out of range", input: ints, steps: []step{
		{op: opReadBE, n: 0, err: errInvalid},
		{op: opReadBE, n: 9, err: errInvalid},
		{op: opReadLE, n: 0, err: errInvalid},
		{op: opReadLE, n: -1, err: errInvalid},
		{op: opReadLE, n: 9, err: errInvalid},
		{op: opReadBE, n: 1, val: 0x01},
	}},
	{name: "ReadBE/straddles blocks", input: long, steps: []step{
		{op: opReadRange, n: 253, want: long[:253]},
		{op: opReadBE, n: 8, val: be(long[253:261])},
		{op: opReadRange, n: 245, want: long[261:506]},
		{op: opReadLE, n: 8, val: le(long[506:514])},
		{op: opReadRange, n: 250, want: long[514:764]},
		{op: opReadBE32, val: be(long[764:768])},
		{op: opReadRange, n: 253, want: long[768:1021]},
		{op: opReadBE24, val: be(long[1021:1024])},
		{op: opReadLE32, val: le(long[1024:1028])},
		{op: opReadBE16, val: be(long[1028:1030])},
	}},
	// A MaxBuffered below 8 used to make integer reads fail or succeed
	// depending on whether their bytes happened to be in one block.
	{name: "ReadBE/MaxBuffered below the widest integer", input: ints, cfg: config{maxBuffered: 2}, steps: []step{
		{op: opReadBE32, val: be(ints[0:4])},
		{op: opReadLE, n: 8, val: le(ints[4:12])},
		{op: opReadRange, n: 8, want: ints[12:20]},
		{op: opReadRange, n: 9, err: limMaxBuffered},
		{op: opReadBE, n: 8, val: be(ints[20:28])},
	}},
	{name: "ReadBE/short stream consumes nothing", input: "abc", steps: []step{
		{op: opReadBE, n: 4, err: errUnexpectedEOF},
		{op: opReadBE32, err: errUnexpectedEOF},
		{op: opReadLE32, err: errUnexpectedEOF},
		{op: opReadLE, n: 8, err: errUnexpectedEOF},
		{op: opReadBE24, val: be("abc")},
		{op: opReadBE16, err: errEOF},
	}},
	{name: "ReadBE/stream ends with an error", input: "abc", cfg: config{termErr: true}, steps: []step{
		{op: opReadBE, n: 4, err: errTermClass},
		{op: opReadLE, n: 3, val: le("abc")},
	}},

	// ReadLine
	{name: "ReadLine/LF and CRLF endings", input: "a\nbb\r\n\r\n\nccc\r\r\nd\re\n", steps: []step{
		{op: opReadLine, want: "a"},
		{op: opReadLine, want: "bb"},
		{op: opReadLine, want: ""},
		{op: opReadLine, want: ""},
		{op: opReadLine, want: "ccc\r"},
		{op: opReadLine, want: "d\re"},
		{op: opReadLine, err: errEOF},
	}},
	{name: "ReadLine/last line without a newline", input: "abc\ndef", steps: []step{
		{op: opReadLine, want: "abc"},
		{op: opReadLine, err: errUnexpectedEOF},
		{op: opReadLine, err: errUnexpectedEOF},
		{op: opReadRange, n: 3, want: "def"},
		{op: opReadLine, err: errEOF},
	}},
	{
		name:  "ReadLine/long lines across blocks",
		input: text(0, 300) + "\r\n" + text(1, 600) + "\n" + "\r\n" + text(2, 1000) + "\r\n",
		steps: []step{
			{op: opReadLine, want: text(0, 300)},
			{op: opReadLine, want: text(1, 600)},
			{op: opReadLine, want: ""},
			{op: opReadLine, want: text(2, 1000)},
			{op: opReadLine, err: errEOF},
		},
	},
	{
		name: "ReadLine/MaxLineLength",
		input: text(0, 100) + "\r\n" + text(1, 100) + "\n" + text(2, 101) + "\n" +
			text(3, 100) + "\r\r\n" + text(4, 300),
		cfg: config{maxLine: 100},
		steps: []step{
			{op: opReadLine, want: text(0, 100)},
			{op: opReadLine, want: text(1, 100)},
			{op: opReadLine, err: limMaxLineLength},
			{op: opReadLine, err: limMaxLineLength},
			{op: opReadRange, n: 102, want: text(2, 101) + "\n"},
			{op: opReadLine, err: limMaxLineLength},
			{op: opReadRange, n: 103, want: text(3, 100) + "\r\r\n"},
			{op: opReadLine, err: limMaxLineLength},
			{op: opReadRange, n: 199, want: text(4, 199)},
			{op: opReadLine, err: errUnexpectedEOF},
			{op: opReadRange, n: 101, want: text(4, 300)[199:]},
			{op: opReadLine, err: errEOF},
		},
	},
	{name: "ReadLine/stream ends with an error", input: "abc\nxyz", cfg: config{termErr: true}, steps: []step{
		{op: opReadLine, want: "abc"},
		{op: opReadLine, err: errTermClass},
		{op: opReadRange, n: 3, want: "xyz"},
		{op: opReadLine, err: errTermClass},
	}},
	{name: "ReadLine/empty stream", input: "", steps: []step{
		{op: opReadLine, err: errEOF},
	}},

	// Read
	{name: "Read/fills the buffer then reports EOF", input: long, steps: []step{
		{op: opRead, n: 700, want: long[:700]},
		{op: opRead, n: 1000, want: long[700:], err: errEOF},
		{op: opRead, n: 1, err: errEOF},
		{op: opRead, n: 0},
	}},
	{name: "Read/single calls", input: long, steps: []step{
		{op: opReadOnce, n: 1, want: long[:1]},
		{op: opReadOnce, n: 0},
		{op: opReadOnce, n: 5000, want: long[1:]},
	}},
	{name: "Read/after views and takes", input: long, steps: []step{
		{op: opReadRange, n: 10, want: long[:10]},
		{op: opPeek, n: 300, want: long[10:310]},
		{op: opRead, n: 20, want: long[10:30]},
		{op: opTake, n: 10, want: long[30:40]},
		{op: opRead, n: 1460, want: long[40:]},
		{op: opReadOnce, n: 10, err: errEOF},
	}},
	{name: "Read/stream ends with an error", input: long, cfg: config{termErr: true}, steps: []step{
		{op: opRead, n: 2000, want: long, err: errTermClass},
		{op: opReadOnce, n: 1, err: errTermClass},
	}},

	// WriteTo
	{name: "WriteTo/writes what remains", input: long, steps: []step{
		{op: opReadRange, n: 100, want: long[:100]},
		{op: opPeek, n: 200, want: long[100:300]},
		{op: opWriteTo, want: long[100:]},
		{op: opWriteTo},
		{op: opReadByte, err: errEOF},
	}},
	{name: "WriteTo/stream ends with an error", input: long, cfg: config{termErr: true}, steps: []step{
		{op: opReadByte, val: uint64(long[0])},
		{op: opWriteTo, want: long[1:], err: errTermClass},
	}},
	{name: "WriteTo/empty stream", input: "", steps: []step{
		{op: opWriteTo},
	}},

	// Buffered
	{name: "Buffered/never exceeds the unread bytes", input: long, steps: []step{
		{op: opBuffered, count: 0},
		{op: opPeek, n: 300, want: long[:300]},
		{op: opBuffered, count: 1500},
		{op: opReadRange, n: 1500, want: long},
		{op: opBuffered, count: 0},
	}},

	// Recycle and Close
	{name: "Recycle/every later call fails", input: long, steps: []step{
		{op: opReadRange, n: 10, want: long[:10]},
		{op: opTake, n: 300, want: long[10:310]},
		{op: opRecycle},
		{op: opReadRange, n: 1, err: errClosed},
		{op: opReadRange, n: 0, err: errClosed},
		{op: opReadRange, n: -1, err: errClosed},
		{op: opReadRange, n: 30000, err: errClosed},
		{op: opPeek, n: 1, err: errClosed},
		{op: opPeek, n: 0, err: errClosed},
		{op: opPeek, n: 30000, err: errClosed},
		{op: opTake, n: 1, err: errClosed},
		{op: opTakeInto, n: 0, err: errClosed},
		{op: opDiscard, n: 1, err: errClosed},
		{op: opDiscard, n: 0, err: errClosed},
		{op: opSkip, n: 1, err: errClosed},
		{op: opReadByte, err: errClosed},
		{op: opReadBE, n: 4, err: errClosed},
		{op: opReadBE, n: 9, err: errClosed},
		{op: opReadLE, n: 2, err: errClosed},
		{op: opReadBE16, err: errClosed},
		{op: opReadBE24, err: errClosed},
		{op: opReadBE32, err: errClosed},
		{op: opReadLE32, err: errClosed},
		{op: opReadLine, err: errClosed},
		{op: opRead, n: 10, err: errClosed},
		{op: opReadOnce, n: 0, err: errClosed},
		{op: opWriteTo, err: errClosed},
		{op: opBuffered, count: 0},
		{op: opRecycle},
		{op: opClose},
	}},
	{name: "Close/every later call fails", input: long, steps: []step{
		{op: opTakeInto, n: 10, want: long[:10]},
		{op: opClose},
		{op: opReadByte, err: errClosed},
		{op: opWriteTo, err: errClosed},
		{op: opClose},
		{op: opRecycle},
	}},

	recordParserCase(),
}

// recordParserCase is a parser-shaped mix: records of a type byte, a 24-bit
// length, a 32-bit timestamp, a payload (alternately viewed and taken) and
// a CRLF-terminated trailer line.
func recordParserCase() readerCase {
	var in strings.Builder
	var steps []step
	for i, n := range []int{0, 1, 255, 256, 300, 17, 1000, 2} {
		payload := pattern(n + i)[i:]
		trailer := text(i, i*13)
		head := []byte{byte(i + 1), byte(n >> 16), byte(n >> 8), byte(n), 0, 0, byte(i), byte(n)}
		in.Write(head)
		in.WriteString(payload)
		in.WriteString(trailer + "\r\n")
		steps = append(steps,
			step{op: opReadByte, val: uint64(i + 1)},
			step{op: opReadBE24, val: uint64(n)},
			step{op: opReadBE32, val: be(string(head[4:8]))},
		)
		switch i % 3 {
		case 0:
			steps = append(steps, step{op: opReadRange, n: n, want: payload})
		case 1:
			steps = append(steps, step{op: opTake, n: n, want: payload})
		case 2:
			steps = append(steps, step{op: opTakeInto, n: n, want: payload})
		}
		steps = append(steps, step{op: opReadLine, want: trailer})
	}
	steps = append(steps, step{op: opReadByte, err: errEOF})
	return readerCase{name: "Mixed/record parser", input: in.String(), steps: steps}
}

// blockSizes are the sizes every case runs with unless it fixes its own:
// the minimum, odd sizes, and the default.
var blockSizes = []int{MinBlockSize, MinBlockSize + 1, 389, 0}

// sweepBlockSizes are the sizes the every-offset split runs with. One odd
// size is enough: moving the split through every offset already moves the
// block boundaries through every position, and the sweep dominates the
// package's test time.
var sweepBlockSizes = []int{MinBlockSize + 1}

func TestReaderTable(t *testing.T) {
	for _, tc := range readerCases {
		t.Run(tc.name, func(t *testing.T) {
			runCase(t, tc)
		})
	}
}

func runCase(t *testing.T, tc readerCase) {
	data := []byte(tc.input)
	sizes, sweep := blockSizes, sweepBlockSizes
	if tc.cfg.blockSize != 0 {
		sizes, sweep = []int{tc.cfg.blockSize}, []int{tc.cfg.blockSize}
	}
	// One caller-supplied allocator serves every run of the case; each run
	// must hand back everything it used.
	alloc := pool.NewAllocator(64 << 10)
	defer pool.Recycle(alloc)
	for _, bs := range sizes {
		c := tc.cfg
		c.blockSize = bs
		for i, v := range iotestVariants {
			a := alloc
			if i == 0 {
				a = nil // the plain run lets the reader create its own allocator
			}
			runScript(t, fmt.Sprintf("%s bs=%d", v.name, bs), data, c, v.make(data, c.term()), a, tc.steps, true, nil)
		}
	}
	for _, bs := range sweep {
		c := tc.cfg
		c.blockSize = bs
		for k := 0; k <= len(data); k++ {
			src := &splitReader{data: data, k: k, term: c.term()}
			if !runScript(t, fmt.Sprintf("split at %d bs=%d", k, bs), data, c, src, alloc, tc.steps, true, nil) {
				return
			}
		}
	}
}

// TestModelMatchesTable anchors the fuzzers' oracle: the reference model
// must itself produce every outcome the table states.
func TestModelMatchesTable(t *testing.T) {
	for _, tc := range readerCases {
		m := newModel([]byte(tc.input), tc.cfg)
		for i, st := range tc.steps {
			var got result
			if st.op == opReadOnce || st.op == opBuffered {
				got = result{n: min(st.n, m.rem())} // the model takes the reader's count as given
			}
			res := m.apply(st.op, st.n, got)
			if msg := st.check(res); msg != "" {
				t.Errorf("%s: step %d %v: model: %s", tc.name, i, st, msg)
			}
		}
	}
}

// TestReadSatisfiesIOTest runs the standard library's io.Reader checks.
func TestReadSatisfiesIOTest(t *testing.T) {
	data := []byte(long)
	for _, v := range iotestVariants {
		r := New(v.make(data, io.EOF), Options{BlockSize: MinBlockSize})
		if err := iotest.TestReader(r, data); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
		r.Recycle()
	}
}

// TestBuffered pins what Buffered reports with a source that fills whole
// blocks.
func TestBuffered(t *testing.T) {
	data := []byte(long)
	r := New(bytes.NewReader(data), Options{BlockSize: MinBlockSize})
	defer r.Recycle()
	if n := r.Buffered(); n != 0 {
		t.Fatalf("Buffered before any read = %d, want 0", n)
	}
	if _, err := r.Peek(10); err != nil {
		t.Fatal(err)
	}
	if n := r.Buffered(); n != MinBlockSize {
		t.Fatalf("Buffered after Peek(10) = %d, want one block (%d)", n, MinBlockSize)
	}
	if _, err := r.Peek(600); err != nil {
		t.Fatal(err)
	}
	if n := r.Buffered(); n < 600 {
		t.Fatalf("Buffered after Peek(600) = %d, want at least 600", n)
	}
	before := r.Buffered()
	if err := r.Skip(100); err != nil {
		t.Fatal(err)
	}
	if n := r.Buffered(); n != before-100 {
		t.Fatalf("Buffered after Skip(100) = %d, want %d", n, before-100)
	}
}

// TestStatsCountCopies checks that views and takes are counted as zero-copy
// and that Read, straddling integers and assembled peeks are counted as
// copies.
func TestStatsCountCopies(t *testing.T) {
	data := []byte(long)
	r := New(bytes.NewReader(data), Options{BlockSize: MinBlockSize})
	defer r.Recycle()
	m := mustTake(t, r, 100)
	defer pool.FreeMemory(r.Allocator(), &m)
	if err := r.ReadRange(100, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Peek(50); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.BytesCopied != 0 || st.BytesTaken != 100 {
		t.Fatalf("after in-block calls: %+v, want no copies and 100 taken", st)
	}
	if err := r.Skip(MinBlockSize - 200 - 2); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadBE32(); err != nil { // straddles the first block boundary
		t.Fatal(err)
	}
	if st := r.Stats(); st.BytesCopied != 4 {
		t.Fatalf("after a straddling ReadBE32: BytesCopied=%d, want 4", st.BytesCopied)
	}
	p := make([]byte, 10)
	if _, err := r.Read(p); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.BytesCopied != 14 {
		t.Fatalf("after Read of 10: BytesCopied=%d, want 14", st.BytesCopied)
	}
}

func mustTake(t *testing.T, r *Reader, n int) gomem.Memory {
	t.Helper()
	m, err := r.Take(n)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// badCountReader claims to have read n bytes whatever p holds.
type badCountReader struct{ n int }

func (b badCountReader) Read(p []byte) (int, error) {
	if b.n > 0 {
		return len(p) + b.n, nil
	}
	return b.n, nil
}

// TestMisbehavingSourceIsAnError checks that a source returning a negative
// count or more than len(p) makes every call fail instead of panicking or
// exposing memory beyond the block.
func TestMisbehavingSourceIsAnError(t *testing.T) {
	for _, n := range []int{-1, 1} {
		r := New(badCountReader{n}, Options{BlockSize: MinBlockSize})
		for i := range 2 { // the error is sticky
			if _, err := r.ReadByte(); err == nil || !strings.Contains(err.Error(), "invalid count") {
				t.Errorf("count %+d, call %d: ReadByte = %v, want the invalid-count error", n, i, err)
			}
		}
		if r.Buffered() != 0 {
			t.Errorf("count %+d: Buffered = %d after a bad read", n, r.Buffered())
		}
		r.Recycle()
		if !pool.Balanced(r.Allocator()) {
			t.Errorf("count %+d: %d bytes leaked", n, pool.InUse(r.Allocator()))
		}
	}
}
