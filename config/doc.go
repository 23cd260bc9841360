// Package config loads the embedded host's YAML config the way Monibuca v5
// (m7s) does, but strictly: a mistyped key or a bad value is an error that
// names the key path, instead of being dropped.
//
// A file has a "global" section and one section per plugin, each decoded
// into its own struct:
//
//	f, err := config.LoadFile("config.yaml")
//	var g GlobalConfig
//	err = config.Apply(&g, "global", f.Section("global"), "GLOBAL", os.Environ())
//	on, err := config.Enabled("zerocopy", f.Section("zerocopy"), "ZEROCOPY", os.Environ(), g.DisableAll)
//	var z ZeroCopyConfig
//	err = config.Apply(&z, "zerocopy", f.Section("zerocopy"), "ZEROCOPY", os.Environ())
//
// Priority, lowest first: `default:"..."` struct tags, the file, the
// environment. This is m7s's order without its DefaultYaml, global-merge and
// API-modify layers, which this host does not have.
//
// Keys are field names folded to lowercase with '-' and '_' dropped
// (ListenAddr → listenaddr); a `yaml:"name"` tag renames a key and
// `yaml:"-"` hides a field. Nested structs are nested mappings. Supported
// field types: string, bool, every int and uint size, float32/64,
// time.Duration (Go syntax: "10s", "1h30m"; a bare number other than 0 is
// refused because its unit would be a guess) and []string (a YAML sequence
// or one comma-separated string).
//
// Environment variables are named <PREFIX>_<FIELD>[_<FIELD>...], each
// segment being the Go field name uppercased (m7s uses the field name even
// when a yaml tag renames the key): ZEROCOPY_RTMP_LISTENADDR,
// GLOBAL_HTTP_LISTENADDR.
package config
