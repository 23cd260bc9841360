package config

import (
	"reflect"
	"testing"
)

// FuzzApply feeds arbitrary bytes through the host's whole flow: Parse, then
// Enabled and Apply on every section. Nothing may panic, and a failed Apply
// must leave its target as it was.
func FuzzApply(f *testing.F) {
	for _, c := range applyCases {
		f.Add([]byte(c.doc))
	}
	f.Add([]byte("global: {disableall: true, http: {listenaddr: ':1'}}\nzerocopy: {enable: true}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("zerocopy: &z {rtmp: *z}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, name := range file.Names() {
			node := file.Section(name)
			_, _ = Enabled(name, node, "ZEROCOPY", nil, true)

			c := defaultZC()
			before := defaultZC()
			if err := Apply(&c, name, node, "", nil); err != nil && !reflect.DeepEqual(c, before) {
				t.Fatalf("Apply failed (%v) but changed its target", err)
			}
			var g globalConf
			if err := Apply(&g, name, node, "", nil); err != nil && !reflect.DeepEqual(g, globalConf{}) {
				t.Fatalf("Apply failed (%v) but changed its target", err)
			}
		}
	})
}
