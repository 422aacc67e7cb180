package node

import (
	"context"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
)

// startSystemProcesses starts what Erlang peers expect every node to have.
func (n *Node) startSystemProcesses() {
	n.groupLeader, _ = n.Spawn(n.serveIO)
	n.spawnRegistered("net_kernel", n.serveNetKernel)
	n.spawnRegistered("rex", n.serveRex)
	// global's name server on every Erlang peer syncs with ours when we
	// connect as a visible node, and global:sync() there waits for it.
	n.spawnRegistered("global_name_server", n.serveGlobal)
}

func (n *Node) spawnRegistered(name etf.Atom, fn func(p *Process) error) {
	ready := make(chan struct{})
	_, _ = n.Spawn(func(p *Process) error {
		err := p.Register(name)
		close(ready)
		if err != nil {
			return err
		}
		return fn(p)
	})
	<-ready
}

// serveNetKernel answers net_adm:ping ({is_auth, Node} -> yes).
func (n *Node) serveNetKernel(p *Process) error {
	ctx := p.Context()
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		from, req, ok := parseCall(m)
		if !ok {
			continue
		}
		if t, ok := req.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("is_auth") {
			_ = p.Reply(ctx, from, etf.Atom("yes"))
		}
	}
}

// serveIO is the group leader of remote calls: output requests are
// logged and acknowledged, input requests refused.
func (n *Node) serveIO(p *Process) error {
	ctx := p.Context()
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		t, ok := m.(etf.Tuple)
		if !ok || len(t) != 4 || t[0] != etf.Atom("io_request") {
			continue
		}
		from, _ := t[1].(etf.Pid)
		var reply etf.Term = etf.AtomOK
		if req, ok := t[3].(etf.Tuple); ok && len(req) > 0 && req[0] == etf.Atom("put_chars") {
			n.log.Info("remote output", "from", etf.Format(from), "request", etf.Format(req))
		} else {
			reply = etf.Tuple{etf.AtomError, etf.Atom("enotsup")}
		}
		_ = n.send(context.Background(), p.pidTerm, from, etf.Tuple{etf.Atom("io_reply"), t[2], reply})
	}
}

// globalVsn is the version of global's protocol the stand-in speaks (OTP
// 25-27's ?vsn): lockers talk through the name servers, lock_set and the
// exchange carry both sides' sync tags.
const globalVsn = 8

// serveGlobal is a stand-in for global_name_server (kernel's global.erl)
// that owns no global names. It answers a peer's sync session the way a
// node with an empty name table would: init_connect with its own tag, the
// peer locker's lock_set, then exchange and resolved with no names. It
// grants every lock and accepts every registration request, so the peer's
// global:sync(), register_name and trans calls complete instead of
// waiting on this node forever.
func (n *Node) serveGlobal(p *Process) error {
	ctx := p.Context()
	// hisTag is the sync tag of each peer's current session; ours are
	// drawn from a counter.
	hisTag := map[etf.Atom]etf.Term{}
	var tagSeq int64
	cast := func(node etf.Atom, msg etf.Term) {
		// Volatile like global's own sends: a peer that left is not redialed.
		n.sendControlNoConnect(node, &dist.Control{Op: dist.OpRegSend, From: p.pid, To: etf.Atom("global_name_server")},
			etf.Tuple{atomGenCast, msg})
	}
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		if from, req, ok := parseCall(m); ok {
			if reply, ok := globalCallReply(req); ok {
				_ = p.Reply(ctx, from, reply)
			} else {
				n.log.Debug("global_name_server: call ignored", "req", etf.Format(req))
			}
			continue
		}
		t, ok := m.(etf.Tuple)
		if !ok || len(t) != 2 || t[0] != atomGenCast {
			continue // init_connect_ack, lost_connection, ...: nothing to do
		}
		msg, _ := t[1].(etf.Tuple)
		if len(msg) < 2 {
			continue
		}
		switch msg[0] {
		case etf.Atom("init_connect"):
			// {init_connect, {Vsn, HisTag, ...}, Node, {locker, _, Known, Locker}}
			if len(msg) != 4 {
				continue
			}
			vsn, _ := msg[1].(etf.Tuple)
			node, _ := msg[2].(etf.Atom)
			if len(vsn) < 2 || node == "" {
				continue
			}
			hisTag[node] = vsn[1]
			tagSeq++
			cast(node, etf.Tuple{etf.Atom("init_connect"), etf.Tuple{int64(globalVsn), tagSeq}, n.name,
				etf.Tuple{etf.Atom("locker"), etf.Atom("no_longer_a_pid"), etf.List(nil), p.pid}})
		case etf.Atom("lock_set"):
			// {lock_set, HisLocker, true, HisKnown, OurTag}: his partition is
			// locked; ours (this node alone) is too. His locker waits for
			// an answer whatever happens, so one without a session gets the
			// refusal global's own locker sends then.
			locker, _ := msg[1].(etf.Pid)
			if len(msg) < 3 || msg[2] != etf.Atom("true") || locker.Node == "" {
				continue
			}
			if tag, ok := hisTag[locker.Node]; ok {
				cast(locker.Node, etf.Tuple{etf.Atom("lock_set"), p.pid, etf.Atom("true"), etf.List(nil), tag})
			} else {
				cast(locker.Node, etf.Tuple{etf.Atom("lock_set"), p.pid, etf.Atom("false"), etf.List(nil)})
			}
		case etf.Atom("exchange"):
			// {exchange, Node, Names, NamesExt, OurTag}: we have no names.
			node, _ := msg[1].(etf.Atom)
			if tag, ok := hisTag[node]; ok && len(msg) == 5 {
				cast(node, etf.Tuple{etf.Atom("exchange"), n.name, etf.List(nil), etf.List(nil), tag})
			}
		case etf.Atom("resolved"):
			// {resolved, Node, Ops, Known, unused, NamesExt, OurTag}: nothing
			// of ours clashed; this ends the session.
			node, _ := msg[1].(etf.Atom)
			if tag, ok := hisTag[node]; ok && len(msg) == 7 {
				cast(node, etf.Tuple{etf.Atom("resolved"), n.name, etf.List(nil), etf.List(nil),
					etf.Atom("unused"), etf.List(nil), tag})
				delete(hisTag, node)
			}
		case etf.Atom("in_sync"):
			// {in_sync, Node, IsKnown}: Node learnt of us through another
			// node and ended its own session with us.
			node, _ := msg[1].(etf.Atom)
			delete(hisTag, node)
		case etf.Atom("new_nodes"):
			// {new_nodes, Node, Ops, NamesExt, NewNodes, ExtraInfo}: a peer
			// merged with other nodes. They now count us as known and
			// start no session with us: their global:sync() waits for our
			// in_sync, sent after connecting as global's sync_other does.
			if len(msg) != 6 {
				continue
			}
			nodes, _ := msg[4].(etf.List)
			for _, x := range nodes {
				node, _ := x.(etf.Atom)
				if nv, ok := x.(etf.Tuple); ok && len(nv) == 2 {
					node, _ = nv[0].(etf.Atom)
				}
				if node == "" || node == n.name {
					continue
				}
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					ctx, cancel := context.WithTimeout(ctx, n.opts.HandshakeTimeout)
					defer cancel()
					_ = p.Send(ctx, etf.Tuple{etf.Atom("global_name_server"), node},
						etf.Tuple{atomGenCast, etf.Tuple{etf.Atom("in_sync"), n.name, etf.Atom("true")}})
				}()
			}
		}
	}
}

// globalCallReply answers the calls peers make to every known node's
// global_name_server: lock requests (granted) and name table updates
// (accepted and not kept).
func globalCallReply(req etf.Term) (etf.Term, bool) {
	t, ok := req.(etf.Tuple)
	if !ok || len(t) == 0 {
		return nil, false
	}
	switch t[0] {
	case etf.Atom("set_lock"), etf.Atom("del_lock"):
		return etf.Atom("true"), true
	case etf.Atom("register"), etf.Atom("register_ext"):
		return etf.Atom("yes"), true
	case etf.Atom("unregister"):
		return etf.AtomOK, true
	}
	return nil, false
}
