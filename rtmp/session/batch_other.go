//go:build !linux

package session

import (
	"net"
	"time"
)

// readBatch is Linux only: elsewhere SO_RCVLOWAT is either missing or not
// re-checked when it is lowered, so a mark the peer stopped filling could
// hold a command it waits on until the read timeout. Publishing
// connections read every segment as it arrives.
type readBatch struct{}

func startReadBatch(net.Conn, int, time.Duration) *readBatch { return nil }

func (*readBatch) touch(uint32, int) {}

func (*readBatch) stop() {}
