//go:build !linux

package rcvlowat

import (
	"errors"
	"net"
	"time"
)

// Batch is Linux only: elsewhere SO_RCVLOWAT is either missing or not
// re-checked when it is lowered, so a mark the peer stopped filling could
// hold a request it waits on until the read timeout. Publishing
// connections read every segment as it arrives.
type Batch struct{}

// Start returns nil: no batching.
func Start(net.Conn, int, time.Duration) *Batch { return nil }

// Touch does nothing.
func (*Batch) Touch(time.Duration, int) {}

// Stop does nothing.
func (*Batch) Stop() {}

// Mark is Linux only.
func Mark(net.Conn) (int, error) { return 0, errors.ErrUnsupported }
