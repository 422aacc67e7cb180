package node

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

func TestStartOptions(t *testing.T) {
	ctx := testCtx(t)
	for _, o := range []Options{
		{Name: "no_host", Cookie: "c"},
		{Name: "a@127.0.0.1"},
		{Name: "a@127.0.0.1", Cookie: "c", BusyPoll: -time.Microsecond},
	} {
		if n, err := Start(ctx, o); err == nil {
			n.Stop()
			t.Fatalf("Start(%+v) succeeded", o)
		}
	}
	// No EPMD listens there and none may be started.
	o := Options{Name: "noepmd@127.0.0.1", Cookie: "c", ListenAddr: "127.0.0.1:0",
		EPMDAddr: freeAddr(t), NoEmbeddedEPMD: true, Logger: quietLogger()}
	if n, err := Start(ctx, o); err == nil {
		n.Stop()
		t.Fatal("Start without an EPMD succeeded")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// With no EPMD running, the first node starts an embedded one that the
// second uses too.
func TestEmbeddedEPMD(t *testing.T) {
	addr := freeAddr(t)
	embed := func(o *Options) {
		o.EPMDAddr = addr
		o.NoEmbeddedEPMD = false
		o.ListenAddr = "" // derived from the IP host in the name
	}
	n1 := startNode(t, "", embed)
	n2 := startNode(t, "", embed)
	if tr := n1.transport.(*TCPTransport); tr.embedded == nil {
		t.Fatal("first node started no EPMD")
	}
	if tr := n2.transport.(*TCPTransport); tr.embedded != nil {
		t.Fatal("second node started a second EPMD")
	}
	got, err := n2.Call(testCtx(t), etf.Tuple{etf.Atom("net_kernel"), n1.Name()}, etf.Tuple{etf.Atom("is_auth"), n2.Name()})
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "ping", got, etf.Atom("yes"))
}

func TestNodeAccessors(t *testing.T) {
	addr := testEPMD(t)
	n1 := startNode(t, addr)
	h := startNode(t, addr, hidden)
	if n1.Creation() == 0 {
		t.Fatal("no creation from EPMD")
	}
	port := n1.ListenPort()
	if port == 0 {
		t.Fatal("no listen port")
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen port %d: %v", port, err)
	}
	conn.Close()
	p := newProc(t, n1)
	if p.Node() != n1 {
		t.Fatal("Process.Node")
	}
	if pid := p.Pid(); pid.Node != n1.Name() || pid.Creation != n1.Creation() {
		t.Fatalf("pid %s does not belong to %s/%d", etf.Format(pid), n1.Name(), n1.Creation())
	}
	r1, r2 := n1.MakeRef(), n1.MakeRef()
	if r1 == r2 || r1.Node != n1.Name() || r1.Creation != n1.Creation() {
		t.Fatalf("refs %s %s", etf.Format(r1), etf.Format(r2))
	}

	if err := h.Connect(testCtx(t), n1.Name()); err != nil {
		t.Fatal(err)
	}
	// The acceptor may finish after the dialer: a round trip waits for it.
	a, b := newProc(t, h), newProc(t, n1)
	syncVia(t, a, b)
	peers := n1.Peers()
	if len(peers) != 1 || peers[0].Name != h.Name() || !peers[0].Hidden {
		t.Fatalf("n1.Peers() = %+v, want the hidden node", peers)
	}
	peers = h.Peers()
	if len(peers) != 1 || peers[0].Name != n1.Name() || peers[0].Hidden {
		t.Fatalf("h.Peers() = %+v, want the visible node", peers)
	}
	// Connecting again reuses the connection.
	if err := n1.Connect(testCtx(t), h.Name()); err != nil {
		t.Fatal(err)
	}
	if len(n1.Peers()) != 1 {
		t.Fatalf("peers after a second connect: %+v", n1.Peers())
	}
}

// Nodes that dial each other at the same moment end up with one
// connection, usable both ways.
func TestSimultaneousConnect(t *testing.T) {
	for range 5 {
		n1, n2 := twoNodes(t)
		ctx := testCtx(t)
		ev1, ev2 := make(chan Event, 8), make(chan Event, 8)
		n1.Subscribe(ev1)
		n2.Subscribe(ev2)
		errs := make(chan error, 2)
		go func() { errs <- n1.Connect(ctx, n2.Name()) }()
		go func() { errs <- n2.Connect(ctx, n1.Name()) }()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		a, b := newProc(t, n1), newProc(t, n2)
		syncVia(t, a, b)
		syncVia(t, b, a)
		if len(n1.Peers()) != 1 || len(n2.Peers()) != 1 {
			t.Fatalf("peers: %+v / %+v", n1.Peers(), n2.Peers())
		}
		// One connection came up on each side, and none was replaced.
		if len(ev1) != 1 || len(ev2) != 1 {
			t.Fatalf("events: %d on n1, %d on n2, want one nodeup each", len(ev1), len(ev2))
		}
	}
}

func TestWrongCookieRefused(t *testing.T) {
	addr := testEPMD(t)
	n1 := startNode(t, addr)
	n2 := startNode(t, addr, func(o *Options) { o.Cookie = "other" })
	ctx, cancel := context.WithTimeout(testCtx(t), waitFor)
	defer cancel()
	if err := n1.Connect(ctx, n2.Name()); err == nil {
		t.Fatal("connected with a wrong cookie")
	}
	if len(n1.Peers())+len(n2.Peers()) != 0 {
		t.Fatal("a refused connection was kept")
	}
}

// A peer that reconnects as soon as the other side dropped it is let in:
// the attempt that made the dropped connection must not linger as pending.
func TestReconnectAfterDisconnect(t *testing.T) {
	a, b := twoNodes(t)
	ctx := testCtx(t)
	aDown, bUp := make(chan Event, 64), make(chan Event, 64)
	a.SubscribeFunc(func(ev Event) {
		if ev.Kind == NodeDown {
			aDown <- ev
		}
	})
	b.SubscribeFunc(func(ev Event) {
		if ev.Kind == NodeUp {
			bUp <- ev
		}
	})
	for range 30 {
		if err := a.Connect(ctx, b.Name()); err != nil {
			t.Fatal(err)
		}
		<-bUp
		if !b.Disconnect(a.Name()) {
			t.Fatal("b has no connection to drop")
		}
		<-aDown
	}
	if err := a.Connect(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
}

// A callback may cancel its own subscription and subscribe anew without
// deadlocking the node, and a cancelled one hears nothing more.
func TestSubscribeFuncCancelFromCallback(t *testing.T) {
	n := startNode(t, testEPMD(t))
	var mu sync.Mutex
	var got []EventKind
	var cancel func()
	cancel = n.SubscribeFunc(func(ev Event) {
		mu.Lock()
		got = append(got, ev.Kind)
		mu.Unlock()
		cancel()
		n.SubscribeFunc(func(Event) {})()
	})
	n.emit(Event{Kind: NodeUp, Node: "a@h"})
	n.emit(Event{Kind: NodeDown, Node: "a@h"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != NodeUp {
		t.Fatalf("callback saw %v, want only the first event", got)
	}
}

// Messages are counted per connection and per node, and a node's counts
// outlive its connections.
func TestMessageStats(t *testing.T) {
	n1, n2 := twoNodes(t)
	a, b := newProc(t, n1), newProc(t, n2)
	syncVia(t, a, b) // connected, and the acceptor too
	before1, before2 := n1.Stats(), n2.Stats()
	const count = 50
	for i := range count {
		if err := a.Send(testCtx(t), b.Pid(), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for range count {
		if _, err := b.Receive(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	after1, after2 := n1.Stats(), n2.Stats()
	if d := after1.MessagesOut - before1.MessagesOut; d < count {
		t.Errorf("sender counted %d messages out, want at least %d", d, count)
	}
	if d := after2.MessagesIn - before2.MessagesIn; d < count {
		t.Errorf("receiver counted %d messages in, want at least %d", d, count)
	}
	if p := n2.Peers(); len(p) != 1 || p[0].MessagesIn < count {
		t.Errorf("receiver's peer info = %+v, want at least %d in", p, count)
	}
	ev := make(chan Event, 8)
	defer n2.Subscribe(ev)()
	n1.Disconnect(n2.Name())
	ctx := testCtx(t)
	for down := false; !down; {
		select {
		case e := <-ev:
			down = e.Kind == NodeDown
		case <-ctx.Done():
			t.Fatal("no nodedown after Disconnect")
		}
	}
	if got := n2.Stats(); got.MessagesIn < after2.MessagesIn || got.MessagesOut < after2.MessagesOut {
		t.Errorf("counts went back after the connection closed: %+v, were %+v", got, after2)
	}
}

// BusyPoll reaches the links of the default transport both ways, and
// nodes that poll talk as others do: many round trips in both directions,
// with a big message among them.
func TestBusyPollNodes(t *testing.T) {
	addr := testEPMD(t)
	poll := func(o *Options) { o.BusyPoll = 200 * time.Microsecond }
	n1, n2 := startNode(t, addr, poll), startNode(t, addr, poll)
	tr := n1.transport.(*TCPTransport)
	if tr.BusyPoll != 200*time.Microsecond {
		t.Fatalf("transport BusyPoll = %v", tr.BusyPoll)
	}
	l, err := tr.Dial(testCtx(t), n2.Name())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := l.(*tcpLink).busyPoll; got != tr.BusyPoll {
		t.Fatalf("dialed link polls %v", got)
	}

	echo, err := n2.Spawn(func(p *Process) error {
		for {
			m, err := p.Receive(p.Context())
			if err != nil {
				return nil
			}
			if t, ok := m.(etf.Tuple); ok && len(t) == 2 {
				if from, ok := t[0].(etf.Pid); ok {
					p.Send(p.Context(), from, t[1])
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProc(t, n1)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for i := range 500 {
		var msg etf.Term = int64(i)
		if i == 250 {
			msg = big
		}
		if err := p.Send(testCtx(t), echo.Pid(), etf.Tuple{p.Pid(), msg}); err != nil {
			t.Fatal(err)
		}
		wantTerm(t, "echo", recv(t, p, nil), msg)
	}
}
