package auth

import (
	"testing"
)

// BenchmarkExchange is one full client+server exchange over in-memory
// streams (two signatures, two verifications, nine frames).
func BenchmarkExchange(b *testing.B) {
	cli := newTestNode(b, "cli@127.0.0.1", nil)
	srv := newTestNode(b, "srv@127.0.0.1", nil)
	b.ReportAllocs()
	for b.Loop() {
		o := exchange(b, cli, srv, srv.name, newLink())
		if o.clientErr != nil || o.serverErr != nil {
			b.Fatal(o.clientErr, o.serverErr)
		}
	}
}

func BenchmarkDecodeHello(b *testing.B) {
	msg := Hello{Name: "go@127.0.0.1"}.AppendTo(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}
