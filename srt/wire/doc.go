// Package wire is SRT's wire format: data and control packet headers, the
// handshake CIF with its HSv5 extensions, the ACK/ACKACK/NAK/keepalive/
// shutdown/dropreq control packets, 31-bit sequence arithmetic, rejection
// reasons and the crypto of encrypted streams (the key material message,
// PBKDF2 key derivation, RFC 3394 key wrap and AES-CTR payload encryption).
//
// It holds no state and does no I/O: srt/transport reads datagrams into its
// own packet slots and calls these functions on them. Parsers never panic on
// peer input and return errors wrapping ErrMalformed (or a *limit.LimitError
// for a named limit); the hot-path calls (data header parse, sequence
// arithmetic, payload decryption) allocate nothing.
//
// Key refresh travels in a user-defined control packet: AppendControl with
// ControlHeader{Type: CtrlUser, Subtype: SubtypeKMREQ or SubtypeKMRSP} and
// the KM message (AppendKM, ParseKM) as its CIF.
//
// Byte order is network order throughout. The reference is the SRT Internet
// draft (draft-sharabayko-srt) and libsrt 1.5's behaviour where they differ.
package wire
