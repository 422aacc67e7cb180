package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
)

// BenchmarkBarrelErlErl is the baseline: small one-way messages
// between two Erlang nodes over barrel_p2p's QUIC carrier, sent by one
// process and counted in order by another. Compare msgs/s with
// BenchmarkDistGoGo/quic*/oneway_small (make bench-dist). Skips without
// BARREL_P2P_ERL / BARREL_P2P_ERL_LIBS.
func BenchmarkBarrelErlErl(b *testing.B) {
	if _, ok := barrelharness.FromEnv(); !ok {
		b.Skip("barrel_p2p baseline skipped: set BARREL_P2P_ERL and BARREL_P2P_ERL_LIBS; see interop/README.md")
	}
	root := b.TempDir()
	disc := filepath.Join(root, "discovery")
	const cookie = "barrel_bench"
	a := barrelharness.StartT(b, barrelharness.Options{Name: barrelharness.UniqueName("bba") + "@127.0.0.1",
		Dir: filepath.Join(root, "a"), DiscoveryDir: disc, Cookie: cookie})
	c := barrelharness.StartT(b, barrelharness.Options{Name: barrelharness.UniqueName("bbc") + "@127.0.0.1",
		Dir: filepath.Join(root, "c"), DiscoveryDir: disc, Cookie: cookie})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := a.Probe(ctx, "connect", c.Name(), int64(30000)); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{20000} {
		b.Run(fmt.Sprintf("oneway_small_%d", n), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				coll, err := c.Call(ctx, "barrel_probe", "collect_n", int64(n))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := a.Call(ctx, "barrel_probe", "send_n", coll, int64(n)); err != nil {
					b.Fatal(err)
				}
				r, err := c.Call(ctx, "barrel_probe", "result", coll, int64(120000))
				if err != nil || !etf.Equal(r, etf.Tuple{etf.AtomOK, int64(n)}) {
					b.Fatalf("collector: %v, %v", r, err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
		})
	}
}
