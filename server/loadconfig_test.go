package server_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	zerocopy "github.com/zcingest/zerocopy"
	"github.com/zcingest/zerocopy/config"
	"github.com/zcingest/zerocopy/hub"
	"github.com/zcingest/zerocopy/server"
)

// loadYAML is server.LoadConfig over a temporary file holding yaml.
func loadYAML(t *testing.T, yaml string, environ ...string) (*server.Config, error) {
	t.Helper()
	return server.LoadConfig(writeConfig(t, yaml), environ)
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := server.LoadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if g.HTTP.ListenAddr != "127.0.0.1:8080" || g.LogLevel != "info" || g.DisableAll ||
		g.Publish.PublishTimeout != hub.DefaultPublishTimeout || g.Publish.RingSize != hub.DefaultRingSize ||
		g.Publish.CloseWait != hub.DefaultCloseWait || g.Subscribe.WaitTimeout != 10*time.Second || g.Publish.KickExist {
		t.Fatalf("global defaults %+v do not match the hub's defaults", g)
	}
	zc := pluginConfig(t, cfg)
	if zc == nil || !zc.Enable || !zc.RTMP.Enable || zc.RTMP.ListenAddr != "127.0.0.1:1935" {
		t.Fatalf("zerocopy defaults: %+v", zc)
	}
}

// pluginConfig returns the ZeroCopy plugin's config, or nil when the
// plugin is not enabled.
func pluginConfig(t *testing.T, cfg *server.Config) *zerocopy.Config {
	t.Helper()
	for _, p := range cfg.Plugins {
		if p.Meta.Section() == "zerocopy" {
			c, ok := p.Config.(*zerocopy.Config)
			if !ok {
				t.Fatalf("zerocopy config is %T", p.Config)
			}
			return c
		}
	}
	return nil
}

// TestConfigErrorsNameTheKey: unknown keys and sections and bad values,
// from the file or the environment, are errors naming them.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		environ []string
		want    []string // substrings of the error
		unknown bool     // errors.Is(err, config.ErrUnknownKey)
	}{
		{"unknown global key", "global:\n  http:\n    listenaddr: 127.0.0.1:0\n    bogus: 1\n", nil,
			[]string{"global.http.bogus"}, true},
		{"unknown plugin key", "zerocopy:\n  rtmp:\n    nosuchkey: x\n", nil,
			[]string{"zerocopy.rtmp.nosuchkey"}, true},
		{"unknown section", "nosuchplugin:\n  enable: true\n", nil,
			[]string{"nosuchplugin", "unknown section"}, false},
		{"bad duration", "global:\n  publish:\n    publishtimeout: soon\n", nil,
			[]string{"global.publish.publishtimeout", "soon"}, false},
		{"bad int", "zerocopy:\n  rtmp:\n    maxchunkstreams: many\n", nil,
			[]string{"zerocopy.rtmp.maxchunkstreams", "many"}, false},
		{"bad bool", "global:\n  disableall: perhaps\n", nil,
			[]string{"global.disableall"}, false},
		{"bad enable", "zerocopy:\n  enable: perhaps\n", nil,
			[]string{"zerocopy.enable"}, false},
		{"bad env value", "", []string{"GLOBAL_PUBLISH_RINGSIZE=abc"},
			[]string{"GLOBAL_PUBLISH_RINGSIZE", "global.publish.ringsize"}, false},
		{"bad env enable", "", []string{"ZEROCOPY_ENABLE=maybe"},
			[]string{"ZEROCOPY_ENABLE", "zerocopy.enable"}, false},
		{"bad env in plugin", "", []string{"ZEROCOPY_RTMP_READTIMEOUT=forever"},
			[]string{"ZEROCOPY_RTMP_READTIMEOUT", "zerocopy.rtmp.readtimeout"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml, tc.environ...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if tc.unknown && !errors.Is(err, config.ErrUnknownKey) {
				t.Errorf("error %v is not config.ErrUnknownKey", err)
			}
		})
	}
}

// TestConfigEnvOverrides: GLOBAL_* and ZEROCOPY_* variables beat the file,
// and the server listens where they say.
func TestConfigEnvOverrides(t *testing.T) {
	yaml := `
global:
  http:
    listenaddr: "not an address"
  publish:
    closewait: 500ms
zerocopy:
  rtmp:
    listenaddr: "not an address either"
`
	h := startServer(t, yaml,
		"GLOBAL_HTTP_LISTENADDR=127.0.0.1:0",
		"ZEROCOPY_RTMP_LISTENADDR=127.0.0.1:0",
		"GLOBAL_PUBLISH_RINGSIZE=64",
		"UNRELATED=1")
	addrs := h.srv.Addrs()
	for _, name := range []string{"http", "rtmp"} {
		a, ok := addrs[name].(*net.TCPAddr)
		if !ok || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) || a.Port == 0 {
			t.Errorf("%s listens on %v; want a 127.0.0.1 port (addrs %v)", name, addrs[name], addrs)
		}
	}
	// The RTMP listener answers.
	c, err := net.DialTimeout("tcp", addrs["rtmp"].String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.log.waitLine(t, time.Second, "plugin started", "plugin=ZeroCopy")

	cfg, err := loadYAML(t, yaml, "GLOBAL_HTTP_LISTENADDR=127.0.0.1:0", "ZEROCOPY_RTMP_LISTENADDR=127.0.0.1:0", "GLOBAL_PUBLISH_RINGSIZE=64")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.Publish.RingSize != 64 || cfg.Global.Publish.CloseWait != 500*time.Millisecond {
		t.Fatalf("publish config %+v", cfg.Global.Publish)
	}
	if zc := pluginConfig(t, cfg); zc == nil || zc.RTMP.ListenAddr != "127.0.0.1:0" {
		t.Fatalf("zerocopy config %+v", zc)
	}
}

// TestConfigPluginEnable: the plugin is started or not according to its
// enable key, ZEROCOPY_ENABLE and global.disableall.
func TestConfigPluginEnable(t *testing.T) {
	const on = "global:\n  http:\n    listenaddr: 127.0.0.1:0\nzerocopy:\n  rtmp:\n    listenaddr: 127.0.0.1:0\n"
	for _, tc := range []struct {
		name    string
		yaml    string
		environ []string
		want    bool
	}{
		{"default", on, nil, true},
		{"enable false", on + "  enable: false\n", nil, false},
		{"env false beats file", on + "  enable: true\n", []string{"ZEROCOPY_ENABLE=false"}, false},
		{"env true beats file", on + "  enable: false\n", []string{"ZEROCOPY_ENABLE=true"}, true},
		{"disableall", on + "  disableall: true\n", nil, false},
		{"disableall in global", strings.Replace(on, "global:\n", "global:\n  disableall: true\n", 1), nil, false},
		{"disableall, enable true", strings.Replace(on, "global:\n", "global:\n  disableall: true\n", 1) + "  enable: true\n", nil, true},
		{"disableall from env", on, []string{"GLOBAL_DISABLEALL=true"}, false},
		{"rtmp off", on + "  enable: true\n", []string{"ZEROCOPY_RTMP_ENABLE=false"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "disableall" {
				// "disableall" under zerocopy: is not a plugin key.
				if _, err := loadYAML(t, tc.yaml, tc.environ...); err == nil {
					t.Fatal("zerocopy.disableall accepted")
				}
				return
			}
			cfg, err := loadYAML(t, tc.yaml, tc.environ...)
			if err != nil {
				t.Fatal(err)
			}
			if got := pluginConfig(t, cfg) != nil; got != tc.want {
				t.Fatalf("plugin enabled %v, want %v", got, tc.want)
			}
			h := startServer(t, tc.yaml, tc.environ...)
			_, rtmp := h.srv.Addrs()["rtmp"]
			wantRTMP := tc.want && tc.name != "rtmp off"
			if rtmp != wantRTMP {
				t.Fatalf("rtmp listener present %v, want %v (addrs %v)", rtmp, wantRTMP, h.srv.Addrs())
			}
			if started := strings.Contains(h.log.String(), "plugin started"); started != tc.want {
				t.Fatalf("plugin started %v, want %v; log:\n%s", started, tc.want, h.log)
			}
		})
	}
}
