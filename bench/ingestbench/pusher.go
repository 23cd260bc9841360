package ingestbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// pusher is one ffmpeg process publishing the clip.
type pusher struct {
	id     int
	cmd    *exec.Cmd
	stderr string // path of its stderr file
	done   chan struct{}
	err    error // valid after done is closed
}

// pusherArgs returns the ffmpeg arguments for one pusher. Paced pushers
// read the clip at its native rate (-re); unpaced ones push as fast as
// ffmpeg and the server allow. Both loop the clip forever; the harness
// ends them.
// out is the output part (format, options, URL) the server asks for.
func pusherArgs(clip string, out []string, paced bool) []string {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "warning"}
	if paced {
		args = append(args, "-re")
	}
	args = append(args, "-stream_loop", "-1", "-i", clip, "-c", "copy")
	return append(args, out...)
}

// startPusher starts one ffmpeg in its own process group. Its stderr goes
// straight to a file (no copying goroutine in the measured process).
// onExit runs once the process has been reaped.
func startPusher(id int, dir, clip string, out []string, paced bool, onExit func()) (*pusher, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("pusher-%d.log", id))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command("ffmpeg", pusherArgs(clip, out, paced)...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so the kill reaches anything ffmpeg might fork;
	// Pdeathsig ends it if the harness dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pusher %d: start ffmpeg: %w", id, err)
	}
	p := &pusher{id: id, cmd: cmd, stderr: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		onExit()
	}()
	return p, nil
}

func (p *pusher) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the pusher's process group and waits (bounded) for
// it to be reaped.
func (p *pusher) kill(wait time.Duration) error {
	if !p.exited() {
		if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pusher %d: kill process group %d: %w", p.id, p.cmd.Process.Pid, err)
		}
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("pusher %d (pid %d) not reaped %v after SIGKILL", p.id, p.cmd.Process.Pid, wait)
	}
}

// describe says how a pusher ended, with the tail of its log.
func (p *pusher) describe() string {
	state := "running"
	if p.exited() {
		state = fmt.Sprintf("exited (%v)", p.err)
	}
	b, _ := os.ReadFile(p.stderr)
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = append([]byte("…"), b[len(b)-600:]...)
	}
	return fmt.Sprintf("pusher %d (pid %d) %s; ffmpeg said: %q", p.id, p.cmd.Process.Pid, state, b)
}

// pusherSet is the pushers of one row. anyExit is closed when the first of
// them exits, so the harness can wait on one channel without polling.
type pusherSet struct {
	list    []*pusher
	anyExit chan struct{}
	once    sync.Once
}

// startPushers starts n pushers, pusher i with the output output(i). On
// error, the ones already started are killed.
func startPushers(ctx context.Context, n int, dir, clip string, output func(int) []string, paced bool) (*pusherSet, error) {
	ps := &pusherSet{anyExit: make(chan struct{})}
	for i := range n {
		if err := ctx.Err(); err != nil {
			_ = ps.killAll()
			return nil, err
		}
		p, err := startPusher(i, dir, clip, output(i), paced,
			func() { ps.once.Do(func() { close(ps.anyExit) }) })
		if err != nil {
			_ = ps.killAll()
			return nil, err
		}
		ps.list = append(ps.list, p)
	}
	return ps, nil
}

// firstExited returns a pusher that has exited, or nil.
func (ps *pusherSet) firstExited() *pusher {
	for _, p := range ps.list {
		if p.exited() {
			return p
		}
	}
	return nil
}

// sleep waits for d. It fails early when ctx ends or a pusher exits.
func (ps *pusherSet) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-ps.anyExit:
		if p := ps.firstExited(); p != nil {
			return errors.New(p.describe())
		}
		return errors.New("a pusher exited")
	}
}

// killAll kills every pusher's process group first, then reaps them all;
// it returns the first failure.
func (ps *pusherSet) killAll() error {
	for _, p := range ps.list {
		if !p.exited() {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	var first error
	for _, p := range ps.list {
		if err := p.kill(10 * time.Second); err != nil && first == nil {
			first = err
		}
	}
	return first
}
