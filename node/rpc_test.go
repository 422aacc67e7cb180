package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func registerTestFuncs(n *Node) {
	n.RegisterFunc("calc", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		var sum int64
		for _, a := range args {
			sum += a.(int64)
		}
		return sum, nil
	})
	n.RegisterFunc("calc", "fail", func(context.Context, []etf.Term) (etf.Term, error) {
		return nil, &ExitError{Reason: etf.Atom("refused")}
	})
	n.RegisterFunc("calc", "panic", func(context.Context, []etf.Term) (etf.Term, error) {
		panic("func bug")
	})
	n.RegisterFunc("calc", "echo", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		return etf.List(args), nil
	})
}

// badrpcExit is rex's answer for a call that raised: {'EXIT', {Reason, Stack}}.
func badrpcExit(t *testing.T, err error) etf.Term {
	t.Helper()
	var re *RPCError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want RPCError", err)
	}
	if re.Error() == "" {
		t.Fatal("empty error text")
	}
	ex, ok := re.Reason.(etf.Tuple)
	if !ok || len(ex) != 2 || ex[0] != etf.Atom("EXIT") {
		t.Fatalf("badrpc reason %s, want {'EXIT', _}", etf.Format(re.Reason))
	}
	inner, ok := ex[1].(etf.Tuple)
	if !ok || len(inner) != 2 {
		t.Fatalf("badrpc reason %s, want {'EXIT', {Reason, Stack}}", etf.Format(re.Reason))
	}
	return inner[0]
}

func TestRPC(t *testing.T) {
	n1, n2 := twoNodes(t)
	registerTestFuncs(n2)
	registerTestFuncs(n1)
	ctx := testCtx(t)
	for _, target := range []*Node{n2, n1} {
		got, err := n1.RPC(ctx, target.Name(), "calc", "add", int64(1), int64(2), int64(39))
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "add", got, int64(42))
		// No arguments, and arguments an encoder may send as a string.
		got, err = n1.RPC(ctx, target.Name(), "calc", "add")
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "add()", got, int64(0))
		got, err = n1.RPC(ctx, target.Name(), "calc", "echo", []byte("bin"), etf.Atom("a"))
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "echo", got, etf.List{[]byte("bin"), etf.Atom("a")})

		_, err = n1.RPC(ctx, target.Name(), "calc", "nope")
		wantTerm(t, "undef", badrpcExit(t, err), etf.Atom("undef"))
		_, err = n1.RPC(ctx, target.Name(), "calc", "fail")
		wantTerm(t, "error", badrpcExit(t, err), etf.Atom("refused"))
		_, err = n1.RPC(ctx, target.Name(), "calc", "panic")
		reason := badrpcExit(t, err)
		r, ok := reason.(etf.Tuple)
		if !ok || len(r) != 2 || r[0] != etf.Atom("go_error") || !strings.Contains(termString(r[1]), "func bug") {
			t.Fatalf("panic reason %s, want {go_error, \"panic: func bug\"}", etf.Format(reason))
		}
		// The panic was contained: rex still serves.
		got, err = n1.RPC(ctx, target.Name(), "calc", "add", int64(5))
		if err != nil {
			t.Fatalf("rpc after a panic: %v", err)
		}
		wantTerm(t, "add", got, int64(5))
	}
	// A later registration replaces the function.
	n2.RegisterFunc("calc", "add", func(context.Context, []etf.Term) (etf.Term, error) { return etf.Atom("replaced"), nil })
	got, err := n1.RPC(ctx, n2.Name(), "calc", "add")
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "replaced", got, etf.Atom("replaced"))
}

func termString(t etf.Term) string {
	switch v := t.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return etf.Format(t)
}

func TestRPCErrors(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	// A node without rex answers like a dead server: {'EXIT', noproc}.
	n2.Whereis("rex").Exit(Kill)
	_, err := n1.RPC(ctx, n2.Name(), "m", "f")
	var re *RPCError
	if !errors.As(err, &re) {
		t.Fatalf("rpc to a node without rex: %v, want RPCError", err)
	}
	wantTerm(t, "reason", re.Reason, etf.Tuple{etf.Atom("EXIT"), NoProc})
	_, err = n1.RPC(ctx, "nosuchnode@127.0.0.1", "m", "f")
	if !errors.As(err, &re) {
		t.Fatalf("rpc to an unknown node: %v, want RPCError", err)
	}
	wantTerm(t, "reason", re.Reason, etf.Tuple{etf.Atom("EXIT"), NoConn})
}

// Requests rex does not understand get {badrpc, badarg}; rpc:cast runs the
// function without answering.
func TestRexRequests(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	ran := make(chan []etf.Term, 1)
	n2.RegisterFunc("m", "cast", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		ran <- args
		return etf.AtomOK, nil
	})
	rex := etf.Tuple{etf.Atom("rex"), n2.Name()}
	got, err := n1.Call(ctx, rex, etf.Atom("garbage"))
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "reply", got, etf.Tuple{etf.Atom("badrpc"), etf.Atom("badarg")})
	got, err = n1.Call(ctx, rex, etf.Tuple{etf.Atom("call"), etf.Atom("m"), etf.Atom("cast"), etf.Atom("not_a_list"), n1.groupLeader.Pid()})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := got.(etf.Tuple)
	if !ok || len(r) != 2 || r[0] != etf.Atom("badrpc") {
		t.Fatalf("reply %s, want {badrpc, _}", etf.Format(got))
	}
	if err := n1.Cast(ctx, rex, etf.Tuple{etf.Atom("cast"), etf.Atom("m"), etf.Atom("cast"), etf.List{etf.Atom("x")}, n1.groupLeader.Pid()}); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-ran:
		wantTerm(t, "cast args", etf.List(args), etf.List{etf.Atom("x")})
	case <-ctx.Done():
		t.Fatal("rpc:cast did not run")
	}
}
