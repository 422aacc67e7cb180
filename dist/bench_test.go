package dist

import (
	"bytes"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

var benchCases = []struct {
	name string
	ctl  *Control
	msg  etf.Term
}{
	{"small_SEND_SENDER", &Control{Op: OpSendSender, From: pidA, To: pidB},
		etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{pidA, refA}, etf.Tuple{etf.Atom("get"), etf.Atom("key")}}},
	{"1MiB_REG_SEND", &Control{Op: OpRegSend, From: pidA, To: etf.Atom("accept_probe")},
		etf.Tuple{etf.Atom("vec_big"), bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}},
}

func BenchmarkEncodeSend(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			enc := Encoder{Fragments: true}
			var out [][]byte
			frames, err := enc.Encode(nil, bc.ctl, bc.msg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(frameBytes(frames)))
			b.ReportAllocs()
			for b.Loop() {
				out, err = enc.Encode(out[:0], bc.ctl, bc.msg)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeSend(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			enc := Encoder{Fragments: true}
			frames, err := enc.Encode(nil, bc.ctl, bc.msg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(frameBytes(frames)))
			b.ReportAllocs()
			var d Decoder
			for b.Loop() {
				var m *Message
				for _, f := range frames {
					if m, err = d.Decode(f); err != nil {
						b.Fatal(err)
					}
				}
				if m == nil {
					b.Fatal("no message")
				}
			}
		})
	}
}

func frameBytes(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}
