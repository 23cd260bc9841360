package flv

import (
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/langhuihui/gomem"

	"github.com/zcingest/zerocopy/internal/testclip"
	"github.com/zcingest/zerocopy/limit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testclip.Cleanup()
	os.Exit(code)
}

// splitMemory returns b as a Memory split at the given cut offsets,
// aliasing b.
func splitMemory(b []byte, cuts ...int) gomem.Memory {
	var m gomem.Memory
	prev := 0
	for _, c := range cuts {
		c = min(max(c, prev), len(b))
		m.PushOne(b[prev:c:c])
		prev = c
	}
	m.PushOne(b[prev:len(b):len(b)])
	return m
}

// cat concatenates byte slices and strings of space-separated fields, each
// hex, or literal text when it starts with "'" (e.g. "91 'hvc1 000028").
func cat(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			out = append(out, p...)
		case string:
			for _, f := range strings.Fields(p) {
				if s, ok := strings.CutPrefix(f, "'"); ok {
					out = append(out, s...)
					continue
				}
				b, err := hex.DecodeString(f)
				if err != nil {
					panic(err)
				}
				out = append(out, b...)
			}
		default:
			panic("cat: bad part")
		}
	}
	return out
}

// checkErr reports whether err matches the expectation: a sentinel
// (errors.Is), a *limit.LimitError with the given name, or any error when
// bad is set.
func checkErr(err, want error, limitName string, bad bool) bool {
	switch {
	case want != nil:
		return errors.Is(err, want)
	case limitName != "":
		var le *limit.LimitError
		return errors.As(err, &le) && le.Name == limitName
	case bad:
		return err != nil
	}
	return err == nil
}

// Sample sequence headers (see codec's tests for their provenance).
var (
	avcConfig  = cat("01 42 c0 0d ff e1 00 16 67 42 c0 0d da 05 07 ec 04 40 00 00 03 00 40 00 00 0c 83 c5 0a a8 01 00 04 68 ce 0f c8")
	hevcConfig = cat(`0101600000009000000000003cf000fcfdf8f800000f03
		200001001840010c01ffff01600000030090000003000003003c959809
		210001002a42010101600000030090000003000003003ca00a080f165959a4932bc05a02000003000200000300321022
		000100074401c172b46240`)
	avcKeyNALUs   = cat("00000002 09f0 00000005 6588840021")
	avcInterNALUs = cat("00000004 419a2024")
	hevcKeyNALUs  = cat("00000003 460150 00000004 2601af08")
)
