// Command zerocopy runs the embedded default host with the zerocopy plugin.
//
//	go run ./cmd/zerocopy [-c config.yaml]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/zcingest/zerocopy" // installs the ZeroCopy plugin
	"github.com/zcingest/zerocopy/server"
)

func main() {
	cfgPath := flag.String("c", "config.yaml", "config file (\"\" for defaults only)")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := run(*cfgPath, os.Stdout, sig); err != nil {
		fmt.Fprintln(os.Stderr, "zerocopy:", err)
		os.Exit(1)
	}
}

// run serves until a signal arrives on stop, then drains gracefully.
func run(cfgPath string, out io.Writer, stop <-chan os.Signal) error {
	if cfgPath != "" {
		if _, err := os.Stat(cfgPath); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	cfg, err := server.LoadConfig(cfgPath, os.Environ())
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	srv, err := server.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(out, server.Banner(srv))

	got := <-stop
	srv.Logger().Info("shutting down", "signal", got.String())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
