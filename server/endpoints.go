package server

import (
	"sort"

	"github.com/zcingest/zerocopy/host"
)

// AdvertiseEndpoint implements host.EndpointAdvertiser: the banner and the
// status page list e with the host's own listeners (Addrs) and show its
// URLs. An endpoint without a name, an address or a URL builder is
// ignored.
func (v *services) AdvertiseEndpoint(e host.Endpoint) {
	if e.Name == "" || e.Addr == nil || e.URL == nil {
		v.log.Warn("advertised endpoint ignored: it needs a name, an address and a URL builder", "name", e.Name)
		return
	}
	if e.Title == "" {
		e.Title = e.Name
	}
	v.s.mu.Lock()
	if v.s.endpoints == nil {
		v.s.endpoints = make(map[string]host.Endpoint)
	}
	v.s.endpoints[e.Name] = e
	v.s.mu.Unlock()
}

// advertised returns the advertised endpoints, ordered by name so that
// the banner and the page list them the same way every time.
func (s *Server) advertised() []host.Endpoint {
	s.mu.Lock()
	out := make([]host.Endpoint, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		out = append(out, e)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
