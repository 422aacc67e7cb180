package barrelharness

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTwoNodeCluster boots two barrel_p2p nodes, the second joining
// through the first, and checks they are connected and authenticated
// each other (TOFU pins on both sides).
func TestTwoNodeCluster(t *testing.T) {
	disc := filepath.Join(t.TempDir(), "discovery")
	n1 := StartT(t, Options{Name: UniqueName("bh1_") + "@127.0.0.1", Dir: t.TempDir(), DiscoveryDir: disc, Cookie: "bh_cookie"})
	n2 := StartT(t, Options{Name: UniqueName("bh2_") + "@127.0.0.1", Dir: t.TempDir(), DiscoveryDir: disc, Cookie: "bh_cookie",
		ContactNodes: []string{string(n1.Name())}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := n1.Probe(ctx, "ping", n2.Name())
	if err != nil || got != etf.Atom("pong") {
		t.Fatalf("ping %s from %s = %v, %v", n2.Name(), n1.Name(), got, err)
	}
	for _, pair := range [][2]*Node{{n1, n2}, {n2, n1}} {
		pins, err := pair[0].Probe(ctx, "pins")
		if err != nil {
			t.Fatal(err)
		}
		pub, err := pair[1].Probe(ctx, "pub_key")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pins.(etf.List) {
			tup := p.(etf.Tuple)
			found = found || (tup[0] == pair[1].Name() && string(tup[1].([]byte)) == string(pub.([]byte)))
		}
		if !found {
			t.Errorf("%s has no TOFU pin of %s's key: %s", pair[0].Name(), pair[1].Name(), etf.Format(pins))
		}
	}
	res, err := n1.Probe(ctx, "auth_results")
	if err != nil || len(res.(etf.List)) == 0 {
		t.Errorf("no auth traced on %s: %v %v", n1.Name(), etf.Format(res), err)
	}
	t.Logf("auth on %s: %s", n1.Name(), etf.Format(res))
}

// TestCallErrorAndKill checks the control channel reports exceptions and
// that a killed node fails calls instead of hanging.
func TestCallErrorAndKill(t *testing.T) {
	n := StartT(t, Options{Name: UniqueName("bhk_") + "@127.0.0.1", Dir: t.TempDir(), DiscoveryDir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := n.Call(ctx, "erlang", "error", etf.Atom("boom"))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Class != etf.Atom("error") || ce.Reason != etf.Atom("boom") {
		t.Fatalf("erlang:error(boom) gave %v", err)
	}
	n.Kill()
	if _, err := n.Call(ctx, "erlang", "node"); err == nil {
		t.Fatal("call on a killed node succeeded")
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := n.Call(ctx, "erlang", "node")
	if err != nil || got != n.Name() {
		t.Fatalf("node() after restart = %v, %v", got, err)
	}
}
