package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/zcingest/zerocopy/limit"
	"github.com/zcingest/zerocopy/srt/wire"
)

// DialConfig configures a caller connection.
type DialConfig struct {
	StreamID   string // sent in the SID extension; at most MaxStreamID bytes
	Passphrase string // empty: no encryption
	// KeyLength is the AES key length in bytes (16, 24 or 32) proposed
	// with a passphrase; 0 is DefaultKeyLength. A listener that advertises
	// a length in its induction response decides.
	KeyLength       int
	Latency         time.Duration // 0: DefaultLatency
	PeerIdleTimeout time.Duration // 0: DefaultPeerIdleTimeout
	ConnectTimeout  time.Duration // 0: DefaultConnectTimeout
	Log             *slog.Logger
}

// RejectError is Dial's error when the listener refused the connection.
type RejectError struct {
	Reason wire.RejectReason
}

func (e *RejectError) Error() string {
	return "srt: connection rejected: " + e.Reason.String()
}

// ErrConnectTimeout is Dial's error when the listener did not complete
// the handshake within the connect timeout.
var ErrConnectTimeout = errors.New("srt: connect timeout")

// dialer owns a caller connection's UDP socket and its reader goroutine.
type dialer struct {
	uc         *net.UDPConn
	cfg        DialConfig
	peer       netip.AddrPort
	socketID   uint32
	isn        uint32
	start      time.Time
	readerDone chan struct{}
}

// Dial connects to the SRT listener at addr (host:port) as a caller in
// live mode: the induction and conclusion handshakes (HSv5, with the
// streamid and, with a passphrase, the key material), each request sent
// again every 250 ms until the listener answers or the connect timeout or
// ctx ends. A refusal is a *RejectError. The returned Conn owns a connected
// UDP socket and one reader goroutine, both ended by Close.
func Dial(ctx context.Context, addr string, cfg DialConfig) (*Conn, error) {
	if cfg.Latency <= 0 {
		cfg.Latency = DefaultLatency
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.KeyLength == 0 {
		cfg.KeyLength = DefaultKeyLength
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.StreamID) > MaxStreamID {
		return nil, fmt.Errorf("srt dial: %w", &limit.LimitError{Name: "MaxStreamID", Limit: MaxStreamID, Got: int64(len(cfg.StreamID))})
	}
	if wire.EncryptionField(cfg.KeyLength) == 0 {
		return nil, fmt.Errorf("srt dial: key length %d, want 16, 24 or 32", cfg.KeyLength)
	}
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("srt dial: %w", err)
	}
	uc, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, fmt.Errorf("srt dial: %w", err)
	}
	// A pull at tens of Mbit/s outruns the default ~200 KB buffer in one
	// scheduling hiccup of the reader; the kernel caps the request.
	_ = uc.SetReadBuffer(SocketBuffer)
	_ = uc.SetWriteBuffer(SocketBuffer)
	d := &dialer{
		uc:         uc,
		cfg:        cfg,
		peer:       ra.AddrPort(),
		socketID:   rand.Uint32N(1<<30-1) + 1, // libsrt's IDs are 30-bit, never 0
		isn:        rand.Uint32N(wire.SeqMask + 1),
		start:      time.Now(),
		readerDone: make(chan struct{}),
	}
	c, err := d.handshake(ctx)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("srt dial %s: %w", addr, err)
	}
	return c, nil
}

// handshake runs the caller's side: induction, then conclusion, then the
// connection with its reader.
func (d *dialer) handshake(ctx context.Context) (*Conn, error) {
	deadline := time.Now().Add(d.cfg.ConnectTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	// Cancelling ctx interrupts the blocked read.
	stop := context.AfterFunc(ctx, func() { d.uc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	req := wire.Handshake{
		Version:    wire.HSVersion4,
		Extension:  2, // UDT_DGRAM, as an HSv4 induction says
		InitialSeq: d.isn,
		MTU:        wire.MTU,
		FlowWindow: FlowWindow,
		Type:       wire.HSInduction,
		SocketID:   d.socketID,
	}
	req.SetPeerIP(d.peer.Addr().Unmap())
	var cipher *wire.Cipher
	buf := make([]byte, MaxDatagram)
	out, err := d.handshakePacket(nil, &req)
	if err != nil {
		return nil, err
	}
send:
	for {
		if _, err := d.uc.Write(out); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		retry := time.Now().Add(handshakeRetry)
		if retry.After(deadline) {
			retry = deadline
		}
		d.uc.SetReadDeadline(retry)
		for {
			n, err := d.uc.Read(buf)
			if err != nil {
				switch {
				case ctx.Err() != nil:
					return nil, ctx.Err()
				case errors.Is(err, os.ErrDeadlineExceeded):
					if !time.Now().Before(deadline) {
						return nil, ErrConnectTimeout
					}
					continue send
				case errors.Is(err, syscall.ECONNREFUSED):
					// Nothing listens there (yet): an ICMP
					// error for our last request. Wait for
					// the retry.
					continue
				}
				return nil, err
			}
			var hs wire.Handshake
			h, cif, err := wire.ParseControlHeader(buf[:n])
			if err != nil || h.Type != wire.CtrlHandshake || wire.ParseHandshake(cif, &hs) != nil {
				continue // not an answer to us: ignore it
			}
			if hs.Type.IsRejection() {
				return nil, &RejectError{Reason: hs.Type.RejectReason()}
			}
			switch {
			case req.Type == wire.HSInduction && hs.Type == wire.HSInduction:
				if hs.Version != wire.HSVersion5 || hs.Extension != wire.HandshakeMagic {
					return nil, fmt.Errorf("listener speaks handshake v%d (extension %#x), only v5 is supported", hs.Version, hs.Extension)
				}
				if cipher, err = d.conclusion(&req, &hs); err != nil {
					return nil, err
				}
				if out, err = d.handshakePacket(out[:0], &req); err != nil {
					return nil, err
				}
				continue send
			case req.Type == wire.HSConclusion && hs.Type == wire.HSConclusion:
				latency, err := d.accepted(&hs)
				if err != nil {
					d.shutdown(hs.SocketID)
					return nil, err
				}
				return d.connect(hs.SocketID, latency, cipher), nil
			}
			// A late answer to an earlier request: ignore it.
		}
	}
}

// conclusion turns req into the conclusion request answering the
// listener's induction response ind: the cookie echoed, HSREQ, SID and,
// with a passphrase, KMREQ with a fresh key at the listener's advertised
// length (else ours). It returns the cipher the key material describes.
func (d *dialer) conclusion(req, ind *wire.Handshake) (*wire.Cipher, error) {
	req.Version = wire.HSVersion5
	req.Type = wire.HSConclusion
	req.SynCookie = ind.SynCookie
	req.Encryption = 0
	req.SRTCmd = wire.ExtHSREQ
	ms := uint16(min(d.cfg.Latency/time.Millisecond, 0xFFFF))
	req.SRT = wire.SRTExtension{
		Version: srtVersion,
		Flags: wire.FlagTSBPDSND | wire.FlagTSBPDRCV | wire.FlagCrypt | wire.FlagTLPktDrop |
			wire.FlagPeriodicNAK | wire.FlagRexmitFlag,
		RecvDelay: ms,
		SendDelay: ms,
	}
	req.StreamID = d.cfg.StreamID
	if d.cfg.Passphrase == "" {
		return nil, nil
	}
	keyLen := d.cfg.KeyLength
	if ind.Encryption >= 2 && ind.Encryption <= 4 {
		keyLen = int(ind.Encryption) * 8
	}
	km, cipher, err := wire.NewKM(d.cfg.Passphrase, keyLen)
	if err != nil {
		return nil, err
	}
	if req.KM, err = wire.AppendKM(nil, &km); err != nil {
		return nil, err
	}
	req.Encryption = wire.EncryptionField(keyLen)
	req.KMCmd = wire.ExtKMREQ
	return cipher, nil
}

// accepted checks the listener's conclusion response and returns the
// latency to use: the larger of ours and the listener's, each way (live
// mode sends and receives with one).
func (d *dialer) accepted(rsp *wire.Handshake) (time.Duration, error) {
	if rsp.Version != wire.HSVersion5 || rsp.SRTCmd != wire.ExtHSRSP {
		return 0, fmt.Errorf("listener's conclusion has no HSRSP (version %d)", rsp.Version)
	}
	if rsp.SRT.Flags&wire.FlagStream != 0 {
		return 0, &RejectError{Reason: wire.RejMessageAPI}
	}
	if d.cfg.Passphrase != "" {
		if rsp.KMCmd != wire.ExtKMRSP {
			return 0, &RejectError{Reason: wire.RejUnsecure}
		}
		if s, ok := wire.ParseKMState(rsp.KM); ok {
			// An unenforcing listener that cannot unwrap our key
			// would take the stream and not decrypt it.
			if s == wire.KMStateNoSecret {
				return 0, &RejectError{Reason: wire.RejUnsecure}
			}
			return 0, &RejectError{Reason: wire.RejBadSecret}
		}
	} else if rsp.KMCmd == wire.ExtKMRSP {
		return 0, &RejectError{Reason: wire.RejUnsecure}
	}
	latency := d.cfg.Latency
	for _, ms := range [2]uint16{rsp.SRT.RecvDelay, rsp.SRT.SendDelay} {
		// Up to MaxLatency (see handshake.go's accept).
		latency = max(latency, min(time.Duration(ms)*time.Millisecond, MaxLatency))
	}
	return latency, nil
}

// connect makes the connection the listener accepted and starts its
// socket reader.
func (d *dialer) connect(peerID uint32, latency time.Duration, cipher *wire.Cipher) *Conn {
	d.uc.SetReadDeadline(time.Time{})
	c := newConn(connParams{
		LocalID:         d.socketID,
		PeerID:          peerID,
		Peer:            d.peer,
		ISN:             d.isn,
		Latency:         latency,
		PeerIdleTimeout: d.cfg.PeerIdleTimeout,
		Cipher:          cipher,
		Passphrase:      d.cfg.Passphrase,
		StreamID:        d.cfg.StreamID,
		Start:           d.start,
		Pool:            newPacketPool(DialPoolPackets),
		Write:           d.write,
		OnClose:         d.close,
		Log:             d.cfg.Log,
	})
	go d.read(c)
	return c
}

// write sends one datagram on the connected socket. An ICMP refusal of an
// earlier datagram surfaces here as ECONNREFUSED; like any other lost
// datagram SRT recovers or the idle timeout ends the connection.
func (d *dialer) write(b []byte) error {
	_, err := d.uc.Write(b)
	return err
}

// close is the connection's OnClose: it closes the socket, which ends the
// reader, and waits for the reader to finish.
func (d *dialer) close() {
	d.uc.Close()
	<-d.readerDone
}

// read is the socket reader: every datagram goes into a pooled packet and
// to the connection's queue. It never blocks on the connection; what the
// connection cannot take is dropped and counted.
func (d *dialer) read(c *Conn) {
	defer close(d.readerDone)
	pool := c.p.Pool
	var scratch [MaxDatagram]byte
	for {
		p := pool.get()
		slot := scratch[:]
		if p != nil {
			slot = p.slot
		}
		n, err := d.uc.Read(slot)
		if err != nil {
			if p != nil {
				p.Decommission()
			}
			switch {
			case errors.Is(err, syscall.ECONNREFUSED):
				// The peer's port is closed for now: its idle
				// timeout decides, not one ICMP message.
				continue
			case errors.Is(err, os.ErrDeadlineExceeded):
				// Dial's ctx was cancelled just as the
				// handshake completed: the connection stands.
				d.uc.SetReadDeadline(time.Time{})
				continue
			}
			return // net.ErrClosed after Close; anything else is fatal to the socket
		}
		if p == nil {
			// Every slot is held (the reader of ReadPacket lags):
			// drop; SRT retransmits.
			c.st.queueDrop.Add(1)
			continue
		}
		p.setLen(n)
		if !c.enqueue(p) {
			p.Decommission()
		}
	}
}

// handshakePacket appends a handshake control packet carrying hs to dst.
func (d *dialer) handshakePacket(dst []byte, hs *wire.Handshake) ([]byte, error) {
	h := wire.ControlHeader{
		Type:      wire.CtrlHandshake,
		Timestamp: uint32(time.Since(d.start) / time.Microsecond),
	}
	dst = append(dst, make([]byte, wire.HeaderSize)...)
	h.Put(dst)
	return wire.AppendHandshake(dst, hs)
}

// shutdown tells a listener that accepted a connection we refuse.
func (d *dialer) shutdown(peerID uint32) {
	var b [wire.ShortControlSize]byte
	n := wire.PutShutdown(b[:], uint32(time.Since(d.start)/time.Microsecond), peerID)
	d.uc.Write(b[:n])
}
