package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/host"
)

// Config is everything Start needs: the global section and the enabled
// plugins, built from their sections.
type Config struct {
	Global  GlobalConfig
	Plugins []PluginInstance
	// Logger, when set, replaces the logger built from Global.LogLevel.
	Logger *slog.Logger
}

// PluginInstance is one enabled plugin, constructed from its config.
type PluginInstance struct {
	Meta   host.PluginMeta
	Config any
	Plugin host.Plugin
}

// globalEnvPrefix prefixes environment overrides of the global section,
// e.g. GLOBAL_HTTP_LISTENADDR.
const globalEnvPrefix = "GLOBAL"

// LoadConfig reads path ("" for none) and the environment, applies both over
// the struct-tag defaults of the global section and of every installed
// plugin, and constructs the enabled plugins. An unknown section or key, or
// a bad value, is an error naming it.
func LoadConfig(path string, environ []string) (*Config, error) {
	file := &config.File{}
	if path != "" {
		var err error
		if file, err = config.LoadFile(path); err != nil {
			return nil, err
		}
	}
	return BuildConfig(file, environ)
}

// BuildConfig is LoadConfig over an already parsed file.
func BuildConfig(file *config.File, environ []string) (*Config, error) {
	metas := host.Plugins()
	known := map[string]bool{"global": true}
	for _, m := range metas {
		known[m.Section()] = true
	}
	for _, name := range file.Names() {
		if !known[name] {
			return nil, fmt.Errorf("%s: unknown section (installed plugins: %s)", name, strings.Join(pluginNames(metas), ", "))
		}
	}
	cfg := &Config{}
	if err := config.Apply(&cfg.Global, "global", file.Section("global"), globalEnvPrefix, environ); err != nil {
		return nil, err
	}
	if cfg.Global.HTTP.PProf {
		return nil, errors.New("global.http.pprof: removed: pprof is no longer served on the media listener; " +
			"set global.admin.listenaddr (e.g. 127.0.0.1:6060) to serve /debug/pprof/ on a separate, private listener")
	}
	for _, m := range metas {
		sec := m.Section()
		node := file.Section(sec)
		on, err := config.Enabled(sec, node, strings.ToUpper(sec), environ, cfg.Global.DisableAll)
		if err != nil {
			return nil, err
		}
		if !on {
			continue
		}
		pc := m.NewConfig()
		if err := config.Apply(pc, sec, node, strings.ToUpper(sec), environ); err != nil {
			return nil, err
		}
		p, err := m.New(pc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sec, err)
		}
		cfg.Plugins = append(cfg.Plugins, PluginInstance{Meta: m, Config: pc, Plugin: p})
	}
	return cfg, nil
}

func pluginNames(metas []host.PluginMeta) []string {
	out := make([]string, len(metas))
	for i, m := range metas {
		out[i] = m.Section()
	}
	return out
}

// Environ is os.Environ, named for readability at call sites.
func Environ() []string { return os.Environ() }
