package ingestbench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// childPIDs lists the live (not yet reaped or zombie) processes whose
// parent is this process, from /proc. It returns nil where /proc is
// unavailable.
func childPIDs() []int {
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// pid (comm) state ppid …; comm may contain spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil || ppid != self {
			continue
		}
		pid, err := strconv.Atoi(strings.Fields(s)[0])
		if err == nil {
			out = append(out, pid)
		}
	}
	return out
}
