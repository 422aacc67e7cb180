package node

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/barrelgo/barrelgo/epmd"
	"github.com/barrelgo/barrelgo/etf"
	"go.uber.org/goleak"
)

func TestStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := epmd.Start(context.Background(), "127.0.0.1:0", epmd.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.Addr().String()
	ctx := testCtx(t)
	n1, n2 := startNode(t, addr), startNode(t, addr)
	down := make(chan Event, 4)
	n2.Subscribe(down)

	plain := newProc(t, n1)
	blocked := make(chan error, 1)
	spawned, err := n1.Spawn(func(p *Process) error {
		_, err := p.Receive(context.Background())
		blocked <- err
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srvProc, err := n1.StartServer("stopping", ServerFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	local := []*Process{plain, spawned, srvProc, n1.groupLeader, n1.Whereis("rex"), n1.Whereis("net_kernel"), n1.Whereis("global_name_server")}

	// A remote process linked to one of ours learns why it went.
	remote := newProc(t, n2)
	remote.SetTrapExit(true)
	if err := plain.Link(ctx, remote.Pid()); err != nil {
		t.Fatal(err)
	}
	syncVia(t, plain, remote)

	if err := n1.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range local {
		wantTerm(t, "exit reason of "+etf.Format(p.Pid()), waitExit(t, p), Shutdown)
	}
	var ee *ExitError
	if err := <-blocked; !errors.As(err, &ee) || !etf.Equal(ee.Reason, Shutdown) {
		t.Fatalf("blocked receive: %v, want ExitError shutdown", err)
	}
	wantTerm(t, "remote EXIT", recv(t, remote, nil), etf.Tuple{etf.Atom("EXIT"), plain.Pid(), Shutdown})
	ev := <-down
	if ev.Kind != NodeUp {
		t.Fatalf("first event %+v, want nodeup", ev)
	}
	if ev = <-down; ev.Kind != NodeDown || ev.Node != n1.Name() {
		t.Fatalf("event %+v, want nodedown of %s", ev, n1.Name())
	}

	if err := n1.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := n1.NewProcess(); !errors.Is(err, ErrStopped) {
		t.Fatalf("NewProcess after Stop: %v", err)
	}
	if _, err := n1.Spawn(func(*Process) error { return nil }); !errors.Is(err, ErrStopped) {
		t.Fatalf("Spawn after Stop: %v", err)
	}
	if _, err := n1.StartServer("late", ServerFuncs{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("StartServer after Stop: %v", err)
	}
	if err := n1.Connect(ctx, n2.Name()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Connect after Stop: %v", err)
	}
	if _, err := n1.Call(ctx, etf.Tuple{etf.Atom("rex"), n2.Name()}, etf.Atom("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Call after Stop: %v", err)
	}
	if _, err := n1.RPC(ctx, n2.Name(), "m", "f"); !errors.Is(err, ErrStopped) {
		t.Fatalf("RPC after Stop: %v", err)
	}
	if err := plain.Send(ctx, remote.Pid(), etf.Atom("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Send after Stop: %v", err)
	}
	if len(n1.Nodes()) != 0 {
		t.Fatalf("stopped node lists peers: %v", n1.Nodes())
	}
	// Its name is gone from EPMD.
	if _, err := epmd.NewClient(addr).PortPlease(ctx, "gotest"); err == nil {
		t.Fatal("PortPlease of a never-registered name succeeded")
	}
	alive, _, _ := splitName(n1.Name())
	if _, err := epmd.NewClient(addr).PortPlease(ctx, alive); err == nil {
		t.Fatal("stopped node still registered with EPMD")
	}
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
}

func splitName(name etf.Atom) (string, string, bool) {
	for i := range len(name) {
		if name[i] == '@' {
			return string(name[:i]), string(name[i+1:]), true
		}
	}
	return string(name), "", false
}

// Processes created while the node stops either fail with ErrStopped or
// exit with the rest; none is left running.
func TestStopRacesSpawn(t *testing.T) {
	for range 10 {
		n := startNode(t, testEPMD(t))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var procs []*Process
		start, busy := make(chan struct{}), make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					p, err := n.Spawn(func(p *Process) error {
						_, err := p.Receive(context.Background())
						return err
					})
					if err != nil {
						if !errors.Is(err, ErrStopped) {
							t.Errorf("spawn: %v", err)
						}
						return
					}
					mu.Lock()
					procs = append(procs, p)
					if len(procs) == 200 {
						close(busy)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		<-busy
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for _, p := range procs {
			wantTerm(t, "exit reason", waitExit(t, p), Shutdown)
		}
	}
}

// Stop waits for the registered functions it is running: they see their
// context end and return before Stop does.
func TestStopWaitsForFuncs(t *testing.T) {
	n1, n2 := twoNodes(t)
	started := make(chan struct{})
	var finished atomic.Bool
	n2.RegisterFunc("m", "block", func(ctx context.Context, _ []etf.Term) (etf.Term, error) {
		close(started)
		<-ctx.Done()
		// Yield a while, so that a Stop that does not wait gets ahead.
		for range 10000 {
			runtime.Gosched()
		}
		finished.Store(true)
		return nil, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		_, err := n1.RPC(testCtx(t), n2.Name(), "m", "block")
		errc <- err
	}()
	<-started
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Stop returned while a function it ran was still running")
	}
	var re *RPCError
	if err := <-errc; !errors.As(err, &re) {
		t.Fatalf("rpc to a stopping node: %v, want RPCError", err)
	}
}
