package server

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/zcingest/zerocopy/host"
	"github.com/zcingest/zerocopy/hub"
)

// The status page at "/": a server-rendered table of the live streams
// (readable with JavaScript off) and a small script that polls
// /status.json to keep it and a bitrate chart current. The files are
// embedded: no build step, nothing fetched from elsewhere.

//go:embed static/status.html static/status.css static/status.js
var statusFiles embed.FS

var statusTemplate = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"kbps":     fmtKbps,
	"bytes":    fmtBytes,
	"duration": fmtDuration,
	"seconds":  func(v float64) string { return fmtFloat(v, "s") },
}).ParseFS(statusFiles, "static/status.html"))

const (
	// statusPoll is how often the page's script polls /status.json.
	statusPoll = 2 * time.Second
	// statusProbeTimeout bounds each auth probe (see streamURL): an HTTP
	// callback that hangs must not hang the page.
	statusProbeTimeout = time.Second
	// statusMaxStreams caps the streams one page or poll lists, so a host
	// with thousands of streams does not build a page of megabytes (and
	// ask the auth hook thousands of times) every two seconds.
	statusMaxStreams = 200
)

// mountStatus serves the status page and its data on mux. The patterns
// are exact paths without the .flv suffix, so no HTTP-FLV path is shadowed.
func (s *Server) mountStatus(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.serveStatusPage)
	mux.HandleFunc("GET /status.json", s.serveStatusJSON)
	mux.HandleFunc("GET /status.css", serveStatusAsset("static/status.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /status.js", serveStatusAsset("static/status.js", "text/javascript; charset=utf-8"))
}

// statusData is what the page shows, rendered by the template and sent
// as /status.json to the script.
type statusData struct {
	Now        int64          `json:"now"`        // unix milliseconds
	PollMillis int64          `json:"pollMillis"` // how often the script polls
	Streams    []statusStream `json:"streams"`
	Truncated  int            `json:"truncated,omitempty"` // live streams left out (statusMaxStreams)
	Totals     statusTotals   `json:"totals"`
	// TestSource is the command that publishes the banner's test source,
	// shown when nothing is live.
	TestSource string `json:"testSource,omitempty"`
}

// statusStream is one live stream and the URLs that play it.
type statusStream struct {
	hub.StreamInfo
	Play []playURL `json:"play"`
}

// playURL is a URL a player can open. It never carries a key: when the
// auth hook refuses a keyless request it carries keyPlaceholder.
type playURL struct {
	Protocol string `json:"protocol"` // httpflv, rtmp, rtsp, or an advertised endpoint's name (srt)
	Name     string `json:"name"`     // HTTP-FLV, RTMP, RTSP, or the endpoint's title (SRT)
	URL      string `json:"url"`
}

// statusTotals are process-wide counters, from the same sources as
// /metrics (hub protocol totals, egress counters, runtime.MemStats).
type statusTotals struct {
	Streams       int     `json:"streams"`
	IngestKbps    float64 `json:"ingestKbps"`    // sum of the streams' bitrateKbps
	PayloadBytes  int64   `json:"payloadBytes"`  // media payload published into the hub
	SocketBytes   int64   `json:"socketBytes"`   // read from publisher sockets
	CopiedBytes   int64   `json:"copiedBytes"`   // copied by the ingest path (control path only)
	AllocInUse    int64   `json:"allocInUse"`    // connection allocators: malloc minus free
	GCCycles      uint32  `json:"gcCycles"`      // completed Go GC cycles
	HeapInUse     int64   `json:"heapInUse"`     // Go heap in use (runtime.MemStats.HeapInuse)
	EgressBytes   int64   `json:"egressBytes"`   // written to HTTP-FLV players
	EgressPayload int64   `json:"egressPayload"` // of which payload written from frame memory
	Players       int64   `json:"players"`       // connected HTTP-FLV players
}

// status gathers the page's data for a request from remote that reached
// the server as reqHost (both used only to build URLs and auth probes).
func (s *Server) status(ctx context.Context, reqHost, remote string) statusData {
	d := statusData{Now: time.Now().UnixMilli(), PollMillis: statusPoll.Milliseconds()}
	infos := s.hub.Streams()
	d.Totals.Streams = len(infos)
	for _, in := range infos {
		d.Totals.IngestKbps += in.BitrateKbps
	}
	if len(infos) > statusMaxStreams {
		d.Truncated = len(infos) - statusMaxStreams
		infos = infos[:statusMaxStreams]
	}
	d.Streams = make([]statusStream, 0, len(infos))
	for _, in := range infos {
		d.Streams = append(d.Streams, statusStream{StreamInfo: in, Play: s.playURLs(ctx, in.Path, reqHost, remote)})
	}
	for _, p := range s.hub.Protocols() {
		t := s.hub.Totals(p)
		d.Totals.PayloadBytes += t.BytesIn.Load()
		d.Totals.SocketBytes += t.BytesRead.Load()
		d.Totals.CopiedBytes += t.BytesCopied.Load()
		d.Totals.AllocInUse += t.AllocMalloc.Load() - t.AllocFree.Load()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.Totals.GCCycles, d.Totals.HeapInUse = ms.NumGC, int64(ms.HeapInuse)
	d.Totals.EgressBytes = s.egress.BytesOut.Load()
	d.Totals.EgressPayload = s.egress.PayloadBytes.Load()
	d.Totals.Players = s.egress.Subscribers.Load()
	if len(d.Streams) == 0 {
		if rtmp, ok := s.Addrs()["rtmp"]; ok {
			d.TestSource = TestSourceCommand(s.streamURL(ctx, "rtmp", host.ActionPublish, urlHost(rtmp, reqHost), TestSourcePath, remote))
		}
	}
	return d
}

// playURLs lists the URLs that play path: HTTP-FLV always, RTMP and RTSP
// when their listeners exist, and each endpoint a plugin advertised (SRT).
func (s *Server) playURLs(ctx context.Context, path, reqHost, remote string) []playURL {
	addrs := s.Addrs()
	out := []playURL{{Protocol: "httpflv", Name: "HTTP-FLV",
		URL: s.streamURL(ctx, "httpflv", host.ActionPlay, urlHost(addrs["http"], reqHost), path, remote)}}
	for _, p := range []struct{ protocol, name string }{{"rtmp", "RTMP"}, {"rtsp", "RTSP"}} {
		if a, ok := addrs[p.protocol]; ok {
			out = append(out, playURL{Protocol: p.protocol, Name: p.name,
				URL: s.streamURL(ctx, p.protocol, host.ActionPlay, urlHost(a, reqHost), path, remote)})
		}
	}
	for _, e := range s.advertised() {
		out = append(out, playURL{Protocol: e.Name, Name: e.Title,
			URL: s.endpointURL(ctx, e.Name, e.URL, host.ActionPlay, urlHost(e.Addr, reqHost), path, remote)})
	}
	return out
}

// streamURL is the URL for action on path over protocol (one the host
// listens for itself: httpflv, rtmp, rtsp) at hostPort; see endpointURL.
func (s *Server) streamURL(ctx context.Context, protocol string, action host.Action, hostPort, path, remote string) string {
	build := func(_ host.Action, hostPort, path, query string) string {
		segs := strings.Split(path, "/")
		for i, seg := range segs {
			segs[i] = url.PathEscape(seg)
		}
		p := strings.Join(segs, "/")
		var u string
		switch protocol {
		case "httpflv":
			u = "http://" + hostPort + "/" + p + ".flv"
		default:
			u = protocol + "://" + hostPort + "/" + p
		}
		if query != "" {
			u += "?" + query
		}
		return u
	}
	return s.endpointURL(ctx, protocol, build, action, hostPort, path, remote)
}

// endpointURL is the URL build makes for action on path over protocol at
// hostPort. It asks the auth hook whether the request would be allowed
// without a key (a probe: nothing is counted or logged as a refusal
// here); when it would not, the URL carries keyQuery. The key itself is
// never known here. With an HTTP callback configured, every probe is one
// callback request (answers are cached for zerocopy.auth.cachettl).
func (s *Server) endpointURL(ctx context.Context, protocol string, build func(action host.Action, hostPort, path, query string) string, action host.Action, hostPort, path, remote string) string {
	ctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	defer cancel()
	req := host.AuthRequest{Action: action, Protocol: protocol, Path: path, Remote: remote}
	query := ""
	if err := s.authorizer().Authorize(ctx, req); err != nil {
		query = keyQuery
	}
	return build(action, hostPort, path, query)
}

// setStatusHeaders: the page is read-only, same-origin only, never cached.
func setStatusHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
}

func (s *Server) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, s.status(r.Context(), r.Host, r.RemoteAddr)); err != nil {
		s.log.Error("status page: template failed", "err", err)
		http.Error(w, "status page failed", http.StatusInternalServerError)
		return
	}
	setStatusHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) serveStatusJSON(w http.ResponseWriter, r *http.Request) {
	setStatusHeaders(w, "application/json")
	_ = json.NewEncoder(w).Encode(s.status(r.Context(), r.Host, r.RemoteAddr))
}

func serveStatusAsset(name, contentType string) http.HandlerFunc {
	data, err := statusFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("status page: %s not embedded: %v", name, err)) // a build mistake, caught by every test
	}
	return func(w http.ResponseWriter, r *http.Request) {
		setStatusHeaders(w, contentType)
		_, _ = w.Write(data)
	}
}

// The formatting below matches status.js, which re-renders the same cells.

func fmtKbps(k float64) string {
	if k >= 1000 {
		return fmtFloat(k/1000, " Mbit/s")
	}
	return fmtFloat(k, " kbit/s")
}

func fmtBytes(v int64) string {
	const units = "kMGTPE"
	if v < 1000 && v > -1000 {
		return fmt.Sprintf("%d B", v)
	}
	f, i := float64(v)/1000, 0
	for (f >= 1000 || f <= -1000) && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmtFloat(f, " "+units[i:i+1]+"B")
}

func fmtDuration(sec float64) string {
	d := time.Duration(sec) * time.Second
	h, m, ss := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, ss)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, ss)
	}
	return fmt.Sprintf("%ds", ss)
}

// fmtFloat prints v with three significant digits at most (0.5, 12.3,
// 456, 1234) and unit.
func fmtFloat(v float64, unit string) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.0f%s", v, unit)
	case a >= 10:
		return fmt.Sprintf("%.1f%s", v, unit)
	default:
		return fmt.Sprintf("%.2f%s", v, unit)
	}
}
