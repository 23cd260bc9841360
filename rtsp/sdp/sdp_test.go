package sdp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zcingest/zerocopy/limit"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseFFmpegAnnounce parses the body ffmpeg 5.1 sent with ANNOUNCE
// (captured with `ffmpeg ... -c:v libx264 -c:a aac -f rtsp`), including its
// "; " separators in fmtp.
func TestParseFFmpegAnnounce(t *testing.T) {
	s, err := Parse(readFixture(t, "ffmpeg-h264-aac.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin != "- 0 0 IN IP4 127.0.0.1" || s.Name != "No Name" || s.Connection != "IN IP4 127.0.0.1" || s.Timing != "0 0" || s.Control != "" {
		t.Errorf("session fields: %+v", s)
	}
	if v, _ := s.Attr("tool"); v != "libavformat LIBAVFORMAT_VERSION" {
		t.Errorf("tool = %q", v)
	}
	if len(s.Medias) != 2 {
		t.Fatalf("medias = %d", len(s.Medias))
	}
	v, a := s.Medias[0], s.Medias[1]
	if v.Type != "video" || v.Port != 0 || v.Proto != "RTP/AVP" || !reflect.DeepEqual(v.Formats, []int{96}) || v.Control != "streamid=0" {
		t.Errorf("video: %+v", v)
	}
	if v.RTPMap[96] != (RTPMap{"H264", 90000, 0}) {
		t.Errorf("video rtpmap: %+v", v.RTPMap)
	}
	want := map[string]string{
		"packetization-mode":   "1",
		"sprop-parameter-sets": "Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA",
		"profile-level-id":     "64000D",
	}
	if !reflect.DeepEqual(v.FMTP[96], want) {
		t.Errorf("video fmtp: %v", v.FMTP[96])
	}
	sps, pps, err := H264ParamSets(v.FMTP[96])
	if err != nil || len(sps) != 1 || len(pps) != 1 || sps[0][0] != 0x67 || pps[0][0] != 0x68 {
		t.Errorf("H264ParamSets: %x %x %v", sps, pps, err)
	}
	if !bytes.Equal(sps[0], mustB64(t, "Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==")) {
		t.Errorf("sps = %x", sps[0])
	}
	if m, err := H264PacketizationMode(v.FMTP[96]); m != 1 || err != nil {
		t.Errorf("packetization-mode = %d, %v", m, err)
	}
	if a.Type != "audio" || a.Control != "streamid=1" || !reflect.DeepEqual(a.Bandwidth, []string{"AS:69"}) {
		t.Errorf("audio: %+v", a)
	}
	if a.RTPMap[97] != (RTPMap{"MPEG4-GENERIC", 44100, 1}) {
		t.Errorf("audio rtpmap: %+v", a.RTPMap)
	}
	asc, sl, il, dl, err := AACConfig(a.FMTP[97])
	if err != nil || !bytes.Equal(asc, []byte{0x12, 0x08, 0x56, 0xe5, 0x00}) || sl != 13 || il != 3 || dl != 3 {
		t.Errorf("AACConfig = %x %d %d %d %v", asc, sl, il, dl, err)
	}
}

func TestParseFFmpegH265(t *testing.T) {
	s, err := Parse(readFixture(t, "ffmpeg-h265-aac.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Medias[0]
	if v.RTPMap[96].Encoding != "H265" {
		t.Fatalf("rtpmap %+v", v.RTPMap)
	}
	vps, sps, pps, err := H265ParamSets(v.FMTP[96])
	if err != nil || len(vps) != 1 || len(sps) != 1 || len(pps) != 1 {
		t.Fatalf("H265ParamSets: %d %d %d %v", len(vps), len(sps), len(pps), err)
	}
	if vps[0][0] != 0x40 || sps[0][0] != 0x42 || pps[0][0] != 0x44 {
		t.Errorf("NAL headers %x %x %x", vps[0][:2], sps[0][:2], pps[0][:2])
	}
	if d, err := H265MaxDONDiff(v.FMTP[96]); d != 0 || err != nil {
		t.Errorf("max-don-diff %d %v", d, err)
	}
	if s.Medias[1].RTPMap[97] != (RTPMap{"MPEG4-GENERIC", 48000, 2}) {
		t.Errorf("audio rtpmap %+v", s.Medias[1].RTPMap)
	}
}

// TestParseGStreamer covers the shape gst-rtsp-server answers DESCRIBE
// with: absolute session and media controls, a=range, media-level c= and
// b=, fmtp without spaces. (Written by hand in that shape: the python
// bindings of gst-rtsp-server are not installed on this machine.)
func TestParseGStreamer(t *testing.T) {
	s, err := Parse(readFixture(t, "gstreamer-h264-aac.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Control != "rtsp://127.0.0.1:8554/test" || s.Range != "npt=now-" || s.Name != "Session streamed with GStreamer" {
		t.Errorf("session: %+v", s)
	}
	v := s.Medias[0]
	if v.Connection != "IN IP4 0.0.0.0" || v.Control != "rtsp://127.0.0.1:8554/test/stream=0" {
		t.Errorf("video: %+v", v)
	}
	if got := ControlURL(ControlURL("rtsp://127.0.0.1:8554/test", s.Control), v.Control); got != "rtsp://127.0.0.1:8554/test/stream=0" {
		t.Errorf("control url %q", got)
	}
	if fr, _ := v.Attr("framerate"); fr != "30" {
		t.Errorf("framerate %q", fr)
	}
	if _, ok := v.Attr("nope"); ok {
		t.Error("Attr found a missing key")
	}
	sps, pps, err := H264ParamSets(v.FMTP[96])
	if err != nil || len(sps) != 1 || len(pps) != 1 {
		t.Errorf("param sets %x %x %v", sps, pps, err)
	}
	asc, _, _, _, err := AACConfig(s.Medias[1].FMTP[97])
	if err != nil || !bytes.Equal(asc, []byte{0x11, 0x90}) {
		t.Errorf("asc %x %v", asc, err)
	}
}

// TestParseCamera covers an IP camera's answer: bare LF, lower-case
// encoding name, absolute controls with a query, a static payload type
// without rtpmap, an ONVIF metadata track, vendor attributes whose value
// holds ':' and '='.
func TestParseCamera(t *testing.T) {
	s, err := Parse(readFixture(t, "camera-hikvision-style.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Medias) != 3 || !reflect.DeepEqual(s.Bandwidth, []string{"AS:5050"}) {
		t.Fatalf("%+v", s)
	}
	v, a, m := s.Medias[0], s.Medias[1], s.Medias[2]
	if v.RTPMap[96].Encoding != "H264" {
		t.Errorf("encoding not upper-cased: %+v", v.RTPMap)
	}
	if v.Control != "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast" {
		t.Errorf("control %q", v.Control)
	}
	if got := ControlURL("rtsp://192.168.1.64/x", v.Control); got != v.Control {
		t.Errorf("absolute control resolved to %q", got)
	}
	if mh, _ := v.Attr("Media_header"); !strings.HasPrefix(mh, "MEDIAINFO=494D") {
		t.Errorf("Media_header %q", mh)
	}
	if _, ok := v.Attr("recvonly"); !ok {
		t.Error("recvonly lost")
	}
	if sps, pps, err := H264ParamSets(v.FMTP[96]); err != nil || len(sps) != 1 || len(pps) != 1 {
		t.Errorf("param sets %x %x %v", sps, pps, err)
	}
	if _, ok := a.RTPMap[8]; ok {
		t.Error("rtpmap invented")
	}
	if r, ok := a.Encoding(8); !ok || r != (RTPMap{"PCMA", 8000, 1}) {
		t.Errorf("static PT 8: %+v %v", r, ok)
	}
	if _, ok := a.Encoding(100); ok {
		t.Error("dynamic PT without rtpmap resolved")
	}
	if m.Type != "application" || m.RTPMap[107].Encoding != "VND.ONVIF.METADATA" {
		t.Errorf("metadata %+v", m)
	}
}

func TestControlURL(t *testing.T) {
	for _, tc := range []struct{ base, control, want string }{
		{"rtsp://h/live/x", "", "rtsp://h/live/x"},
		{"rtsp://h/live/x", "*", "rtsp://h/live/x"},
		{"rtsp://h/live/x", "streamid=0", "rtsp://h/live/x/streamid=0"},
		{"rtsp://h/live/x/", "trackID=1", "rtsp://h/live/x/trackID=1"},
		{"rtsp://h/live/x", "RTSP://o/t", "RTSP://o/t"},
		{"rtsp://h/live/x", "rtsps://o/t", "rtsps://o/t"},
		// What ffmpeg and gortsplib do with a query in the base.
		{"rtsp://h/s?a=1", "trackID=1", "rtsp://h/s?a=1/trackID=1"},
	} {
		if got := ControlURL(tc.base, tc.control); got != tc.want {
			t.Errorf("ControlURL(%q, %q) = %q, want %q", tc.base, tc.control, got, tc.want)
		}
	}
}

// hostile are descriptions a peer may send to hurt us; each must be
// rejected with the named limit (or a syntax error when name is "").
var hostile = []struct {
	name  string
	sdp   string
	limit string
}{
	// The fixture: 10,000 m= lines. The size limit fires first.
	{"10000 medias", "v=0\r\n" + strings.Repeat("m=video 0 RTP/AVP 96\r\n", 10000), "MaxSDPSize"},
	// Small enough for the size limit: the media count fires.
	{"2000 medias", "v=0\n" + strings.Repeat("m=audio 0 RTP/AVP 0\n", 2000), "MaxMedias"},
	{"17 medias", "v=0\n" + strings.Repeat("m=audio 0 RTP/AVP 0\n", 17), "MaxMedias"},
	{"long line", "v=0\na=x:" + strings.Repeat("A", MaxLineLength) + "\n", "MaxLineLength"},
	{"session attrs", "v=0\n" + strings.Repeat("a=x\n", MaxAttributes+1), "MaxAttributes"},
	{"media attrs", "v=0\nm=video 0 RTP/AVP 96\n" + strings.Repeat("a=rtpmap:96 H264/90000\n", MaxAttributes+1), "MaxAttributes"},
	{"bandwidths", "v=0\nm=video 0 RTP/AVP 96\n" + strings.Repeat("b=AS:1\n", MaxAttributes+1), "MaxAttributes"},
	{"formats", "v=0\nm=video 0 RTP/AVP" + strings.Repeat(" 96", MaxFormats+1) + "\n", "MaxFormats"},
	{"fmtp params", "v=0\nm=video 0 RTP/AVP 96\na=fmtp:96 " + strings.Repeat("a=1;", MaxFMTPParams+1) + "\n", "MaxFMTPParams"},
	{"empty", "", ""},
	{"blank only", "\r\n\r\n", ""},
	{"no v first", "o=- 0 0 IN IP4 0.0.0.0\nv=0\n", ""},
	{"version 1", "v=1\n", ""},
	{"two versions", "v=0\nv=0\n", ""},
	{"not type=value", "v=0\nhello\n", ""},
	{"m= without port", "v=0\nm=video\n", ""},
	{"m= without proto", "v=0\nm=video 0\n", ""},
	{"m= bad port", "v=0\nm=video 70000 RTP/AVP 96\n", ""},
	{"m= negative port", "v=0\nm=video -1 RTP/AVP 96\n", ""},
	{"m= bad pt", "v=0\nm=video 0 RTP/AVP 128\n", ""},
	{"m= word pt", "v=0\nm=video 0 RTP/AVP h264\n", ""},
	{"rtpmap no clock", "v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264\n", ""},
	{"rtpmap bad clock", "v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/0\n", ""},
	{"rtpmap bad channels", "v=0\nm=audio 0 RTP/AVP 96\na=rtpmap:96 opus/48000/0\n", ""},
	{"rtpmap bad pt", "v=0\nm=video 0 RTP/AVP 96\na=rtpmap:x H264/90000\n", ""},
	{"CR inside line", "v=0\nm=0 0 \r 0\n", ""},
	{"NUL inside line", "v=0\ns=a\x00b\n", ""},
	{"fmtp bad pt", "v=0\nm=video 0 RTP/AVP 96\na=fmtp:999 a=1\n", ""},
}

func TestParseHostile(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.sdp))
			if err == nil {
				t.Fatalf("accepted: %d medias", len(s.Medias))
			}
			var le *limit.LimitError
			if tc.limit == "" {
				if errors.As(err, &le) {
					t.Fatalf("want syntax error, got %v", err)
				}
				return
			}
			if !errors.As(err, &le) || le.Name != tc.limit {
				t.Fatalf("want *limit.LimitError %s, got %v", tc.limit, err)
			}
		})
	}
}

// TestParseLenient covers what real peers send that a strict parser would
// refuse.
func TestParseLenient(t *testing.T) {
	in := "\r\n  v=0  \r\n" + // leading blank line and spaces
		"m=audio 5004/2 RTP/AVP 0 101\r\n" + // port/count
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-15\r\n" + // parameter without '='
		"a=rtpmap:0 pcmu/8000\r\n" +
		"x=unknown line type\r\n" +
		"a=sendonly\r\n" +
		"m=application 9 TCP/MSRP *\r\n" + // non-RTP formats are skipped
		"m=video 0 RTP/AVP 96\r\n" +
		"a=fmtp:96  SPROP-Parameter-Sets = Z0IAKeKQFAe2AtwEBAaQeJEV , aM48gA ;PACKETIZATION-MODE=1;;\r\n" + // case, spaces, no padding
		"a=control:trackID=3" // no final newline
	s, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	a := s.Medias[0]
	if a.Port != 5004 || !reflect.DeepEqual(a.Formats, []int{0, 101}) || a.FMTP[101]["0-15"] != "" || a.RTPMap[0].Encoding != "PCMU" {
		t.Errorf("audio %+v", a)
	}
	if _, ok := a.FMTP[101]["0-15"]; !ok {
		t.Error("bare fmtp parameter lost")
	}
	if len(s.Medias[1].Formats) != 0 || s.Medias[1].Proto != "TCP/MSRP" {
		t.Errorf("msrp %+v", s.Medias[1])
	}
	v := s.Medias[2]
	if v.Control != "trackID=3" {
		t.Errorf("control %q", v.Control)
	}
	sps, pps, err := H264ParamSets(v.FMTP[96])
	if err != nil || len(sps) != 1 || len(pps) != 1 {
		t.Errorf("unpadded param sets: %x %x %v", sps, pps, err)
	}
	if m, _ := H264PacketizationMode(v.FMTP[96]); m != 1 {
		t.Errorf("packetization-mode %d", m)
	}
}

func TestFMTPHelpers(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(make([]byte, MaxParamSetSize+3))
	for _, tc := range []struct {
		name  string
		fmtp  map[string]string
		limit string // "" = syntax error
	}{
		{"param set too big", map[string]string{"sprop-parameter-sets": big}, "MaxParamSetSize"},
		{"too many param sets", map[string]string{"sprop-parameter-sets": strings.Repeat("Zw==,", MaxParamSets+1)}, "MaxParamSets"},
		{"bad base64", map[string]string{"sprop-parameter-sets": "!!!!"}, ""},
	} {
		_, _, err := H264ParamSets(tc.fmtp)
		checkErr(t, tc.name, err, tc.limit)
	}
	if sps, pps, err := H264ParamSets(map[string]string{}); sps != nil || pps != nil || err != nil {
		t.Error("absent sprop-parameter-sets is not (nil, nil, nil)")
	}
	if sps, _, _ := H264ParamSets(map[string]string{"sprop-parameter-sets": "Z0I=,BgU=,"}); len(sps) != 1 {
		t.Error("SEI not skipped")
	}
	for _, v := range []string{"3", "-1", "x"} {
		if _, err := H264PacketizationMode(map[string]string{"packetization-mode": v}); err == nil {
			t.Errorf("packetization-mode %q accepted", v)
		}
	}
	// A PPS in sprop-vps is an error.
	_, _, _, err := H265ParamSets(map[string]string{"sprop-vps": "RAHBcrRiQA=="})
	checkErr(t, "h265 wrong type", err, "")
	_, _, _, err = H265ParamSets(map[string]string{"sprop-sps": "Qg=="}) // one byte: no room for the NAL header
	checkErr(t, "h265 short", err, "")
	if _, err := H265MaxDONDiff(map[string]string{"sprop-max-don-diff": "40000"}); err == nil {
		t.Error("max-don-diff 40000 accepted")
	}
	if d, _ := H265MaxDONDiff(map[string]string{"sprop-max-don-diff": "2"}); d != 2 {
		t.Error("max-don-diff 2")
	}

	for _, tc := range []struct {
		name  string
		fmtp  map[string]string
		limit string
	}{
		{"no sizelength in generic mode", map[string]string{"mode": "generic", "config": "1210"}, ""},
		{"sizelength 17", map[string]string{"mode": "AAC-hbr", "sizelength": "17", "config": "1210"}, ""},
		{"bad hex", map[string]string{"mode": "AAC-hbr", "config": "12G0"}, ""},
		{"one byte", map[string]string{"mode": "AAC-hbr", "config": "12"}, ""},
		{"config too big", map[string]string{"mode": "AAC-hbr", "config": strings.Repeat("00", MaxAudioSpecificConfig+1)}, "MaxAudioSpecificConfig"},
	} {
		_, _, _, _, err := AACConfig(tc.fmtp)
		checkErr(t, tc.name, err, tc.limit)
	}
	if _, _, _, _, err := AACConfig(map[string]string{"mode": "AAC-hbr"}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("missing config: %v", err)
	}
	// Widths default from the mode when absent; case-insensitive mode.
	if _, sl, il, dl, err := AACConfig(map[string]string{"mode": "aac-LBR", "config": "1210"}); sl != 6 || il != 2 || dl != 2 || err != nil {
		t.Errorf("lbr defaults %d %d %d %v", sl, il, dl, err)
	}
	if _, sl, il, dl, err := AACConfig(map[string]string{"mode": "AAC-hbr", "config": "1210"}); sl != 13 || il != 3 || dl != 3 || err != nil {
		t.Errorf("hbr defaults %d %d %d %v", sl, il, dl, err)
	}
}

func checkErr(t *testing.T, name string, err error, lim string) {
	t.Helper()
	var le *limit.LimitError
	switch {
	case err == nil:
		t.Errorf("%s: accepted", name)
	case lim == "" && errors.As(err, &le):
		t.Errorf("%s: want syntax error, got %v", name, err)
	case lim != "" && (!errors.As(err, &le) || le.Name != lim):
		t.Errorf("%s: want %s, got %v", name, lim, err)
	}
}

// TestBuildAndRoundTrip builds what we answer DESCRIBE with and checks it
// parses back to the same tracks and configuration.
func TestBuildAndRoundTrip(t *testing.T) {
	sps := mustB64(t, "Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==")
	pps := mustB64(t, "aOvjyyLA")
	vps265 := mustB64(t, "QAEMAf//AWAAAAMAkAAAAwAAAwA8lZgJ")
	sps265 := mustB64(t, "QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZWaSTK8BaAgAAAwACAAADADIQ")
	pps265 := mustB64(t, "RAHBcrRiQA==")
	asc := []byte{0x12, 0x10}

	v := ForH264(96, sps, pps)
	v.Control = "trackID=0"
	h := ForH265(98, vps265, sps265, pps265)
	h.Control = "trackID=2"
	a := ForAAC(97, asc, 44100, 2)
	a.Control = "trackID=1"
	s := &Session{Control: "*", Range: "npt=now-", Medias: []Media{v, a, h}}
	out := s.Marshal(nil)
	if !bytes.Contains(out, []byte("a=fmtp:96 packetization-mode=1;profile-level-id=64000D;sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n")) {
		t.Errorf("h264 fmtp:\n%s", out)
	}
	if !bytes.HasPrefix(out, []byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=control:*\r\na=range:npt=now-\r\nm=video 0 RTP/AVP 96\r\n")) {
		t.Errorf("header:\n%s", out)
	}
	p, err := Parse(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(p.Medias, s.Medias) {
		t.Errorf("round trip:\n got %+v\nwant %+v", p.Medias, s.Medias)
	}
	gs, gp, _ := H264ParamSets(p.Medias[0].FMTP[96])
	if !bytes.Equal(gs[0], sps) || !bytes.Equal(gp[0], pps) {
		t.Error("h264 param sets")
	}
	gasc, sl, _, _, err := AACConfig(p.Medias[1].FMTP[97])
	if !bytes.Equal(gasc, asc) || sl != 13 || err != nil {
		t.Error("aac config")
	}
	hv, hs, hp, err := H265ParamSets(p.Medias[2].FMTP[98])
	if err != nil || !bytes.Equal(hv[0], vps265) || !bytes.Equal(hs[0], sps265) || !bytes.Equal(hp[0], pps265) {
		t.Error("h265 param sets")
	}

	// Every fixture survives Parse → Marshal → Parse unchanged.
	for _, name := range fixtures {
		s1, err := Parse(readFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Parse(s1.Marshal(nil))
		if err != nil {
			t.Fatalf("%s: reparse: %v", name, err)
		}
		if !reflect.DeepEqual(s1, s2) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", name, s1, s2)
		}
	}
}

var fixtures = []string{"ffmpeg-h264-aac.sdp", "ffmpeg-h265-aac.sdp", "gstreamer-h264-aac.sdp", "camera-hikvision-style.sdp"}

// FuzzParse checks Parse never panics and never keeps more than the limits
// allow, and that whatever it accepts marshals to something it accepts
// again with the same media count.
func FuzzParse(f *testing.F) {
	for _, name := range fixtures {
		f.Add(readFixture(f, name))
	}
	for _, tc := range hostile {
		if len(tc.sdp) <= MaxSDPSize {
			f.Add([]byte(tc.sdp))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if len(s.Medias) > MaxMedias {
			t.Fatalf("%d medias", len(s.Medias))
		}
		for i := range s.Medias {
			m := &s.Medias[i]
			if len(m.Formats) > MaxFormats || len(m.Attributes) > MaxAttributes {
				t.Fatal("limits not applied")
			}
			for _, p := range m.FMTP {
				H264ParamSets(p)
				H264PacketizationMode(p)
				H265ParamSets(p)
				H265MaxDONDiff(p)
				AACConfig(p)
			}
		}
		out := s.Marshal(nil)
		if len(out) > 2*MaxSDPSize+1024 {
			return // defaults can grow a tiny input past the size limit
		}
		s2, err := Parse(out)
		if err != nil {
			if len(out) > MaxSDPSize {
				return
			}
			t.Fatalf("marshal output rejected: %v\n%q", err, out)
		}
		if len(s2.Medias) != len(s.Medias) {
			t.Fatalf("medias %d -> %d", len(s.Medias), len(s2.Medias))
		}
	})
}
