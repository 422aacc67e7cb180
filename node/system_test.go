package node

import (
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func TestNetKernelPing(t *testing.T) {
	n1, n2 := twoNodes(t)
	got, err := n1.Call(testCtx(t), etf.Tuple{etf.Atom("net_kernel"), n2.Name()}, etf.Tuple{etf.Atom("is_auth"), n1.Name()})
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "net_adm:ping answer", got, etf.Atom("yes"))
	// Anything else is ignored and the server keeps going.
	if err := n1.Send(testCtx(t), etf.Tuple{etf.Atom("net_kernel"), n2.Name()}, etf.Atom("junk")); err != nil {
		t.Fatal(err)
	}
	got, err = n1.Call(testCtx(t), etf.Tuple{etf.Atom("net_kernel"), n2.Name()}, etf.Tuple{etf.Atom("is_auth"), n1.Name()})
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "second ping", got, etf.Atom("yes"))
}

func TestGroupLeaderIO(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	p := newProc(t, n1)
	gl := n2.groupLeader.Pid()
	ref := n1.MakeRef()
	if err := p.Send(ctx, gl, etf.Atom("not_io")); err != nil {
		t.Fatal(err)
	}
	req := etf.Tuple{etf.Atom("io_request"), p.Pid(), ref, etf.Tuple{etf.Atom("put_chars"), etf.Atom("unicode"), []byte("hello\n")}}
	if err := p.Send(ctx, gl, req); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "output reply", recv(t, p, nil), etf.Tuple{etf.Atom("io_reply"), ref, etf.AtomOK})
	req = etf.Tuple{etf.Atom("io_request"), p.Pid(), ref, etf.Tuple{etf.Atom("get_line"), []byte("> ")}}
	if err := p.Send(ctx, gl, req); err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "input reply", recv(t, p, nil),
		etf.Tuple{etf.Atom("io_reply"), ref, etf.Tuple{etf.AtomError, etf.Atom("enotsup")}})
}

func TestGlobalCalls(t *testing.T) {
	n1, n2 := twoNodes(t)
	ctx := testCtx(t)
	to := etf.Tuple{etf.Atom("global_name_server"), n2.Name()}
	for _, tc := range []struct{ req, want etf.Term }{
		{etf.Tuple{etf.Atom("set_lock"), etf.Tuple{etf.Atom("id"), etf.Atom("me")}}, etf.Atom("true")},
		{etf.Tuple{etf.Atom("del_lock"), etf.Tuple{etf.Atom("id"), etf.Atom("me")}}, etf.Atom("true")},
		{etf.Tuple{etf.Atom("register"), etf.Atom("name"), n1.groupLeader.Pid()}, etf.Atom("yes")},
		{etf.Tuple{etf.Atom("register_ext"), etf.Atom("name"), n1.groupLeader.Pid()}, etf.Atom("yes")},
		{etf.Tuple{etf.Atom("unregister"), etf.Atom("name")}, etf.AtomOK},
	} {
		got, err := n1.Call(ctx, to, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		wantTerm(t, etf.Format(tc.req), got, tc.want)
	}
	if _, ok := globalCallReply(etf.Tuple{etf.Atom("unknown")}); ok {
		t.Fatal("unknown global call answered")
	}
	if _, ok := globalCallReply(etf.Atom("x")); ok {
		t.Fatal("non-tuple global call answered")
	}
}

// takeGlobal replaces n's global_name_server stand-in with a test process,
// to see what the peer's stand-in sends it.
func takeGlobal(t *testing.T, n *Node) *Process {
	t.Helper()
	old := n.Whereis("global_name_server")
	old.Exit(Kill)
	waitExit(t, old)
	p := newProc(t, n)
	if err := p.Register("global_name_server"); err != nil {
		t.Fatal(err)
	}
	return p
}

func cast(msg etf.Term) etf.Tuple { return etf.Tuple{atomGenCast, msg} }

// A sync session as OTP's global runs it against the stand-in: init_connect,
// lock_set, exchange, resolved, each answered with the peer's tag.
func TestGlobalSyncSession(t *testing.T) {
	addr := testEPMD(t)
	n1, n2, n3 := startNode(t, addr), startNode(t, addr), startNode(t, addr)
	ctx := testCtx(t)
	g := takeGlobal(t, n1)
	to := etf.Tuple{etf.Atom("global_name_server"), n2.Name()}
	send := func(msg etf.Term) {
		t.Helper()
		if err := g.Send(ctx, to, cast(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// Without a session, a lock request is refused.
	send(etf.Tuple{etf.Atom("lock_set"), g.Pid(), etf.Atom("true"), etf.List{}, int64(99)})
	gs2 := n2.Whereis("global_name_server").Pid()
	wantTerm(t, "lock_set refusal", recv(t, g, nil),
		cast(etf.Tuple{etf.Atom("lock_set"), gs2, etf.Atom("false"), etf.List(nil)}))

	hisTag := int64(7)
	send(etf.Tuple{etf.Atom("init_connect"), etf.Tuple{int64(8), hisTag}, n1.Name(),
		etf.Tuple{etf.Atom("locker"), etf.Atom("no_longer_a_pid"), etf.List{}, g.Pid()}})
	m := recv(t, g, nil).(etf.Tuple)[1].(etf.Tuple)
	if len(m) != 4 || m[0] != etf.Atom("init_connect") || m[2] != n2.Name() {
		t.Fatalf("init_connect answer %s", etf.Format(m))
	}
	vsn := m[1].(etf.Tuple)
	wantTerm(t, "global vsn", vsn[0], int64(globalVsn))
	ourTag := vsn[1]

	send(etf.Tuple{etf.Atom("lock_set"), g.Pid(), etf.Atom("true"), etf.List{}, ourTag})
	wantTerm(t, "lock_set", recv(t, g, nil),
		cast(etf.Tuple{etf.Atom("lock_set"), gs2, etf.Atom("true"), etf.List(nil), hisTag}))
	send(etf.Tuple{etf.Atom("exchange"), n1.Name(), etf.List{}, etf.List{}, ourTag})
	wantTerm(t, "exchange", recv(t, g, nil),
		cast(etf.Tuple{etf.Atom("exchange"), n2.Name(), etf.List(nil), etf.List(nil), hisTag}))
	send(etf.Tuple{etf.Atom("resolved"), n1.Name(), etf.List{}, etf.List{}, etf.Atom("unused"), etf.List{}, ourTag})
	wantTerm(t, "resolved", recv(t, g, nil),
		cast(etf.Tuple{etf.Atom("resolved"), n2.Name(), etf.List(nil), etf.List(nil), etf.Atom("unused"), etf.List(nil), hisTag}))
	// The session is over: an exchange now goes unanswered, and so do
	// messages global sends that need no answer.
	send(etf.Tuple{etf.Atom("exchange"), n1.Name(), etf.List{}, etf.List{}, ourTag})
	send(etf.Tuple{etf.Atom("in_sync"), n1.Name(), etf.Atom("true")})
	send(etf.Tuple{etf.Atom("init_connect_ack"), n1.Name()})
	send(etf.Atom("not_a_tuple"))

	// new_nodes: the stand-in tells each new node it is in sync.
	g3 := takeGlobal(t, n3)
	send(etf.Tuple{etf.Atom("new_nodes"), n1.Name(), etf.List{}, etf.List{},
		etf.List{etf.Tuple{n3.Name(), etf.Atom("v")}, n2.Name()}, etf.List{}})
	wantTerm(t, "in_sync", recv(t, g3, nil), cast(etf.Tuple{etf.Atom("in_sync"), n2.Name(), etf.Atom("true")}))

	// Nothing else was sent to us.
	got, err := n1.Call(ctx, to, etf.Tuple{etf.Atom("set_lock"), etf.Atom("x")})
	if err != nil {
		t.Fatal(err)
	}
	wantTerm(t, "stand-in still serves", got, etf.Atom("true"))
	if m, ok := queued(g, nil); ok {
		t.Fatalf("unexpected message from the stand-in: %s", etf.Format(m))
	}
}
