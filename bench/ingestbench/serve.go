package ingestbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Serve runs one server of the harness alone, in this process, until ctx
// ends: the way to reproduce a row outside the harness. It prints the
// process id and the ffmpeg command of each of n pushers to w, then, every
// interval (0: never) and at the end, the socket bytes read and the
// counters /proc/PID/io and /proc/PID/stat show, so a run can be checked
// against `cat /proc/PID/io` from another shell.
func Serve(ctx context.Context, w io.Writer, o Options, protocol, transport, server string, n int, interval time.Duration) error {
	o = o.withDefaults()
	if transport == "" {
		transport = o.transports(protocol)[0]
	}
	t, err := startTarget(rowTarget{protocol: protocol, transport: transport, server: server, n: n}, o)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		defer cancel()
		_ = t.shutdown(sctx)
	}()
	fmt.Fprintf(w, "ingestbench: %s %s %s serving in pid %d; pushers (add -re for paced):\n", protocol, transport, server, os.Getpid())
	for i := range n {
		fmt.Fprintf(w, "  ffmpeg -re -stream_loop -1 -i CLIP.flv -c copy %s\n", shellJoin(t.pushOutput(i)))
	}
	report := func() {
		p := readProc()
		fmt.Fprintf(w, "ingestbench: publishing %d, socket bytes %d, %s\n", t.publishing(), t.bytesRead(), p)
	}
	var tick <-chan time.Time
	if interval > 0 {
		tk := time.NewTicker(interval)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			report()
			return nil
		case <-tick:
			report()
		}
	}
}

// shellJoin quotes the arguments that need it for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "?&;* ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
