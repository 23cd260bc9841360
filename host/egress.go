package host

// EgressStats is what a protocol reports about one playing connection,
// the counterpart of IngestStats for a publisher.
type EgressStats struct {
	Protocol string // "srt"
	Remote   string // the player's address; with Protocol it names the connection
	// Extra holds the protocol's own gauges for this connection (SRT loss,
	// retransmits, RTT, send buffer), shown per player by the host. The
	// host copies it; report it at most about once a second, since
	// building the map allocates.
	Extra map[string]float64
}

// EgressReporter is implemented by subscribers whose host shows their
// players' own statistics. Call it from the subscriber's goroutine; the
// latest report stands until the subscriber is closed.
type EgressReporter interface {
	ReportEgress(EgressStats)
}
