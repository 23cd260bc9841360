// Package ingestbench measures what RTMP ingest costs a Go server process:
// heap bytes and mallocs per ingested byte, GC cycles, and CPU seconds per
// GB, for the zerocopy plugin (through the embedded host), for a minimal
// gortmplib server, and for a plain TCP read floor, all fed by the same real
// ffmpeg pushers.
//
// # What runs where
//
// The server under test runs inside the harness process, on 127.0.0.1 with
// port 0. The pushers are separate ffmpeg processes (`-c copy` of a
// pre-encoded H.264+AAC FLV clip, looped with -stream_loop -1, paced with
// -re or unpaced), so their CPU is not charged to the server. Each pusher
// is its own process group and is killed with SIGKILL to the group at the
// end of its row; Pdeathsig kills it if the harness dies first.
//
// # The measured window
//
// A row starts the server, starts N pushers, waits until all N are
// publishing, waits the warm-up (default 2 s), forces a GC and returns free
// memory to the OS (so start-up garbage is not charged to the steady
// state), then takes the start snapshot. The end snapshot is taken after
// the window (-d), while every pusher is still connected; only then are
// the pushers killed and the server shut down. Every figure is the delta
// between the two snapshots: runtime.MemStats (TotalAlloc, Mallocs, NumGC)
// and getrusage(RUSAGE_SELF) user+sys time of the whole harness process
// (which is idle apart from the server during the window: ffmpeg's stderr
// goes straight to a file, no goroutine copies it).
//
// # Bytes ingested
//
// Socket bytes read by the server: for zerocopy the hub's per-protocol
// totals (the figure /metrics exports as zerocopy_socket_bytes_read_total,
// cross-checked against a /metrics scrape after the window); for gortmplib a
// counting net.Conn wrapper under its ServerConn; for the floor the sum of
// its read calls.
//
// # The floor
//
// The floor must be driven by the very same traffic as the servers, or its
// CPU per GB is not comparable: the same ffmpeg processes, the same write
// sizes and pacing, the same number of connections. It therefore performs
// the RTMP setup (handshake, connect, createStream, publish) with
// gortmplib's ServerConn, before the measured window, and from then on does
// nothing but read the socket into one reused 64 KiB buffer per connection
// and discard it: no chunk parsing, no deadlines, no acknowledgements
// (ffmpeg does not wait for them when publishing). What the floor costs is
// the kernel copy, the read syscalls and the Go netpoller: the part no
// user-space RTMP server can avoid. A replay design (record one pusher's
// bytes, replay them from N Go clients) was rejected: the clients would
// either run in the measured process (charging their writes to the floor)
// or need their own pacing, whose write sizes would differ from ffmpeg's.
package ingestbench
