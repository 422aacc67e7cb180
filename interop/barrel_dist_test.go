package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// TestBarrelDist runs the distribution scenarios between a real barrel_p2p
// node and a barrelgo QUIC node, both with Ed25519 auth on (TOFU), once
// with the Go node dialing and once with barrel_p2p dialing.
func TestBarrelDist(t *testing.T) {
	barrelharness.Require(t)
	for _, goDials := range []bool{true, false} {
		name := "erl_dials_go"
		if goDials {
			name = "go_dials_erl"
		}
		t.Run(name, func(t *testing.T) {
			c := newBPCluster(t)
			e := c.startErl("bpd_")
			g := c.startGo("gd_")
			ctx := c.ctx(60 * time.Second)
			connect(t, ctx, e, g, goDials)
			checkTOFU(t, ctx, e, g, goDials)
			runBarrelScenarios(t, e, g)
		})
	}
}

// connect makes the first connection between e and g in the given
// direction.
func connect(t *testing.T, ctx context.Context, e *barrelharness.Node, g *goNode, goDials bool) {
	t.Helper()
	if goDials {
		bpGoConnect(t, ctx, e, g)
		return
	}
	if r := probe(t, ctx, e, "connect", g.Name(), int64(20000)); r != etf.AtomTrue {
		t.Fatalf("net_kernel:connect_node(%s) on %s = %s", g.Name(), e.Name(), etf.Format(r))
	}
}

// checkTOFU checks both sides ran the Ed25519 exchange in the expected
// roles and pinned each other's real key.
func checkTOFU(t *testing.T, ctx context.Context, e *barrelharness.Node, g *goNode, goDials bool) {
	t.Helper()
	side := etf.Atom("client")
	if goDials {
		side = etf.Atom("server")
	}
	want := etf.Tuple{side, etf.Tuple{etf.AtomOK, g.Name()}}
	res := authResults(t, ctx, e)
	if len(res) == 0 || !etf.Equal(res[0], want) {
		t.Errorf("barrel_p2p auth results %s, want first %s", etf.Format(termList(res)), etf.Format(want))
	}
	goPub, err := auth.LoadKeyPair(g.cfg.AuthKeyDir)
	if err != nil {
		t.Fatal(err)
	}
	var pinned []byte
	for _, p := range probe(t, ctx, e, "pins").(etf.List) {
		if tup := p.(etf.Tuple); tup[0] == g.Name() {
			pinned = tup[1].([]byte)
		}
	}
	if !bytes.Equal(pinned, goPub.Public) {
		t.Errorf("barrel_p2p pinned %x for %s, Go's node.pub is %x", pinned, g.Name(), []byte(goPub.Public))
	}
	erlPub := probe(t, ctx, e, "pub_key").([]byte)
	got, ok := g.auth.(*auth.Ed25519).Pins().Lookup(string(e.Name()))
	if !ok || !bytes.Equal(got, erlPub) {
		t.Errorf("Go pinned %x (%v) for %s, its node.pub is %x", []byte(got), ok, e.Name(), erlPub)
	}
}

func termList(ts []etf.Tuple) etf.List {
	l := make(etf.List, len(ts))
	for i, x := range ts {
		l[i] = x
	}
	return l
}

// runBarrelScenarios is the scenario list over an established connection.
func runBarrelScenarios(t *testing.T, e *barrelharness.Node, g *goNode) {
	g.RegisterFunc("gomod", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		x, _ := args[0].(int64)
		y, _ := args[1].(int64)
		return x + y, nil
	})
	g.RegisterFunc("gomod", "fail", func(context.Context, []etf.Term) (etf.Term, error) {
		return nil, errors.New("boom")
	})
	if _, err := g.StartServer("go_gs", node.ServerFuncs{
		Call: func(_ context.Context, _ node.From, req etf.Term) (etf.Term, error) {
			return etf.Tuple{etf.Atom("reply"), req}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("ping", func(t *testing.T) {
		ctx := shortCtx(t)
		got, err := g.Call(ctx, etf.Tuple{etf.Atom("net_kernel"), e.Name()}, etf.Tuple{etf.Atom("is_auth"), g.Name()})
		if err != nil || got != etf.Atom("yes") {
			t.Errorf("Go: net_kernel is_auth on %s = %v, %v", e.Name(), got, err)
		}
		if r := probe(t, ctx, e, "ping", g.Name()); r != etf.Atom("pong") {
			t.Errorf("net_adm:ping(%s) = %s", g.Name(), etf.Format(r))
		}
		if !containsAtom(probe(t, ctx, e, "nodes"), g.Name()) {
			t.Errorf("%s missing from nodes(connected) of %s", g.Name(), e.Name())
		}
		if !containsAtom(etf.List(atomsToTerms(g.Nodes())), e.Name()) {
			t.Errorf("%s missing from the Go node's Nodes()", e.Name())
		}
	})

	t.Run("corpus", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		echo := etf.Tuple{etf.Atom("probe_echo"), e.Name()}
		n := 0
		for _, term := range loadCorpusTerms(t) {
			if err := p.Send(ctx, echo, etf.Tuple{p.Pid(), term}); err != nil {
				t.Fatal(err)
			}
			got, err := p.Receive(ctx)
			if err != nil {
				t.Fatalf("echo of %.200s: %v", etf.Format(term), err)
			}
			if !etf.Equal(got, term) {
				t.Fatalf("round trip through barrel_p2p changed %.200s into %.200s", etf.Format(term), etf.Format(got))
			}
			n++
		}
		// OTP's own bytes of the recorded corpus: what Go sent must be
		// exactly the term those bytes stand for.
		same := etf.Tuple{etf.Atom("probe_same"), e.Name()}
		m := 0
		for _, file := range []string{"etf_corpus.json", "etf_corpus_large.json"} {
			for _, v := range readVectors(t, file).Entries {
				if v.DecodeOnly {
					continue
				}
				b, _ := hex.DecodeString(v.Hex)
				term, err := etf.Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Send(ctx, same, etf.Tuple{p.Pid(), b, term}); err != nil {
					t.Fatal(err)
				}
				got, err := p.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !etf.Equal(got, etf.Tuple{etf.Atom("same"), etf.AtomTrue}) {
					t.Errorf("%s %s: barrel_p2p got a different term than OTP's bytes encode (%s)", file, v.ID, etf.Format(got))
				}
				m++
			}
		}
		t.Logf("%d terms echoed, %d checked against OTP's bytes", n, m)
	})

	t.Run("gen_server_call", func(t *testing.T) {
		ctx := shortCtx(t)
		got, err := g.Call(ctx, etf.Tuple{etf.Atom("probe_gs"), e.Name()}, etf.Tuple{etf.Atom("echo"), etf.Atom("hi")})
		if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("reply"), etf.Atom("hi")}) {
			t.Errorf("Go -> gen_server probe_gs = %v, %v", got, err)
		}
		_, err = g.Call(ctx, etf.Tuple{etf.Atom("no_such_server"), e.Name()}, etf.Atom("x"))
		var ce *node.CallError
		if !errors.As(err, &ce) || ce.Reason != etf.Atom("noproc") {
			t.Errorf("Go -> missing gen_server: %v, want noproc", err)
		}
		r := probe(t, ctx, e, "call", g.Name(), etf.Atom("go_gs"), etf.Tuple{etf.Atom("hello"), int64(1)}, int64(5000))
		want := etf.Tuple{etf.AtomOK, etf.Tuple{etf.Atom("reply"), etf.Tuple{etf.Atom("hello"), int64(1)}}}
		if !etf.Equal(r, want) {
			t.Errorf("barrel_p2p -> gen_server go_gs = %s, want %s", etf.Format(r), etf.Format(want))
		}
		r = probe(t, ctx, e, "call", g.Name(), etf.Atom("no_such_server"), etf.Atom("x"), int64(5000))
		if tup, ok := r.(etf.Tuple); !ok || tup[0] != etf.Atom("exit") || !isNoproc(tup[1]) {
			t.Errorf("barrel_p2p -> missing Go server = %s, want {exit,{noproc,_}}", etf.Format(r))
		}
	})

	t.Run("rpc", func(t *testing.T) {
		ctx := shortCtx(t)
		got, err := g.RPC(ctx, e.Name(), "lists", "reverse", etf.List{int64(1), int64(2), int64(3)})
		if err != nil || !etf.Equal(got, etf.List{int64(3), int64(2), int64(1)}) {
			t.Errorf("Go rpc lists:reverse = %v, %v", got, err)
		}
		_, err = g.RPC(ctx, e.Name(), "erlang", "error", etf.Atom("boom"))
		var re *node.RPCError
		if !errors.As(err, &re) {
			t.Errorf("Go rpc erlang:error(boom) = %v, want badrpc", err)
		}
		for _, fn := range []string{"rpc", "erpc"} {
			r := probe(t, ctx, e, fn, g.Name(), etf.Atom("gomod"), etf.Atom("add"), etf.List{int64(2), int64(40)})
			want := etf.Tuple{etf.Atom(fn), int64(42)}
			if fn == "erpc" {
				want[0] = etf.AtomOK
			}
			if !etf.Equal(r, want) {
				t.Errorf("barrel_p2p %s:call(Go, gomod, add, [2,40]) = %s, want %s", fn, etf.Format(r), etf.Format(want))
			}
			r = probe(t, ctx, e, fn, g.Name(), etf.Atom("gomod"), etf.Atom("fail"), etf.List(nil))
			if tup, ok := r.(etf.Tuple); !ok || (fn == "rpc" && !isBadrpc(tup[1])) || (fn == "erpc" && tup[0] != etf.AtomError) {
				t.Errorf("barrel_p2p %s:call of a failing Go function = %s", fn, etf.Format(r))
			}
		}
	})

	t.Run("big_message", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
		sum := sha256.Sum256(big)
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		chk := probe(t, ctx, e, "big_check").(etf.Pid)
		if err := p.Send(ctx, chk, etf.Tuple{p.Pid(), big}); err != nil {
			t.Fatal(err)
		}
		got, err := p.Receive(ctx)
		want := etf.Tuple{etf.Atom("checked"), int64(len(big)), sum[:]}
		if err != nil || !etf.Equal(got, want) {
			t.Fatalf("barrel_p2p received the 16 MiB binary as %.200s (%v)", etf.Format(got), err)
		}
		got, err = p.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := got.([]byte); !ok || !bytes.Equal(b, big) {
			t.Fatalf("16 MiB binary sent back by barrel_p2p arrived damaged (%T)", got)
		}
	})

	t.Run("order_100k", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
		defer cancel()
		const n = 100_000
		// Go -> barrel_p2p.
		col := probe(t, ctx, e, "collect_n", int64(n)).(etf.Pid)
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		start := time.Now()
		for i := int64(1); i <= n; i++ {
			if err := p.Send(ctx, col, i); err != nil {
				t.Fatal(err)
			}
		}
		r := probe(t, ctx, e, "result", col, int64(240000))
		if !etf.Equal(r, etf.Tuple{etf.AtomOK, int64(n)}) {
			t.Fatalf("barrel_p2p received Go's %d messages as %s", n, etf.Format(r))
		}
		t.Logf("Go -> barrel_p2p: %d ordered messages in %v", n, time.Since(start).Round(time.Millisecond))
		// barrel_p2p -> Go.
		start = time.Now()
		go func() { _, _ = e.Probe(ctx, "send_n", p.Pid(), int64(n)) }()
		for i := int64(1); i <= n; i++ {
			m, err := p.Receive(ctx)
			if err != nil {
				t.Fatalf("after %d of %d messages from barrel_p2p: %v", i-1, n, err)
			}
			if m != i {
				t.Fatalf("message %d from barrel_p2p arrived as %s", i, etf.Format(m))
			}
		}
		t.Logf("barrel_p2p -> Go: %d ordered messages in %v", n, time.Since(start).Round(time.Millisecond))
	})

	t.Run("link_monitor", func(t *testing.T) {
		ctx := shortCtx(t)
		reasons := []etf.Term{etf.Atom("normal"), etf.Atom("abnormal"), etf.Tuple{etf.Atom("shutdown"), etf.Atom("x")}, etf.Atom("kill")}
		for _, reason := range reasons {
			// A Go process links to and monitors a barrel_p2p process.
			p, _ := g.NewProcess()
			p.SetTrapExit(true)
			tgt := probe(t, ctx, e, "target").(etf.Pid)
			if err := p.Link(ctx, tgt); err != nil {
				t.Fatal(err)
			}
			mref, err := p.Monitor(ctx, tgt)
			if err != nil {
				t.Fatal(err)
			}
			// A round trip with the target itself: the same ordered path as
			// LINK and MONITOR_P (one QUIC stream per sender/receiver pair).
			syncWith(t, ctx, p, tgt)
			want := reason
			if reason == etf.Atom("kill") {
				probe(t, ctx, e, "kill", tgt)
				want = node.Killed
			} else {
				probe(t, ctx, e, "stop_target", tgt, reason)
			}
			exitR, downR := awaitExitDown(t, ctx, p, tgt, mref)
			if !etf.Equal(exitR, want) || !etf.Equal(downR, want) {
				t.Errorf("barrel_p2p process exited with %s: Go got EXIT %s and DOWN %s, want %s", etf.Format(reason), etf.Format(exitR), etf.Format(downR), etf.Format(want))
			}
			p.Exit(node.Normal)

			// A barrel_p2p process links to and monitors a Go process.
			q, _ := g.NewProcess()
			w := probe(t, ctx, e, "watch", q.Pid())
			if m, err := q.Receive(ctx); err != nil || !etf.Equal(m, etf.Tuple{etf.Atom("watching"), w}) {
				t.Fatalf("waiting for the watcher's hello: %v, %v", m, err)
			}
			if reason == etf.Atom("kill") {
				probe(t, ctx, e, "kill", q.Pid())
			} else {
				q.Exit(reason)
			}
			r := probe(t, ctx, e, "result", w, int64(10000))
			wantR := etf.Tuple{etf.Tuple{etf.Atom("exit"), want}, etf.Tuple{etf.Atom("down"), want}}
			if !etf.Equal(r, wantR) {
				t.Errorf("Go process exited with %s: barrel_p2p got %s, want %s", etf.Format(reason), etf.Format(r), etf.Format(wantR))
			}
		}
	})
}

// syncWith sends {sync, Self} to an Erlang target process and waits for
// its {synced, Target}: every signal p sent to target before is there.
func syncWith(t *testing.T, ctx context.Context, p *node.Process, target etf.Pid) {
	t.Helper()
	if err := p.Send(ctx, target, etf.Tuple{etf.Atom("sync"), p.Pid()}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReceiveMatch(ctx, func(m etf.Term) bool {
		return etf.Equal(m, etf.Tuple{etf.Atom("synced"), target})
	}); err != nil {
		t.Fatalf("sync with %s: %v", etf.Format(target), err)
	}
}

// awaitExitDown waits for the EXIT from pid and the DOWN of mref.
func awaitExitDown(t *testing.T, ctx context.Context, p *node.Process, pid etf.Pid, mref etf.Ref) (exitR, downR etf.Term) {
	t.Helper()
	for exitR == nil || downR == nil {
		m, err := p.Receive(ctx)
		if err != nil {
			t.Fatalf("waiting for EXIT and DOWN of %s (have %v, %v): %v", etf.Format(pid), exitR, downR, err)
		}
		tup, ok := m.(etf.Tuple)
		if !ok {
			continue
		}
		switch {
		case len(tup) == 3 && tup[0] == etf.Atom("EXIT") && tup[1] == pid:
			exitR = tup[2]
		case len(tup) == 5 && tup[0] == etf.Atom("DOWN") && tup[1] == mref:
			downR = tup[4]
		}
	}
	return exitR, downR
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func containsAtom(l etf.Term, a etf.Atom) bool {
	list, _ := l.(etf.List)
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func atomsToTerms(as []etf.Atom) []etf.Term {
	out := make([]etf.Term, len(as))
	for i, a := range as {
		out[i] = a
	}
	return out
}

// isNoproc matches gen_server:call's {noproc, {gen_server, call, _}}.
func isNoproc(t etf.Term) bool {
	tup, ok := t.(etf.Tuple)
	return ok && len(tup) == 2 && tup[0] == etf.Atom("noproc")
}

func isBadrpc(t etf.Term) bool {
	tup, ok := t.(etf.Tuple)
	return ok && len(tup) == 2 && tup[0] == etf.Atom("badrpc")
}
