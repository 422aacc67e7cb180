package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/barrelgo/barrelgo/dist"
	"github.com/barrelgo/barrelgo/etf"
)

// Func is a Go function callable from Erlang with rpc:call(GoNode, Mod,
// Fun, Args) or erpc:call.
type Func func(ctx context.Context, args []etf.Term) (etf.Term, error)

// RegisterFunc makes f callable as mod:fun from other nodes.
func (n *Node) RegisterFunc(mod, fun etf.Atom, f Func) {
	n.funcsMu.Lock()
	n.funcs[[2]etf.Atom{mod, fun}] = f
	n.funcsMu.Unlock()
}

func (n *Node) lookupFunc(mod, fun etf.Atom) Func {
	n.funcsMu.RLock()
	defer n.funcsMu.RUnlock()
	return n.funcs[[2]etf.Atom{mod, fun}]
}

// RPCError is the {badrpc, Reason} answer of an rpc call.
type RPCError struct{ Reason etf.Term }

func (e *RPCError) Error() string { return "node: badrpc: " + etf.Format(e.Reason) }

// RPC calls mod:fun(args...) on node through its rex server, as
// rpc:call/4 does, and returns the result.
func (n *Node) RPC(ctx context.Context, node etf.Atom, mod, fun etf.Atom, args ...etf.Term) (etf.Term, error) {
	res, err := n.Call(ctx, etf.Tuple{etf.Atom("rex"), node},
		etf.Tuple{etf.Atom("call"), mod, fun, etf.List(args), n.groupLeader.pid})
	if err != nil {
		var ce *CallError
		if errors.As(err, &ce) {
			return nil, &RPCError{Reason: etf.Tuple{etf.Atom("EXIT"), ce.Reason}}
		}
		return nil, err
	}
	if t, ok := res.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("badrpc") {
		return nil, &RPCError{Reason: t[1]}
	}
	return res, nil
}

// apply runs a registered function and returns the result, or the error
// class and reason Erlang would see.
func (n *Node) apply(ctx context.Context, mod, fun etf.Atom, args etf.Term) (etf.Term, etf.Atom, etf.Term) {
	list, ok := args.(etf.List)
	if !ok {
		if bl, isBL := args.(etf.ByteList); isBL {
			for _, c := range bl {
				list = append(list, int64(c))
			}
		} else {
			return nil, etf.AtomError, etf.Atom("badarg")
		}
	}
	f := n.lookupFunc(mod, fun)
	if f == nil {
		return nil, etf.AtomError, etf.Atom("undef")
	}
	res, err := safeCall(ctx, f, list)
	if err != nil {
		return nil, etf.AtomError, ReasonOf(err)
	}
	return res, "", nil
}

func safeCall(ctx context.Context, f Func, args []etf.Term) (res etf.Term, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(ctx, args)
}

// serveRex answers rpc:call and rpc:cast requests.
func (n *Node) serveRex(p *Process) error {
	ctx := p.Context()
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			return nil
		}
		if from, req, ok := parseCall(m); ok {
			t, ok := req.(etf.Tuple)
			if !ok || len(t) < 4 || t[0] != etf.Atom("call") {
				_ = p.Reply(ctx, from, etf.Tuple{etf.Atom("badrpc"), etf.Atom("badarg")})
				continue
			}
			mod, _ := t[1].(etf.Atom)
			fun, _ := t[2].(etf.Atom)
			// Counted in n.wg (safe: rex itself is counted while it runs),
			// so Stop waits for the functions it started.
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				res, class, reason := n.apply(ctx, mod, fun, t[3])
				if class != "" {
					stack := etf.List{etf.Tuple{mod, fun, t[3], etf.List(nil)}}
					res = etf.Tuple{etf.Atom("badrpc"), etf.Tuple{etf.Atom("EXIT"), etf.Tuple{reason, stack}}}
				}
				_ = p.Reply(ctx, from, res)
			}()
			continue
		}
		if t, ok := m.(etf.Tuple); ok && len(t) == 2 && t[0] == atomGenCast {
			if c, ok := t[1].(etf.Tuple); ok && len(c) >= 4 && c[0] == etf.Atom("cast") {
				mod, _ := c[1].(etf.Atom)
				fun, _ := c[2].(etf.Atom)
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					n.apply(ctx, mod, fun, c[3])
				}()
			}
		}
	}
}

// spawnRequest serves SPAWN_REQUEST: erpc:call's execute_call and spawns
// of registered functions.
func (n *Node) spawnRequest(peer etf.Atom, ctl *dist.Control, args etf.Term) {
	from := ctl.From.(etf.Pid)
	reply := func(flags int64, result etf.Term) {
		// SPAWN_REPLY carries no sender on the wire, but From picks its
		// lane: the new process's, so that on carriers with parallel lanes
		// (QUIC) the reply cannot be overtaken by that process's first
		// message, EXIT or DOWN to the requester. ERTS disconnects a node
		// whose spawned process signals before the reply ("Missing
		// 'spawn_reply' signal", OTP-17737).
		sender, _ := result.(etf.Pid)
		n.sendControlNoConnect(peer, &dist.Control{Op: dist.OpSpawnReply, Ref: ctl.Ref, From: sender, To: from, Flags: flags, Result: result}, nil)
	}
	mod, _ := ctl.MFA[0].(etf.Atom)
	fun, _ := ctl.MFA[1].(etf.Atom)
	var link, monitor bool
	opts, _ := ctl.Opts.(etf.List)
	for _, o := range opts {
		switch o {
		case etf.Atom("link"):
			link = true
		case etf.Atom("monitor"):
			monitor = true
		}
	}
	p, err := n.NewProcess()
	if err != nil {
		reply(0, etf.Atom("system_limit"))
		return
	}
	var flags int64
	if link && p.addLink(from) {
		flags |= 1
	}
	if monitor && p.addWatcher(ctl.Ref, watcher{pid: from}) {
		flags |= 2
	}
	// The reply goes out before the process can exit: the requester must
	// learn the pid before any signal from it.
	reply(flags, p.pid)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		p.exit(n.runSpawned(p.Context(), mod, fun, args))
	}()
}

func (n *Node) runSpawned(ctx context.Context, mod, fun etf.Atom, args etf.Term) etf.Term {
	if mod == "erpc" && fun == "execute_call" {
		a, ok := args.(etf.List)
		if !ok || len(a) != 4 {
			return etf.Tuple{etf.Atom("badarg"), etf.List(nil)}
		}
		res := a[0]
		m, _ := a[1].(etf.Atom)
		f, _ := a[2].(etf.Atom)
		v, class, reason := n.apply(ctx, m, f, a[3])
		if class == "" {
			return etf.Tuple{res, etf.Atom("return"), v}
		}
		stack := etf.List{etf.Tuple{m, f, a[3], etf.List(nil)}}
		return etf.Tuple{res, class, reason, stack}
	}
	_, class, reason := n.apply(ctx, mod, fun, args)
	if class == "" {
		return Normal
	}
	return etf.Tuple{reason, etf.List{etf.Tuple{mod, fun, args, etf.List(nil)}}}
}

// spawnReply is for spawns this node requested; it requests none yet.
func (n *Node) spawnReply(ctl *dist.Control) {
	n.log.Debug("unexpected SPAWN_REPLY ignored", "to", etf.Format(ctl.To))
}
