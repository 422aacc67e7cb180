package erlharness

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

func TestNodeEvalApply(t *testing.T) {
	e := StartNodeT(t, NodeOptions{Cookie: "harness"})
	ctx := t.Context()
	if !strings.HasPrefix(string(e.Name()), "erlh") || e.OTPRelease() == "" {
		t.Fatalf("name %s, release %q", e.Name(), e.OTPRelease())
	}
	v, err := e.Eval(ctx, "X = 20, Y = X + 1, {node(), Y * Z}", Bindings{"Z": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(v, etf.Tuple{e.Name(), int64(42)}) {
		t.Fatalf("eval = %s", etf.Format(v))
	}
	v, err = e.Apply(ctx, "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(v, etf.List{int64(3), int64(2), int64(1)}) {
		t.Fatalf("lists:reverse = %s", etf.Format(v))
	}
	// Exceptions and syntax errors come back as ErlError, and the node
	// stays usable.
	for _, tc := range []struct {
		expr   string
		class  etf.Atom
		reason string
	}{
		{"1 + a", "error", "badarith"},
		{"throw(oops)", "throw", "oops"},
		{"exit(bye).", "exit", "bye"},
		{"{unclosed", "error", "parse_error"},
	} {
		_, err := e.Eval(ctx, tc.expr, nil)
		var ee *ErlError
		if !errors.As(err, &ee) || ee.Class != tc.class || !strings.Contains(etf.Format(ee.Reason), tc.reason) {
			t.Fatalf("Eval(%q) = %v, want %s:%s", tc.expr, err, tc.class, tc.reason)
		}
	}
	if _, err := e.Apply(ctx, "no_such_module", "f"); err == nil || !strings.Contains(err.Error(), "undef") {
		t.Fatalf("apply of a missing module = %v, want undef", err)
	}
}

func TestNodeLoad(t *testing.T) {
	e := StartNodeT(t, NodeOptions{Cookie: "harness"})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("greeting.hrl", "-define(GREETING, <<\"hello\">>).\n")
	src := write("hello_mod.erl", "-module(hello_mod).\n-export([hi/1]).\n-include(\"greeting.hrl\").\nhi(X) -> {?GREETING, X}.\n")
	mods, err := e.Load(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 1 || mods[0] != "hello_mod" {
		t.Fatalf("loaded %v", mods)
	}
	v, err := e.Apply(t.Context(), "hello_mod", "hi", etf.Atom("go"))
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(v, etf.Tuple{[]byte("hello"), etf.Atom("go")}) {
		t.Fatalf("hello_mod:hi(go) = %s", etf.Format(v))
	}
	// A module that does not compile reports the compiler's errors.
	bad := write("bad_mod.erl", "-module(bad_mod).\n-export([f/0]).\nf() -> undefined_var.\ng( -> ok.\n")
	_, err = e.Load(t.Context(), bad)
	var ee *ErlError
	if !errors.As(err, &ee) || !strings.Contains(etf.Format(ee.Reason), "compile_error") {
		t.Fatalf("Load of a broken module = %v, want compile_error", err)
	}
	// A .beam compiled with erlc loads as it is.
	if Available() {
		ebin := t.TempDir()
		src2 := t.TempDir()
		if err := os.WriteFile(filepath.Join(src2, "beam_mod.erl"), []byte("-module(beam_mod).\n-export([v/0]).\nv() -> 7.\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Compile(t.Context(), src2, ebin); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Load(t.Context(), filepath.Join(ebin, "beam_mod.beam")); err != nil {
			t.Fatal(err)
		}
		if v, err := e.Apply(t.Context(), "beam_mod", "v"); err != nil || v != int64(7) {
			t.Fatalf("beam_mod:v() = %v, %v", v, err)
		}
	}
}

// A Go node and the Erlang node find each other through the node's EPMD
// and call each other's services both ways.
func TestNodeWithGoNode(t *testing.T) {
	e := StartNodeT(t, NodeOptions{Cookie: "harness"})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	g, err := node.Start(ctx, node.Options{Name: "gonode" + strconv.Itoa(os.Getpid()) + "@127.0.0.1", Cookie: "harness",
		EPMDAddr: e.EPMDAddr(), NoEmbeddedEPMD: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	if _, err := g.StartServer("doubler", node.ServerFuncs{Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
		return req.(int64) * 2, nil
	}}); err != nil {
		t.Fatal(err)
	}
	v, err := e.Eval(ctx, "gen_server:call({doubler, Go}, 21)", Bindings{"Go": g.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if v != int64(42) {
		t.Fatalf("Erlang -> Go call = %s", etf.Format(v))
	}
	v, err = g.RPC(ctx, e.Name(), "erlang", "node")
	if err != nil {
		t.Fatal(err)
	}
	if v != e.Name() {
		t.Fatalf("Go -> Erlang rpc = %s", etf.Format(v))
	}
}

func TestNodeStopEndsVMAndEPMD(t *testing.T) {
	RequireErl(t)
	e, err := StartNode(t.Context(), NodeOptions{Cookie: "harness"})
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := e.Dir(), e.EPMDAddr()
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Exited():
	default:
		t.Fatal("VM still running after Stop")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("working directory %s left behind: %v", dir, err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("private EPMD at %s still listening", addr)
	}
	if _, err := e.Eval(t.Context(), "1", nil); err == nil {
		t.Fatal("Eval on a stopped node succeeded")
	}
	_ = e.Stop()
}

func TestNodeBootFailureReportsOutput(t *testing.T) {
	RequireErl(t)
	// Nothing listens on this EPMD port and the harness starts none: the
	// VM cannot register and exits.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	_, err = StartNode(t.Context(), NodeOptions{Cookie: "harness", EPMDPort: port, ReadyTimeout: 20 * time.Second})
	if err == nil {
		t.Fatal("StartNode without an EPMD succeeded")
	}
	if !strings.Contains(err.Error(), "erl exited") {
		t.Fatalf("error = %v, want the VM's exit", err)
	}
}

func TestStartNodeTSkipsWithoutErl(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvBarrelErl, "")
	r := &skipRecorder{TB: t}
	if n := StartNodeT(r, NodeOptions{Cookie: "c"}); n != nil || r.skipped != SkipMessage {
		t.Fatalf("StartNodeT without erl: node %v, skip %q", n, r.skipped)
	}
	if _, err := StartNode(t.Context(), NodeOptions{Cookie: "c"}); err == nil {
		t.Fatal("StartNode without erl succeeded")
	}
}

func TestStartNodeNeedsCookie(t *testing.T) {
	if _, err := StartNode(t.Context(), NodeOptions{}); err == nil {
		t.Fatal("StartNode without a cookie succeeded")
	}
}

// The barrel_p2p environment's erl (OTP 27) runs as a classic TCP node too.
func TestNodeBarrelErl(t *testing.T) {
	erl, libs, ok := BarrelErl()
	if !ok {
		t.Skip("barrel_p2p erl not configured: set " + EnvBarrelErl + " and " + EnvBarrelLibs)
	}
	e := StartNodeT(t, NodeOptions{Cookie: "harness", Erl: erl, ErlLibs: libs})
	rel, err := strconv.Atoi(e.OTPRelease())
	if err != nil || rel < 27 {
		t.Fatalf("OTP release %q, want >= 27", e.OTPRelease())
	}
	v, err := e.Eval(t.Context(), "code:which(barrel_p2p) =/= non_existing", nil)
	if err != nil || v != etf.Atom("true") {
		t.Fatalf("barrel_p2p not on the code path: %v %v", v, err)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
