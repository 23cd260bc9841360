// Package rcvlowat batches the reads of a publishing TCP connection with
// SO_RCVLOWAT (Linux): the kernel wakes the reader once about 20 ms of the
// stream is queued instead of once per TCP segment, and a timer lowers the
// mark when the media stops so requests that share the socket are not held.
// RTMP publishers, RTSP RECORD over TCP and RTSP camera pulls over TCP use
// it; elsewhere than Linux it does nothing.
package rcvlowat

// ConfigSize maps a config file's mark, where 0 means off, to Start's size
// argument as the session configs take it, where 0 means the default and a
// negative size means off.
func ConfigSize(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
