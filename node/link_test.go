package node

import (
	"errors"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// linkedPair links a (trapping exits or not) to b, both local.
func linkedPair(t *testing.T, n *Node, trap bool) (a, b *Process) {
	t.Helper()
	a, b = newProc(t, n), newProc(t, n)
	a.SetTrapExit(trap)
	if err := a.Link(testCtx(t), b.Pid()); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// watch monitors p from a fresh process and returns a function that waits
// for p's DOWN and returns its reason. Exits are applied to links before
// monitors fire, so after DOWN every link signal has been handled.
func watch(t *testing.T, p *Process) func() etf.Term {
	t.Helper()
	w := newProc(t, p.node)
	ref, err := w.Monitor(testCtx(t), p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	return func() etf.Term {
		t.Helper()
		return recv(t, w, downMsg(ref)).(etf.Tuple)[4]
	}
}

func TestLinkExitPropagationLocal(t *testing.T) {
	n := startNode(t, testEPMD(t))
	cases := []struct {
		name string
		// end ends b, from a third process for SendExit.
		end      func(t *testing.T, b *Process)
		bReason  etf.Term
		aReason  etf.Term // when not trapping; nil: a survives
		trapped  etf.Term // the EXIT reason a trapping a receives
		trapDies bool
	}{
		{"normal", func(_ *testing.T, b *Process) { b.Exit(Normal) }, Normal, nil, Normal, false},
		{"abnormal", func(_ *testing.T, b *Process) { b.Exit(etf.Atom("crash")) }, etf.Atom("crash"), etf.Atom("crash"), etf.Atom("crash"), false},
		// A process that exits with reason kill sends kill to its links
		// as an ordinary, trappable reason.
		{"exits with kill", func(_ *testing.T, b *Process) { b.Exit(Kill) }, Kill, Kill, Kill, false},
		// exit(B, kill) is untrappable for B, which dies with killed and
		// passes killed on.
		{"killed", func(t *testing.T, b *Process) {
			k := newProc(t, b.node)
			if err := k.SendExit(testCtx(t), b.Pid(), Kill); err != nil {
				t.Fatal(err)
			}
		}, Killed, Killed, Killed, false},
		{"exit signal", func(t *testing.T, b *Process) {
			k := newProc(t, b.node)
			if err := k.SendExit(testCtx(t), b.Pid(), etf.Atom("told")); err != nil {
				t.Fatal(err)
			}
		}, etf.Atom("told"), etf.Atom("told"), etf.Atom("told"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/no trap", func(t *testing.T) {
			a, b := linkedPair(t, n, false)
			aDown, bDown := watch(t, a), watch(t, b)
			tc.end(t, b)
			wantTerm(t, "b's reason", bDown(), tc.bReason)
			if tc.aReason == nil {
				// a's own DOWN is the barrier: make a exit and check the
				// reason is ours, not the link's.
				a.Exit(etf.Atom("still_alive"))
				wantTerm(t, "a's reason", aDown(), etf.Atom("still_alive"))
				return
			}
			wantTerm(t, "a's reason", aDown(), tc.aReason)
		})
		t.Run(tc.name+"/trap", func(t *testing.T) {
			a, b := linkedPair(t, n, true)
			bDown := watch(t, b)
			tc.end(t, b)
			wantTerm(t, "b's reason", bDown(), tc.bReason)
			m := recv(t, a, exitMsg(b.Pid()))
			wantTerm(t, "EXIT message", m, etf.Tuple{etf.Atom("EXIT"), b.Pid(), tc.trapped})
			if !isAlive(a) {
				t.Fatal("trapping process died")
			}
			a.mu.Lock()
			_, linked := a.links[b.Pid()]
			a.mu.Unlock()
			if linked {
				t.Fatal("link kept after the linked process exited")
			}
		})
	}
}

func TestExitSignals(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	sender := newProc(t, n)

	// kill cannot be trapped.
	trapper := newProc(t, n)
	trapper.SetTrapExit(true)
	if err := sender.SendExit(ctx, trapper.Pid(), Kill); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "killed trapper", waitExit(t, trapper), Killed)

	// normal from another process is ignored unless trapped.
	p := newProc(t, n)
	if err := sender.SendExit(ctx, p.Pid(), Normal); err != nil {
		t.Fatal(err)
	}
	if !isAlive(p) {
		t.Fatal("exit(P, normal) from another process killed P")
	}
	tp := newProc(t, n)
	tp.SetTrapExit(true)
	if err := sender.SendExit(ctx, tp.Pid(), Normal); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "trapped normal", recv(t, tp, nil), etf.Tuple{etf.Atom("EXIT"), sender.Pid(), Normal})
	if err := sender.SendExit(ctx, tp.Pid(), etf.Atom("other")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "trapped reason", recv(t, tp, nil), etf.Tuple{etf.Atom("EXIT"), sender.Pid(), etf.Atom("other")})

	// exit(self(), normal) ends the caller.
	self := newProc(t, n)
	if err := self.SendExit(ctx, self.Pid(), Normal); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "self normal", waitExit(t, self), Normal)

	// An exit signal to a pid that does not exist goes nowhere.
	gone := newProc(t, n)
	gone.Exit(Normal)
	if err := sender.SendExit(ctx, gone.Pid(), Kill); err != nil {
		t.Fatal(err)
	}
	if !isAlive(sender) {
		t.Fatal("sender died")
	}
}

func TestLinkToMissingProcess(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	deadLocal := newProc(t, n1)
	deadLocal.Exit(Normal)
	deadRemote := newProc(t, n2)
	deadRemote.Exit(Normal)

	for _, target := range []etf.Pid{deadLocal.Pid(), deadRemote.Pid()} {
		a := newProc(t, n1)
		a.SetTrapExit(true)
		if err := a.Link(ctx, target); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "EXIT", recv(t, a, exitMsg(target)), etf.Tuple{etf.Atom("EXIT"), target, NoProc})
		a.mu.Lock()
		nlinks := len(a.links)
		a.mu.Unlock()
		if nlinks != 0 {
			t.Fatalf("link to %s kept", etf.Format(target))
		}

		// Without trap_exit: a local target fails the call (erlang:link/1
		// raises noproc) and the caller lives on; a remote one is only
		// known when its node answers, with an exit signal.
		b := newProc(t, n1)
		err := b.Link(ctx, target)
		if target.Node == n1.Name() {
			var le *LinkError
			if !errors.As(err, &le) || le.Pid != target || le.Reason != NoProc {
				t.Fatalf("link to a dead local process: %v, want a noproc LinkError", err)
			}
			if err := b.Link(ctx, target); !errors.As(err, &le) {
				t.Fatalf("second link to a dead local process: %v", err)
			}
			b.mu.Lock()
			exited, nlinks := b.exited, len(b.links)
			b.mu.Unlock()
			if exited || nlinks != 0 {
				t.Fatalf("after the failed link: exited %v, %d links", exited, nlinks)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "exit reason without trap_exit", waitExit(t, b), NoProc)
	}

	// A process that has exited cannot link.
	c := newProc(t, n1)
	c.Exit(Normal)
	if err := c.Link(ctx, deadLocal.Pid()); err == nil {
		t.Fatal("an exited process linked")
	}
}

func TestUnlinkLocal(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	a, b := linkedPair(t, n, true)
	b.mu.Lock()
	_, back := b.links[a.Pid()]
	b.mu.Unlock()
	if !back {
		t.Fatal("link is one-sided")
	}
	if err := a.Unlink(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlink(ctx, b.Pid()); err != nil {
		t.Fatalf("second unlink: %v", err)
	}
	bDown := watch(t, b)
	b.Exit(etf.Atom("crash"))
	bDown()
	if m, ok := queued(a, nil); ok {
		t.Fatalf("unlinked process got %s", etf.Format(m))
	}
	// And the other way round: a's exit does not reach b's links.
	c, d := linkedPair(t, n, false)
	if err := c.Unlink(ctx, d.Pid()); err != nil {
		t.Fatal(err)
	}
	cDown := watch(t, c)
	c.Exit(etf.Atom("crash"))
	cDown()
	if !isAlive(d) {
		t.Fatal("exit propagated after unlink")
	}
}

func TestLinkRemote(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)

	t.Run("abnormal exit", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		b.Exit(etf.Atom("remote_crash"))
		wantTerm(t, "a's reason", waitExit(t, a), etf.Atom("remote_crash"))
	})
	t.Run("trapped", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		a.SetTrapExit(true)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		b.Exit(Kill)
		wantTerm(t, "EXIT", recv(t, a, nil), etf.Tuple{etf.Atom("EXIT"), b.Pid(), Kill})
	})
	t.Run("local exit reaches remote", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		b.SetTrapExit(true)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		a.Exit(etf.Atom("local_crash"))
		wantTerm(t, "EXIT", recv(t, b, nil), etf.Tuple{etf.Atom("EXIT"), a.Pid(), etf.Atom("local_crash")})
	})
	t.Run("normal exit ignored", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		w := newProc(t, n1)
		ref, err := w.Monitor(ctx, b.Pid())
		if err != nil {
			t.Fatal(err)
		}
		syncVia(t, w, b)
		b.Exit(Normal)
		// The DOWN follows the EXIT on the same connection.
		recv(t, w, downMsg(ref))
		if !isAlive(a) {
			t.Fatal("normal exit of a linked process killed a")
		}
	})
	t.Run("killed remotely", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		a.SetTrapExit(true)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		if err := a.SendExit(ctx, b.Pid(), Kill); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "b's reason", waitExit(t, b), Killed)
		wantTerm(t, "EXIT", recv(t, a, nil), etf.Tuple{etf.Atom("EXIT"), b.Pid(), Killed})
	})
	t.Run("unlink", func(t *testing.T) {
		a, b := newProc(t, n1), newProc(t, n2)
		a.SetTrapExit(true)
		if err := a.Link(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b)
		b.mu.Lock()
		_, linked := b.links[a.Pid()]
		b.mu.Unlock()
		if !linked {
			t.Fatal("remote side has no link")
		}
		if err := a.Unlink(ctx, b.Pid()); err != nil {
			t.Fatal(err)
		}
		ref, err := a.Monitor(ctx, b.Pid())
		if err != nil {
			t.Fatal(err)
		}
		syncVia(t, a, b) // UNLINK_ID and MONITOR_P have been handled
		b.mu.Lock()
		_, linked = b.links[a.Pid()]
		b.mu.Unlock()
		if linked {
			t.Fatal("UNLINK_ID left the remote link")
		}
		b.Exit(etf.Atom("crash"))
		recv(t, a, downMsg(ref))
		if m, ok := queued(a, nil); ok {
			t.Fatalf("unlinked process got %s", etf.Format(m))
		}
	})
}
