package interop

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// elixirSkip is the one line the Elixir scenarios skip with.
const elixirSkip = "elixir not on PATH (Debian: apt-get install elixir): Elixir interop skipped"

// startElixir starts an Elixir node running rebar_test_app/elixir's probe.
func (c *cluster) startElixir() *erlNode {
	c.t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "rebar_test_app", "elixir", "barrelgo_probe.exs"))
	if err != nil {
		c.t.Fatal(err)
	}
	alive := fmt.Sprintf("ex%d", rand.IntN(1e6))
	return c.startVM(alive, "elixir", []string{"--name", alive + "@127.0.0.1", "--cookie", testCookie,
		"--erl", "-noinput", script}, "ex_probe ready")
}

// exRPC runs BarrelgoProbe.fun(args...) on the Elixir node.
func exRPC(t *testing.T, c *cluster, ex *erlNode, fun string, args ...etf.Term) etf.Term {
	t.Helper()
	got, err := c.go1.RPC(tctx(t), ex.name, "Elixir.BarrelgoProbe", etf.Atom(fun), args...)
	if err != nil {
		t.Fatalf("rpc BarrelgoProbe.%s on %s: %v", fun, ex.name, err)
	}
	return got
}

// An Elixir node is a BEAM node like any other: GenServer calls and casts
// both ways, erpc into Go, and the terms Elixir programs use (structs,
// ranges, MapSets, keyword lists, charlists, bignums) decoded by Go and
// sent back equal.
func TestElixirNode(t *testing.T) {
	if _, err := exec.LookPath("elixir"); err != nil {
		t.Skip(elixirSkip)
	}
	t.Parallel()
	c := newCluster(t)
	ex := c.startElixir()
	casts := make(chan etf.Term, 4)
	if _, err := c.go1.StartServer("go_echo", echoServer(casts)); err != nil {
		t.Fatal(err)
	}
	registerGoMod(c.go1)

	t.Run("GenServer.call Go to Elixir", func(t *testing.T) {
		req := etf.Tuple{etf.Atom("echo"), etf.List{int64(1), []byte("two"), 3.5}}
		got, err := c.go1.Call(tctx(t), etf.Tuple{etf.Atom("ex_probe"), ex.name}, req)
		if err != nil {
			t.Fatal(err)
		}
		if want := (etf.Tuple{etf.Atom("ex_echo"), req[1]}); !etf.Equal(got, want) {
			t.Fatalf("GenServer.call(:ex_probe) = %s, want %s", etf.Format(got), etf.Format(want))
		}
	})
	t.Run("GenServer.cast Go to Elixir", func(t *testing.T) {
		p, err := c.go1.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit(node.Normal)
		if err := p.Cast(tctx(t), etf.Tuple{etf.Atom("ex_probe"), ex.name}, etf.Tuple{etf.Atom("notify"), p.Pid(), etf.Atom("x1")}); err != nil {
			t.Fatal(err)
		}
		m := receiveMatch(t, p, "{ex_casted, x1}", func(etf.Term) bool { return true })
		if want := (etf.Tuple{etf.Atom("ex_casted"), etf.Atom("x1")}); !etf.Equal(m, want) {
			t.Fatalf("the Elixir server answered the cast with %s, want %s", etf.Format(m), etf.Format(want))
		}
	})
	t.Run("GenServer.call Elixir to Go", func(t *testing.T) {
		req := etf.Map{{Key: etf.Atom("k"), Value: []byte("v")}}
		got := exRPC(t, c, ex, "call_go", c.go1.Name(), etf.Atom("go_echo"), req)
		if want := (etf.Tuple{etf.Atom("go_reply"), req}); !etf.Equal(got, want) {
			t.Fatalf("GenServer.call({:go_echo, go}) = %s, want %s", etf.Format(got), etf.Format(want))
		}
		got = exRPC(t, c, ex, "call_go", c.go1.Name(), etf.Atom("no_such_server"), etf.Atom("hi"))
		exit, ok := got.(etf.Tuple)
		if !ok || len(exit) != 2 || exit[0] != etf.Atom("exit") {
			t.Fatalf("GenServer.call to a missing Go name = %s, want {:exit, _}", etf.Format(got))
		}
		if reason, ok := exit[1].(etf.Tuple); !ok || len(reason) == 0 || reason[0] != node.NoProc {
			t.Fatalf("GenServer.call to a missing Go name exited with %s, want {:noproc, _}", etf.Format(exit[1]))
		}
	})
	t.Run(":erpc.call Elixir to Go", func(t *testing.T) {
		got := exRPC(t, c, ex, "erpc_go", c.go1.Name(), etf.Atom("gomod"), etf.Atom("add"), etf.List{int64(40), int64(2)})
		if got != int64(42) {
			t.Fatalf(":erpc.call(go, :gomod, :add, [40, 2]) = %s, want 42", etf.Format(got))
		}
	})
	t.Run("Elixir terms round trip", func(t *testing.T) {
		sample := exRPC(t, c, ex, "sample")
		m, ok := sample.(etf.Map)
		if !ok {
			t.Fatalf("BarrelgoProbe.sample() = %s, want a map", etf.Format(sample))
		}
		// Spot checks that Go sees what Elixir built: a struct is a map
		// with __struct__, a big integer a *big.Int.
		uri, _ := m.Get(etf.Atom("uri"))
		if st, _ := mapOf(uri).Get(etf.Atom("__struct__")); st != etf.Atom("Elixir.URI") {
			t.Errorf("uri: __struct__ = %v, want Elixir.URI", st)
		}
		if port, _ := mapOf(uri).Get(etf.Atom("port")); port != int64(8443) {
			t.Errorf("uri: port = %v, want 8443", port)
		}
		want, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
		if n, _ := m.Get(etf.Atom("bignum")); !etf.Equal(n, want) {
			t.Errorf("bignum = %v, want %s", n, want)
		}
		// And the whole value, re-encoded by Go, is === the original.
		if got := exRPC(t, c, ex, "same?", sample); got != etf.Atom("true") {
			t.Fatalf("BarrelgoProbe.same?(sample as Go sent it back) = %s, want true; sample: %s", etf.Format(got), etf.Format(sample))
		}
	})
}

// mapOf returns t as a map, or an empty one.
func mapOf(t etf.Term) etf.Map {
	m, _ := t.(etf.Map)
	return m
}
