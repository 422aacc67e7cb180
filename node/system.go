package node

import (
	"context"

	"github.com/barrelgo/barrelgo/etf"
)

// startSystemProcesses starts what Erlang peers expect every node to have.
func (n *Node) startSystemProcesses() {
	n.groupLeader, _ = n.Spawn(n.serveIO)
	n.spawnRegistered("net_kernel", n.serveNetKernel)
	n.spawnRegistered("rex", n.serveRex)
	// global's name server on Erlang peers talks to ours when we connect as
	// a visible node; accepting and dropping its messages keeps it from
	// queueing them for a name that does not exist.
	n.spawnRegistered("global_name_server", n.drain)
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

func (n *Node) drain(p *Process) error {
	ctx := p.Context()
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		n.log.Debug("message to a system stand-in dropped", "msg", etf.Format(m))
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
		_ = n.send(context.Background(), p.pid, from, etf.Tuple{etf.Atom("io_reply"), t[2], reply})
	}
}
