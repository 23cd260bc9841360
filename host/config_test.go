package host

import (
	"testing"

	"github.com/zcingest/zerocopy/codec"
)

func TestConfigCloneIsDeep(t *testing.T) {
	sps := []byte{1, 2, 3, 4}
	vc := VideoConfig{Codec: codec.H264, SPS: [][]byte{sps}, SequenceHeader: []byte{9}}
	c := vc.Clone()
	sps[0], vc.SequenceHeader[0] = 7, 7
	if c.SPS[0][0] != 1 || c.SequenceHeader[0] != 9 {
		t.Fatal("clone aliases the original")
	}
}
