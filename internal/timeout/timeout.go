// Package timeout recognises a read or write that ended because its
// deadline passed, for every reader in the module (bufreader, the RTMP
// session, the RTSP server and client).
package timeout

import (
	"errors"
	"os"
)

// Is reports whether err is a deadline passing, or any error that says it
// is a timeout. A deadline error is matched first without allocating: the
// shared RTSP UDP readers wake on one every UDPTick, and the interface
// target errors.As needs escapes to the heap (two allocations a second per
// socket, which the ingest benchmark counted as mallocs per MB).
func Is(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
