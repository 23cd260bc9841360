package bufreader

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/zcingest/zerocopy/pool"
)

func TestSmoke(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	for _, name := range []string{"plain", "onebyte", "half"} {
		var src io.Reader = bytes.NewReader(data)
		switch name {
		case "onebyte":
			src = iotest.OneByteReader(src)
		case "half":
			src = iotest.HalfReader(src)
		}
		r := New(src, Options{BlockSize: 1024})
		var got []byte
		var taken [][]byte
		for i := 0; ; i++ {
			switch i % 4 {
			case 0:
				err := r.ReadRange(37, func(b []byte) { got = append(got, b...) })
				if err != nil {
					goto done
				}
			case 1:
				m, err := r.Take(1000)
				if err != nil {
					goto done
				}
				for _, b := range m.Buffers {
					got = append(got, b...)
					taken = append(taken, b)
				}
			case 2:
				v, err := r.ReadBE(3)
				if err != nil {
					goto done
				}
				got = append(got, byte(v>>16), byte(v>>8), byte(v))
			case 3:
				c, err := r.ReadByte()
				if err != nil {
					goto done
				}
				got = append(got, c)
			}
		}
	done:
		rest, _ := io.ReadAll(r)
		got = append(got, rest...)
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: mismatch len %d vs %d", name, len(got), len(data))
		}
		a := r.Allocator()
		r.Recycle()
		for _, b := range taken {
			pool.Free(a, b)
		}
		if !pool.Balanced(a) {
			t.Fatalf("%s: unbalanced %d", name, pool.InUse(a))
		}
	}
}
