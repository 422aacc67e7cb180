package node

import (
	"errors"
	"slices"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func TestSendLocal(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	to := newProc(t, n)
	from := newProc(t, n)
	if err := to.Register("local_target"); err != nil {
		t.Fatal(err)
	}
	alias := to.Alias()
	targets := []etf.Term{to.Pid(), etf.Atom("local_target"), etf.Tuple{etf.Atom("local_target"), n.Name()}, alias}
	for i, target := range targets {
		msg := etf.Tuple{etf.Atom("via_proc"), int64(i)}
		if err := from.Send(ctx, target, msg); err != nil {
			t.Fatalf("send to %s: %v", etf.Format(target), err)
		}
		wantTerm(t, "message", recv(t, to, nil), msg)
		msg = etf.Tuple{etf.Atom("via_node"), int64(i)}
		if err := n.Send(ctx, target, msg); err != nil {
			t.Fatalf("node send to %s: %v", etf.Format(target), err)
		}
		wantTerm(t, "message", recv(t, to, nil), msg)
	}
}

func TestSendRemote(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	to := newProc(t, n2)
	from := newProc(t, n1)
	if err := to.Register("remote_target"); err != nil {
		t.Fatal(err)
	}
	alias := to.Alias()
	targets := []etf.Term{to.Pid(), etf.Tuple{etf.Atom("remote_target"), n2.Name()}, alias}
	for i, target := range targets {
		msg := etf.Tuple{etf.Atom("via_proc"), int64(i), etf.Map{{Key: etf.Atom("k"), Value: []byte("v")}}}
		if err := from.Send(ctx, target, msg); err != nil {
			t.Fatalf("send to %s: %v", etf.Format(target), err)
		}
		wantTerm(t, "message", recv(t, to, nil), msg)
		msg = etf.Tuple{etf.Atom("via_node"), int64(i)}
		if err := n1.Send(ctx, target, msg); err != nil {
			t.Fatalf("node send to %s: %v", etf.Format(target), err)
		}
		wantTerm(t, "message", recv(t, to, nil), msg)
	}
	if got := n1.Nodes(); !slices.Equal(got, []etf.Atom{n2.Name()}) {
		t.Fatalf("n1.Nodes() = %v, want [%s]", got, n2.Name())
	}
	if got := n2.Nodes(); !slices.Equal(got, []etf.Atom{n1.Name()}) {
		t.Fatalf("n2.Nodes() = %v, want [%s]", got, n1.Name())
	}

	// A reply to the sender's pid goes back over the same connection.
	if err := to.Send(ctx, from.Pid(), etf.Atom("back")); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "reply", recv(t, from, nil), etf.Atom("back"))
}

// Messages to names nobody holds and to dropped aliases vanish; a marker
// sent after them on the same path shows they were not merely late.
func TestSendToMissingTargetsIsDropped(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	to := newProc(t, n2)
	from := newProc(t, n1)
	alias := to.Alias()
	to.Unalias(alias)
	localAlias := from.Alias()
	from.Unalias(localAlias)
	deadRemote := spawnWaiter(t, n2)
	deadRemote.Exit(Normal)
	for _, target := range []etf.Term{
		alias,
		etf.Tuple{etf.Atom("nobody_here"), n2.Name()},
		deadRemote.Pid(),
		localAlias,
		etf.Tuple{etf.Atom("nobody_here"), n1.Name()},
	} {
		if err := from.Send(ctx, target, etf.Atom("lost")); err != nil {
			t.Fatalf("send to %s: %v", etf.Format(target), err)
		}
	}
	syncVia(t, from, to)
	if m, ok := queued(to, nil); ok {
		t.Fatalf("remote target got %s", etf.Format(m))
	}
	if m, ok := queued(from, nil); ok {
		t.Fatalf("local sender got %s", etf.Format(m))
	}
}

func TestSendErrors(t *testing.T) {
	n := startNode(t, testEPMD(t))
	ctx := testCtx(t)
	p := newProc(t, n)
	err := p.Send(ctx, etf.Atom("not_registered"), etf.Atom("hi"))
	if !errors.Is(err, errBadArg) {
		t.Fatalf("send to unregistered name: err = %v, want badarg", err)
	}
	if err := n.Send(ctx, etf.Atom("not_registered"), etf.Atom("hi")); !errors.Is(err, errBadArg) {
		t.Fatalf("node send to unregistered name: err = %v, want badarg", err)
	}
	for _, bad := range []etf.Term{int64(1), etf.Tuple{etf.Atom("a")}, etf.Tuple{int64(1), n.Name()}, []byte("x")} {
		if err := p.Send(ctx, bad, etf.Atom("hi")); !errors.Is(err, errBadArg) {
			t.Fatalf("send to %s: err = %v, want badarg", etf.Format(bad), err)
		}
	}
	// No EPMD knows this node: the connection attempt fails.
	err = p.Send(ctx, etf.Tuple{etf.Atom("x"), etf.Atom("nosuchnode@127.0.0.1")}, etf.Atom("hi"))
	if err == nil {
		t.Fatal("send to an unknown node succeeded")
	}
}

func TestRegisterWhereis(t *testing.T) {
	n := startNode(t, testEPMD(t))
	a := newProc(t, n)
	b := newProc(t, n)
	if err := a.Register("clash"); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("clash"); err == nil {
		t.Fatal("registering a taken name succeeded")
	}
	if err := a.Register("second_name"); err == nil {
		t.Fatal("registering a second name for one process succeeded")
	}
	if got := n.Whereis("clash"); got != a {
		t.Fatalf("Whereis(clash) = %v, want a", got)
	}
	if got := n.Whereis("second_name"); got != nil {
		t.Fatal("failed registration left a name behind")
	}
	for _, sys := range []etf.Atom{"net_kernel", "rex", "global_name_server"} {
		if n.Whereis(sys) == nil {
			t.Fatalf("system process %s not registered", sys)
		}
	}

	// The name is freed when its holder exits, and can be taken again.
	a.Exit(Normal)
	if got := n.Whereis("clash"); got != nil {
		t.Fatal("name still registered after its process exited")
	}
	if err := a.Register("after_exit"); err == nil {
		t.Fatal("an exited process registered a name")
	}
	if err := b.Register("clash"); err != nil {
		t.Fatalf("re-register freed name: %v", err)
	}
}

func TestSendNoConnect(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	from := newProc(t, n1)
	to := newProc(t, n2)
	if err := to.Register("nc_target"); err != nil {
		t.Fatal(err)
	}
	if from.SendNoConnect(ctx, etf.Tuple{etf.Atom("nc_target"), n2.Name()}, etf.Atom("dropped")) {
		t.Fatal("SendNoConnect to an unconnected node reported success")
	}
	if from.SendNoConnect(ctx, to.Pid(), etf.Atom("dropped")) {
		t.Fatal("SendNoConnect to a pid of an unconnected node reported success")
	}
	if got := n1.Nodes(); len(got) != 0 {
		t.Fatalf("SendNoConnect connected: nodes = %v", got)
	}

	if err := n1.Connect(ctx, n2.Name()); err != nil {
		t.Fatal(err)
	}
	if !from.SendNoConnect(ctx, etf.Tuple{etf.Atom("nc_target"), n2.Name()}, etf.Atom("first")) {
		t.Fatal("SendNoConnect over a connection failed")
	}
	if !from.SendNoConnect(ctx, to.Pid(), etf.Atom("second")) {
		t.Fatal("SendNoConnect to a pid over a connection failed")
	}
	wantTerm(t, "first", recv(t, to, nil), etf.Atom("first"))
	wantTerm(t, "second", recv(t, to, nil), etf.Atom("second"))

	local := newProc(t, n1)
	if !from.SendNoConnect(ctx, local.Pid(), etf.Atom("local")) {
		t.Fatal("SendNoConnect to a local pid failed")
	}
	wantTerm(t, "local", recv(t, local, nil), etf.Atom("local"))
}
