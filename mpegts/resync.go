package mpegts

// Resync returns the offset of the first TS packet boundary in b: the
// first sync byte followed, every 188 bytes, by further sync bytes
// (ResyncConfirm in all, or as many as b holds past the first), or -1 when
// b holds none. Use it after Push returned ErrSync, or to align a buffer
// of unknown alignment. It reads b only; the search is bounded by len(b).
func Resync(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != syncByte {
			continue
		}
		ok := true
		for k := 1; k < ResyncConfirm && i+k*PacketSize < len(b); k++ {
			if b[i+k*PacketSize] != syncByte {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}
