package node

import (
	"errors"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func down(ref etf.Ref, object, reason etf.Term) etf.Tuple {
	return etf.Tuple{etf.Atom("DOWN"), ref, etf.Atom("process"), object, reason}
}

func TestMonitorLocal(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)

	t.Run("pid", func(t *testing.T) {
		w, target := newProc(t, n), newProc(t, n)
		ref, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		target.Exit(etf.Atom("gone"))
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, target.Pid(), etf.Atom("gone")))
		w.mu.Lock()
		left := len(w.monitors)
		w.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d monitors left after DOWN", left)
		}
	})
	t.Run("name", func(t *testing.T) {
		w, target := newProc(t, n), newProc(t, n)
		if err := target.Register("watched_local"); err != nil {
			t.Fatal(err)
		}
		ref, err := w.Monitor(ctx, etf.Atom("watched_local"))
		if err != nil {
			t.Fatal(err)
		}
		target.Exit(etf.Atom("gone"))
		// As erlang:monitor(process, Name): the object is {Name, node()}.
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)),
			down(ref, etf.Tuple{etf.Atom("watched_local"), n.Name()}, etf.Atom("gone")))
	})
	t.Run("name and node", func(t *testing.T) {
		w, target := newProc(t, n), newProc(t, n)
		if err := target.Register("watched_local2"); err != nil {
			t.Fatal(err)
		}
		obj := etf.Tuple{etf.Atom("watched_local2"), n.Name()}
		ref, err := w.Monitor(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		target.Exit(Kill)
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, obj, Kill))
	})
	t.Run("missing", func(t *testing.T) {
		w := newProc(t, n)
		dead := newProc(t, n)
		dead.Exit(Normal)
		for _, target := range []etf.Term{dead.Pid(), etf.Atom("nobody"), etf.Tuple{etf.Atom("nobody"), n.Name()}} {
			ref, err := w.Monitor(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			object := target
			if a, ok := target.(etf.Atom); ok {
				object = etf.Tuple{a, n.Name()}
			}
			wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, object, NoProc))
		}
	})
	t.Run("demonitor", func(t *testing.T) {
		w, target := newProc(t, n), newProc(t, n)
		ref1, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		ref2, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if ref1 == ref2 {
			t.Fatal("two monitors share a reference")
		}
		if err := w.Demonitor(ctx, ref1); err != nil {
			t.Fatal(err)
		}
		if err := w.Demonitor(ctx, ref1); err != nil {
			t.Fatalf("second demonitor: %v", err)
		}
		target.mu.Lock()
		_, kept := target.watchers[ref1]
		target.mu.Unlock()
		if kept {
			t.Fatal("demonitor left the watcher on the target")
		}
		target.Exit(etf.Atom("gone"))
		recv(t, w, downMsg(ref2))
		if m, ok := queued(w, downMsg(ref1)); ok {
			t.Fatalf("DOWN after demonitor: %s", etf.Format(m))
		}
	})
	t.Run("watcher exits first", func(t *testing.T) {
		w, target := newProc(t, n), newProc(t, n)
		ref, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		w.Exit(Normal)
		target.mu.Lock()
		_, kept := target.watchers[ref]
		target.mu.Unlock()
		if kept {
			t.Fatal("an exited watcher's monitor stayed on the target")
		}
	})
	t.Run("bad targets", func(t *testing.T) {
		w := newProc(t, n)
		for _, bad := range []etf.Term{etf.Tuple{}, etf.Tuple{etf.Atom("a")}, etf.Tuple{int64(1), n.Name()},
			etf.Tuple{etf.Atom("a"), n.Name(), etf.Atom("x")}, int64(3)} {
			if _, err := w.Monitor(ctx, bad); !errors.Is(err, errBadArg) {
				t.Fatalf("monitor %s: err = %v, want badarg", etf.Format(bad), err)
			}
		}
		w.mu.Lock()
		left := len(w.monitors)
		w.mu.Unlock()
		if left != 0 {
			t.Fatalf("bad monitors recorded: %d", left)
		}
	})
	t.Run("exited watcher", func(t *testing.T) {
		w := newProc(t, n)
		w.Exit(Normal)
		var ee *ExitError
		if _, err := w.Monitor(ctx, n.Whereis("rex").Pid()); !errors.As(err, &ee) {
			t.Fatalf("monitor from exited process: %v, want ExitError", err)
		}
	})
}

func TestMonitorRemote(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)

	t.Run("pid", func(t *testing.T) {
		w, target := newProc(t, n1), newProc(t, n2)
		ref, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		syncVia(t, w, target)
		target.Exit(etf.Tuple{etf.Atom("shutdown"), etf.Atom("remote")})
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)),
			down(ref, target.Pid(), etf.Tuple{etf.Atom("shutdown"), etf.Atom("remote")}))
	})
	t.Run("name and node", func(t *testing.T) {
		w, target := newProc(t, n1), newProc(t, n2)
		if err := target.Register("watched_remote"); err != nil {
			t.Fatal(err)
		}
		obj := etf.Tuple{etf.Atom("watched_remote"), n2.Name()}
		ref, err := w.Monitor(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		syncVia(t, w, target)
		target.Exit(etf.Atom("gone"))
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, obj, etf.Atom("gone")))
	})
	t.Run("missing", func(t *testing.T) {
		w := newProc(t, n1)
		dead := newProc(t, n2)
		dead.Exit(Normal)
		for _, target := range []etf.Term{dead.Pid(), etf.Tuple{etf.Atom("nobody"), n2.Name()}} {
			ref, err := w.Monitor(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, target, NoProc))
		}
	})
	t.Run("unreachable node", func(t *testing.T) {
		w := newProc(t, n1)
		obj := etf.Tuple{etf.Atom("x"), etf.Atom("nosuchnode@127.0.0.1")}
		ref, err := w.Monitor(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "DOWN", recv(t, w, downMsg(ref)), down(ref, obj, NoConn))
	})
	t.Run("demonitor", func(t *testing.T) {
		w, target := newProc(t, n1), newProc(t, n2)
		ref1, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		ref2, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Demonitor(ctx, ref1); err != nil {
			t.Fatal(err)
		}
		syncVia(t, w, target)
		target.mu.Lock()
		_, kept1 := target.watchers[ref1]
		_, kept2 := target.watchers[ref2]
		target.mu.Unlock()
		if kept1 || !kept2 {
			t.Fatalf("remote watchers after demonitor: ref1 %v (want false), ref2 %v (want true)", kept1, kept2)
		}
		target.Exit(etf.Atom("gone"))
		recv(t, w, downMsg(ref2))
		if m, ok := queued(w, downMsg(ref1)); ok {
			t.Fatalf("DOWN after demonitor: %s", etf.Format(m))
		}
	})
	t.Run("watcher exits first", func(t *testing.T) {
		w, target := newProc(t, n1), newProc(t, n2)
		ref, err := w.Monitor(ctx, target.Pid())
		if err != nil {
			t.Fatal(err)
		}
		w.Exit(Normal)
		marker := newProc(t, n1)
		syncVia(t, marker, target)
		target.mu.Lock()
		_, kept := target.watchers[ref]
		target.mu.Unlock()
		if kept {
			t.Fatal("an exited remote watcher's monitor stayed on the target")
		}
	})
}
