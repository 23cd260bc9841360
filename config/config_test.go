package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/limit"
)

// Test structs shaped like the host's: a plugin section with nested
// protocol blocks, and a global section with disableall.

type tcpConf struct {
	ListenAddr string `default:":1935" desc:"TCP address RTMP publishers connect to"`
	NoDelay    bool   `desc:"disable Nagle (m7s leaves it on unless set)"`
}

type rtmpConf struct {
	TCP       tcpConf
	ChunkSize uint32        `default:"4096" desc:"largest chunk we accept"`
	Handshake time.Duration `default:"10s" desc:"handshake deadline"`
	Keys      []string      `default:"live, app" desc:"allowed apps\nsecond line"`
}

type zcConf struct {
	Enable  bool    `default:"true"`
	Level   string  `default:"info" desc:"log level"`
	I       int     `default:"-1"`
	I8      int8    `default:"-8"`
	I16     int16   `default:"-16"`
	I32     int32   `default:"-32"`
	I64     int64   `default:"-64"`
	U       uint    `default:"1"`
	U8      uint8   `default:"8"`
	U16     uint16  `default:"16"`
	U32     uint32  `default:"32"`
	U64     uint64  `default:"64"`
	F32     float32 `default:"0.5"`
	F64     float64 `default:"1.25"`
	Idle    time.Duration
	Stream  string `yaml:"stream_name" default:"cam"`
	Empty   string `default:""`
	Hidden  string `yaml:"-"`
	RTMP    rtmpConf
	private int
}

// defaultZC is what Apply must produce with no file and no environment.
func defaultZC() zcConf {
	return zcConf{
		Enable: true, Level: "info",
		I: -1, I8: -8, I16: -16, I32: -32, I64: -64,
		U: 1, U8: 8, U16: 16, U32: 32, U64: 64,
		F32: 0.5, F64: 1.25, Stream: "cam",
		RTMP: rtmpConf{
			TCP:       tcpConf{ListenAddr: ":1935"},
			ChunkSize: 4096, Handshake: 10 * time.Second,
			Keys: []string{"live", "app"},
		},
	}
}

type httpConf struct {
	ListenAddr string `default:":8080"`
}

type globalConf struct {
	DisableAll bool
	LogLevel   int8 `default:"0"`
	HTTP       httpConf
}

// applyCase is one YAML document loaded into zcConf under section
// "zerocopy". The table also seeds FuzzApply.
type applyCase struct {
	name string
	doc  string
	want func(*zcConf) // edits the defaults into the expected value
	err  []string      // substrings the error must contain; nil = success
}

var applyCases = []applyCase{
	{name: "empty file", doc: ``, want: func(*zcConf) {}},
	{name: "null section", doc: "zerocopy:\n", want: func(*zcConf) {}},
	{name: "empty mapping", doc: "zerocopy: {}\n", want: func(*zcConf) {}},
	{name: "every scalar type", doc: `
zerocopy:
  enable: false
  level: debug
  i: 9223372036854775807
  i8: -128
  i16: 32767
  i32: -2147483648
  i64: -9223372036854775808
  u: 18446744073709551615
  u8: 255
  u16: 65535
  u32: 4294967295
  u64: 18446744073709551615
  f32: 3.5
  f64: -2e-3
  idle: 1h30m
`, want: func(c *zcConf) {
		c.Enable, c.Level = false, "debug"
		c.I, c.I8, c.I16, c.I32, c.I64 = math.MaxInt, math.MinInt8, math.MaxInt16, math.MinInt32, math.MinInt64
		c.U, c.U8, c.U16, c.U32, c.U64 = math.MaxUint, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64
		c.F32, c.F64, c.Idle = 3.5, -2e-3, 90*time.Minute
	}},
	{name: "hex and leading zero", doc: "zerocopy: {u16: 0x10, i: 010, u8: 0b11}\n", want: func(c *zcConf) {
		c.U16, c.I, c.U8 = 16, 10, 3
	}},
	{name: "bool spellings", doc: "zerocopy: {enable: off, rtmp: {tcp: {nodelay: yes}}}\n", want: func(c *zcConf) {
		c.Enable, c.RTMP.TCP.NoDelay = false, true
	}},
	{name: "number as string field", doc: "zerocopy: {level: 10}\n", want: func(c *zcConf) { c.Level = "10" }},
	{name: "quoted empty string", doc: "zerocopy: {level: \"\"}\n", want: func(c *zcConf) { c.Level = "" }},
	{name: "null keeps default", doc: "zerocopy: {level: ~, rtmp: }\n", want: func(*zcConf) {}},
	{name: "nested", doc: `
zerocopy:
  rtmp:
    chunksize: 60000
    handshake: 250ms
    tcp:
      listenaddr: 127.0.0.1:1936
`, want: func(c *zcConf) {
		c.RTMP.ChunkSize, c.RTMP.Handshake, c.RTMP.TCP.ListenAddr = 60000, 250*time.Millisecond, "127.0.0.1:1936"
	}},
	{name: "m7s key folding", doc: "zerocopy: {Level: warn, RTMP: {chunk_size: 1, Tcp: {listen-addr: ':1'}}}\n", want: func(c *zcConf) {
		c.Level, c.RTMP.ChunkSize, c.RTMP.TCP.ListenAddr = "warn", 1, ":1"
	}},
	{name: "yaml tag renames", doc: "zerocopy: {stream_name: x}\n", want: func(c *zcConf) { c.Stream = "x" }},
	{name: "scalar shorthand sets first field", doc: "zerocopy: {rtmp: {tcp: ':1940'}}\n", want: func(c *zcConf) {
		c.RTMP.TCP.ListenAddr = ":1940"
	}},
	{name: "list as sequence", doc: "zerocopy: {rtmp: {keys: [a, b, c]}}\n", want: func(c *zcConf) {
		c.RTMP.Keys = []string{"a", "b", "c"}
	}},
	{name: "list as comma string", doc: "zerocopy: {rtmp: {keys: 'a, b,,c'}}\n", want: func(c *zcConf) {
		c.RTMP.Keys = []string{"a", "b", "c"}
	}},
	{name: "empty list", doc: "zerocopy: {rtmp: {keys: []}}\n", want: func(c *zcConf) { c.RTMP.Keys = nil }},
	{name: "alias", doc: "x: &lvl debug\nzerocopy: {level: *lvl}\n", want: func(c *zcConf) { c.Level = "debug" }},
	{name: "zero duration", doc: "zerocopy: {rtmp: {handshake: 0}}\n", want: func(c *zcConf) { c.RTMP.Handshake = 0 }},

	{name: "unknown key names full path", doc: "zerocopy:\n  rtmp:\n    listenadr: x\n",
		err: []string{"zerocopy.rtmp.listenadr: unknown key (line 3)"}},
	{name: "unknown top key", doc: "zerocopy: {bogus: 1}\n", err: []string{"zerocopy.bogus: unknown key"}},
	{name: "hidden field is unknown", doc: "zerocopy: {hidden: 1}\n", err: []string{"zerocopy.hidden: unknown key"}},
	{name: "private field is unknown", doc: "zerocopy: {private: 1}\n", err: []string{"zerocopy.private: unknown key"}},
	{name: "duplicate key", doc: "zerocopy:\n  level: a\n  Level: b\n", err: []string{"zerocopy.Level: key repeats the one on line 2 (line 3)"}},
	{name: "int8 overflow", doc: "zerocopy: {i8: 128}\n", err: []string{"zerocopy.i8", `"128"`, "int8", "out of range"}},
	{name: "int16 overflow", doc: "zerocopy: {i16: -32769}\n", err: []string{"zerocopy.i16", `"-32769"`, "int16", "out of range"}},
	{name: "int32 overflow", doc: "zerocopy: {i32: 2147483648}\n", err: []string{"zerocopy.i32", "int32", "out of range"}},
	{name: "int64 overflow", doc: "zerocopy: {i64: 9223372036854775808}\n", err: []string{"zerocopy.i64", "int64", "out of range"}},
	{name: "uint8 overflow", doc: "zerocopy: {u8: 256}\n", err: []string{"zerocopy.u8", `"256"`, "uint8", "out of range"}},
	{name: "uint16 overflow", doc: "zerocopy: {u16: 65536}\n", err: []string{"zerocopy.u16", "uint16", "out of range"}},
	{name: "uint32 overflow", doc: "zerocopy: {u32: 4294967296}\n", err: []string{"zerocopy.u32", "uint32", "out of range"}},
	{name: "uint64 overflow", doc: "zerocopy: {u64: 18446744073709551616}\n", err: []string{"zerocopy.u64", "uint64", "out of range"}},
	{name: "negative uint", doc: "zerocopy: {u: -1}\n", err: []string{"zerocopy.u", `"-1"`, "uint", "not a number"}},
	{name: "float in int", doc: "zerocopy: {i: 1.5}\n", err: []string{"zerocopy.i", `"1.5"`, "as int"}},
	{name: "bad float", doc: "zerocopy: {f64: abc}\n", err: []string{"zerocopy.f64", `"abc"`, "float64"}},
	{name: "float32 overflow", doc: "zerocopy: {f32: 1e39}\n", err: []string{"zerocopy.f32", "float32", "out of range"}},
	{name: "bad bool", doc: "zerocopy: {rtmp: {tcp: {nodelay: maybe}}}\n",
		err: []string{"zerocopy.rtmp.tcp.nodelay", `"maybe"`, "bool", "(line 1)"}},
	{name: "duration without unit", doc: "zerocopy: {idle: 10}\n", err: []string{"zerocopy.idle", `"10"`, "duration"}},
	{name: "bad duration", doc: "zerocopy: {rtmp: {handshake: 10 seconds}}\n", err: []string{"zerocopy.rtmp.handshake", `"10 seconds"`, "duration"}},
	{name: "mapping for scalar", doc: "zerocopy: {level: {a: 1}}\n", err: []string{"zerocopy.level: want string, got a mapping"}},
	{name: "sequence for struct", doc: "zerocopy: {rtmp: [1]}\n", err: []string{"zerocopy.rtmp: want a mapping, got a sequence"}},
	{name: "scalar section", doc: "zerocopy: 5\n", err: []string{"zerocopy: want a mapping, got a scalar"}},
	{name: "mapping for list", doc: "zerocopy: {rtmp: {keys: {a: b}}}\n", err: []string{"zerocopy.rtmp.keys: want list of strings, got a mapping"}},
	{name: "non-scalar key", doc: "zerocopy: {[a]: 1}\n", err: []string{"zerocopy: key must be a scalar"}},
	{name: "nested list item", doc: "zerocopy: {rtmp: {keys: [[a]]}}\n", err: []string{"zerocopy.rtmp.keys: list items"}},
	{name: "bad enable value", doc: "zerocopy: {enable: sometimes}\n", err: []string{"zerocopy.enable", `"sometimes"`, "bool"}},
	{name: "merge key is unknown", doc: "base: &b {level: x}\nzerocopy: {<<: *b}\n", err: []string{"zerocopy.<<: unknown key"}},
}

func TestApplyYAML(t *testing.T) {
	for _, c := range applyCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("test.yaml", []byte(c.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got zcConf
			err = Apply(&got, "zerocopy", f.Section("zerocopy"), "", nil)
			if c.err != nil {
				if err == nil {
					t.Fatalf("want error containing %q, got nil (value %+v)", c.err, got)
				}
				for _, s := range c.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				var ce *Error
				if !errors.As(err, &ce) {
					t.Errorf("error %T is not *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := defaultZC()
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestUnknownKeyIsErrUnknownKey(t *testing.T) {
	f, _ := Parse("t", []byte("zerocopy: {rtmp: {tcp: {listenadr: x}}}"))
	err := Apply(new(zcConf), "zerocopy", f.Section("zerocopy"), "", nil)
	var ce *Error
	if !errors.Is(err, ErrUnknownKey) || !errors.As(err, &ce) || ce.Path != "zerocopy.rtmp.tcp.listenadr" {
		t.Fatalf("got %v (%#v)", err, ce)
	}
}

func TestEnableKeyWithoutField(t *testing.T) {
	// The global struct has no Enable field; a plugin struct may not either.
	// "enable" is still accepted at the section top, and only there.
	f, _ := Parse("t", []byte("global: {enable: true}\nnested: {http: {enable: true}}\n"))
	if err := Apply(new(globalConf), "global", f.Section("global"), "", nil); err != nil {
		t.Fatalf("top-level enable: %v", err)
	}
	err := Apply(new(globalConf), "nested", f.Section("nested"), "", nil)
	if err == nil || !strings.Contains(err.Error(), "nested.http.enable: unknown key") {
		t.Fatalf("nested enable: got %v", err)
	}
}

type envCase struct {
	name string
	env  []string
	want func(*zcConf)
	err  []string
}

var envCases = []envCase{
	{name: "no variables", want: func(*zcConf) {}},
	{name: "top-level string", env: []string{"ZEROCOPY_LEVEL=trace"}, want: func(c *zcConf) { c.Level = "trace" }},
	{name: "bool false", env: []string{"ZEROCOPY_ENABLE=false"}, want: func(c *zcConf) { c.Enable = false }},
	{name: "nested", env: []string{"ZEROCOPY_RTMP_TCP_LISTENADDR=127.0.0.1:1936", "ZEROCOPY_RTMP_TCP_NODELAY=1"},
		want: func(c *zcConf) { c.RTMP.TCP.ListenAddr, c.RTMP.TCP.NoDelay = "127.0.0.1:1936", true }},
	{name: "duration and list", env: []string{"ZEROCOPY_RTMP_HANDSHAKE=3s", "ZEROCOPY_RTMP_KEYS=x,y"},
		want: func(c *zcConf) { c.RTMP.Handshake, c.RTMP.Keys = 3*time.Second, []string{"x", "y"} }},
	{name: "env uses Go field name, not yaml tag", env: []string{"ZEROCOPY_STREAM=e", "ZEROCOPY_STREAM_NAME=ignored"},
		want: func(c *zcConf) { c.Stream = "e" }},
	{name: "empty value is unset", env: []string{"ZEROCOPY_LEVEL="}, want: func(*zcConf) {}},
	{name: "first occurrence wins", env: []string{"ZEROCOPY_U8=1", "ZEROCOPY_U8=2"}, want: func(c *zcConf) { c.U8 = 1 }},
	{name: "unknown and malformed ignored", env: []string{"ZEROCOPY_NOPE=1", "JUNK", "OTHER_LEVEL=x"}, want: func(*zcConf) {}},
	{name: "hidden field not read", env: []string{"ZEROCOPY_HIDDEN=x"}, want: func(*zcConf) {}},
	{name: "bad bool names variable", env: []string{"ZEROCOPY_RTMP_TCP_NODELAY=maybe"},
		err: []string{"ZEROCOPY_RTMP_TCP_NODELAY: ", `"maybe"`, "bool", "(key zerocopy.rtmp.tcp.nodelay)"}},
	{name: "overflow names variable", env: []string{"ZEROCOPY_U16=70000"},
		err: []string{"ZEROCOPY_U16: ", `"70000"`, "uint16", "out of range"}},
	{name: "bad duration names variable", env: []string{"ZEROCOPY_IDLE=5"}, err: []string{"ZEROCOPY_IDLE", "duration"}},
	{name: "long value is truncated", env: []string{"ZEROCOPY_U8=" + strings.Repeat("9", 200)},
		err: []string{"ZEROCOPY_U8", strings.Repeat("9", maxShownValue) + `..."`}},
}

func TestApplyEnv(t *testing.T) {
	for _, c := range envCases {
		t.Run(c.name, func(t *testing.T) {
			var got zcConf
			err := Apply(&got, "zerocopy", nil, "ZEROCOPY", c.env)
			if c.err != nil {
				if err == nil {
					t.Fatalf("want error containing %q, got nil", c.err)
				}
				for _, s := range c.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := defaultZC()
			c.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEnvPrefixForms(t *testing.T) {
	env := []string{"GLOBAL_HTTP_LISTENADDR=:9090", "ENABLE=false", "HTTP_LISTENADDR=:1"}
	for _, prefix := range []string{"GLOBAL", "global", "GLOBAL_"} {
		var g globalConf
		if err := Apply(&g, "global", nil, prefix, env); err != nil {
			t.Fatal(err)
		}
		if g.HTTP.ListenAddr != ":9090" {
			t.Errorf("prefix %q: listenaddr %q", prefix, g.HTTP.ListenAddr)
		}
	}
	// No prefix: the environment is off, never read as bare names.
	var g globalConf
	if err := Apply(&g, "global", nil, "", env); err != nil || g.HTTP.ListenAddr != ":8080" {
		t.Fatalf("empty prefix: %v %q", err, g.HTTP.ListenAddr)
	}
}

func TestPrecedence(t *testing.T) {
	doc := "zerocopy: {level: file, rtmp: {chunksize: 2}}\n"
	f, err := Parse("t", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		node      bool
		env       []string
		level     string
		chunkSize uint32
	}{
		{"defaults only", false, nil, "info", 4096},
		{"file beats default", true, nil, "file", 2},
		{"env beats default", false, []string{"ZEROCOPY_LEVEL=env"}, "env", 4096},
		{"env beats file", true, []string{"ZEROCOPY_LEVEL=env", "ZEROCOPY_RTMP_CHUNKSIZE=3"}, "env", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c zcConf
			node := f.Section("zerocopy")
			if !tc.node {
				node = nil
			}
			if err := Apply(&c, "zerocopy", node, "ZEROCOPY", tc.env); err != nil {
				t.Fatal(err)
			}
			if c.Level != tc.level || c.RTMP.ChunkSize != tc.chunkSize {
				t.Errorf("level %q chunksize %d, want %q %d", c.Level, c.RTMP.ChunkSize, tc.level, tc.chunkSize)
			}
		})
	}
}

func TestApplyKeepsUntaggedPresetAndTargetOnError(t *testing.T) {
	c := zcConf{Idle: time.Minute, Hidden: "keep", private: 7, Level: "preset"}
	if err := Apply(&c, "zerocopy", nil, "", nil); err != nil {
		t.Fatal(err)
	}
	// Untagged fields keep presets; tagged ones take their default.
	if c.Idle != time.Minute || c.Hidden != "keep" || c.private != 7 || c.Level != "info" {
		t.Fatalf("after Apply: %+v", c)
	}
	before := c
	before.RTMP.Keys = append([]string(nil), c.RTMP.Keys...)
	f, _ := Parse("t", []byte("zerocopy: {level: changed, rtmp: {keys: [z]}, i8: 999}\n"))
	if err := Apply(&c, "zerocopy", f.Section("zerocopy"), "", nil); err == nil {
		t.Fatal("want error")
	}
	if !reflect.DeepEqual(c, before) {
		t.Fatalf("target changed on error:\n got %+v\nwant %+v", c, before)
	}
}

func TestApplyProgrammerErrors(t *testing.T) {
	type badDefault struct {
		N uint8 `default:"300"`
	}
	type unsupported struct {
		M map[string]string
	}
	type clash struct {
		ListenAddr string
		Listen     string `yaml:"listen_addr"`
	}
	type structDefault struct {
		T tcpConf `default:"x"`
	}
	var notStruct int
	tests := []struct {
		name   string
		target any
		want   string
	}{
		{"bad default tag", &badDefault{}, `config: t.n: bad default tag "300" for uint8: out of range`},
		{"unsupported type", &unsupported{}, "unsupported field type map[string]string"},
		{"key clash", &clash{}, `share the key "listenaddr"`},
		{"default on struct", &structDefault{}, "nested struct takes defaults"},
		{"not a pointer", zcConf{}, "needs a non-nil pointer to a struct"},
		{"nil pointer", (*zcConf)(nil), "needs a non-nil pointer to a struct"},
		{"pointer to int", &notStruct, "needs a non-nil pointer to a struct"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Apply(tc.target, "t", nil, "", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		env        []string
		disableAll bool
		want       bool
		err        string
	}{
		{name: "absent section", want: true},
		{name: "absent section, disableall", disableAll: true, want: false},
		{name: "empty section", doc: "zerocopy:\n", want: true},
		{name: "no enable key, disableall", doc: "zerocopy: {level: x}\n", disableAll: true, want: false},
		{name: "enable false", doc: "zerocopy: {enable: false}\n", want: false},
		{name: "enable true", doc: "zerocopy: {enable: true}\n", want: true},
		{name: "enable true beats disableall", doc: "zerocopy: {enable: true}\n", disableAll: true, want: true},
		{name: "enable false under disableall", doc: "zerocopy: {enable: false}\n", disableAll: true, want: false},
		{name: "null enable is absent", doc: "zerocopy: {enable: }\n", disableAll: true, want: false},
		{name: "key folding", doc: "zerocopy: {Enable: no}\n", want: false},
		{name: "env false", env: []string{"ZEROCOPY_ENABLE=false"}, want: false},
		{name: "env false beats file true", doc: "zerocopy: {enable: true}\n", env: []string{"ZEROCOPY_ENABLE=false"}, want: false},
		{name: "env true beats file false", doc: "zerocopy: {enable: false}\n", env: []string{"ZEROCOPY_ENABLE=true"}, want: true},
		{name: "env true under disableall", env: []string{"ZEROCOPY_ENABLE=1"}, disableAll: true, want: true},
		{name: "empty env is unset", doc: "zerocopy: {enable: false}\n", env: []string{"ZEROCOPY_ENABLE="}, want: false},
		{name: "other plugin's env", env: []string{"RTMP_ENABLE=false"}, want: true},
		{name: "bad env", env: []string{"ZEROCOPY_ENABLE=nah"}, err: `ZEROCOPY_ENABLE: cannot use "nah" as bool`},
		{name: "bad yaml", doc: "zerocopy:\n  enable: nah\n", err: `zerocopy.enable: cannot use "nah" as bool: want true or false (line 2)`},
		{name: "mapping enable", doc: "zerocopy: {enable: {a: 1}}\n", err: "zerocopy.enable: want bool, got a mapping"},
		{name: "duplicate enable", doc: "zerocopy:\n  enable: true\n  ENABLE: false\n", err: "zerocopy.ENABLE: key repeats the one on line 2"},
		{name: "scalar section", doc: "zerocopy: off\n", err: "zerocopy: want a mapping, got a scalar"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("t", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Enabled("zerocopy", f.Section("zerocopy"), "ZEROCOPY", tc.env, tc.disableAll)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want error %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDisableAllFlow(t *testing.T) {
	// The host's flow: read global first, then decide each plugin.
	doc := "global:\n  disableall: true\nzerocopy:\n  enable: true\nrtmp:\n  chunksize: 1\n"
	f, err := Parse("t", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var g globalConf
	if err := Apply(&g, "global", f.Section("global"), "GLOBAL", nil); err != nil {
		t.Fatal(err)
	}
	for sec, want := range map[string]bool{"zerocopy": true, "rtmp": false, "hls": false} {
		got, err := Enabled(sec, f.Section(sec), strings.ToUpper(sec), nil, g.DisableAll)
		if err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", sec, got, err, want)
		}
	}
}

func TestDefaultYAMLRoundTrip(t *testing.T) {
	out := DefaultYAML("zerocopy", (*zcConf)(nil))
	for _, s := range []string{
		"zerocopy:\n",
		"  # log level\n  level: info\n",
		"    # largest chunk we accept\n    chunksize: 4096\n",
		"    # handshake deadline\n    handshake: 10s\n",
		"    # allowed apps\n    # second line\n    keys: [live, app]\n",
		"      # TCP address RTMP publishers connect to\n      listenaddr: :1935\n",
		"  streamname: cam\n",
		"  empty: \"\"\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "hidden") || strings.Contains(out, "private") {
		t.Errorf("output shows hidden fields:\n%s", out)
	}
	f, err := Parse("default.yaml", []byte(out))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if names := f.Names(); !reflect.DeepEqual(names, []string{"zerocopy"}) {
		t.Fatalf("sections %v", names)
	}
	// Load into a zero struct (no tag defaults applied from a preset) and
	// compare with the defaults: every default must be in the output.
	var fromFile zcConf
	if err := Apply(&fromFile, "zerocopy", f.Section("zerocopy"), "", nil); err != nil {
		t.Fatal(err)
	}
	if want := defaultZC(); !reflect.DeepEqual(fromFile, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", fromFile, want)
	}
}

func TestDefaultYAMLValuesWithoutTags(t *testing.T) {
	// Defaults that are awkward in YAML (strings that read as bools, null,
	// numbers or comments) must be quoted in the output so they read back
	// as the same strings.
	type awkward struct {
		A string   `default:"true"`
		B string   `default:"~"`
		C string   `default:"10"`
		D string   `default:"#not a comment"`
		E []string `default:"yes,null"`
		F float64  `default:"-0.000001"`
		G struct{}
	}
	out := DefaultYAML("x", awkward{})
	f, err := Parse("t", []byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got awkward
	if err := Apply(&got, "x", f.Section("x"), "", nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var want awkward
	if err := Apply(&want, "x", nil, "", nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v\n%s", got, want, out)
	}
	// The tags above would mask a value missing from the output, so decode
	// it again into the same shape without tags.
	type plain struct {
		A, B, C, D string
		E          []string
		F          float64
		G          struct{}
	}
	var p plain
	if err := Apply(&p, "x", f.Section("x"), "", nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.A != "true" || p.B != "~" || p.C != "10" || p.D != "#not a comment" ||
		!reflect.DeepEqual(p.E, []string{"yes", "null"}) || p.F != -0.000001 {
		t.Fatalf("plain decode %+v\n%s", p, out)
	}
}

func TestDefaultYAMLPanicsOnBadType(t *testing.T) {
	for _, target := range []any{3, nil, &struct{ M map[int]int }{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T: no panic", target)
				}
			}()
			DefaultYAML("x", target)
		}()
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		names []string
		err   string
	}{
		{name: "empty", doc: "", names: nil},
		{name: "comments only", doc: "# nothing\n", names: nil},
		{name: "null document", doc: "~\n", names: nil},
		{name: "lowercased in order", doc: "Global: {}\nZeroCopy: {}\nrtmp:\n", names: []string{"global", "zerocopy", "rtmp"}},
		{name: "syntax error has file and line", doc: "global:\n  a: 1\n b: 2\n", err: "cfg.yaml:2: did not find expected key"},
		{name: "tab indentation", doc: "global:\n\ta: 1\n", err: "cfg.yaml:2: "},
		{name: "duplicate after folding", doc: "global: {}\nGLOBAL: {}\n", err: `cfg.yaml:2: section "global" repeats the one on line 1`},
		{name: "not a mapping", doc: "- a\n- b\n", err: "cfg.yaml:1: top level must be a mapping of sections, got a sequence"},
		{name: "scalar top", doc: "hello\n", err: "top level must be a mapping"},
		{name: "two documents", doc: "a: {}\n---\nb: {}\n", err: "cfg.yaml:2: only one YAML document is allowed"},
		{name: "complex section name", doc: "? [a]\n: {}\n", err: "section name must be a scalar"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("cfg.yaml", []byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want error %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Names(); !reflect.DeepEqual(got, tc.names) {
				t.Fatalf("names %q, want %q", got, tc.names)
			}
			for _, n := range tc.names {
				if f.Section(strings.ToUpper(n)) != f.Section(n) {
					t.Errorf("Section(%q) is case-sensitive", n)
				}
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileSize+1))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Name != "MaxFileSize" || le.Got != MaxFileSize+1 {
		t.Fatalf("got %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(good, []byte("global:\n  http:\n    listenaddr: :9000\nzerocopy:\n  enable: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != good || !reflect.DeepEqual(f.Names(), []string{"global", "zerocopy"}) {
		t.Fatalf("path %q names %v", f.Path, f.Names())
	}
	var g globalConf
	if err := Apply(&g, "global", f.Section("global"), "GLOBAL", []string{"GLOBAL_LOGLEVEL=-1"}); err != nil {
		t.Fatal(err)
	}
	if g.HTTP.ListenAddr != ":9000" || g.LogLevel != -1 {
		t.Fatalf("%+v", g)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("global:\n  loglevel: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":") {
		t.Fatalf("syntax error %v lacks file name", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	var le *limit.LimitError
	if _, err := LoadFile(big); !errors.As(err, &le) {
		t.Fatalf("big file: %v", err)
	}
}

func TestGlobalBadValueNamesPath(t *testing.T) {
	f, _ := Parse("t", []byte("global:\n  loglevel: loud\n"))
	err := Apply(new(globalConf), "global", f.Section("global"), "GLOBAL", nil)
	want := `global.loglevel: cannot use "loud" as int8: not a number (line 2)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
