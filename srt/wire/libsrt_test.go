package wire

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/zcingest/zerocopy/internal/testclip"
)

// TestLibsrtCaller handshakes with a real libsrt peer (ffmpeg's SRT caller)
// using only this package on a plain UDP socket: it answers the induction,
// parses libsrt's conclusion (HSREQ, KMREQ, SID with its word byte order),
// unwraps libsrt's key material with the passphrase (and fails with a
// wrong one), accepts, and decrypts libsrt's first data packets to MPEG-TS.
func TestLibsrtCaller(t *testing.T) {
	testclip.NeedFFmpeg(t)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	const (
		pass     = "libsrt-passphrase"
		streamID = "#!::r=live/cam1,m=publish" // 25 bytes: a partial last word
	)
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "srt://" + pc.LocalAddr().String() + "?mode=caller&latency=200000&pbkeylen=24&passphrase=" + pass + "&streamid=" + streamID
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25",
		"-t", "15", "-c:v", "mpeg2video", "-f", "mpegts", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	pc.SetDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 2048)
	read := func() (ControlHeader, []byte, *net.UDPAddr) {
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				t.Fatal(err)
			}
			if IsControl(buf[:n]) {
				h, cif, err := ParseControlHeader(buf[:n])
				if err != nil {
					t.Fatal(err)
				}
				return h, cif, from
			}
			return ControlHeader{Type: 0xFFFF}, buf[:n], from
		}
	}
	const ourID, cookie = 0x1234567, 0x7A7A7A7A
	// Induction.
	h, cif, from := read()
	var hs Handshake
	if err := ParseHandshake(cif, &hs); err != nil || h.Type != CtrlHandshake || hs.Type != HSInduction || hs.Version != HSVersion4 {
		t.Fatalf("induction %+v %+v %v", h, hs, err)
	}
	peerID := hs.SocketID
	rsp := Handshake{Version: HSVersion5, Extension: HandshakeMagic, InitialSeq: hs.InitialSeq, MTU: MTU, FlowWindow: 8192,
		Type: HSInduction, SocketID: ourID, SynCookie: cookie}
	rsp.SetPeerIP(from.AddrPort().Addr())
	out, err := AppendHandshakePacket(nil, &ControlHeader{DestSocket: peerID}, &rsp)
	if err != nil {
		t.Fatal(err)
	}
	pc.WriteToUDP(out, from)
	// Conclusion (libsrt repeats the induction until it has our answer).
	for hs.Type != HSConclusion {
		h, cif, _ = read()
		if h.Type != CtrlHandshake {
			continue
		}
		if err := ParseHandshake(cif, &hs); err != nil {
			t.Fatalf("libsrt handshake: %v", err)
		}
	}
	if hs.Version != HSVersion5 || hs.SynCookie != cookie || hs.StreamID != streamID || hs.SRTCmd != ExtHSREQ || hs.KMCmd != ExtKMREQ ||
		hs.Encryption != EncryptionField(24) || hs.SRT.Flags&(FlagTSBPDSND|FlagTSBPDRCV|FlagCrypt|FlagRexmitFlag) != FlagTSBPDSND|FlagTSBPDRCV|FlagCrypt|FlagRexmitFlag ||
		hs.SRT.Flags&FlagStream != 0 || hs.SRT.RecvDelay != 200 || hs.SRT.SendDelay != 200 || hs.SRT.Version < 0x010400 {
		t.Fatalf("libsrt conclusion %+v", hs)
	}
	km, err := ParseKM(hs.KM)
	if err != nil || km.KeyLen != 24 {
		t.Fatalf("libsrt KM %+v %v", km, err)
	}
	if _, err := km.Unwrap("not-the-passphrase"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	c, err := km.Unwrap(pass)
	if err != nil {
		t.Fatal(err)
	}
	kmCopy := bytes.Clone(hs.KM)
	acc := Handshake{Version: HSVersion5, Encryption: hs.Encryption, InitialSeq: hs.InitialSeq, MTU: MTU, FlowWindow: 8192,
		Type: HSConclusion, SocketID: ourID, SynCookie: cookie,
		SRTCmd: ExtHSRSP, SRT: SRTExtension{Version: 0x010501, Flags: FlagTSBPDSND | FlagTSBPDRCV | FlagCrypt | FlagTLPktDrop | FlagPeriodicNAK | FlagRexmitFlag,
			RecvDelay: 200, SendDelay: 200},
		KMCmd: ExtKMRSP, KM: kmCopy}
	acc.SetPeerIP(from.AddrPort().Addr())
	if out, err = AppendHandshakePacket(out[:0], &ControlHeader{DestSocket: peerID}, &acc); err != nil {
		t.Fatal(err)
	}
	pc.WriteToUDP(out, from)
	// Data: decrypt the first few packets to MPEG-TS.
	for got := 0; got < 5; {
		h, b, _ := read()
		if h.Type == CtrlHandshake {
			pc.WriteToUDP(out, from) // a repeated conclusion: answer again
			continue
		}
		if h.Type != 0xFFFF {
			continue
		}
		d, err := ParseDataHeader(b)
		if err != nil || d.DestSocket != ourID || d.Key == KeyNone {
			t.Fatalf("data %+v %v", d, err)
		}
		if SeqDiff(hs.InitialSeq, d.Seq) < 0 {
			t.Fatalf("seq %d before initial %d", d.Seq, hs.InitialSeq)
		}
		p := b[HeaderSize:]
		if len(p)%188 != 0 || len(p) == 0 {
			t.Fatalf("payload of %d bytes", len(p))
		}
		if err := c.Decrypt(p, d.Key, d.Seq); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(p); i += 188 {
			if p[i] != 0x47 {
				t.Fatalf("packet seq %d: no TS sync byte at %d after decryption", d.Seq, i)
			}
		}
		got++
	}
}

// TestLibsrtRejection: libsrt reads our rejection handshake types as the
// reasons we meant (1000 + reason). gosrt writes REJX_FORBIDDEN as 1403,
// which libsrt 1.5 reports as "Unknown or erroneous"; 2403 is the
// application-defined reason 1403.
func TestLibsrtRejection(t *testing.T) {
	testclip.NeedFFmpeg(t)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ  HandshakeType
		want string
	}{
		{RejBadSecret.HandshakeType(), "Incorrect passphrase"},
		{RejXForbidden.HandshakeType(), "Application-defined rejection reason"},
		{HandshakeType(RejXForbidden), "Unknown or erroneous"}, // what gosrt sends
	} {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var stderr bytes.Buffer
		// libsrt logs the reason at debug level only.
		cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "debug", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25",
			"-t", "1", "-f", "mpegts", "srt://"+pc.LocalAddr().String()+"?mode=caller&streamid=x")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			pc.Close() // ends the read loop
			close(done)
		}()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				break
			}
			_, cif, err := ParseControlHeader(buf[:n])
			var hs Handshake
			if err != nil || ParseHandshake(cif, &hs) != nil {
				continue
			}
			rsp := Handshake{Version: HSVersion5, Extension: HandshakeMagic, InitialSeq: hs.InitialSeq, MTU: MTU, FlowWindow: 8192,
				Type: HSInduction, SocketID: 5, SynCookie: 9}
			if hs.Type == HSConclusion {
				rsp = Handshake{Version: HSVersion5, Type: c.typ, SocketID: 5, SynCookie: 9}
			}
			out, _ := AppendHandshakePacket(nil, &ControlHeader{DestSocket: hs.SocketID}, &rsp)
			pc.WriteToUDP(out, from)
		}
		<-done
		cancel()
		if !bytes.Contains(stderr.Bytes(), []byte("REJECT reported from HS processing: "+c.want)) {
			t.Errorf("handshake type %d: libsrt did not report %q", c.typ, c.want)
		}
	}
}
