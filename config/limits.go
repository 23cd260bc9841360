package config

// Bounds on what the loader accepts. Each one says what it protects against.
const (
	// MaxFileSize bounds a config file. A real config is a few KiB; the cap
	// stops a wrong path (a log, a device, /dev/zero) from being read whole
	// and turned into a YAML node tree many times its size.
	MaxFileSize = 1 << 20

	// maxShownValue bounds how much of a rejected value an error repeats, so
	// a huge environment variable does not flood the log.
	maxShownValue = 64

	// maxAliasHops bounds alias resolution. yaml.v3 already refuses an anchor
	// that contains itself; this is a second fence so a parser bug cannot
	// make the loader spin.
	maxAliasHops = 8
)
