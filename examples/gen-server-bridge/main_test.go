package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/erlharness"
	"github.com/barrelgo/barrelgo/node"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Erlang calls the Go gen_server exactly as it would an Erlang one.
func TestErlangCallsKV(t *testing.T) {
	e := erlharness.StartNodeT(t, erlharness.NodeOptions{Cookie: "bridge"})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: "bridge@127.0.0.1", Cookie: "bridge", EPMDAddr: e.EPMDAddr(),
		NoEmbeddedEPMD: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if _, err := StartKV(n); err != nil {
		t.Fatal(err)
	}
	got, err := e.Eval(ctx, `
		KV = {kv, Go},
		ok = gen_server:call(KV, {put, greeting, <<"hello">>}),
		ok = gen_server:call(KV, {put, {user, 1}, #{name => "ann"}}),
		{ok, <<"hello">>} = gen_server:call(KV, {get, greeting}),
		gen_server:cast(KV, {delete, greeting}),
		not_found = gen_server:call(KV, {get, greeting}),
		{error, {unknown_request, frobnicate}} = gen_server:call(KV, frobnicate),
		{gen_server:call(KV, {get, {user, 1}}), gen_server:call(KV, keys)}`,
		erlharness.Bindings{"Go": n.Name()})
	if err != nil {
		t.Fatal(err)
	}
	want := etf.Tuple{
		etf.Tuple{etf.AtomOK, etf.Map{{Key: etf.Atom("name"), Value: etf.CharList("ann")}}},
		etf.List{etf.Tuple{etf.Atom("user"), int64(1)}},
	}
	if !etf.Equal(got, want) {
		t.Fatalf("got %s, want %s", etf.Format(got), etf.Format(want))
	}
}
