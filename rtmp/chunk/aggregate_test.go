package chunk

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/pool"
)

type aggCase struct {
	name    string
	body    []byte
	want    []tmsg // CSID/StreamID are the aggregate's (5 and 1)
	wantErr string // "protocol", "limit" or ""
}

func aggCases() []aggCase {
	video := bytes.Repeat([]byte{0x17, 1, 0xaa}, 100)
	audio := []byte{0xaf, 1, 0x21, 0x22}
	two := AggregateTag(AggregateTag(nil, TypeVideo, 1000, video), TypeAudio, 1023, audio)
	many := []byte{}
	for i := range MaxAggregateMessages + 1 {
		many = AggregateTag(many, TypeAudio, uint32(i), []byte{0xaf, 1})
	}
	return []aggCase{
		{name: "empty", body: nil},
		{name: "two tags", body: two, want: []tmsg{
			{TypeID: TypeVideo, Timestamp: 500, Payload: video},
			{TypeID: TypeAudio, Timestamp: 523, Payload: audio},
		}},
		{name: "no final back pointer", body: two[:len(two)-4], want: []tmsg{
			{TypeID: TypeVideo, Timestamp: 500, Payload: video},
			{TypeID: TypeAudio, Timestamp: 523, Payload: audio},
		}},
		{name: "extended timestamp wraps", body: AggregateTag(AggregateTag(nil, TypeVideo, 0xFFFFFFF0, video), TypeVideo, 0x10, video), want: []tmsg{
			{TypeID: TypeVideo, Timestamp: 500, Payload: video},
			{TypeID: TypeVideo, Timestamp: 500 + 0x20, Payload: video},
		}},
		{name: "empty tag body", body: AggregateTag(nil, TypeDataAMF0, 7, nil), want: []tmsg{{TypeID: TypeDataAMF0, Timestamp: 500}}},
		{name: "truncated header", body: two[:5], wantErr: "protocol"},
		{name: "truncated second header", body: append(AggregateTag(nil, TypeAudio, 0, audio), 8, 0, 0), wantErr: "protocol"},
		{name: "truncated body", body: two[:len(two)-10], wantErr: "protocol"},
		{name: "oversized tag", body: append([]byte{9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0}, video...), wantErr: "protocol"},
		{name: "too many tags", body: many, wantErr: "limit"},
	}
}

// aggMessage builds an aggregate message whose payload is body split into
// pooled ranges at the given offsets.
func aggMessage(a *pool.Allocator, body []byte, splits ...int) *Message {
	m := &Message{CSID: 5, TypeID: TypeAggregate, StreamID: 1, Timestamp: 500, Length: uint32(len(body))}
	prev := 0
	for _, s := range append(splits, len(body)) {
		if s <= prev || s > len(body) {
			continue
		}
		b := pool.Malloc(a, s-prev)
		copy(b, body[prev:s])
		m.Payload.PushOne(b)
		prev = s
	}
	return m
}

// splitAll runs SplitAggregate and returns copies of the sub-messages. It
// checks every byte is freed or handed out, and that sub payloads are
// ranges of the aggregate's own memory.
func splitAll(t testing.TB, body []byte, splits ...int) ([]tmsg, error) {
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	m := aggMessage(a, body, splits...)
	var got []tmsg
	_, err := SplitAggregate(a, m, func(sub *Message) error {
		if sub.Length != uint32(sub.Payload.Size) {
			t.Fatalf("sub length %d, payload %d", sub.Length, sub.Payload.Size)
		}
		got = append(got, tmsg{CSID: sub.CSID, StreamID: sub.StreamID, TypeID: sub.TypeID, Timestamp: sub.Timestamp,
			Payload: bytes.Clone(sub.Payload.ToBytes())})
		pool.FreeMemory(a, &sub.Payload)
		return nil
	})
	if m.Payload.Size != 0 || len(m.Payload.Buffers) != 0 {
		t.Fatalf("aggregate payload not emptied: %d bytes", m.Payload.Size)
	}
	if !pool.Balanced(a) {
		t.Fatalf("allocator unbalanced: malloc %d free %d", a.GetTotalMalloc(), a.GetTotalFree())
	}
	return got, err
}

func TestSplitAggregate(t *testing.T) {
	for _, tc := range aggCases() {
		t.Run(tc.name, func(t *testing.T) {
			// Every split offset: tag headers and bodies straddling ranges.
			for split := 0; split <= len(tc.body); split++ {
				got, err := splitAll(t, tc.body, split, split+7)
				var le *limit.LimitError
				switch tc.wantErr {
				case "protocol":
					if !errors.Is(err, ErrProtocol) || len(got) != 0 {
						t.Fatalf("split %d: err %v, %d subs; want a protocol error before any sub-message", split, err, len(got))
					}
					continue
				case "limit":
					if !errors.As(err, &le) || le.Name != "MaxAggregateMessages" || len(got) != 0 {
						t.Fatalf("split %d: err %v; want MaxAggregateMessages", split, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("split %d: %d subs, want %d", split, len(got), len(tc.want))
				}
				for i, w := range tc.want {
					g := got[i]
					if g.CSID != 5 || g.StreamID != 1 || g.TypeID != w.TypeID || g.Timestamp != w.Timestamp || !bytes.Equal(g.Payload, w.Payload) {
						t.Fatalf("split %d sub %d: got %v, want type %d ts %d len %d", split, i, g, w.TypeID, w.Timestamp, len(w.Payload))
					}
				}
				if len(tc.body) > 64 {
					split += 13 // long bodies: a sample of the offsets is enough
				}
			}
		})
	}
}

// TestSplitAggregateZeroCopy checks sub-message payloads are the
// aggregate's own bytes, not copies, and a yield error frees the rest.
func TestSplitAggregateZeroCopy(t *testing.T) {
	body := AggregateTag(AggregateTag(nil, TypeVideo, 0, make([]byte, 1000)), TypeAudio, 1, make([]byte, 10))
	a := pool.NewAllocator(1 << 16)
	defer pool.Recycle(a)
	m := aggMessage(a, body, 300)
	orig := append([][]byte(nil), m.Payload.Buffers...)
	calls := 0
	stop := errors.New("stop")
	copied, err := SplitAggregate(a, m, func(sub *Message) error {
		calls++
		for _, b := range sub.Payload.Buffers {
			if !within(b, orig) {
				t.Fatal("sub-message payload is not a range of the aggregate's memory")
			}
		}
		return stop // leave the payload: SplitAggregate frees it
	})
	if !errors.Is(err, stop) || calls != 1 || copied != 0 {
		t.Fatalf("err %v calls %d copied %d", err, calls, copied)
	}
	if !pool.Balanced(a) {
		t.Fatal("allocator unbalanced after a yield error")
	}
}

// within reports whether b lies inside one of bufs.
func within(b []byte, bufs [][]byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, o := range bufs {
		s := uintptr(unsafe.Pointer(unsafe.SliceData(o)))
		if p >= s && p+uintptr(len(b)) <= s+uintptr(len(o)) {
			return true
		}
	}
	return false
}

// FuzzSplitAggregate: any body either splits or fails cleanly, frees every
// byte, and the sub-messages' payloads add up to at most the body.
func FuzzSplitAggregate(f *testing.F) {
	for _, tc := range aggCases() {
		f.Add(tc.body, uint16(len(tc.body)/2))
	}
	f.Fuzz(func(t *testing.T, body []byte, split uint16) {
		got, err := splitAll(t, body, int(split))
		total := 0
		for _, g := range got {
			total += len(g.Payload)
		}
		if total > len(body) {
			t.Fatalf("sub payloads %d bytes from a %d-byte body", total, len(body))
		}
		if err != nil && len(got) != 0 {
			t.Fatalf("error %v after %d sub-messages: validation must come first", err, len(got))
		}
	})
}
