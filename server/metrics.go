package server

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector reads the hub's counters at scrape time, so the media path pays
// nothing for metrics beyond the atomic adds it already does.
type collector struct {
	s *Server

	bytesIn, framesIn, framesOut, drops, socketBytes, copied *prometheus.Desc
	mallocBytes, freeBytes, inUse, publishes                 *prometheus.Desc
	egressBytes, egressPayload, egressRefused, egressSubs    *prometheus.Desc
	streams, gcCycles, connRefused, gopOverflows, reconnects *prometheus.Desc
	streamExtra, playerExtra                                 *prometheus.Desc
}

func newCollector(s *Server) *collector {
	p := []string{"protocol"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("zerocopy_"+name, help, labels, nil)
	}
	return &collector{
		s:             s,
		bytesIn:       d("ingest_payload_bytes_total", "Media payload bytes published into the hub.", p),
		framesIn:      d("frames_in_total", "Frames published into the hub.", p),
		framesOut:     d("frames_out_total", "Frames delivered to subscribers.", p),
		drops:         d("subscriber_drops_total", "Frames subscribers lost because the ring evicted them unread (counted by the hub at eviction).", p),
		gopOverflows:  d("gop_overflows_total", "GOPs whose keyframe the ring evicted before the next keyframe arrived (ringsize, ringbytes or ringduration too small for the GOP).", p),
		streamExtra:   d("stream_protocol_stat", "A publishing protocol's own per-stream gauge (SRT: srt_pkt_recv_loss, srt_rtt_ms, srt_recv_buf_ms ...), as it last reported it.", []string{"path", "protocol", "name"}),
		playerExtra:   d("player_protocol_stat", "A playing protocol's own per-connection gauge (SRT: srt_pkt_send_loss, srt_pkt_retrans, srt_rtt_ms, srt_send_buf_ms ...), as it last reported it; remote is the player's address.", []string{"path", "protocol", "remote", "name"}),
		reconnects:    d("publisher_reconnects_total", "Publishes that took over the waiting players of an ended publish on the same path.", p),
		socketBytes:   d("socket_bytes_read_total", "Bytes read from publisher sockets.", p),
		copied:        d("ingest_bytes_copied_total", "Bytes the ingest path copied (0 on the media path by design).", p),
		mallocBytes:   d("allocator_malloc_bytes_total", "Bytes Malloc'd from connection allocators.", p),
		freeBytes:     d("allocator_free_bytes_total", "Bytes freed to connection allocators.", p),
		inUse:         d("allocator_in_use_bytes", "Connection allocator bytes in use (malloc minus free).", p),
		publishes:     d("publishes_total", "Publish sessions started.", p),
		egressBytes:   d("egress_bytes_total", "Bytes written to HTTP-FLV subscribers.", nil),
		egressPayload: d("egress_payload_bytes_total", "Payload bytes written to HTTP-FLV subscribers straight from frame memory.", nil),
		egressRefused: d("egress_refused_total", "HTTP-FLV players refused by the auth hook.", nil),
		egressSubs:    d("egress_subscribers", "Connected HTTP-FLV subscribers.", nil),
		streams:       d("streams", "Live streams.", nil),
		gcCycles:      d("gc_cycles_total", "Completed Go GC cycles.", nil),
		connRefused:   d("connections_refused_total", "Connections closed at once because a cap was reached (reason per_ip or listener).", []string{"listener", "reason"}),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytesIn, c.framesIn, c.framesOut, c.drops, c.socketBytes, c.copied,
		c.mallocBytes, c.freeBytes, c.inUse, c.publishes, c.egressBytes, c.egressPayload, c.egressRefused,
		c.egressSubs, c.streams, c.gcCycles, c.connRefused, c.gopOverflows, c.reconnects, c.streamExtra, c.playerExtra} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.hub
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, p := range h.Protocols() {
		t := h.Totals(p)
		counter(c.bytesIn, t.BytesIn.Load(), p)
		counter(c.framesIn, t.FramesIn.Load(), p)
		counter(c.framesOut, t.FramesOut.Load(), p)
		counter(c.drops, t.Drops.Load(), p)
		counter(c.socketBytes, t.BytesRead.Load(), p)
		counter(c.copied, t.BytesCopied.Load(), p)
		m, f := t.AllocMalloc.Load(), t.AllocFree.Load()
		counter(c.mallocBytes, m, p)
		counter(c.freeBytes, f, p)
		gauge(c.inUse, m-f, p)
		counter(c.publishes, t.Publishes.Load(), p)
		counter(c.gopOverflows, t.GOPOverflows.Load(), p)
		counter(c.reconnects, t.Reconnects.Load(), p)
	}
	e := &c.s.egress
	counter(c.egressBytes, e.BytesOut.Load())
	counter(c.egressPayload, e.PayloadBytes.Load())
	counter(c.egressRefused, e.Refused.Load())
	gauge(c.egressSubs, e.Subscribers.Load())
	streams := h.Streams()
	gauge(c.streams, int64(len(streams)))
	for _, st := range streams {
		for name, v := range st.Extra {
			ch <- prometheus.MustNewConstMetric(c.streamExtra, prometheus.GaugeValue, v, st.Path, st.Protocol, name)
		}
		for _, pl := range st.Players {
			for name, v := range pl.Extra {
				ch <- prometheus.MustNewConstMetric(c.playerExtra, prometheus.GaugeValue, v, st.Path, pl.Protocol, pl.Remote, name)
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	counter(c.gcCycles, int64(ms.NumGC))
	for _, r := range c.s.refused.snapshot() {
		counter(c.connRefused, r.n, r.listener, r.reason)
	}
}

func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
