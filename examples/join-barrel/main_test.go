package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A barrel_p2p node (OTP 27, QUIC) and the Go member find each other in
// the shared discovery directory, see each other in their active views,
// and the Erlang side finds and calls the Go service.
func TestJoinBarrel(t *testing.T) {
	barrelharness.Require(t)
	disc := filepath.Join(t.TempDir(), "discovery")
	const cookie = "join_example"
	seed := barrelharness.StartT(t, barrelharness.Options{Name: barrelharness.UniqueName("seed") + "@127.0.0.1",
		Dir: t.TempDir(), DiscoveryDir: disc, Cookie: cookie})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	m, err := Join(ctx, Options{Name: barrelharness.UniqueName("gomember") + "@127.0.0.1", DataDir: t.TempDir(),
		Cookie: cookie, DiscoveryDir: disc, Contacts: []etf.Atom{seed.Name()}, Service: "go_greeter",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	for {
		v, err := seed.Call(ctx, "barrel_p2p", "active_view")
		if err != nil {
			t.Fatal(err)
		}
		l, _ := v.(etf.List)
		if slices.Contains(l, etf.Term(m.Node.Name())) && slices.Contains(m.Membership.ActiveView(), seed.Name()) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never in each other's active view: erlang %s, go %v", etf.Format(v), m.Membership.ActiveView())
		case <-time.After(200 * time.Millisecond):
		}
	}
	var loc etf.Term
	for {
		loc, err = seed.Call(ctx, "barrel_p2p", "whereis_service", etf.Atom("go_greeter"))
		if err != nil {
			t.Fatal(err)
		}
		if tup, ok := loc.(etf.Tuple); ok && len(tup) == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("whereis_service(go_greeter) = %s", etf.Format(loc))
		case <-time.After(200 * time.Millisecond):
		}
	}
	tup := loc.(etf.Tuple)
	if tup[1] != m.Node.Name() || tup[2] != m.Service.Pid() {
		t.Fatalf("whereis_service(go_greeter) = %s, want {ok, %s, %s}", etf.Format(loc), m.Node.Name(), etf.Format(m.Service.Pid()))
	}
	got, err := seed.Call(ctx, "gen_server", "call", tup[2], etf.Atom("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (etf.Tuple{etf.Atom("hello"), etf.Atom("hi"), m.Node.Name()}); !etf.Equal(got, want) {
		t.Fatalf("gen_server:call = %s, want %s", etf.Format(got), etf.Format(want))
	}
}
