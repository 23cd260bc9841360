package transport

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/zcingest/zerocopy/srt/wire"
)

// Errors of Request.Accept.
var (
	// ErrDecided: Accept or Reject was already called for the request.
	ErrDecided = errors.New("srt: handshake request already decided")
	// ErrHandshakeTimeout: the request waited longer than HandshakeTimeout;
	// the caller has given up on it.
	ErrHandshakeTimeout = errors.New("srt: handshake request timed out")
	// ErrNoPassphrase: the caller encrypts and no passphrase unwrapped its
	// key (SetPassphrase was not called or failed); Accept rejects it with
	// RejUnsecure.
	ErrNoPassphrase = errors.New("srt: caller encrypts and no passphrase unwraps its key")
)

// reqKey names one caller's connection attempt: its address and socket ID.
type reqKey struct {
	from netip.AddrPort
	id   uint32
}

// Request is a caller's conclusion handshake waiting for a decision: Accept
// or Reject, from any goroutine, within the listener's HandshakeTimeout.
type Request struct {
	l       *Listener
	key     reqKey
	hs      wire.Handshake // KM copied out of the datagram
	created time.Time

	// Guarded by l.hsMu.
	decided bool
	answer  []byte // the datagram sent, resent on a retransmitted conclusion
	cipher  *wire.Cipher
	pass    string
}

// RemoteAddr returns the caller's address.
func (r *Request) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(r.key.from) }

// Version returns the caller's handshake version (5: only HSv5 callers
// reach Accept).
func (r *Request) Version() uint32 { return r.hs.Version }

// StreamID returns the caller's streamid ("" when it sent none).
func (r *Request) StreamID() string { return r.hs.StreamID }

// IsEncrypted reports whether the caller sent key material (it encrypts and
// needs SetPassphrase before Accept).
func (r *Request) IsEncrypted() bool { return r.hs.KMCmd == wire.ExtKMREQ && len(r.hs.KM) > 0 }

// SetPassphrase unwraps the caller's key with passphrase. An error (wrapping
// wire.ErrWrongPassphrase when the passphrase is wrong) leaves the request
// undecided: Reject it, typically with wire.RejBadSecret.
func (r *Request) SetPassphrase(passphrase string) error {
	if !r.IsEncrypted() {
		return errors.New("srt: caller does not encrypt")
	}
	km, err := wire.ParseKM(r.hs.KM)
	if err != nil {
		return fmt.Errorf("srt caller key material: %w", err)
	}
	c, err := km.Unwrap(passphrase)
	if err != nil {
		return fmt.Errorf("srt caller key material: %w", err)
	}
	r.l.hsMu.Lock()
	r.cipher, r.pass = c, passphrase
	r.l.hsMu.Unlock()
	return nil
}

// Accept answers the caller's conclusion, registers the connection and
// returns it. An encrypted request needs a successful SetPassphrase first;
// without one it is rejected with RejUnsecure (libsrt's answer when only
// the caller has a passphrase) and ErrNoPassphrase returned.
func (r *Request) Accept() (*Conn, error) {
	l := r.l
	l.hsMu.Lock()
	defer l.hsMu.Unlock()
	if r.decided {
		return nil, ErrDecided
	}
	if time.Since(r.created) >= l.cfg.HandshakeTimeout {
		r.decided = true
		return nil, ErrHandshakeTimeout
	}
	if r.IsEncrypted() && r.cipher == nil {
		r.rejectLocked(wire.RejUnsecure)
		return nil, ErrNoPassphrase
	}
	// The peer's latency counts up to MaxLatency: beyond it a lost
	// packet would stall the stream that long before it is skipped.
	lat := max(l.cfg.Latency, min(max(time.Duration(r.hs.SRT.RecvDelay), time.Duration(r.hs.SRT.SendDelay))*time.Millisecond, MaxLatency))
	p := connParams{
		PeerID:          r.hs.SocketID,
		Peer:            r.key.from,
		ISN:             r.hs.InitialSeq & wire.SeqMask,
		Latency:         lat,
		PeerIdleTimeout: l.cfg.PeerIdleTimeout,
		Cipher:          r.cipher,
		Passphrase:      r.pass,
		StreamID:        r.hs.StreamID,
		Start:           time.Now(),
		Pool:            l.pool,
		Log:             l.log,
	}
	c, ok := l.register(&p)
	if !ok {
		r.decided = true
		return nil, net.ErrClosed
	}
	resp := r.hs
	resp.Version = wire.HSVersion5
	resp.Type = wire.HSConclusion
	resp.SocketID = p.LocalID
	resp.SynCookie = 0
	resp.MTU = min(max(resp.MTU, 576), maxMTU)
	resp.FlowWindow = min(max(resp.FlowWindow, 32), FlowWindow)
	resp.SetPeerIP(r.key.from.Addr())
	ms := uint16(min(lat/time.Millisecond, 0xFFFF))
	resp.SRTCmd = wire.ExtHSRSP
	resp.SRT = wire.SRTExtension{
		Version: srtVersion,
		Flags:   wire.FlagTSBPDSND | wire.FlagTSBPDRCV | wire.FlagTLPktDrop | wire.FlagPeriodicNAK | wire.FlagRexmitFlag,
		// Our receiver latency, and the latency our sender assumes the
		// peer uses: both the larger of the two sides' values.
		RecvDelay: ms,
		SendDelay: ms,
	}
	resp.StreamID = ""
	if r.cipher != nil {
		resp.SRT.Flags |= wire.FlagCrypt
		resp.KMCmd = wire.ExtKMRSP // echoes the caller's key material
	} else {
		resp.KMCmd, resp.KM = 0, nil
	}
	r.answer = l.sendHandshakeTo(&resp, r.hs.SocketID, r.key.from)
	r.decided = true
	l.st.accepted.Add(1)
	l.log.Debug("srt conn accepted", "socket", p.LocalID, "peer", r.key.from, "latency", lat, "encrypted", r.cipher != nil)
	return c, nil
}

// Reject refuses the caller with reason (sent as handshake type 1000 +
// reason). It does nothing when the request was already decided.
func (r *Request) Reject(reason wire.RejectReason) {
	r.l.hsMu.Lock()
	defer r.l.hsMu.Unlock()
	if !r.decided {
		r.rejectLocked(reason)
	}
}

func (r *Request) rejectLocked(reason wire.RejectReason) {
	r.answer = r.l.rejectAnswer(&r.hs, r.key.from, reason)
	r.decided = true
}

// rejectAnswer sends a rejection of hs and returns the datagram sent.
// Called with hsMu held.
func (l *Listener) rejectAnswer(hs *wire.Handshake, from netip.AddrPort, reason wire.RejectReason) []byte {
	resp := *hs
	resp.Type = reason.HandshakeType()
	resp.SRTCmd, resp.KMCmd, resp.KM, resp.StreamID = 0, 0, nil, ""
	resp.SetPeerIP(from.Addr())
	l.st.rejected.Add(1)
	l.log.Debug("srt caller rejected", "peer", from, "reason", reason)
	return l.sendHandshakeTo(&resp, hs.SocketID, from)
}

// sendHandshakeTo builds the handshake datagram for hs (to socket dest) and
// sends it to to; it returns the datagram, kept to answer a retransmitted
// conclusion again. Called with hsMu held.
func (l *Listener) sendHandshakeTo(hs *wire.Handshake, dest uint32, to netip.AddrPort) []byte {
	h := wire.ControlHeader{Type: wire.CtrlHandshake, Timestamp: uint32(time.Since(l.start) / time.Microsecond), DestSocket: dest}
	b := make([]byte, wire.HeaderSize, wire.HeaderSize+wire.HandshakeCIFSize+64+len(hs.KM))
	h.Put(b)
	b, err := wire.AppendHandshake(b, hs)
	if err != nil {
		return nil
	}
	_, _ = l.sock.WriteToUDPAddrPort(b, to)
	return b
}

// cookie returns the SYN cookie of a caller for time step t: a keyed hash
// of its address, so that the listener keeps no state for an induction.
func (l *Listener) cookie(from netip.AddrPort, t int64) uint32 {
	var in [cookieSecretSize + 16 + 2 + 8]byte
	copy(in[:], l.secret[:])
	a := from.Addr().As16()
	copy(in[cookieSecretSize:], a[:])
	binary.BigEndian.PutUint16(in[cookieSecretSize+16:], from.Port())
	binary.BigEndian.PutUint64(in[cookieSecretSize+18:], uint64(t))
	sum := sha256.Sum256(in[:])
	return binary.BigEndian.Uint32(sum[:])
}

func (l *Listener) cookieStep() int64 { return time.Now().UnixNano() / int64(cookiePeriod) }

// validCookie accepts the cookie of the current or the previous time step.
func (l *Listener) validCookie(from netip.AddrPort, c uint32) bool {
	t := l.cookieStep()
	return c == l.cookie(from, t) || c == l.cookie(from, t-1)
}

// handshake answers one handshake datagram sent to socket 0 (reader
// goroutine). b is the whole datagram, valid during the call only.
func (l *Listener) handshake(b []byte, from netip.AddrPort) {
	h, cif, err := wire.ParseControlHeader(b)
	if err != nil || h.Type != wire.CtrlHandshake {
		l.st.unknown.Add(1)
		return
	}
	l.st.handshakes.Add(1)
	var hs wire.Handshake
	if err := wire.ParseHandshake(cif, &hs); err != nil {
		l.st.malformed.Add(1)
		return
	}
	switch hs.Type {
	case wire.HSInduction:
		resp := hs
		resp.Version = wire.HSVersion5
		resp.Encryption = 0
		resp.Extension = wire.HandshakeMagic
		resp.SynCookie = l.cookie(from, l.cookieStep())
		resp.SetPeerIP(from.Addr())
		resp.SRTCmd, resp.KMCmd, resp.KM, resp.StreamID = 0, 0, nil, ""
		l.hsMu.Lock()
		l.sendHandshakeTo(&resp, hs.SocketID, from)
		l.hsMu.Unlock()
	case wire.HSConclusion:
		l.conclusion(&hs, from)
	}
}

// conclusion handles a caller's conclusion: a new one becomes a Request for
// Accept, a retransmitted one is ignored (undecided) or answered again.
func (l *Listener) conclusion(hs *wire.Handshake, from netip.AddrPort) {
	l.hsMu.Lock()
	defer l.hsMu.Unlock()
	key := reqKey{from, hs.SocketID}
	if r := l.reqs[key]; r != nil {
		if r.decided && r.answer != nil {
			_, _ = l.sock.WriteToUDPAddrPort(r.answer, from)
		}
		return
	}
	if !l.validCookie(from, hs.SynCookie) {
		l.rejectAnswer(hs, from, wire.RejRogue)
		return
	}
	now := time.Now()
	l.sweep(now)
	var reason wire.RejectReason
	switch {
	case hs.Version != wire.HSVersion5:
		reason = wire.RejVersion
	case hs.SRTCmd != wire.ExtHSREQ:
		reason = wire.RejRogue
	case hs.SRT.Flags&wire.FlagStream != 0:
		reason = wire.RejMessageAPI
	case hs.MTU > maxMTU:
		reason = wire.RejRogue
	case len(l.reqs) >= MaxPendingRequests:
		reason = wire.RejXOverload
	}
	if reason != 0 {
		l.rejectAnswer(hs, from, reason)
		return
	}
	r := &Request{l: l, key: key, hs: *hs, created: now}
	// The key material aliases the datagram, which goes back to the pool.
	r.hs.KM = append([]byte(nil), hs.KM...)
	l.reqs[key] = r
	select {
	case l.acceptQ <- r:
	default:
		r.rejectLocked(wire.RejXOverload)
	}
}

// sweep forgets requests older than HandshakeTimeout: undecided ones are
// dropped unanswered, decided ones stop being answered again. Called with
// hsMu held.
func (l *Listener) sweep(now time.Time) {
	for k, r := range l.reqs {
		if now.Sub(r.created) >= l.cfg.HandshakeTimeout {
			r.decided = true
			delete(l.reqs, k)
		}
	}
}
