package interop

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

func TestDistPingBothWays(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.go1.Connect(ctx, e.name); err != nil {
		t.Fatalf("Go -> Erlang connect: %v", err)
	}
	if !slices.Contains(c.go1.Nodes(), e.name) {
		t.Fatalf("Go nodes() = %v, want %s", c.go1.Nodes(), e.name)
	}
	if got := c.rpc(t, e, "ping", c.go1.Name()); got != etf.Atom("pong") {
		t.Fatalf("net_adm:ping(GoNode) from Erlang = %s, want pong", etf.Format(got))
	}
	nodes := c.rpc(t, e, "nodes")
	l, _ := nodes.(etf.List)
	if !slices.ContainsFunc(l, func(x etf.Term) bool { return x == c.go1.Name() }) {
		t.Fatalf("Erlang nodes() = %s, want %s in it", etf.Format(nodes), c.go1.Name())
	}
	// The other way round: a second Erlang node dials the Go node first.
	e2 := c.startErl()
	if got := rpcCall(t, c, e, e2.name, etf.Atom("net_adm"), etf.Atom("ping"), etf.List{c.go1.Name()}); got != etf.Atom("pong") {
		t.Fatalf("net_adm:ping(GoNode) from a fresh Erlang node = %s, want pong", etf.Format(got))
	}
	if !slices.Contains(c.go1.Nodes(), e2.name) {
		t.Fatalf("Go nodes() = %v after %s dialed in, want it listed", c.go1.Nodes(), e2.name)
	}
}

// echoServer is a Go gen_server: calls answer {go_reply, Req}, casts are
// forwarded to casts, a call of crash stops it with reason go_crash.
func echoServer(casts chan<- etf.Term) node.ServerFuncs {
	return node.ServerFuncs{
		Call: func(ctx context.Context, from node.From, req etf.Term) (etf.Term, error) {
			if req == etf.Atom("crash") {
				return nil, &node.ExitError{Reason: etf.Atom("go_crash")}
			}
			return etf.Tuple{etf.Atom("go_reply"), req}, nil
		},
		Cast: func(ctx context.Context, req etf.Term) error {
			casts <- req
			return nil
		},
	}
}

func TestDistGenServer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	casts := make(chan etf.Term, 16)
	if _, err := c.go1.StartServer("go_echo", echoServer(casts)); err != nil {
		t.Fatal(err)
	}
	t.Run("call Go to Erlang", func(t *testing.T) {
		ctx := tctx(t)
		req := etf.Tuple{etf.Atom("echo"), etf.List{int64(1), []byte("two"), 3.5}}
		got, err := c.go1.Call(ctx, etf.Tuple{etf.Atom("probe_gs"), e.name}, req)
		if err != nil {
			t.Fatalf("Call probe_gs: %v", err)
		}
		if want := (etf.Tuple{etf.Atom("reply"), req[1]}); !etf.Equal(got, want) {
			t.Fatalf("Call probe_gs = %s, want %s", etf.Format(got), etf.Format(want))
		}
	})
	t.Run("call Erlang to Go", func(t *testing.T) {
		req := etf.Map{{Key: etf.Atom("k"), Value: []byte("v")}}
		got := c.rpc(t, e, "call", c.go1.Name(), etf.Atom("go_echo"), req)
		if want := (etf.Tuple{etf.Atom("go_reply"), req}); !etf.Equal(got, want) {
			t.Fatalf("gen_server:call({go_echo, GoNode}) = %s, want %s", etf.Format(got), etf.Format(want))
		}
	})
	t.Run("cast Go to Erlang", func(t *testing.T) {
		ctx := tctx(t)
		p, err := c.go1.NewProcess()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit(node.Normal)
		if err := p.Cast(ctx, etf.Tuple{etf.Atom("probe_gs"), e.name}, etf.Tuple{etf.Atom("store"), p.Pid(), etf.Atom("x1")}); err != nil {
			t.Fatal(err)
		}
		m := receiveMatch(t, p, "{casted, x1}", func(m etf.Term) bool { return true })
		if want := (etf.Tuple{etf.Atom("casted"), etf.Atom("x1")}); !etf.Equal(m, want) {
			t.Fatalf("probe_gs answered the cast with %s, want %s", etf.Format(m), etf.Format(want))
		}
	})
	t.Run("cast Erlang to Go", func(t *testing.T) {
		ctx := tctx(t)
		if got := c.rpc(t, e, "cast", c.go1.Name(), etf.Atom("go_echo"), etf.Atom("hello")); got != etf.AtomOK {
			t.Fatalf("gen_server:cast = %s", etf.Format(got))
		}
		select {
		case m := <-casts:
			if m != etf.Atom("hello") {
				t.Fatalf("Go server got cast %s, want hello", etf.Format(m))
			}
		case <-ctx.Done():
			t.Fatal("the cast from Erlang never reached the Go server")
		}
	})
	t.Run("call missing name Go to Erlang", func(t *testing.T) {
		ctx := tctx(t)
		_, err := c.go1.Call(ctx, etf.Tuple{etf.Atom("no_such_server"), e.name}, etf.Atom("hi"))
		var ce *node.CallError
		if !errors.As(err, &ce) || ce.Reason != node.NoProc {
			t.Fatalf("Call to a missing Erlang name: err = %v, want a CallError with reason noproc", err)
		}
	})
	t.Run("call missing name Erlang to Go", func(t *testing.T) {
		got := c.rpc(t, e, "call", c.go1.Name(), etf.Atom("no_such_server"), etf.Atom("hi"))
		// catch gen_server:call(...) = {'EXIT', {noproc, {gen_server, call, _}}}
		tup := mustTuple(t, "catch gen_server:call to a missing Go name", got, 2)
		reason := mustTuple(t, "its exit reason", tup[1], 2)
		if tup[0] != etf.Atom("EXIT") || reason[0] != node.NoProc {
			t.Fatalf("gen_server:call to a missing Go name = %s, want {'EXIT', {noproc, _}}", etf.Format(got))
		}
	})
	t.Run("call a Go server that crashes", func(t *testing.T) {
		if _, err := c.go1.StartServer("go_crasher", echoServer(casts)); err != nil {
			t.Fatal(err)
		}
		got := c.rpc(t, e, "call", c.go1.Name(), etf.Atom("go_crasher"), etf.Atom("crash"))
		tup := mustTuple(t, "catch gen_server:call to a crashing Go server", got, 2)
		reason := mustTuple(t, "its exit reason", tup[1], 2)
		if tup[0] != etf.Atom("EXIT") || reason[0] != etf.Atom("go_crash") {
			t.Fatalf("gen_server:call to a crashing Go server = %s, want {'EXIT', {go_crash, _}}", etf.Format(got))
		}
	})
}

// registerGoMod gives n the Go functions Erlang and Elixir call over rpc:
// gomod:add(Integers...) sums them, gomod:fail() returns an error.
func registerGoMod(n *node.Node) {
	n.RegisterFunc("gomod", "add", func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		var sum int64
		for _, a := range args {
			i, ok := a.(int64)
			if !ok {
				return nil, errors.New("add: not an integer")
			}
			sum += i
		}
		return sum, nil
	})
	n.RegisterFunc("gomod", "fail", func(ctx context.Context, args []etf.Term) (etf.Term, error) {
		return nil, errors.New("it failed")
	})
}

func TestDistRPC(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	registerGoMod(c.go1)
	goErr := etf.Tuple{etf.Atom("go_error"), "it failed"}

	t.Run("Go rpc to Erlang", func(t *testing.T) {
		ctx := tctx(t)
		got, err := c.go1.RPC(ctx, e.name, "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
		if err != nil {
			t.Fatal(err)
		}
		if want := (etf.List{int64(3), int64(2), int64(1)}); !etf.Equal(got, want) {
			t.Fatalf("lists:reverse = %s, want %s", etf.Format(got), etf.Format(want))
		}
	})
	t.Run("Go rpc to Erlang undef", func(t *testing.T) {
		ctx := tctx(t)
		_, err := c.go1.RPC(ctx, e.name, "no_such_mod", "f")
		var re *node.RPCError
		if !errors.As(err, &re) {
			t.Fatalf("rpc of an unknown function: err = %v, want an RPCError", err)
		}
		// {badrpc, {'EXIT', {undef, Stack}}}
		ex := mustTuple(t, "badrpc reason", re.Reason, 2)
		inner := mustTuple(t, "EXIT reason", ex[1], 2)
		if ex[0] != etf.Atom("EXIT") || inner[0] != etf.Atom("undef") {
			t.Fatalf("rpc of an unknown function: badrpc %s, want {'EXIT', {undef, _}}", etf.Format(re.Reason))
		}
	})
	t.Run("Erlang rpc:call to Go", func(t *testing.T) {
		got := rpcCall(t, c, e, c.go1.Name(), etf.Atom("gomod"), etf.Atom("add"), etf.List{int64(40), int64(2)})
		if got != int64(42) {
			t.Fatalf("rpc:call(GoNode, gomod, add, [40, 2]) = %s, want 42", etf.Format(got))
		}
	})
	t.Run("Erlang erpc:call to Go", func(t *testing.T) {
		got := c.rpc(t, e, "erpc", c.go1.Name(), etf.Atom("gomod"), etf.Atom("add"), etf.List{int64(1), int64(2), int64(3)})
		if want := (etf.Tuple{etf.AtomOK, int64(6)}); !etf.Equal(got, want) {
			t.Fatalf("erpc:call(GoNode, gomod, add, [1,2,3]) = %s, want %s", etf.Format(got), etf.Format(want))
		}
	})
	t.Run("Erlang rpc:call to Go undef", func(t *testing.T) {
		got := rpcCall(t, c, e, c.go1.Name(), etf.Atom("gomod"), etf.Atom("nope"), etf.List{})
		// {badrpc, {'EXIT', {undef, Stack}}}
		br := mustTuple(t, "rpc:call of an unknown Go function", got, 2)
		ex := mustTuple(t, "badrpc reason", br[1], 2)
		inner := mustTuple(t, "EXIT reason", ex[1], 2)
		if br[0] != etf.Atom("badrpc") || ex[0] != etf.Atom("EXIT") || inner[0] != etf.Atom("undef") {
			t.Fatalf("rpc:call of an unknown Go function = %s, want {badrpc, {'EXIT', {undef, _}}}", etf.Format(got))
		}
	})
	t.Run("Erlang erpc:call to Go undef", func(t *testing.T) {
		got := c.rpc(t, e, "erpc", c.go1.Name(), etf.Atom("gomod"), etf.Atom("nope"), etf.List{})
		// {error, {exception, undef, Stack}}
		tup := mustTuple(t, "erpc:call of an unknown Go function", got, 2)
		exc := mustTuple(t, "its error", tup[1], 3)
		if tup[0] != etf.AtomError || exc[0] != etf.Atom("exception") || exc[1] != etf.Atom("undef") {
			t.Fatalf("erpc:call of an unknown Go function = %s, want {error, {exception, undef, _}}", etf.Format(got))
		}
	})
	t.Run("Erlang rpc:call to Go error", func(t *testing.T) {
		got := rpcCall(t, c, e, c.go1.Name(), etf.Atom("gomod"), etf.Atom("fail"), etf.List{})
		br := mustTuple(t, "rpc:call of a failing Go function", got, 2)
		ex := mustTuple(t, "badrpc reason", br[1], 2)
		inner := mustTuple(t, "EXIT reason", ex[1], 2)
		if br[0] != etf.Atom("badrpc") || ex[0] != etf.Atom("EXIT") || !etf.Equal(inner[0], goErr) {
			t.Fatalf("rpc:call of a failing Go function = %s, want {badrpc, {'EXIT', {%s, _}}}", etf.Format(got), etf.Format(goErr))
		}
	})
	t.Run("Erlang erpc:call to Go error", func(t *testing.T) {
		got := c.rpc(t, e, "erpc", c.go1.Name(), etf.Atom("gomod"), etf.Atom("fail"), etf.List{})
		tup := mustTuple(t, "erpc:call of a failing Go function", got, 2)
		exc := mustTuple(t, "its error", tup[1], 3)
		if tup[0] != etf.AtomError || exc[0] != etf.Atom("exception") || !etf.Equal(exc[1], goErr) {
			t.Fatalf("erpc:call of a failing Go function = %s, want {error, {exception, %s, _}}", etf.Format(got), etf.Format(goErr))
		}
	})
}

func TestDistNodeEvents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	events := make(chan node.Event, 64)
	defer c.go1.Subscribe(events)()
	e := c.startErl()
	next := func(kind node.EventKind) node.Event {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Node != e.name {
					continue
				}
				if ev.Kind != kind {
					t.Fatalf("event %v for %s, want %v", ev.Kind, ev.Node, kind)
				}
				return ev
			case <-time.After(waitLong):
				t.Fatalf("no %v event for %s", kind, e.name)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := c.go1.Connect(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	next(node.NodeUp)
	// Erlang drops the connection and dials back in.
	if got := c.rpc(t, e, "disconnect_then_ping", c.go1.Name(), int64(100)); got != etf.AtomOK {
		t.Fatalf("disconnect_then_ping = %s", etf.Format(got))
	}
	next(node.NodeDown)
	next(node.NodeUp)
	e.kill()
	if ev := next(node.NodeDown); ev.Reason == nil {
		t.Errorf("nodedown after kill -9 carries no reason")
	}
	if slices.Contains(c.go1.Nodes(), e.name) {
		t.Errorf("Go nodes() = %v still lists the killed node", c.go1.Nodes())
	}
}

func TestDistRestartSameName(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := c.go1.Call(ctx, etf.Tuple{etf.Atom("probe_gs"), e.name}, etf.Tuple{etf.Atom("echo"), int64(1)}); err != nil {
		t.Fatalf("call before restart: %v", err)
	}
	name, oldCreation := c.go1.Name(), c.go1.Creation()
	alive, _, _ := strings.Cut(string(name), "@")
	if err := c.go1.Stop(); err != nil {
		t.Fatal(err)
	}
	// EPMD frees the name once it has seen the old registration's
	// connection close, which happens after Stop returns: retry while the
	// name is still taken.
	for attempt := 1; ; attempt++ {
		n, err := c.tryStartGo(alive, c.log)
		if err == nil {
			c.go1 = n
			break
		}
		if !strings.Contains(err.Error(), "name taken") || attempt == 100 {
			t.Fatalf("restart under the same name: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.go1.Creation() == oldCreation {
		t.Errorf("restarted node kept creation %d; EPMD should hand out a new one", oldCreation)
	}
	// Erlang may still be tearing down the old connection: the first
	// connect can be refused while it does, so retry until one succeeds.
	var got etf.Term
	var err error
	for attempt := range 50 {
		got, err = c.go1.Call(ctx, etf.Tuple{etf.Atom("probe_gs"), e.name}, etf.Tuple{etf.Atom("echo"), int64(2)})
		if err == nil {
			break
		}
		t.Logf("call after restart, attempt %d: %v", attempt+1, err)
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	if want := (etf.Tuple{etf.Atom("reply"), int64(2)}); !etf.Equal(got, want) {
		t.Fatalf("call after restart = %s, want %s", etf.Format(got), etf.Format(want))
	}
	if got := c.rpc(t, e, "ping", c.go1.Name()); got != etf.Atom("pong") {
		t.Fatalf("net_adm:ping of the restarted Go node = %s, want pong", etf.Format(got))
	}
	if _, err := c.go1.StartServer("go_echo", echoServer(make(chan etf.Term, 1))); err != nil {
		t.Fatal(err)
	}
	got = c.rpc(t, e, "call", c.go1.Name(), etf.Atom("go_echo"), etf.Atom("again"))
	if want := (etf.Tuple{etf.Atom("go_reply"), etf.Atom("again")}); !etf.Equal(got, want) {
		t.Fatalf("gen_server:call to the restarted Go node = %s, want %s", etf.Format(got), etf.Format(want))
	}
}

func TestDistGlobalSync(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	events := make(chan node.Event, 64)
	defer c.go1.Subscribe(events)()
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := c.go1.Connect(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	got := c.rpc(t, e, "global_sync", int64(10000))
	if tup, ok := got.(etf.Tuple); !ok || len(tup) != 2 || tup[0] != etf.AtomOK {
		t.Fatalf("global:sync() on an Erlang node connected to the Go node = %s, want {ok, Millis}", etf.Format(got))
	} else {
		t.Logf("global:sync() took %s ms", etf.Format(tup[1]))
	}
	// A second sync, and a global registration, still work.
	if got := c.rpc(t, e, "global_sync", int64(10000)); mustTuple(t, "second global:sync()", got, 2)[0] != etf.AtomOK {
		t.Fatalf("second global:sync() = %s", etf.Format(got))
	}
	agent := c.agent(t, e)
	if got := rpcCall(t, c, e, e.name, etf.Atom("global"), etf.Atom("register_name"), etf.List{etf.Atom("probe_global"), agent}); got != etf.Atom("yes") {
		t.Fatalf("global:register_name = %s, want yes", etf.Format(got))
	}
	// A second Erlang node joins the first only: global on the first tells
	// the Go node (new_nodes), which connects to the newcomer and reports
	// itself in sync, as global's sync_other does; the newcomer's
	// global:sync() waits for exactly that. The name registered on the
	// first is seen on the second. (The stand-in relays no names or known
	// nodes itself: two Erlang nodes that only share the Go node do not
	// learn of each other through it.)
	e2 := c.startErl()
	if got := rpcCall(t, c, e, e2.name, etf.Atom("net_adm"), etf.Atom("ping"), etf.List{e.name}); got != etf.Atom("pong") {
		t.Fatalf("net_adm:ping between the Erlang nodes = %s", etf.Format(got))
	}
	for _, en := range []*erlNode{e2, e} {
		got := mustTuple(t, "global:sync()", rpcCall(t, c, e, en.name, etf.Atom("dist_probe"), etf.Atom("global_sync"), etf.List{int64(10000)}), 2)
		if got[0] != etf.AtomOK {
			t.Fatalf("global:sync() on %s with two Erlang nodes and the Go node = %s", en.name, etf.Format(got))
		}
		t.Logf("global:sync() on %s with three nodes took %s ms", en.name, etf.Format(got[1]))
	}
	// The newcomer and the Go node connect (global's sync_other on either
	// side), then the newcomer's global:sync() covers the Go node too. Asked
	// through the first node: an rpc from Go would itself connect.
	waitMs := int64(waitLong / time.Millisecond)
	if got := rpcCall(t, c, e, e2.name, etf.Atom("dist_probe"), etf.Atom("wait_connected"), etf.List{c.go1.Name(), waitMs}); got != etf.Atom("true") {
		t.Fatalf("global never connected the newcomer to the Go node")
	}
	sync := mustTuple(t, "global:sync()", rpcCall(t, c, e, e2.name, etf.Atom("dist_probe"), etf.Atom("global_sync"), etf.List{int64(10000)}), 2)
	if sync[0] != etf.AtomOK {
		t.Fatalf("global:sync() on the newcomer once connected to the Go node = %s", etf.Format(sync))
	}
	// A third Erlang node is connected by the Go node first, then meets
	// the others: two sessions (with Go, with the first node) overlap.
	e3 := c.startErl()
	if err := c.go1.Connect(ctx, e3.name); err != nil {
		t.Fatal(err)
	}
	if got := c.rpc(t, e3, "ping", e.name); got != etf.Atom("pong") {
		t.Fatalf("net_adm:ping between the Erlang nodes = %s", etf.Format(got))
	}
	for _, en := range []*erlNode{e3, e2, e} {
		got := mustTuple(t, "global:sync()", c.rpc(t, en, "global_sync", int64(10000)), 2)
		if got[0] != etf.AtomOK {
			t.Fatalf("global:sync() on %s with three Erlang nodes and the Go node = %s", en.name, etf.Format(got))
		}
		t.Logf("global:sync() on %s with four nodes took %s ms", en.name, etf.Format(got[1]))
	}
	if got := rpcCall(t, c, e2, e2.name, etf.Atom("global"), etf.Atom("whereis_name"), etf.List{etf.Atom("probe_global")}); got != agent {
		t.Fatalf("global:whereis_name(probe_global) on the second Erlang node = %s, want %s", etf.Format(got), etf.Format(agent))
	}
	for _, en := range []*erlNode{e, e2, e3} {
		if got := c.rpc(t, en, "is_connected", c.go1.Name()); got != etf.Atom("true") {
			t.Fatalf("%s dropped the Go node during global's sync", en.name)
		}
	}
	for {
		select {
		case ev := <-events:
			if ev.Kind == node.NodeDown {
				t.Fatalf("the connection to %s went down during global's sync: %v", ev.Node, ev.Reason)
			}
			continue
		default:
		}
		break
	}
}

// rpcCall runs rpc:call(Node, M, F, A) on e and returns its result.
func rpcCall(t *testing.T, c *cluster, e *erlNode, args ...etf.Term) etf.Term {
	t.Helper()
	got := mustTuple(t, "dist_probe:rpc", c.rpc(t, e, "rpc", args...), 2)
	if got[0] != etf.Atom("rpc") {
		t.Fatalf("dist_probe:rpc = %s", etf.Format(got))
	}
	return got[1]
}

// tctx is a context for one (sub)test, bounded by waitLong.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}
