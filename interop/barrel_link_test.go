package interop

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/barrelharness"
	"github.com/barrelgo/barrelgo/node"
	"github.com/barrelgo/barrelgo/protodist/auth"
)

// TestBarrelNoConnection: links and monitors across a link that dies turn
// into noconnection on both implementations.
func TestBarrelNoConnection(t *testing.T) {
	barrelharness.Require(t)
	t.Run("erl_killed", func(t *testing.T) {
		// kill -9: no QUIC CONNECTION_CLOSE reaches the Go node, which
		// must notice from the silence (a short tick time keeps this quick).
		c := newBPCluster(t)
		e := c.startErl("bpnc_")
		g := c.startGo("gnc_", func(o *goOpts) { o.tickTime = 4 * time.Second })
		ctx := c.ctx(90 * time.Second)
		bpGoConnect(t, ctx, e, g)
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		p.SetTrapExit(true)
		tgt := probe(t, ctx, e, "target").(etf.Pid)
		if err := p.Link(ctx, tgt); err != nil {
			t.Fatal(err)
		}
		mref, err := p.Monitor(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		syncWith(t, ctx, p, tgt)
		events := make(chan node.Event, 8)
		defer g.Subscribe(events)()
		e.Kill()
		exitR, downR := awaitExitDown(t, ctx, p, tgt, mref)
		if exitR != node.NoConn || downR != node.NoConn {
			t.Errorf("after kill -9 of %s: EXIT %s, DOWN %s, want noconnection", e.Name(), etf.Format(exitR), etf.Format(downR))
		}
		for ev := range events {
			if ev.Kind == node.NodeDown && ev.Node == e.Name() {
				t.Logf("nodedown %s: %v", ev.Node, ev.Reason)
				break
			}
		}
	})
	t.Run("go_disconnects", func(t *testing.T) {
		// The Go node drops the link: it closes the QUIC connection, and
		// barrel_p2p's watchers of Go processes see noconnection.
		c := newBPCluster(t)
		e := c.startErl("bpnc_")
		g := c.startGo("gnc_")
		ctx := c.ctx(60 * time.Second)
		bpGoConnect(t, ctx, e, g)
		q, _ := g.NewProcess()
		defer q.Exit(node.Normal)
		w := probe(t, ctx, e, "watch", q.Pid())
		if m, err := q.Receive(ctx); err != nil || !etf.Equal(m, etf.Tuple{etf.Atom("watching"), w}) {
			t.Fatalf("waiting for the watcher's hello: %v, %v", m, err)
		}
		if !g.Disconnect(e.Name()) {
			t.Fatal("Go node had no connection to disconnect")
		}
		r := probe(t, ctx, e, "result", w, int64(30000))
		want := etf.Tuple{etf.Tuple{etf.Atom("exit"), node.NoConn}, etf.Tuple{etf.Atom("down"), node.NoConn}}
		if !etf.Equal(r, want) {
			t.Errorf("barrel_p2p watcher after the Go node disconnected: %s, want %s", etf.Format(r), etf.Format(want))
		}
	})
}

// TestBarrelAlive covers the connections barrel_p2p leaves behind without
// a word (transport.md §8.2): the Go node still holds them when the peer
// comes back, answers the new handshake with "alive" and replaces them.
func TestBarrelAlive(t *testing.T) {
	barrelharness.Require(t)
	t.Run("erl_restarts_and_redials", func(t *testing.T) {
		c := newBPCluster(t)
		e := c.startErl("bpal_")
		g := c.startGo("gal_")
		ctx := c.ctx(90 * time.Second)
		bpGoConnect(t, ctx, e, g)
		p, _ := g.NewProcess()
		defer p.Exit(node.Normal)
		p.SetTrapExit(true)
		tgt := probe(t, ctx, e, "target").(etf.Pid)
		if err := p.Link(ctx, tgt); err != nil {
			t.Fatal(err)
		}
		syncWith(t, ctx, p, tgt)

		// kill -9 and boot again under the same name (same keys, cert and
		// port): the Go node, with the default tick time, still believes
		// the old incarnation is connected.
		e.Kill()
		if err := e.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if !containsAtom(etf.List(atomsToTerms(g.Nodes())), e.Name()) {
			t.Log("the Go node noticed the kill before the restart; the alive path is not exercised")
		}
		if r := probe(t, ctx, e, "connect", g.Name(), int64(20000)); r != etf.AtomTrue {
			t.Fatalf("restarted barrel_p2p redialing the Go node: %s", etf.Format(r))
		}
		// The stale link is gone: its links fired.
		m, err := p.ReceiveMatch(ctx, func(m etf.Term) bool {
			tup, ok := m.(etf.Tuple)
			return ok && len(tup) == 3 && tup[0] == etf.Atom("EXIT") && tup[1] == tgt
		})
		if err != nil || m.(etf.Tuple)[2] != node.NoConn {
			t.Errorf("link to the old incarnation: %v, %v; want EXIT noconnection", m, err)
		}
		checkBothWays(t, ctx, e, g)
	})

	t.Run("go_restarts_and_redials", func(t *testing.T) {
		// A second Go node with the same name and identity dials while
		// barrel_p2p still holds the first one's connection: barrel_p2p
		// answers "alive", the Go initiator says true, barrel_p2p drops the
		// old connection and takes the new one.
		c := newBPCluster(t)
		e := c.startErl("bpal_")
		g1 := c.startGo("gal_")
		ctx := c.ctx(90 * time.Second)
		bpGoConnect(t, ctx, e, g1)
		g2 := c.startGoNamed(string(g1.Name()), goOpts{dataDir: g1.dir})
		if err := g2.Connect(ctx, e.Name()); err != nil {
			t.Fatalf("second incarnation of %s dialing barrel_p2p: %v", g2.Name(), err)
		}
		checkBothWays(t, ctx, e, g2)
	})

	t.Run("dist_gc_reaps_silently", func(t *testing.T) {
		// barrel_p2p's idle dist GC disconnects peers outside its active
		// view after dist_gc_min_age_ms, without closing QUIC.
		c := newBPCluster(t)
		e := c.startErl("bpgc_", func(o *barrelharness.Options) {
			o.AppEnv = map[string]string{"dist_gc_min_age_ms": "2000", "dist_gc_sweep_period_ms": "500"}
		})
		g := c.startGo("ggc_")
		ctx := c.ctx(90 * time.Second)
		bpGoConnect(t, ctx, e, g)
		if err := waitFor(ctx, "the dist GC to drop the Go node", func() (bool, error) {
			return !containsAtom(probe(t, ctx, e, "nodes"), g.Name()), nil
		}); err != nil {
			t.Fatal(err)
		}
		// Nothing told the Go node.
		goSees := containsAtom(etf.List(atomsToTerms(g.Nodes())), e.Name())
		t.Logf("after the reap the Go node still lists %s: %v", e.Name(), goSees)
		// dist_auto_connect = once: barrel_p2p does not reconnect on its
		// own (auth.md §13 caveat).
		t.Logf("net_adm:ping from barrel_p2p after the reap: %s", etf.Format(probe(t, ctx, e, "ping", g.Name())))
		// An explicit connect does, over the Go node's stale connection:
		// the "alive" path.
		if r := probe(t, ctx, e, "connect", g.Name(), int64(20000)); r != etf.AtomTrue {
			t.Fatalf("barrel_p2p reconnecting after its GC reaped the link: %s", etf.Format(r))
		}
		checkBothWays(t, ctx, e, g)
	})
}

// checkBothWays pings and calls across the e-g link in both directions.
func checkBothWays(t *testing.T, ctx context.Context, e *barrelharness.Node, g *goNode) {
	t.Helper()
	if r := probe(t, ctx, e, "ping", g.Name()); r != etf.Atom("pong") {
		t.Errorf("net_adm:ping(%s) = %s", g.Name(), etf.Format(r))
	}
	got, err := g.Call(ctx, etf.Tuple{etf.Atom("probe_gs"), e.Name()}, etf.Tuple{etf.Atom("echo"), etf.Atom("again")})
	if err != nil || !etf.Equal(got, etf.Tuple{etf.Atom("reply"), etf.Atom("again")}) {
		t.Errorf("Go -> probe_gs after reconnecting: %v, %v", got, err)
	}
}

// removeIdentity deletes a barrel_p2p identity so the node makes a new
// one at its next start.
func removeIdentity(keyDir string) error {
	for _, f := range []string{auth.KeyFileName, auth.PubFileName} {
		if err := os.Remove(filepath.Join(keyDir, f)); err != nil {
			return err
		}
	}
	return nil
}
