package wire

import "strconv"

// RejectReason is why a handshake was refused, with libsrt's numbers
// (SRT_REJ_* 0-17, SRT_REJX_* 1000 + an HTTP-like status). On the wire a
// rejection's handshake type is 1000 + the reason (see HandshakeType), so
// RejBadSecret (10) travels as 1010 and RejXBadRequest (1400) as 2400.
//
// gosrt's REJ_* constants are the handshake types (its REJ_BADSECRET is
// 1010 = 1000 + RejBadSecret), while its REJX_* constants are the reasons
// (REJX_BAD_REQUEST is 1400 = RejXBadRequest) but gosrt also sends them
// as the handshake type, which libsrt peers decode as SRT_REJ_UNKNOWN.
type RejectReason uint32

// libsrt's SRT_REJ_* reasons.
const (
	RejUnknown    RejectReason = 0  // unknown reason
	RejSystem     RejectReason = 1  // system function error
	RejPeer       RejectReason = 2  // rejected by peer
	RejResource   RejectReason = 3  // resource allocation problem
	RejRogue      RejectReason = 4  // incorrect data in handshake
	RejBacklog    RejectReason = 5  // listener's backlog exceeded
	RejIPE        RejectReason = 6  // internal program error
	RejClose      RejectReason = 7  // socket is closing
	RejVersion    RejectReason = 8  // peer is older than the agent's minimum version
	RejRdvCookie  RejectReason = 9  // rendezvous cookie collision
	RejBadSecret  RejectReason = 10 // wrong passphrase
	RejUnsecure   RejectReason = 11 // passphrase required or unexpected
	RejMessageAPI RejectReason = 12 // stream flag collision
	RejCongestion RejectReason = 13 // incompatible congestion controller
	RejFilter     RejectReason = 14 // incompatible packet filter
	RejGroup      RejectReason = 15 // incompatible group
	RejTimeout    RejectReason = 16 // connection timeout
	RejCrypto     RejectReason = 17 // incompatible cryptographic mode (libsrt 1.5.2)
)

// rejESize is libsrt's SRT_REJ_E_SIZE: reasons from here to rejXBase are
// undefined and read as RejUnknown.
const rejESize = 18

// rejXBase is libsrt's SRT_REJC_PREDEFINED: the SRT_REJX_* reasons (the
// access control convention's HTTP-like codes) are rejXBase + status.
const rejXBase = 1000

// libsrt's SRT_REJX_* reasons (access control convention).
const (
	RejXBadRequest    RejectReason = 1400 // malformed streamid, or a fallback
	RejXUnauthorized  RejectReason = 1401 // authentication failed
	RejXOverload      RejectReason = 1402 // server too heavily loaded
	RejXForbidden     RejectReason = 1403 // access denied
	RejXNotFound      RejectReason = 1404 // resource not found
	RejXBadMode       RejectReason = 1405 // mode ("m" key) not supported
	RejXUnacceptable  RejectReason = 1406 // parameters cannot be satisfied
	RejXConflict      RejectReason = 1407 // resource already locked for publishing
	RejXNotSupMedia   RejectReason = 1415 // media type not supported
	RejXLocked        RejectReason = 1423 // resource locked for any access
	RejXFailedDepend  RejectReason = 1424 // dependent session gone
	RejXISE           RejectReason = 1500 // internal server error
	RejXUnimplemented RejectReason = 1501 // not supported by this version
	RejXGateway       RejectReason = 1502 // upstream refused
	RejXDown          RejectReason = 1503 // service down
	RejXVersion       RejectReason = 1505 // SRT version not supported
	RejXNoRoom        RejectReason = 1507 // no storage space
)

// HandshakeType returns the handshake type that carries r: 1000 + r.
func (r RejectReason) HandshakeType() HandshakeType {
	return HandshakeType(rejectBase + uint32(r))
}

var rejectNames = [...]string{
	RejUnknown:    "unknown",
	RejSystem:     "system",
	RejPeer:       "peer",
	RejResource:   "resource",
	RejRogue:      "rogue",
	RejBacklog:    "backlog",
	RejIPE:        "internal error",
	RejClose:      "close",
	RejVersion:    "version",
	RejRdvCookie:  "rendezvous cookie",
	RejBadSecret:  "bad secret",
	RejUnsecure:   "unsecure",
	RejMessageAPI: "message api",
	RejCongestion: "congestion",
	RejFilter:     "filter",
	RejGroup:      "group",
	RejTimeout:    "timeout",
	RejCrypto:     "crypto",
}

var rejectXNames = map[RejectReason]string{
	RejXBadRequest:    "bad request",
	RejXUnauthorized:  "unauthorized",
	RejXOverload:      "overload",
	RejXForbidden:     "forbidden",
	RejXNotFound:      "not found",
	RejXBadMode:       "bad mode",
	RejXUnacceptable:  "unacceptable",
	RejXConflict:      "conflict",
	RejXNotSupMedia:   "media not supported",
	RejXLocked:        "locked",
	RejXFailedDepend:  "failed dependency",
	RejXISE:           "internal server error",
	RejXUnimplemented: "unimplemented",
	RejXGateway:       "gateway",
	RejXDown:          "down",
	RejXVersion:       "version",
	RejXNoRoom:        "no room",
}

// String returns a short lower-case name with the number, e.g.
// "bad secret (10)" or "forbidden (1403)".
func (r RejectReason) String() string {
	n := ""
	if int(r) < len(rejectNames) {
		n = rejectNames[r]
	} else if s, ok := rejectXNames[r]; ok {
		n = s
	} else if r >= 2*rejXBase {
		n = "user-defined"
	} else {
		n = "undefined"
	}
	return n + " (" + strconv.FormatUint(uint64(r), 10) + ")"
}
