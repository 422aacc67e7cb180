package interopsuite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Environment of a run against your own Erlang node instead of one the
// suite starts (docs/interop-matrix.md).
const (
	envNode   = "INTEROP_NODE"   // e.g. app@10.0.0.5
	envCookie = "INTEROP_COOKIE" // its cookie
	envGoName = "INTEROP_GO_NAME"
	envEPMD   = "INTEROP_EPMD" // local EPMD for the Go node
)

// pair is a Go node with the service under test and the Erlang node with
// the inventory module loaded.
type pair struct {
	goNode *node.Node
	erl    etf.Atom
}

// snippet:setup

func setup(t *testing.T) *pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var opts node.Options
	var erl etf.Atom
	var local *erlharness.Node
	if ext := os.Getenv(envNode); ext != "" {
		// Your own node: the Go node joins its cluster.
		erl = etf.Atom(ext)
		opts = node.Options{Name: os.Getenv(envGoName), Cookie: os.Getenv(envCookie), EPMDAddr: os.Getenv(envEPMD)}
		if opts.Name == "" {
			opts.Name = fmt.Sprintf("suite%d@127.0.0.1", rand.IntN(1e6))
		}
	} else {
		// A fresh erl (skips the test without one), on a private EPMD.
		local = erlharness.StartNodeT(t, erlharness.NodeOptions{Cookie: "suite"})
		erl = local.Name()
		opts = node.Options{Name: fmt.Sprintf("suite%d@127.0.0.1", rand.IntN(1e6)), Cookie: "suite",
			EPMDAddr: local.EPMDAddr(), NoEmbeddedEPMD: true}
	}
	opts.Logger = quiet
	n, err := node.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if _, err := StartCounter(n); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("erlang", "inventory.erl")
	if local != nil {
		// The node compiles the module itself, for its own OTP release.
		if _, err := local.Load(ctx, src); err != nil {
			t.Fatal(err)
		}
	} else {
		loadOverRPC(t, ctx, n, erl, src)
	}
	// The Erlang service runs until the test ends.
	if res, err := n.RPC(ctx, erl, "inventory", "start"); err != nil || !isOK(res) {
		t.Fatalf("inventory:start() = %v, %v", res, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = n.RPC(ctx, erl, "inventory", "stop")
	})
	return &pair{goNode: n, erl: erl}
}

// end snippet

func isOK(t etf.Term) bool {
	tup, ok := t.(etf.Tuple)
	return ok && len(tup) == 2 && tup[0] == etf.AtomOK
}

// loadOverRPC compiles src with the local erlc and loads the beam into a
// remote node with rpc:call(Node, code, load_binary, [...]): the way to get
// test code into a node you did not start. The remote release must be the
// same as erlc's or newer.
func loadOverRPC(t *testing.T, ctx context.Context, n *node.Node, erl etf.Atom, src string) {
	t.Helper()
	erlharness.RequireErl(t)
	ebin := t.TempDir()
	tmp := t.TempDir()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, filepath.Base(src)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := erlharness.Compile(ctx, tmp, ebin); err != nil {
		t.Fatal(err)
	}
	mod := strings.TrimSuffix(filepath.Base(src), ".erl")
	beam, err := os.ReadFile(filepath.Join(ebin, mod+".beam"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.RPC(ctx, erl, "code", "load_binary", etf.Atom(mod), etf.CharList(mod+".beam"), beam)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(res, etf.Tuple{etf.Atom("module"), etf.Atom(mod)}) {
		t.Fatalf("code:load_binary on %s = %s", erl, etf.Format(res))
	}
}

// onErlang runs Mod:Fun(Args...) on the Erlang node, so that Erlang code
// is what calls the Go node.
func (p *pair) onErlang(t *testing.T, mod, fun string, args ...etf.Term) etf.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := p.goNode.RPC(ctx, p.erl, etf.Atom(mod), etf.Atom(fun), args...)
	if err != nil {
		t.Fatalf("%s:%s on %s: %v", mod, fun, p.erl, err)
	}
	return res
}

// snippet:erlang-calls-go

// Erlang calls the Go service: gen_server:call, gen_server:cast, rpc:call
// and erpc:call, all made by Erlang code on the Erlang node.
func TestErlangCallsGoService(t *testing.T) {
	p := setup(t)
	counter := etf.Tuple{etf.Atom("counter"), p.goNode.Name()}
	for i, want := range []int64{5, 7} {
		got := p.onErlang(t, "gen_server", "call", counter, etf.Tuple{etf.Atom("add"), []int64{5, 2}[i]})
		if got != want {
			t.Fatalf("gen_server:call(counter, add) = %s, want %d", etf.Format(got), want)
		}
	}
	if got := p.onErlang(t, "rpc", "call", p.goNode.Name(), etf.Atom("counter"), etf.Atom("total"), etf.List{}); got != int64(7) {
		t.Fatalf("rpc:call(Go, counter, total, []) = %s", etf.Format(got))
	}
	p.onErlang(t, "gen_server", "cast", counter, etf.Atom("reset"))
	if got := p.onErlang(t, "erpc", "call", p.goNode.Name(), etf.Atom("counter"), etf.Atom("total"), etf.List{}); got != int64(0) {
		t.Fatalf("erpc:call after reset = %s", etf.Format(got))
	}
	bad := p.onErlang(t, "gen_server", "call", counter, etf.Tuple{etf.Atom("add"), etf.Atom("x")})
	if !etf.Equal(bad, etf.Tuple{etf.AtomError, etf.Atom("badarg")}) {
		t.Fatalf("bad request = %s", etf.Format(bad))
	}
}

// end snippet

// snippet:go-calls-erlang

// Go calls the Erlang service: gen_server:call of the registered server,
// rpc of its API functions, and a monitor that sees it stop.
func TestGoCallsErlangService(t *testing.T) {
	p := setup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	inv := etf.Tuple{etf.Atom("inventory"), p.erl}
	got, err := p.goNode.Call(ctx, inv, etf.Tuple{etf.Atom("add"), etf.Atom("apples"), int64(3)})
	if err != nil || !etf.Equal(got, etf.Tuple{etf.AtomOK, int64(3)}) {
		t.Fatalf("add = %v, %v", got, err)
	}
	got, err = p.goNode.Call(ctx, inv, etf.Tuple{etf.Atom("take"), etf.Atom("apples"), int64(5)})
	if err != nil || !etf.Equal(got, etf.Tuple{etf.AtomError, etf.Tuple{etf.Atom("insufficient"), int64(3)}}) {
		t.Fatalf("take too many = %v, %v", got, err)
	}
	got, err = p.goNode.RPC(ctx, p.erl, "inventory", "take", etf.Atom("apples"), int64(2))
	if err != nil || !etf.Equal(got, etf.Tuple{etf.AtomOK, int64(1)}) {
		t.Fatalf("inventory:take = %v, %v", got, err)
	}
	// A Go process monitors the Erlang server and sees it go.
	proc, err := p.goNode.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Exit(etf.Atom("normal"))
	ref, err := proc.Monitor(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.goNode.RPC(ctx, p.erl, "inventory", "stop"); err != nil {
		t.Fatal(err)
	}
	down, err := proc.ReceiveMatch(ctx, func(m etf.Term) bool {
		d, ok := m.(etf.Tuple)
		return ok && len(d) == 5 && d[0] == etf.Atom("DOWN") && d[1] == ref
	})
	if err != nil {
		t.Fatalf("no DOWN for the stopped inventory: %v", err)
	}
	if reason := down.(etf.Tuple)[4]; reason != etf.Atom("normal") {
		t.Fatalf("DOWN reason %s", etf.Format(reason))
	}
	// And a call to it now fails the way gen_server:call exits: noproc.
	_, err = p.goNode.Call(ctx, inv, etf.Tuple{etf.Atom("count"), etf.Atom("apples")})
	if err == nil || !strings.Contains(err.Error(), "noproc") {
		t.Fatalf("call to a stopped server = %v, want noproc", err)
	}
}

// end snippet
