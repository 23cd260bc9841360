package host

import "net"

// Endpoint is a listener a plugin binds itself, outside ListenTCP,
// ListenQUIC and ListenUDP (SRT: its transport opens its own UDP socket), so the
// host does not know it exists. A plugin advertises it (EndpointAdvertiser)
// for the host to list with its own listeners, in a startup banner or a
// status page.
type Endpoint struct {
	// Name is the listener's name in the host's list ("srt"), also the
	// protocol an auth probe for its URLs names.
	Name string
	// Addr is the bound address.
	Addr net.Addr
	// Title is the protocol's display name ("SRT").
	Title string
	// Container is the format a publisher sends over the endpoint, named
	// as ffmpeg's -f names it ("mpegts"), for a host that shows a
	// ready-to-run publish command.
	Container string
	// URL returns the URL that asks for action on path at hostPort (the
	// address a client dials, which the host chooses: the bound one, or
	// the host name a client reached the host by). query, when not empty,
	// is a raw query the URL must present to the auth hook ("key=…").
	URL func(action Action, hostPort, path, query string) string
}

// EndpointAdvertiser is implemented by hosts that list their listeners.
// Services implementations that do not list any need not implement it;
// a plugin asks with a type assertion.
type EndpointAdvertiser interface {
	// AdvertiseEndpoint adds e to the host's list until the host stops.
	// A second endpoint with the same Name replaces the first.
	AdvertiseEndpoint(e Endpoint)
}
