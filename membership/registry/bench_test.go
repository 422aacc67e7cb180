package registry_test

import (
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// BenchmarkHandleBroadcast measures validating and merging one add delta
// as Erlang sends it.
func BenchmarkHandleBroadcast(b *testing.B) {
	r := registry.New(registry.Config{Self: goNode})
	payloads := make([]etf.Term, 64)
	for i := range payloads {
		payloads[i] = remoteDelta("svc", etf.Atom("e1@h"), pid("e1@h", uint32(i)), 1767225600000+int64(i), 0)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.HandleBroadcast(t0, "e1@h", registry.RegistryReplica, payloads[i%len(payloads)])
	}
}
