// Package limit holds the error every zerocopy parser returns when peer input
// exceeds one of its named limits. Each protocol package keeps its limits as
// named constants in its own limits.go; this package only defines how a
// rejection is reported, so callers can branch on it with errors.As.
package limit

import "fmt"

// LimitError reports that a value read from a peer (or requested by a caller)
// exceeds a named limit. Name is the constant's name, so logs point straight
// at the limit that fired.
type LimitError struct {
	Name  string // the limit's constant name, e.g. "MaxLineLength"
	Limit int64  // the configured bound
	Got   int64  // the value that was seen or requested
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s exceeded: got %d, limit %d", e.Name, e.Got, e.Limit)
}

// Check returns a *LimitError when got > max, and nil otherwise.
func Check(name string, got, max int64) error {
	if got > max {
		return &LimitError{Name: name, Limit: max, Got: got}
	}
	return nil
}
