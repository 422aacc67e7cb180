package node

import (
	"context"
	"testing"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
)

// rawSend sends a control message straight over n's connection to peer,
// as a peer that does not go through the node API would.
func rawSend(t *testing.T, n *Node, peer etf.Atom, ctl *dist.Control, msg etf.Term) {
	t.Helper()
	ctx := testCtx(t)
	p, err := n.peerFor(ctx, peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.conn.Send(ctx, ctl, msg); err != nil {
		t.Fatalf("send %v: %v", ctl.Op, err)
	}
}

// Control messages that are well formed on the wire but name processes by
// atom where a pid is due must be ignored, not crash the reader.
func TestOddControlMessagesIgnored(t *testing.T) {
	n1, n2 := twoNodes(t)
	a, b := newProc(t, n1), newProc(t, n2)
	if err := b.Register("odd_target"); err != nil {
		t.Fatal(err)
	}
	syncVia(t, a, b)
	ref := n1.MakeRef()
	for _, ctl := range []*dist.Control{
		{Op: dist.OpMonitorP, From: etf.Atom("by_name"), To: b.Pid(), Ref: ref},
		{Op: dist.OpMonitorP, From: etf.Atom("by_name"), To: etf.Atom("odd_target"), Ref: ref},
		{Op: dist.OpDemonitorP, From: etf.Atom("by_name"), To: etf.Atom("odd_target"), Ref: ref},
		{Op: dist.OpMonitorPExit, From: a.Pid(), To: etf.Atom("odd_target"), Ref: ref, Reason: Normal},
		{Op: dist.OpUnlink, From: a.Pid(), To: b.Pid()},
		{Op: dist.OpGroupLeader, From: a.Pid(), To: b.Pid()},
		{Op: dist.OpSpawnReply, Ref: ref, To: b.Pid(), Flags: 0, Result: a.Pid()},
	} {
		var msg etf.Term
		if ctl.Op.HasMessage() {
			msg = Normal
		}
		rawSend(t, n1, n2.Name(), ctl, msg)
	}
	syncVia(t, a, b)
	if !isAlive(b) {
		t.Fatal("target exited")
	}
	if m, ok := queued(b, nil); ok {
		t.Fatalf("target got %s", etf.Format(m))
	}
}

// The erpc path: a SPAWN_REQUEST for erpc:execute_call runs a registered
// function in a new process, replies with its pid, and that process's exit
// reason carries the result to the requester's monitor.
func TestSpawnRequestExecuteCall(t *testing.T) {
	n1, n2 := twoNodes(t)
	n2.RegisterFunc("m", "add", func(_ context.Context, args []etf.Term) (etf.Term, error) {
		return args[0].(int64) + args[1].(int64), nil
	})
	cases := []struct {
		name string
		mod  etf.Atom
		fun  etf.Atom
		args etf.Term
		want func(res etf.Ref) etf.Term
	}{
		{"return", "m", "add", etf.List{int64(2), int64(40)}, func(res etf.Ref) etf.Term {
			return etf.Tuple{res, etf.Atom("return"), int64(42)}
		}},
		{"undef", "m", "missing", etf.List{}, func(res etf.Ref) etf.Term {
			return etf.Tuple{res, etf.AtomError, etf.Atom("undef"),
				etf.List{etf.Tuple{etf.Atom("m"), etf.Atom("missing"), etf.List{}, etf.List(nil)}}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newProc(t, n1)
			reqID := n1.MakeRef()
			res := n1.MakeRef()
			// The requester's side of a spawn_request with monitor: the
			// request id doubles as the monitor reference.
			a.mu.Lock()
			a.monitors[reqID] = etf.Tuple{etf.Atom("spawned"), n2.Name()}
			a.mu.Unlock()
			args := etf.List{res, tc.mod, tc.fun, tc.args}
			rawSend(t, n1, n2.Name(), &dist.Control{Op: dist.OpSpawnRequest, Ref: reqID, From: a.Pid(),
				GroupLeader: n1.groupLeader.Pid(),
				MFA:         etf.Tuple{etf.Atom("erpc"), etf.Atom("execute_call"), int64(4)},
				Opts:        etf.List{etf.Atom("monitor")}}, args)
			m := recv(t, a, downMsg(reqID)).(etf.Tuple)
			wantTerm(t, "result", m[4], tc.want(res))
		})
	}
}
