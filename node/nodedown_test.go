package node

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// Disconnect turns every link and monitor across the connection into
// noconnection, on both sides.
func TestDisconnectFiresLinksAndMonitors(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	a, b := newProc(t, n1), newProc(t, n2)
	a.SetTrapExit(true)
	b.SetTrapExit(true)
	if err := a.Link(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	byPid, err := a.Monitor(ctx, b.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Register("far_away"); err != nil {
		t.Fatal(err)
	}
	byName, err := a.Monitor(ctx, etf.Tuple{etf.Atom("far_away"), n2.Name()})
	if err != nil {
		t.Fatal(err)
	}
	back, err := b.Monitor(ctx, a.Pid())
	if err != nil {
		t.Fatal(err)
	}
	// A non-trapping linked process dies of the disconnection.
	c := newProc(t, n1)
	if err := c.Link(ctx, b.Pid()); err != nil {
		t.Fatal(err)
	}
	syncVia(t, a, b)
	syncVia(t, c, b)
	syncVia(t, b, a)

	if !n1.Disconnect(n2.Name()) {
		t.Fatal("Disconnect reported no connection")
	}
	wantTerm(t, "a's EXIT", recv(t, a, exitMsg(b.Pid())), etf.Tuple{etf.Atom("EXIT"), b.Pid(), NoConn})
	wantTerm(t, "a's DOWN by pid", recv(t, a, downMsg(byPid)), down(byPid, b.Pid(), NoConn))
	wantTerm(t, "a's DOWN by name", recv(t, a, downMsg(byName)),
		down(byName, etf.Tuple{etf.Atom("far_away"), n2.Name()}, NoConn))
	wantTerm(t, "c's reason", waitExit(t, c), NoConn)
	// n2 sees the connection drop and does the same for its side.
	wantTerm(t, "b's EXIT", recv(t, b, exitMsg(a.Pid())), etf.Tuple{etf.Atom("EXIT"), a.Pid(), NoConn})
	wantTerm(t, "b's DOWN", recv(t, b, downMsg(back)), down(back, a.Pid(), NoConn))
	// Watchers across the connection are forgotten.
	a.mu.Lock()
	nw := len(a.watchers)
	a.mu.Unlock()
	if nw != 0 {
		t.Fatalf("a kept %d remote watchers", nw)
	}

	if n1.Disconnect(n2.Name()) {
		t.Fatal("second Disconnect reported a connection")
	}
	if slices.Contains(n1.Nodes(), n2.Name()) {
		t.Fatal("disconnected node still listed")
	}
	// The next send reconnects.
	if err := a.Send(ctx, b.Pid(), etf.Atom("again")); err != nil {
		t.Fatal(err)
	}
	recv(t, b, is(etf.Atom("again")))
	wantTerm(t, "b's EXIT for c", recv(t, b, exitMsg(c.Pid())), etf.Tuple{etf.Atom("EXIT"), c.Pid(), NoConn})
}

type eventLog struct {
	mu  sync.Mutex
	evs []Event
	ch  chan struct{}
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// waitLen waits until at least n events were seen and returns them.
func (l *eventLog) waitLen(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		l.mu.Lock()
		evs := slices.Clone(l.evs)
		l.mu.Unlock()
		if len(evs) >= n {
			return evs
		}
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("saw %d events, want %d: %v", len(evs), n, evs)
		}
	}
}

func TestNodeEvents(t *testing.T) {
	addr := testEPMD(t)
	visible := startNode(t, addr)
	hid := startNode(t, addr, hidden)
	ctx := testCtx(t)

	ch := make(chan Event, 8)
	cancelCh := visible.Subscribe(ch)
	defer cancelCh()
	vlog := &eventLog{ch: make(chan struct{}, 1)}
	cancelV := visible.SubscribeFunc(vlog.add)
	defer cancelV()
	hlog := &eventLog{ch: make(chan struct{}, 1)}
	cancelH := hid.SubscribeFunc(hlog.add)
	defer cancelH()

	if err := hid.Connect(ctx, visible.Name()); err != nil {
		t.Fatal(err)
	}
	// The visible node sees a hidden peer; the hidden node sees a visible
	// one (dist_util's publish_type looks at the peer's flags).
	evs := vlog.waitLen(t, 1)
	want := Event{Kind: NodeUp, Node: hid.Name(), Hidden: true}
	if evs[0] != want {
		t.Fatalf("visible node saw %+v, want %+v", evs[0], want)
	}
	select {
	case ev := <-ch:
		if ev != want {
			t.Fatalf("channel subscriber saw %+v, want %+v", ev, want)
		}
	case <-time.After(waitFor):
		t.Fatal("channel subscriber saw nothing")
	}
	hevs := hlog.waitLen(t, 1)
	if w := (Event{Kind: NodeUp, Node: visible.Name(), Hidden: false}); hevs[0] != w {
		t.Fatalf("hidden node saw %+v, want %+v", hevs[0], w)
	}
	if got := visible.Nodes(); len(got) != 0 {
		t.Fatalf("visible.Nodes() = %v: hidden peers must not be listed", got)
	}
	if got := hid.Nodes(); !slices.Equal(got, []etf.Atom{visible.Name()}) {
		t.Fatalf("hidden.Nodes() = %v, want [%s]", got, visible.Name())
	}

	if !visible.Disconnect(hid.Name()) {
		t.Fatal("Disconnect found no connection")
	}
	evs = vlog.waitLen(t, 2)
	if ev := evs[1]; ev.Kind != NodeDown || ev.Node != hid.Name() || !ev.Hidden || ev.Reason == nil {
		t.Fatalf("visible node saw %+v, want a hidden nodedown with a reason", ev)
	}
	hevs = hlog.waitLen(t, 2)
	if ev := hevs[1]; ev.Kind != NodeDown || ev.Node != visible.Name() || ev.Hidden || ev.Reason == nil {
		t.Fatalf("hidden node saw %+v, want a visible nodedown with a reason", ev)
	}
	select {
	case ev := <-ch:
		if ev.Kind != NodeDown || ev.Node != hid.Name() {
			t.Fatalf("channel subscriber saw %+v, want nodedown", ev)
		}
	case <-time.After(waitFor):
		t.Fatal("channel subscriber saw no nodedown")
	}

	// Cancelled subscriptions see nothing more.
	cancelV()
	cancelCh()
	if err := hid.Connect(ctx, visible.Name()); err != nil {
		t.Fatal(err)
	}
	hlog.waitLen(t, 3)
	// The visible side emits nodeup before its reader serves anything;
	// a round trip over the connection orders us after it.
	a, b := newProc(t, hid), newProc(t, visible)
	syncVia(t, a, b)
	syncVia(t, b, a)
	vlog.mu.Lock()
	nv := len(vlog.evs)
	vlog.mu.Unlock()
	if nv != 2 || len(ch) != 0 {
		t.Fatalf("cancelled subscribers got events: func %d (want 2), chan %d", nv, len(ch))
	}
	if NodeUp.String() != "nodeup" || NodeDown.String() != "nodedown" || EventKind(9).String() != "event(9)" {
		t.Fatal("EventKind.String")
	}
}
