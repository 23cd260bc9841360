package ingestbench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procCounters are the kernel's per-process counters the report uses, read
// from /proc/self (the same files `cat /proc/PID/io` and `/proc/PID/stat`
// show for a server run outside the harness).
type procCounters struct {
	syscr  int64 // read syscalls: read, readv, pread (/proc/self/io syscr)
	rchar  int64 // bytes those syscalls returned (/proc/self/io rchar)
	minflt int64 // minor page faults (/proc/self/stat field 10)
	rssKB  int64 // resident set size in KiB (/proc/self/status VmRSS)
	ok     bool  // all three files were readable
}

// readProc reads the counters. recvfrom and recvmsg (how Go reads UDP
// sockets) are not counted by /proc/PID/io: syscr and rchar see only the
// TCP reads of a process.
func readProc() procCounters {
	var c procCounters
	io, err1 := os.ReadFile("/proc/self/io")
	st, err2 := os.ReadFile("/proc/self/stat")
	status, err3 := os.ReadFile("/proc/self/status")
	if err1 != nil || err2 != nil || err3 != nil {
		return c
	}
	c.syscr = procField(io, "syscr:")
	c.rchar = procField(io, "rchar:")
	c.rssKB = procField(status, "VmRSS:")
	c.minflt = statMinflt(st)
	c.ok = true
	return c
}

// procField returns the integer after key at the start of a line.
func procField(b []byte, key string) int64 {
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := strings.Fields(string(rest))
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// statMinflt returns minflt, the 10th field of /proc/PID/stat (the 8th
// after the parenthesised command name, which may hold spaces).
func statMinflt(b []byte) int64 {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 8 {
		return 0
	}
	v, _ := strconv.ParseInt(f[7], 10, 64)
	return v
}

func (c procCounters) String() string {
	return fmt.Sprintf("syscr=%d rchar=%d minflt=%d rss=%dKiB", c.syscr, c.rchar, c.minflt, c.rssKB)
}
