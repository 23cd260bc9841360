package client

import (
	"fmt"
	"net"
	"sync"
)

// udpPair is a session's own RTP/RTCP sockets: an even port and the next.
type udpPair struct {
	rtp, rtcp *net.UDPConn
	reports   chan []byte // the camera's sender reports, for the session goroutine
	once      sync.Once
}

// listenUDPPair binds an even/odd port pair on the IP of local (the
// control connection's local address: the interface that reaches the
// camera), retrying a few kernel-chosen ports.
func listenUDPPair(local net.Addr) (*udpPair, error) {
	ip := net.IPv4zero
	if a, ok := local.(*net.TCPAddr); ok {
		ip = a.IP
	}
	var lastErr error
	for range MaxPortAttempts {
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, fmt.Errorf("udp listen: %w", err)
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 1 || port == 65535 {
			// RTP takes the even port of the pair (RFC 3550 11).
			_ = rtp.Close()
			lastErr = fmt.Errorf("udp listen: port %d is odd", port)
			continue
		}
		rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			_ = rtp.Close()
			lastErr = fmt.Errorf("udp listen: %w", err)
			continue
		}
		return &udpPair{rtp: rtp, rtcp: rtcp, reports: make(chan []byte, RTCPQueue)}, nil
	}
	return nil, fmt.Errorf("no free RTP/RTCP port pair after %d tries: %w", MaxPortAttempts, lastErr)
}

func (p *udpPair) ports() [2]int {
	return [2]int{p.rtp.LocalAddr().(*net.UDPAddr).Port, p.rtcp.LocalAddr().(*net.UDPAddr).Port}
}

func (p *udpPair) close() {
	p.once.Do(func() {
		_ = p.rtp.Close()
		_ = p.rtcp.Close()
	})
}

// drainRTCP reads the camera's RTCP into a heap buffer (control data,
// never the allocator's). Sender reports are copied to reports for the
// session's goroutine, which owns the Ingest; when it is full they are
// dropped (the next comes within seconds).
func (p *udpPair) drainRTCP(wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, RTCPBufferSize)
	for {
		n, _, err := p.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 8 || buf[1] != 200 {
			continue
		}
		select {
		case p.reports <- append([]byte(nil), buf[:n]...):
		default:
		}
	}
}
