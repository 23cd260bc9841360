package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type boundedConf struct {
	Publish struct {
		RingSize  int           `default:"256" min:"1" max:"65536"`
		RingBytes int64         `default:"33554432" min:"65536" max:"1073741824"`
		Duration  time.Duration `default:"12s" min:"1s" max:"10m"`
		Wait      time.Duration `default:"10s" min:"0s"`
		Ratio     float64       `default:"0.5" min:"0" max:"1"`
		Port      uint16        `default:"80" min:"1"`
	}
}

// TestRangeTags: min/max tags refuse a value from the file or the
// environment with an error naming the key, the bound and the value, and
// accept the bounds themselves.
func TestRangeTags(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		want       string // "" = accepted
	}{
		{"defaults", "", nil, ""},
		{"min itself", "publish:\n  ringsize: 1\n  duration: 1s\n  wait: 0s\n", nil, ""},
		{"max itself", "publish:\n  ringsize: 65536\n  ringbytes: 1073741824\n  duration: 10m\n", nil, ""},
		{"int below", "publish:\n  ringsize: 0\n", nil, "global.publish.ringsize: 0 is below the minimum 1"},
		{"int above", "publish:\n  ringsize: 65537\n", nil, "global.publish.ringsize: 65537 is above the maximum 65536"},
		{"int64 below", "publish:\n  ringbytes: 1024\n", nil, "global.publish.ringbytes: 1024 is below the minimum 65536"},
		{"duration below", "publish:\n  duration: 500ms\n", nil, "global.publish.duration: 500ms is below the minimum 1s"},
		{"duration above", "publish:\n  duration: 1h\n", nil, "global.publish.duration: 1h0m0s is above the maximum 10m"},
		{"negative duration", "publish:\n  wait: -1s\n", nil, "global.publish.wait: -1s is below the minimum 0s"},
		{"float above", "publish:\n  ratio: 1.5\n", nil, "global.publish.ratio: 1.5 is above the maximum 1"},
		{"uint below", "publish:\n  port: 0\n", nil, "global.publish.port: 0 is below the minimum 1"},
		{"env below", "", []string{"G_PUBLISH_RINGSIZE=-3"}, "global.publish.ringsize: -3 is below the minimum 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c boundedConf
			err := Apply(&c, "global", mustNode(t, tc.yaml), "G", tc.env)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("%v is not an *Error wrapping ErrOutOfRange", err)
			}
			if c.Publish.RingSize != 0 {
				t.Fatal("target changed despite the error")
			}
		})
	}
}

// TestRangeTagProgrammerErrors: a bound on a non-number, a bound that does
// not parse and min > max fail on the first Apply.
func TestRangeTagProgrammerErrors(t *testing.T) {
	type onString struct {
		S string `min:"1"`
	}
	type badBound struct {
		D time.Duration `max:"ten"`
	}
	type inverted struct {
		N int `min:"5" max:"1"`
	}
	for _, tc := range []struct {
		target any
		want   string
	}{
		{&onString{}, "min/max tags need a number or duration field"},
		{&badBound{}, `bad max tag "ten" for duration`},
		{&inverted{}, `min tag "5" is above max tag "1"`},
	} {
		err := Apply(tc.target, "t", nil, "", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: got %v, want %q", tc.target, err, tc.want)
		}
	}
}

// mustNode parses yaml as the body of a "global:" section.
func mustNode(t *testing.T, body string) *yaml.Node {
	t.Helper()
	if body == "" {
		return nil
	}
	doc := "global:\n" + indent(body)
	f, err := Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return f.Section("global")
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString("  " + line)
	}
	return b.String()
}
