package zerocopym7s

import (
	"errors"
	"log/slog"
	"net"

	"github.com/zcingest/zerocopy/host"
)

// errNotInM7s: listeners a protocol package would ask the host for are
// opened by the plugin itself in m7s (see rtsp.go, srt.go), and QUIC is
// m7s's own cascade plugin's business.
var errNotInM7s = errors.New("zerocopy: not offered inside m7s")

// services is the host seen by the RTSP and SRT packages inside m7s: a
// publish claims the path in m7s with codec-unit frames (unitPublisher);
// playback is m7s's own egress, so Subscribe is unsupported and the
// packages refuse RTSP PLAY and SRT subscribe.
type services struct {
	plugin *ZeroCopyPlugin
	log    *slog.Logger
}

var _ host.Services = (*services)(nil)

func (s *services) Logger() *slog.Logger { return s.log }

func (s *services) ListenTCP(string, string, host.ListenOptions, host.ConnHandler) (net.Addr, error) {
	return nil, errNotInM7s
}

func (s *services) ListenUDP(string, string) (net.PacketConn, error) { return nil, errNotInM7s }

func (s *services) ListenQUIC(string, string, host.QUICConfig, host.QUICHandler) (net.Addr, error) {
	return nil, errNotInM7s
}

// SetAuthorizer does nothing: the protocols get the plugin's hook in
// their config.
func (s *services) SetAuthorizer(host.Authorizer) {}

// AddOnDemand does nothing: pulls on demand are m7s's pull proxies'
// business; the adapter takes publishers only.
func (s *services) AddOnDemand(host.OnDemand) {}

func (s *services) Publish(req host.PublishRequest) (host.Publisher, error) {
	u, err := s.plugin.newUnitPublisher(req)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *services) Subscribe(string) (host.Subscriber, error) {
	return nil, host.ErrSubscribeUnsupported
}
