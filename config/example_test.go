package config_test

import (
	"fmt"
	"time"

	"github.com/zcingest/zerocopy/config"
)

type TCP struct {
	ListenAddr string `default:":1935" desc:"address RTMP publishers connect to"`
	NoDelay    bool   `default:"true" desc:"disable Nagle"`
}

type ZeroCopyConfig struct {
	Enable    bool          `default:"true" desc:"start the plugin"`
	Handshake time.Duration `default:"10s" desc:"handshake deadline"`
	Apps      []string      `default:"live" desc:"apps accepted for publishing"`
	TCP       TCP           `desc:"RTMP ingest"`
}

type GlobalConfig struct {
	DisableAll bool `desc:"disable every plugin whose section lacks enable: true"`
}

func ExampleDefaultYAML() {
	fmt.Print(config.DefaultYAML("zerocopy", (*ZeroCopyConfig)(nil)))
	// Output:
	// zerocopy:
	//   # start the plugin
	//   enable: true
	//   # handshake deadline
	//   handshake: 10s
	//   # apps accepted for publishing
	//   apps: [live]
	//   # RTMP ingest
	//   tcp:
	//     # address RTMP publishers connect to
	//     listenaddr: :1935
	//     # disable Nagle
	//     nodelay: true
}

func ExampleApply() {
	f, err := config.Parse("config.yaml", []byte(`
global:
  disableall: true
zerocopy:
  enable: true
  tcp:
    listenaddr: :1936
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	environ := []string{"ZEROCOPY_TCP_NODELAY=false"} // os.Environ() in a host

	var g GlobalConfig
	if err := config.Apply(&g, "global", f.Section("global"), "GLOBAL", environ); err != nil {
		fmt.Println(err)
		return
	}
	on, err := config.Enabled("zerocopy", f.Section("zerocopy"), "ZEROCOPY", environ, g.DisableAll)
	if err != nil || !on {
		fmt.Println("zerocopy disabled", err)
		return
	}
	var z ZeroCopyConfig
	if err := config.Apply(&z, "zerocopy", f.Section("zerocopy"), "ZEROCOPY", environ); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", z)

	bad, _ := config.Parse("config.yaml", []byte("zerocopy:\n  tcp:\n    listenadr: :1936\n"))
	fmt.Println(config.Apply(&z, "zerocopy", bad.Section("zerocopy"), "ZEROCOPY", nil))
	// Output:
	// {Enable:true Handshake:10s Apps:[live] TCP:{ListenAddr::1936 NoDelay:false}}
	// zerocopy.tcp.listenadr: unknown key (line 3)
}
