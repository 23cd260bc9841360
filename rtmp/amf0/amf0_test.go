package amf0

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/limit"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// nested returns n levels of the given container prefix followed by a null.
func nested(prefix []byte, n int) []byte {
	b := bytes.Repeat(prefix, n)
	return append(b, markerNull)
}

type decodeCase struct {
	name    string
	in      []byte
	want    []Value
	wantErr error  // errors.Is target
	limit   string // expected *limit.LimitError name
}

var (
	connectBody = cat(
		hx("02 0007"), []byte("connect"),
		hx("00 3ff0000000000000"),
		hx("03"),
		hx("0003"), []byte("app"), hx("02 0004"), []byte("live"),
		hx("0005"), []byte("tcUrl"), hx("02 0015"), []byte("rtmp://127.0.0.1/live"),
		hx("0004"), []byte("fpad"), hx("01 00"),
		hx("000e"), []byte("objectEncoding"), hx("00 0000000000000000"),
		hx("000009"),
	)
	metaBody = cat(
		hx("02 000d"), []byte("@setDataFrame"),
		hx("02 000a"), []byte("onMetaData"),
		hx("08 00000002"),
		hx("0005"), []byte("width"), hx("00 4094000000000000"),
		hx("0006"), []byte("stereo"), hx("01 01"),
		hx("000009"),
	)
)

func decodeCases() []decodeCase {
	return []decodeCase{
		{name: "number", in: hx("00 3ff0000000000000"), want: []Value{1.0}},
		{name: "number-nan", in: hx("00 7ff8000000000001"), want: []Value{math.Float64frombits(0x7ff8000000000001)}},
		{name: "bool", in: hx("01 00 01 05"), want: []Value{false, true}},
		{name: "string", in: cat(hx("02 0002"), []byte("hi")), want: []Value{"hi"}},
		{name: "empty-string", in: hx("02 0000"), want: []Value{""}},
		{name: "null-undefined-unsupported", in: hx("05 06 0d"), want: []Value{nil, Undefined{}, Undefined{}}},
		{name: "long-string", in: cat(hx("0c 00000003"), []byte("abc")), want: []Value{"abc"}},
		{name: "xml", in: cat(hx("0f 00000002"), []byte("<a")), want: []Value{XMLDocument("<a")}},
		{name: "date", in: hx("0b 4000000000000000 fffe"), want: []Value{Date{Millis: 2, TZ: -2}}},
		{name: "object", in: cat(hx("03 0001"), []byte("a"), hx("05"), hx("0000"), []byte{}, hx("06"), hx("000009")),
			want: []Value{Object{{"a", nil}, {"", Undefined{}}}}},
		{name: "empty-object", in: hx("03 000009"), want: []Value{Object(nil)}},
		{name: "ecma", in: cat(hx("08 00000001 0001"), []byte("k"), hx("00 0000000000000000 000009")),
			want: []Value{ECMAArray{{"k", 0.0}}}},
		{name: "ecma-count-lies", in: cat(hx("08 ffffffff 0001"), []byte("k"), hx("05 000009")),
			want: []Value{ECMAArray{{"k", nil}}}},
		{name: "ecma-no-end-marker", in: cat(hx("08 00000001 0001"), []byte("k"), hx("05")),
			want: []Value{ECMAArray{{"k", nil}}}},
		{name: "strict-array", in: hx("0a 00000002 05 01 01"), want: []Value{[]Value{nil, true}}},
		{name: "empty-strict-array", in: hx("0a 00000000"), want: []Value{[]Value{}}},
		{name: "typed-object", in: cat(hx("10 0001"), []byte("C"), hx("0001"), []byte("x"), hx("05 000009")),
			want: []Value{TypedObject{Class: "C", Object: Object{{"x", nil}}}}},
		{name: "connect", in: connectBody, want: []Value{"connect", 1.0, Object{
			{"app", "live"}, {"tcUrl", "rtmp://127.0.0.1/live"}, {"fpad", false}, {"objectEncoding", 0.0}}}},
		{name: "metadata", in: metaBody, want: []Value{"@setDataFrame", "onMetaData",
			ECMAArray{{"width", 1280.0}, {"stereo", true}}}},
		{name: "empty", in: nil, want: nil},

		{name: "truncated-number", in: hx("00 3ff0"), wantErr: io.ErrUnexpectedEOF},
		{name: "truncated-string", in: hx("02 0005 41"), wantErr: io.ErrUnexpectedEOF},
		{name: "long-string-huge-claim", in: hx("0c ffffffff 41"), wantErr: io.ErrUnexpectedEOF},
		{name: "strict-array-huge-claim", in: hx("0a ffffffff 05"), wantErr: io.ErrUnexpectedEOF},
		{name: "strict-array-over-max-values", in: cat(hx("0a 00010001"), bytes.Repeat([]byte{5}, 1<<16+1)), limit: "MaxValues"},
		{name: "too-many-values", in: bytes.Repeat([]byte{5}, MaxValues+1), limit: "MaxValues"},
		{name: "object-no-end", in: cat(hx("03 0001"), []byte("a"), hx("05")), wantErr: io.ErrUnexpectedEOF},
		{name: "object-end-alone", in: hx("09"), wantErr: ErrMalformed},
		{name: "object-end-as-property-value", in: cat(hx("03 0001"), []byte("a"), hx("09")), wantErr: ErrMalformed},
		{name: "reference", in: hx("07 0001"), wantErr: ErrUnsupported},
		{name: "movieclip", in: hx("04"), wantErr: ErrUnsupported},
		{name: "recordset", in: hx("0e"), wantErr: ErrUnsupported},
		{name: "avmplus", in: hx("11 01"), wantErr: ErrUnsupported},
		{name: "unknown-marker", in: hx("12"), wantErr: ErrMalformed},
		{name: "depth-32-ok", in: nested(hx("0a 00000001"), 32), want: []Value{nestArrays(32)}},
		{name: "depth-33-object", in: nested(hx("03 0000"), 33), limit: "MaxDepth"},
		{name: "depth-33-array", in: nested(hx("0a 00000001"), 33), limit: "MaxDepth"},
		{name: "depth-33-ecma", in: nested(hx("08 00000001 0000"), 33), limit: "MaxDepth"},
		{name: "depth-33-typed", in: nested(hx("10 0000 0000"), 33), limit: "MaxDepth"},
		{name: "deep-nesting-10000", in: nested(hx("03 0000"), 10000), limit: "MaxDepth"},
	}
}

func nestArrays(n int) Value {
	var v Value
	for range n {
		v = []Value{v}
	}
	return v
}

func checkErr(t *testing.T, err error, wantErr error, limitName string) {
	t.Helper()
	switch {
	case limitName != "":
		var le *limit.LimitError
		if !errors.As(err, &le) || le.Name != limitName {
			t.Fatalf("err %v, want LimitError %s", err, limitName)
		}
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Fatalf("err %v, want %v", err, wantErr)
		}
	default:
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	}
}

func TestDecodeAll(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeAll(tc.in)
			checkErr(t, err, tc.wantErr, tc.limit)
			if tc.wantErr != nil || tc.limit != "" {
				return
			}
			if !reflect.DeepEqual(got, tc.want) && !nanEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
			// Re-encoding reproduces a decodable equivalent.
			enc, err := AppendAll(nil, got...)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeAll(enc)
			if err != nil {
				t.Fatal(err)
			}
			if enc2, _ := AppendAll(nil, again...); !bytes.Equal(enc, enc2) {
				t.Fatalf("re-encoding unstable")
			}
		})
	}
}

func nanEqual(a, b []Value) bool {
	return len(a) == 1 && len(b) == 1 && fmt.Sprint(a) == fmt.Sprint(b)
}

// TestDeepNesting2M feeds two million nesting levels of each container
// kind: the decoder must refuse them at MaxDepth, fast, without a stack
// overflow and without allocating in proportion to the input.
func TestDeepNesting2M(t *testing.T) {
	for _, prefix := range []string{"03 0000", "0a 00000001", "08 00000001 0000", "0a 00000002", "10 0000 0000"} {
		in := nested(hx(prefix), 2_000_000)
		start := time.Now()
		var err error
		allocs := testing.AllocsPerRun(3, func() { _, err = DecodeAll(in) })
		var le *limit.LimitError
		if !errors.As(err, &le) || le.Name != "MaxDepth" {
			t.Fatalf("%s: err %v, want MaxDepth", prefix, err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%s: took %v", prefix, el)
		}
		if allocs > 500 {
			t.Fatalf("%s: %v allocations", prefix, allocs)
		}
	}
}

// TestHugeClaimsAllocateLittle checks that counts and lengths read off the
// wire size nothing.
func TestHugeClaimsAllocateLittle(t *testing.T) {
	for _, in := range [][]byte{hx("0a ffffffff 05 05"), hx("08 ffffffff 000009"), hx("0c ffffffff 41"), hx("0a 7fffffff")} {
		allocs := testing.AllocsPerRun(10, func() { _, _ = DecodeAll(in) })
		if allocs > 32 {
			t.Fatalf("% x: %v allocations", in, allocs)
		}
	}
}

func TestEncode(t *testing.T) {
	long := strings.Repeat("x", 70000)
	for _, tc := range []struct {
		name string
		v    Value
		want []byte
	}{
		{"null", nil, hx("05")},
		{"int", 3, hx("00 4008000000000000")},
		{"uint32", uint32(1), hx("00 3ff0000000000000")},
		{"bool", true, hx("01 01")},
		{"string", "ab", cat(hx("02 0002"), []byte("ab"))},
		{"long-string", long, cat(hx("0c 00011170"), []byte(long))},
		{"object", Object{{"a", 1.0}}, cat(hx("03 0001"), []byte("a"), hx("00 3ff0000000000000 000009"))},
		{"props-as-object", []Property{{"a", nil}}, cat(hx("03 0001"), []byte("a"), hx("05 000009"))},
		{"ecma", ECMAArray{{"a", nil}}, cat(hx("08 00000001 0001"), []byte("a"), hx("05 000009"))},
		{"strict", []Value{nil, "a"}, cat(hx("0a 00000002 05 02 0001"), []byte("a"))},
		{"date", Date{Millis: 1, TZ: 0}, hx("0b 3ff0000000000000 0000")},
		{"undefined", Undefined{}, hx("06")},
	} {
		got, err := Append(nil, tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("%s: got % x\nwant % x", tc.name, got, tc.want)
		}
	}
	if _, err := Append(nil, struct{}{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("struct: %v", err)
	}
	cyc := make([]Value, 1)
	cyc[0] = cyc
	var le *limit.LimitError
	if _, err := Append(nil, cyc); !errors.As(err, &le) {
		t.Fatalf("cycle: %v", err)
	}
}

func TestCommands(t *testing.T) {
	c, err := DecodeCommand(connectBody)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := c.Object.(Object)
	if app, _ := obj.GetString("app"); c.Name != "connect" || c.TransactionID != 1 || app != "live" {
		t.Fatalf("%+v", c)
	}
	b, err := AppendResult(nil, 1, Object{{"fmsVer", "FMS/3,0,1,123"}}, Object{{"code", "NetConnection.Connect.Success"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err = DecodeCommand(b)
	if err != nil || c.Name != "_result" || c.TransactionID != 1 || len(c.Args) != 1 {
		t.Fatalf("%+v %v", c, err)
	}
	if code, _ := c.Args[0].(Object).GetString("code"); code != "NetConnection.Connect.Success" {
		t.Fatalf("code %q", code)
	}
	b, err = AppendOnStatus(nil, "status", "NetStream.Publish.Start", "go", Property{"details", "k"})
	if err != nil {
		t.Fatal(err)
	}
	c, err = DecodeCommand(b)
	if err != nil || c.Name != "onStatus" || c.Object != nil || len(c.Args) != 1 {
		t.Fatalf("%+v %v", c, err)
	}
	if d, _ := c.Args[0].(Object).GetString("details"); d != "k" {
		t.Fatalf("details %q", d)
	}
	vs, err := DecodeAll(AppendSampleAccess(nil, true, false))
	if err != nil || !reflect.DeepEqual(vs, []Value{"|RtmpSampleAccess", true, false}) {
		t.Fatalf("%v %v", vs, err)
	}
	b, err = AppendOnMetaData(nil, []Property{{"width", 640.0}})
	if err != nil {
		t.Fatal(err)
	}
	vs, err = DecodeAll(b)
	if err != nil || vs[0] != "onMetaData" {
		t.Fatalf("%v %v", vs, err)
	}
	if w, _ := vs[1].(ECMAArray).GetNumber("width"); w != 640 {
		t.Fatalf("width %v", w)
	}
	for _, bad := range [][]byte{nil, hx("05"), cat(hx("02 0001"), []byte("x"), hx("05"))} {
		if _, err := DecodeCommand(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("% x: %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add(tc.in)
	}
	// Deep nesting is covered at two million levels by TestDeepNesting2M;
	// a 20,000-level seed keeps the fuzzer's corpus small.
	f.Add(nested(hx("03 0000"), 20000))
	f.Fuzz(func(t *testing.T, in []byte) {
		vs, err := DecodeAll(in)
		if err != nil {
			_, _ = DecodeCommand(in)
			return
		}
		enc, err := AppendAll(nil, vs...)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeAll(enc)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		enc2, err := AppendAll(nil, again...)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable re-encoding: %v", err)
		}
		if _, err := DecodeCommand(in); err != nil && len(vs) > 0 {
			if _, ok := vs[0].(string); ok && (len(vs) < 2 || isNumber(vs[1])) {
				t.Fatalf("command decode failed: %v", err)
			}
		}
	})
}

func isNumber(v Value) bool { _, ok := v.(float64); return ok }

// TestWriteSeedCorpus regenerates testdata/fuzz/FuzzDecode from the table
// when ZC_WRITE_SEEDS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("ZC_WRITE_SEEDS") != "1" {
		t.Skip("set ZC_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := decodeCases()
	// 100,000 levels (300 KB, 1.2 MB quoted) of nested objects: big enough to matter, small
	// enough to commit. TestDeepNesting2M covers two million.
	cases = append(cases, decodeCase{name: "deep-nesting-100000", in: nested(hx("03 0000"), 100000)})
	for _, tc := range cases {
		if len(tc.in) > 100<<10 && tc.name != "deep-nesting-100000" {
			continue
		}
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", tc.in)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+tc.name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
