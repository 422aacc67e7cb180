package interop

import (
	"context"
	"errors"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// exitCase is one way a process ends: the reason it exits with (or kill,
// sent as an exit signal), and the reason its links and monitors see.
type exitCase struct {
	name string
	kill bool     // ended by exit(Pid, kill) instead of exiting itself
	exit etf.Term // reason it exits with
	seen etf.Term // reason links and monitors report
}

var exitCases = []exitCase{
	{name: "normal", exit: node.Normal, seen: node.Normal},
	{name: "shutdown_tuple", exit: etf.Tuple{node.Shutdown, etf.Atom("x")}, seen: etf.Tuple{node.Shutdown, etf.Atom("x")}},
	{name: "atom", exit: etf.Atom("boom"), seen: etf.Atom("boom")},
	{name: "kill", kill: true, seen: node.Killed},
}

func newTrapper(t *testing.T, n *node.Node) *node.Process {
	t.Helper()
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	p.SetTrapExit(true)
	t.Cleanup(func() { p.Exit(node.Normal) })
	return p
}

// TestDistLinkMonitorErlangExits: an Erlang process ends; the Go process
// linked to it (by Go's link), the Go process it linked to (by Erlang's
// link) and the Go process monitoring it all hear the reason.
func TestDistLinkMonitorErlangExits(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, ec := range exitCases {
		t.Run(ec.name, func(t *testing.T) {
			agent := c.agent(t, e)
			goLinker := newTrapper(t, c.go1)  // Go calls link
			erlLinked := newTrapper(t, c.go1) // Erlang calls link
			goMonitor := newTrapper(t, c.go1) // Go monitors
			if err := goLinker.Link(ctx, agent); err != nil {
				t.Fatal(err)
			}
			if got := c.agentDo(t, e, agent, etf.Tuple{etf.Atom("link"), erlLinked.Pid()}); got != etf.Atom("true") {
				t.Fatalf("Erlang link(GoPid) = %s", etf.Format(got))
			}
			ref, err := goMonitor.Monitor(ctx, agent)
			if err != nil {
				t.Fatal(err)
			}
			// A non-trapping linked Go process dies with any reason but normal.
			plain, err := c.go1.NewProcess()
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Exit(node.Normal)
			if err := plain.Link(ctx, agent); err != nil {
				t.Fatal(err)
			}
			// Go's link and monitor went out before the agent's exit order
			// (same connection, same order), so they are in place.
			if ec.kill {
				if got := c.rpc(t, e, "kill", agent); got != etf.AtomOK {
					t.Fatalf("kill = %s", etf.Format(got))
				}
			} else {
				c.agentDo(t, e, agent, etf.Tuple{etf.Atom("exit"), ec.exit})
			}
			for _, p := range []*node.Process{goLinker, erlLinked} {
				m := receiveMatch(t, p, "EXIT", exitFrom(agent))
				if r := m.(etf.Tuple)[2]; !etf.Equal(r, ec.seen) {
					t.Errorf("Go process %s got EXIT %s, want %s", etf.Format(p.Pid()), etf.Format(r), etf.Format(ec.seen))
				}
			}
			m := receiveMatch(t, goMonitor, "DOWN", downOf(ref))
			d := m.(etf.Tuple)
			if d[3] != agent || !etf.Equal(d[4], ec.seen) {
				t.Errorf("DOWN = %s, want object %s reason %s", etf.Format(m), etf.Format(agent), etf.Format(ec.seen))
			}
			if ec.seen != node.Normal {
				_, err := plain.Receive(ctx)
				var ee *node.ExitError
				if !errors.As(err, &ee) || !etf.Equal(ee.Reason, ec.seen) {
					t.Errorf("non-trapping linked Go process: Receive err = %v, want exit %s", err, etf.Format(ec.seen))
				}
			}
		})
	}
	t.Run("Go sends kill", func(t *testing.T) {
		agent := c.agent(t, e)
		killer := newTrapper(t, c.go1)
		if err := killer.Link(ctx, agent); err != nil {
			t.Fatal(err)
		}
		ref, err := killer.Monitor(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		if err := killer.SendExit(ctx, agent, node.Kill); err != nil {
			t.Fatal(err)
		}
		m := receiveMatch(t, killer, "EXIT", exitFrom(agent))
		if r := m.(etf.Tuple)[2]; r != node.Killed {
			t.Errorf("EXIT reason %s after exit(Agent, kill) from Go, want killed", etf.Format(r))
		}
		m = receiveMatch(t, killer, "DOWN", downOf(ref))
		if r := m.(etf.Tuple)[4]; r != node.Killed {
			t.Errorf("DOWN reason %s after exit(Agent, kill) from Go, want killed", etf.Format(r))
		}
	})
	t.Run("monitor missing process", func(t *testing.T) {
		agent := c.agent(t, e)
		c.agentDo(t, e, agent, etf.Tuple{etf.Atom("exit"), node.Normal})
		p := newTrapper(t, c.go1)
		ref, err := p.Monitor(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		m := receiveMatch(t, p, "DOWN", downOf(ref))
		if r := m.(etf.Tuple)[4]; r != node.NoProc {
			t.Errorf("DOWN of a dead Erlang process = %s, want noproc", etf.Format(m))
		}
		if err := p.Link(ctx, agent); err != nil {
			t.Fatal(err)
		}
		m = receiveMatch(t, p, "EXIT", exitFrom(agent))
		if r := m.(etf.Tuple)[2]; r != node.NoProc {
			t.Errorf("EXIT of a link to a dead Erlang process = %s, want noproc", etf.Format(m))
		}
	})
}

// TestDistLinkMonitorGoExits: a Go process ends; the Erlang process linked
// to it (by Erlang's link), the one it linked to (by Go's link) and the
// one monitoring it all hear the reason.
func TestDistLinkMonitorGoExits(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, ec := range exitCases {
		t.Run(ec.name, func(t *testing.T) {
			p, err := c.go1.NewProcess()
			if err != nil {
				t.Fatal(err)
			}
			erlLinker, goLinked, erlMonitor := c.agent(t, e), c.agent(t, e), c.agent(t, e)
			if got := c.agentDo(t, e, erlLinker, etf.Tuple{etf.Atom("link"), p.Pid()}); got != etf.Atom("true") {
				t.Fatalf("Erlang link(GoPid) = %s", etf.Format(got))
			}
			if err := p.Link(ctx, goLinked); err != nil {
				t.Fatal(err)
			}
			ref, ok := c.agentDo(t, e, erlMonitor, etf.Tuple{etf.Atom("monitor"), p.Pid()}).(etf.Ref)
			if !ok {
				t.Fatal("Erlang monitor(process, GoPid) returned no reference")
			}
			if ec.kill {
				if got := c.rpc(t, e, "kill", p.Pid()); got != etf.AtomOK {
					t.Fatalf("kill = %s", etf.Format(got))
				}
				_, err := p.Receive(ctx)
				var ee *node.ExitError
				if !errors.As(err, &ee) || ee.Reason != node.Killed {
					t.Fatalf("Go process after exit(GoPid, kill) from Erlang: Receive err = %v, want exit killed", err)
				}
			} else {
				p.Exit(ec.exit)
			}
			for _, a := range []etf.Pid{erlLinker, goLinked} {
				ev := c.agentEvents(t, e, a, 1)
				want := etf.Tuple{etf.Atom("EXIT"), p.Pid(), ec.seen}
				if !etf.Equal(ev[0], want) {
					t.Errorf("Erlang agent %s got %s, want %s", etf.Format(a), etf.Format(ev[0]), etf.Format(want))
				}
			}
			ev := c.agentEvents(t, e, erlMonitor, 1)
			want := etf.Tuple{etf.Atom("DOWN"), ref, etf.Atom("process"), p.Pid(), ec.seen}
			if !etf.Equal(ev[0], want) {
				t.Errorf("Erlang monitor got %s, want %s", etf.Format(ev[0]), etf.Format(want))
			}
		})
	}
	t.Run("monitor by name", func(t *testing.T) {
		srv, err := c.go1.StartServer("go_named", node.ServerFuncs{
			Call: func(ctx context.Context, from node.From, req etf.Term) (etf.Term, error) {
				return nil, &node.ExitError{Reason: etf.Atom("bye")}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		mon := c.agent(t, e)
		ref, ok := c.agentDo(t, e, mon, etf.Tuple{etf.Atom("monitor"), etf.Tuple{etf.Atom("go_named"), c.go1.Name()}}).(etf.Ref)
		if !ok {
			t.Fatal("Erlang monitor(process, {go_named, GoNode}) returned no reference")
		}
		srv.Exit(etf.Atom("bye"))
		ev := c.agentEvents(t, e, mon, 1)
		want := etf.Tuple{etf.Atom("DOWN"), ref, etf.Atom("process"), etf.Tuple{etf.Atom("go_named"), c.go1.Name()}, etf.Atom("bye")}
		if !etf.Equal(ev[0], want) {
			t.Errorf("Erlang monitor by name got %s, want %s", etf.Format(ev[0]), etf.Format(want))
		}
	})
}

// TestDistNoConnection kills the Erlang VM with SIGKILL: every Go link to
// it turns into an EXIT noconnection and every Go monitor into a DOWN
// noconnection.
func TestDistNoConnection(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	trap := newTrapper(t, c.go1)
	var links []etf.Pid
	var refs []etf.Ref
	for range 3 {
		a := c.agent(t, e)
		if err := trap.Link(ctx, a); err != nil { // Go's link
			t.Fatal(err)
		}
		links = append(links, a)
		ref, err := trap.Monitor(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	b := c.agent(t, e)
	if got := c.agentDo(t, e, b, etf.Tuple{etf.Atom("link"), trap.Pid()}); got != etf.Atom("true") { // Erlang's link
		t.Fatalf("Erlang link(GoPid) = %s", etf.Format(got))
	}
	links = append(links, b)
	ref, err := trap.Monitor(ctx, etf.Tuple{etf.Atom("probe_echo"), e.name}) // by name
	if err != nil {
		t.Fatal(err)
	}
	refs = append(refs, ref)
	plain, err := c.go1.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Link(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Make sure everything above reached Erlang before the VM dies.
	if got := c.rpc(t, e, "ping", c.go1.Name()); got != etf.Atom("pong") {
		t.Fatalf("ping = %s", etf.Format(got))
	}

	e.kill()

	for _, a := range links {
		m := receiveMatch(t, trap, "EXIT noconnection", exitFrom(a))
		if r := m.(etf.Tuple)[2]; r != node.NoConn {
			t.Errorf("EXIT from %s = %s, want noconnection", etf.Format(a), etf.Format(r))
		}
	}
	for _, ref := range refs {
		m := receiveMatch(t, trap, "DOWN noconnection", downOf(ref))
		if r := m.(etf.Tuple)[4]; r != node.NoConn {
			t.Errorf("DOWN %s, want reason noconnection", etf.Format(m))
		}
	}
	_, err = plain.Receive(ctx)
	var ee *node.ExitError
	if !errors.As(err, &ee) || ee.Reason != node.NoConn {
		t.Errorf("non-trapping Go process linked to the dead VM: Receive err = %v, want exit noconnection", err)
	}
}
