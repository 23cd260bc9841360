package message

import (
	"errors"
	"reflect"
	"testing"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/rtmp/amf0"
	"github.com/zcingest/zerocopy/rtmp/chunk"
)

type parseCase struct {
	name    string
	typeID  uint8
	in      []byte
	want    any
	wantErr error
}

func mustAMF(vs ...amf0.Value) []byte {
	b, err := amf0.AppendAll(nil, vs...)
	if err != nil {
		panic(err)
	}
	return b
}

func parseCases() []parseCase {
	connect := mustAMF("connect", 1.0, amf0.Object{{Key: "app", Value: "live"}})
	meta := mustAMF("@setDataFrame", "onMetaData", amf0.ECMAArray{{Key: "width", Value: 640.0}})
	return []parseCase{
		{"set-chunk-size", chunk.TypeSetChunkSize, []byte{0, 0, 16, 0}, SetChunkSize{4096}, nil},
		{"abort", chunk.TypeAbort, []byte{0, 0, 0, 5}, Abort{5}, nil},
		{"ack", chunk.TypeAck, []byte{0, 1, 0, 0}, Ack{65536}, nil},
		{"window-ack", chunk.TypeWindowAckSize, []byte{0, 0x26, 0x25, 0xa0}, WindowAckSize{2500000}, nil},
		{"peer-bw", chunk.TypeSetPeerBandwidth, []byte{0, 0x26, 0x25, 0xa0, 2}, SetPeerBandwidth{2500000, chunk.LimitDynamic}, nil},
		{"stream-begin", chunk.TypeUserControl, []byte{0, 0, 0, 0, 0, 1}, UserControl{Event: chunk.EventStreamBegin, Data: 1}, nil},
		{"set-buffer-length", chunk.TypeUserControl, []byte{0, 3, 0, 0, 0, 1, 0, 0, 3, 0xe8}, UserControl{Event: 3, Data: 1, Data2: 1000}, nil},
		{"ping", chunk.TypeUserControl, []byte{0, 6, 1, 2, 3, 4}, UserControl{Event: 6, Data: 0x01020304}, nil},
		{"connect", chunk.TypeCommandAMF0, connect, Command{Name: "connect", TransactionID: 1, Object: amf0.Object{{Key: "app", Value: "live"}}}, nil},
		{"connect-amf3", chunk.TypeCommandAMF3, append([]byte{0}, connect...), Command{Name: "connect", TransactionID: 1, Object: amf0.Object{{Key: "app", Value: "live"}}}, nil},
		{"metadata", chunk.TypeDataAMF0, meta, Data{Name: "@setDataFrame", Values: []amf0.Value{"@setDataFrame", "onMetaData", amf0.ECMAArray{{Key: "width", Value: 640.0}}}}, nil},

		{"set-chunk-size-short", chunk.TypeSetChunkSize, []byte{0, 0}, nil, ErrMalformed},
		{"peer-bw-short", chunk.TypeSetPeerBandwidth, []byte{0, 0, 0, 1}, nil, ErrMalformed},
		{"user-control-short", chunk.TypeUserControl, []byte{0}, nil, ErrMalformed},
		{"set-buffer-length-short", chunk.TypeUserControl, []byte{0, 3, 0, 0, 0, 1}, nil, ErrMalformed},
		{"command-not-amf", chunk.TypeCommandAMF0, []byte{0x42}, nil, ErrMalformed},
		{"command-no-name", chunk.TypeCommandAMF0, mustAMF(1.0), nil, ErrMalformed},
		{"data-truncated", chunk.TypeDataAMF0, []byte{2, 0, 9, 'a'}, nil, ErrMalformed},
		{"video", chunk.TypeVideo, []byte{0x17}, nil, ErrMedia},
		{"shared-object", chunk.TypeSharedObjectAMF0, nil, nil, ErrUnknownType},
	}
}

func TestParsePayload(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePayload(tc.typeID, tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	body := mustAMF("createStream", 4.0, nil)
	var m chunk.Message
	m.TypeID = chunk.TypeCommandAMF0
	m.Length = uint32(len(body))
	m.Payload.PushOne(body[:5]) // two ranges: Parse copies into scratch
	m.Payload.PushOne(body[5:])
	got, err := Parse(&m, make([]byte, 0, 64))
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(Command); c.Name != "createStream" || c.TransactionID != 4 {
		t.Fatalf("%+v", c)
	}
	m.Length = MaxCommandLength + 1
	var le *limit.LimitError
	if _, err := Parse(&m, nil); !errors.As(err, &le) || le.Name != "MaxCommandLength" {
		t.Fatalf("err %v", err)
	}
	m.TypeID = chunk.TypeVideo
	if _, err := Parse(&m, nil); err != ErrMedia {
		t.Fatalf("err %v", err)
	}
}

func TestMetaData(t *testing.T) {
	for _, vs := range [][]amf0.Value{
		{"@setDataFrame", "onMetaData", amf0.ECMAArray{{Key: "w", Value: 1.0}}},
		{"onMetaData", amf0.Object{{Key: "w", Value: 1.0}}},
	} {
		d, err := ParseData(mustAMF(vs...))
		if err != nil {
			t.Fatal(err)
		}
		md, ok := d.MetaData()
		if !ok || len(md) != 1 || md[0].Key != "w" {
			t.Fatalf("%v %v", md, ok)
		}
	}
	if _, ok := (Data{Values: []amf0.Value{"onMetaData", []amf0.Value{}}}).MetaData(); ok {
		t.Fatal("strict array accepted as metadata")
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases() {
		f.Add(tc.typeID, tc.in)
	}
	f.Fuzz(func(t *testing.T, typeID uint8, in []byte) {
		v, err := ParsePayload(typeID, in)
		if err == nil && v == nil {
			t.Fatal("nil value without error")
		}
		if d, ok := v.(Data); ok {
			_, _ = d.MetaData()
		}
	})
}
