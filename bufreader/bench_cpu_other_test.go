//go:build !unix

package bufreader_test

import "time"

// fairCPUTime is not available here; the cpu-ns/op metric is then omitted.
func fairCPUTime() (time.Duration, bool) { return 0, false }
