package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// echoServer answers {echo, X} with X and reports casts and infos.
func echoServer(casts, infos chan<- etf.Term) ServerFuncs {
	return ServerFuncs{
		Call: func(_ context.Context, from From, req etf.Term) (etf.Term, error) {
			if t, ok := req.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("echo") {
				return t[1], nil
			}
			if req == etf.Atom("whoami") {
				return from.Pid, nil
			}
			return etf.Tuple{etf.AtomError, etf.Atom("unknown")}, nil
		},
		Cast: func(_ context.Context, req etf.Term) error {
			casts <- req
			return nil
		},
		Info: func(_ context.Context, msg etf.Term) error {
			infos <- msg
			return nil
		},
	}
}

func recvChan(t *testing.T, ch <-chan etf.Term) etf.Term {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitFor):
		t.Fatal("nothing arrived")
		return nil
	}
}

func TestCallAndCast(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	casts, infos := make(chan etf.Term, 8), make(chan etf.Term, 8)
	local, err := n1.StartServer("echo", echoServer(casts, infos))
	if err != nil {
		t.Fatal(err)
	}
	remote, err := n2.StartServer("echo", echoServer(casts, infos))
	if err != nil {
		t.Fatal(err)
	}
	if n1.Whereis("echo") != local || n2.Whereis("echo") != remote {
		t.Fatal("servers not registered")
	}
	caller := newProc(t, n1)
	targets := []etf.Term{
		local.Pid(), etf.Atom("echo"), etf.Tuple{etf.Atom("echo"), n1.Name()},
		remote.Pid(), etf.Tuple{etf.Atom("echo"), n2.Name()},
	}
	for i, to := range targets {
		req := etf.Tuple{etf.Atom("echo"), etf.Tuple{int64(i), []byte("payload")}}
		got, err := caller.Call(ctx, to, req)
		if err != nil {
			t.Fatalf("call %s: %v", etf.Format(to), err)
		}
		wantTerm(t, "reply", got, req[1])
		got, err = n1.Call(ctx, to, req)
		if err != nil {
			t.Fatalf("node call %s: %v", etf.Format(to), err)
		}
		wantTerm(t, "node call reply", got, req[1])

		if err := caller.Cast(ctx, to, etf.Tuple{etf.Atom("cast"), int64(i)}); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "cast", recvChan(t, casts), etf.Tuple{etf.Atom("cast"), int64(i)})
		if err := n1.Cast(ctx, to, etf.Tuple{etf.Atom("ncast"), int64(i)}); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "node cast", recvChan(t, casts), etf.Tuple{etf.Atom("ncast"), int64(i)})
		if err := caller.Send(ctx, to, etf.Tuple{etf.Atom("info"), int64(i)}); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "info", recvChan(t, infos), etf.Tuple{etf.Atom("info"), int64(i)})
	}
	got, err := caller.Call(ctx, etf.Tuple{etf.Atom("echo"), n2.Name()}, etf.Atom("whoami"))
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "caller seen by the server", got, caller.Pid())

	// A call leaves nothing behind in the caller.
	caller.mu.Lock()
	nmon, nal, nq := len(caller.monitors), len(caller.aliases), len(caller.queue)
	caller.mu.Unlock()
	if nmon+nal+nq != 0 {
		t.Fatalf("after calls: %d monitors, %d aliases, %d messages", nmon, nal, nq)
	}
	assertNoAliases(t, n1, caller)
	// The cast follows the call's DEMONITOR_P on the same connection.
	if err := caller.Cast(ctx, remote.Pid(), etf.Atom("barrier")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "barrier", recvChan(t, casts), etf.Atom("barrier"))
	remote.mu.Lock()
	nw := len(remote.watchers)
	remote.mu.Unlock()
	if nw != 0 {
		t.Fatalf("remote server keeps %d watchers", nw)
	}
}

func assertNoAliases(t *testing.T, n *Node, p *Process) {
	t.Helper()
	n.mu.RLock()
	defer n.mu.RUnlock()
	for ref, q := range n.aliases {
		if q == p {
			t.Fatalf("alias %s of %s left in the node table", etf.Format(ref), etf.Format(p.Pid()))
		}
	}
}

func TestServerFuncsDefaults(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	srv, err := n.StartServer("", ServerFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.Call(ctx, srv.Pid(), etf.Atom("anything"))
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "reply", got, etf.Tuple{etf.AtomError, etf.Atom("not_implemented")})
	if err := n.Cast(ctx, srv.Pid(), etf.Atom("ignored")); err != nil {
		t.Fatal(err)
	}
	if err := n.Send(ctx, srv.Pid(), etf.Atom("ignored")); err != nil {
		t.Fatal(err)
	}
	// Malformed calls are infos.
	if err := n.Send(ctx, srv.Pid(), etf.Tuple{atomGenCall, etf.Atom("no_from"), etf.Atom("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Call(ctx, srv.Pid(), etf.Atom("still_up")); err != nil {
		t.Fatal(err)
	}
}

func TestStartServerNameClash(t *testing.T) {
	n := startNode(t, testEPMD(t))
	if _, err := n.StartServer("taken", ServerFuncs{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.StartServer("taken", ServerFuncs{}); err == nil {
		t.Fatal("second server under one name started")
	}
	if _, err := n.StartServer("rex", ServerFuncs{}); err == nil {
		t.Fatal("server took a system name")
	}
}

func TestCallMissingServer(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	deadLocal := newProc(t, n1)
	deadLocal.Exit(Normal)
	deadRemote := newProc(t, n2)
	deadRemote.Exit(Normal)
	caller := newProc(t, n1)
	cases := []struct {
		to     etf.Term
		reason etf.Term
	}{
		{deadLocal.Pid(), NoProc},
		{etf.Atom("no_server"), NoProc},
		{etf.Tuple{etf.Atom("no_server"), n1.Name()}, NoProc},
		{deadRemote.Pid(), NoProc},
		{etf.Tuple{etf.Atom("no_server"), n2.Name()}, NoProc},
		{etf.Tuple{etf.Atom("no_server"), etf.Atom("nosuchnode@127.0.0.1")}, NoConn},
	}
	for _, tc := range cases {
		_, err := caller.Call(ctx, tc.to, etf.Atom("hello"))
		var ce *CallError
		if !errors.As(err, &ce) {
			t.Fatalf("call %s: err = %v, want CallError", etf.Format(tc.to), err)
		}
		wantTerm(t, "reason", ce.Reason, tc.reason)
		wantTerm(t, "target", ce.To, tc.to)
		if ce.Error() == "" {
			t.Fatal("empty error text")
		}
	}
	caller.mu.Lock()
	nmon, nal, nq := len(caller.monitors), len(caller.aliases), len(caller.queue)
	caller.mu.Unlock()
	if nmon+nal+nq != 0 {
		t.Fatalf("after failed calls: %d monitors, %d aliases, %d messages", nmon, nal, nq)
	}
	assertNoAliases(t, n1, caller)
	// A call with a target that is no process at all is a plain error.
	if _, err := caller.Call(ctx, int64(7), etf.Atom("x")); !errors.Is(err, errBadArg) {
		t.Fatalf("call to an integer: %v, want badarg", err)
	}
	// A process that has exited cannot call.
	caller.Exit(Normal)
	var ee *ExitError
	if _, err := caller.Call(ctx, n1.Whereis("rex").Pid(), etf.Atom("x")); !errors.As(err, &ee) {
		t.Fatalf("call from an exited process: %v, want ExitError", err)
	}
}

func TestCallServerError(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	for _, n := range []*Node{n1, n2} {
		srv, err := n.StartServer("failing", ServerFuncs{
			Call: func(context.Context, From, etf.Term) (etf.Term, error) {
				return nil, errors.New("bad request")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		to := etf.Tuple{etf.Atom("failing"), n.Name()}
		_, err = n1.Call(ctx, to, etf.Atom("plain"))
		var ce *CallError
		if !errors.As(err, &ce) {
			t.Fatalf("call: %v, want CallError", err)
		}
		wantTerm(t, "reason", ce.Reason, etf.Tuple{etf.Atom("go_error"), "bad request"})
		wantTerm(t, "server exit", waitExit(t, srv), ce.Reason)
		if n.Whereis("failing") != nil {
			t.Fatal("failed server still registered")
		}

		srv, err = n.StartServer("failing", ServerFuncs{
			Call: func(context.Context, From, etf.Term) (etf.Term, error) {
				return nil, &ExitError{Reason: etf.Tuple{etf.Atom("bad"), int64(1)}}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = n1.Call(ctx, to, etf.Atom("reason"))
		if !errors.As(err, &ce) {
			t.Fatalf("call: %v, want CallError", err)
		}
		wantTerm(t, "reason", ce.Reason, etf.Tuple{etf.Atom("bad"), int64(1)})
		waitExit(t, srv)

		srv, err = n.StartServer("failing", ServerFuncs{
			Call: func(context.Context, From, etf.Term) (etf.Term, error) { panic("server bug") },
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = n1.Call(ctx, to, etf.Atom("panic"))
		if !errors.As(err, &ce) {
			t.Fatalf("call: %v, want CallError", err)
		}
		wantTerm(t, "reason", ce.Reason, etf.Tuple{etf.Atom("go_panic"), "server bug"})
		waitExit(t, srv)
	}
}

func TestCastAndInfoErrorsStopServer(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	stop := func(_ context.Context, msg etf.Term) error { return &ExitError{Reason: msg} }
	srv, err := n.StartServer("", ServerFuncs{Cast: stop})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Cast(ctx, srv.Pid(), etf.Atom("cast_stop")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "exit", waitExit(t, srv), etf.Atom("cast_stop"))
	srv, err = n.StartServer("", ServerFuncs{Info: stop})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(ctx, srv.Pid(), etf.Atom("info_stop")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "exit", waitExit(t, srv), etf.Atom("info_stop"))
}

// A call whose server dies before answering fails with the server's exit
// reason.
func TestCallServerDies(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	for _, n := range []*Node{n1, n2} {
		got := make(chan struct{})
		srv, err := n.StartServer("", ServerFuncs{
			Call: func(ctx context.Context, _ From, _ etf.Term) (etf.Term, error) {
				close(got)
				<-ctx.Done()
				return nil, ctx.Err()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := n1.Call(ctx, srv.Pid(), etf.Atom("slow"))
			errc <- err
		}()
		<-got
		killer := newProc(t, n)
		if err := killer.SendExit(ctx, srv.Pid(), Kill); err != nil {
			t.Fatal(err)
		}
		var ce *CallError
		if err := <-errc; !errors.As(err, &ce) || !etf.Equal(ce.Reason, Killed) {
			t.Fatalf("call to a killed server: %v, want CallError killed", err)
		}
	}
}

// A call that times out removes its monitor and alias, so a late reply is
// dropped and the server is not left watching the caller.
func TestCallTimeoutLeavesNothing(t *testing.T) {
	n1, n2 := twoNodes(t)
	for _, n := range []*Node{n1, n2} {
		release := make(chan struct{})
		casts := make(chan etf.Term, 1)
		srv, err := n.StartServer("", ServerFuncs{
			Call: func(context.Context, From, etf.Term) (etf.Term, error) {
				<-release
				return etf.Atom("late"), nil
			},
			Cast: func(_ context.Context, req etf.Term) error {
				casts <- req
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		caller := newProc(t, n1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err = caller.Call(ctx, srv.Pid(), etf.Atom("first"))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call: %v, want deadline exceeded", err)
		}
		caller.mu.Lock()
		nmon, nal := len(caller.monitors), len(caller.aliases)
		caller.mu.Unlock()
		if nmon+nal != 0 {
			t.Fatalf("after timeout: %d monitors, %d aliases", nmon, nal)
		}
		assertNoAliases(t, n1, caller)

		close(release)
		// The server answers the first call before it sees the second: the
		// late reply, had it been let in, would now be queued.
		got, err := caller.Call(testCtx(t), srv.Pid(), etf.Atom("second"))
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "second reply", got, etf.Atom("late"))
		if m, ok := queued(caller, nil); ok {
			t.Fatalf("late reply delivered: %s", etf.Format(m))
		}
		// The cast follows the call's DEMONITOR_P on the same connection.
		if err := caller.Cast(testCtx(t), srv.Pid(), etf.Atom("barrier")); err != nil {
			t.Fatal(err)
		}
		recvChan(t, casts)
		srv.mu.Lock()
		nw := len(srv.watchers)
		srv.mu.Unlock()
		if nw != 0 {
			t.Fatalf("server keeps %d watchers", nw)
		}
	}
}

// Reply answers to the alias in an OTP 24+ tag and to the pid otherwise.
func TestReply(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	for _, n := range []*Node{n1, n2} {
		srv, err := n.Spawn(func(p *Process) error {
			for {
				m, err := p.Receive(p.Context())
				if err != nil {
					return nil
				}
				from, req, ok := parseCall(m)
				if !ok {
					continue
				}
				if err := p.Reply(p.Context(), from, etf.Tuple{etf.Atom("got"), req}); err != nil {
					return err
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		caller := newProc(t, n1)
		got, err := caller.Call(ctx, srv.Pid(), etf.Atom("alias_tag"))
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "reply", got, etf.Tuple{etf.Atom("got"), etf.Atom("alias_tag")})

		// A pre-OTP-24 caller tags with a plain reference: the reply goes
		// to its pid.
		tag := n1.MakeRef()
		if err := caller.Send(ctx, srv.Pid(), etf.Tuple{atomGenCall, etf.Tuple{caller.Pid(), tag}, etf.Atom("old")}); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "reply", recv(t, caller, nil), etf.Tuple{tag, etf.Tuple{etf.Atom("got"), etf.Atom("old")}})
		srv.Exit(Normal)
	}
}
