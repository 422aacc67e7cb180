package interop

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"github.com/barrelgo/barrelgo/membership"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist"
)

// waitFor polls cond with a generous deadline; it is not a timing
// assertion, only a bound on how long the test may hang.
func waitForCond(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never happened; last: %s", what, last)
}

func atomsOf(t etf.Term) []etf.Atom {
	l, _ := t.(etf.List)
	out := make([]etf.Atom, 0, len(l))
	for _, e := range l {
		if a, ok := e.(etf.Atom); ok {
			out = append(out, a)
		}
	}
	return out
}

// TestBarrelMembership: a Go node joins a 3-node barrel_p2p cluster through
// one contact and takes part in HyParView, Plumtree and the registry.
func TestBarrelMembership(t *testing.T) {
	barrelharness.Require(t)
	root := t.TempDir()
	disc := filepath.Join(root, "discovery")
	const cookie = "barrel_membership"
	var erls []*barrelharness.Node
	for i := range 3 {
		opts := barrelharness.Options{Name: barrelharness.UniqueName(fmt.Sprintf("bm%d", i)) + "@127.0.0.1",
			Dir: filepath.Join(root, fmt.Sprintf("erl%d", i)), DiscoveryDir: disc, Cookie: cookie}
		if i > 0 {
			opts.ContactNodes = []string{string(erls[0].Name())}
		}
		erls = append(erls, barrelharness.StartT(t, opts))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	name := barrelharness.UniqueName("bmgo") + "@127.0.0.1"
	cfg := protodist.DefaultConfig(filepath.Join(root, "go"))
	cfg.DiscoveryDir = disc
	cfg.DistCookie = cookie
	tr, err := protodist.NewFromConfig(cfg, name, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := node.Start(ctx, node.Options{Name: name, Cookie: cookie, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	hv := hyparview.DefaultConfig()
	hv.ContactNodes = []etf.Atom{erls[0].Name()}
	m, err := membership.Start(ctx, g, membership.Config{HyParView: hv, Port: tr.Addr().(*net.UDPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	downs := make(chan membership.Event, 16)
	defer m.Subscribe(func(ev membership.Event) {
		if ev.Type == membership.PeerDown {
			select {
			case downs <- ev:
			default:
			}
		}
	})()

	t.Run("joins_active_views", func(t *testing.T) {
		waitForCond(t, "the Go node in an Erlang active view", func() (bool, string) {
			state := ""
			for _, e := range erls {
				av, err := e.Call(ctx, "barrel_p2p", "active_view")
				if err != nil {
					return false, err.Error()
				}
				state += fmt.Sprintf("%s=%s ", e.Name(), etf.Format(av))
				if slices.Contains(atomsOf(av), g.Name()) {
					return len(m.ActiveView()) > 0, state
				}
			}
			return false, state
		})
	})

	t.Run("go_service_found_and_called_from_erlang", func(t *testing.T) {
		srv, err := g.StartServer("", node.ServerFuncs{
			Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
				return etf.Tuple{etf.Atom("from_go"), req}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.RegisterService(etf.Atom("go_svc"), srv.Pid(), etf.Map{{Key: etf.Atom("lang"), Value: []byte("go")}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range erls {
			var pid etf.Pid
			waitForCond(t, "whereis_service(go_svc) on "+string(e.Name()), func() (bool, string) {
				r, err := e.Call(ctx, "barrel_p2p", "whereis_service", etf.Atom("go_svc"))
				if err != nil {
					return false, err.Error()
				}
				if tup, ok := r.(etf.Tuple); ok && len(tup) >= 2 && tup[0] == etf.AtomOK {
					pid, _ = tup[len(tup)-1].(etf.Pid)
					return pid == srv.Pid(), etf.Format(r)
				}
				return false, etf.Format(r)
			})
			got, err := e.Call(ctx, "gen_server", "call", pid, etf.Atom("hi"))
			if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("from_go"), etf.Atom("hi")}) {
				t.Fatalf("gen_server:call from %s = %v, %v", e.Name(), got, err)
			}
		}
	})

	t.Run("erlang_service_found_and_called_from_go", func(t *testing.T) {
		pid, err := erls[1].Call(ctx, "erlang", "spawn", etf.Atom("barrel_probe"), etf.Atom("echo"), etf.List(nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := erls[1].Call(ctx, "barrel_p2p", "register_service", etf.Atom("erl_svc"), pid, etf.Map{}); err != nil {
			t.Fatal(err)
		}
		var where etf.Atom
		var got etf.Pid
		waitForCond(t, "erl_svc known to Go", func() (bool, string) {
			where, got, err = m.WhereisService(ctx, etf.Atom("erl_svc"))
			return err == nil, fmt.Sprint(err)
		})
		if where != erls[1].Name() || got != pid {
			t.Fatalf("WhereisService = %s %v, want %s %v", where, got, erls[1].Name(), pid)
		}
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		if err := p.Send(ctx, got, etf.Tuple{p.Pid(), etf.Atom("ping_erl")}); err != nil {
			t.Fatal(err)
		}
		if r, err := p.Receive(ctx); err != nil || r != etf.Atom("ping_erl") {
			t.Fatalf("echo from the Erlang service = %v, %v", r, err)
		}
	})

	t.Run("broadcast_both_ways", func(t *testing.T) {
		// Erlang -> Go.
		fromErl := make(chan etf.Term, 8)
		defer m.SubscribeBroadcast(etf.Atom("bm_tag"), func(_ etf.Atom, p etf.Term) { fromErl <- p })()
		if _, err := erls[2].Call(ctx, "barrel_p2p_plumtree", "broadcast", etf.Atom("bm_tag"), etf.Atom("hello_go")); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-fromErl:
			if p != etf.Atom("hello_go") {
				t.Fatalf("got %s", etf.Format(p))
			}
		case <-ctx.Done():
			t.Fatal("an Erlang broadcast never reached Go")
		}
		// Go -> every Erlang node: a Go process subscribes on each of them.
		sub, _ := g.NewProcess()
		defer sub.Exit(node.Normal)
		for _, e := range erls {
			if _, err := e.Call(ctx, "barrel_p2p_plumtree", "subscribe", sub.Pid()); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Broadcast(etf.Atom("bm_tag"), etf.Atom("hello_erlang")); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for seen < len(erls) {
			msg, err := sub.ReceiveMatch(ctx, func(t etf.Term) bool {
				return etf.Format(t) != "" && termHasAtom(t, "hello_erlang")
			})
			if err != nil {
				t.Fatalf("a Go broadcast reached %d of %d Erlang nodes: %v", seen, len(erls), err)
			}
			_ = msg
			seen++
		}
	})

	t.Run("killing_an_erlang_node_gives_peer_down", func(t *testing.T) {
		var victim *barrelharness.Node
		for _, e := range erls {
			if slices.Contains(m.ActiveView(), e.Name()) {
				victim = e
				break
			}
		}
		if victim == nil {
			t.Fatalf("no Erlang node in the Go active view %v", m.ActiveView())
		}
		victim.Kill()
		for {
			select {
			case ev := <-downs:
				if ev.Node == victim.Name() {
					if ev.Reason != "nodedown" {
						t.Fatalf("peer_down reason %s, want nodedown", ev.Reason)
					}
					return
				}
			case <-ctx.Done():
				t.Fatalf("no peer_down for %s", victim.Name())
			}
		}
	})
}

// termHasAtom reports whether the atom appears anywhere in t.
func termHasAtom(t etf.Term, a etf.Atom) bool {
	switch v := t.(type) {
	case etf.Atom:
		return v == a
	case etf.Tuple:
		for _, e := range v {
			if termHasAtom(e, a) {
				return true
			}
		}
	case etf.List:
		for _, e := range v {
			if termHasAtom(e, a) {
				return true
			}
		}
	}
	return false
}
