package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

var (
	atomGenCall = etf.Atom("$gen_call")
	atomGenCast = etf.Atom("$gen_cast")
	atomAlias   = etf.Atom("alias")
	atomDown    = etf.Atom("DOWN")
)

// CallError is returned by Call when the server died or did not exist: as
// gen_server:call's exit, Reason is noproc, noconnection or the server's
// exit reason.
type CallError struct {
	To     etf.Term
	Reason etf.Term
}

func (e *CallError) Error() string {
	return fmt.Sprintf("node: call to %s failed: %s", etf.Format(e.To), etf.Format(e.Reason))
}

// ExitReason makes a process that fails a call exit with the call's reason.
func (e *CallError) ExitReason() etf.Term { return e.Reason }

// Call makes a gen_server call from this process to `to` (a Pid, a local
// name or {Name, Node}) and waits for the reply, as OTP 24+ does: a
// monitor that doubles as the reply alias.
func (p *Process) Call(ctx context.Context, to etf.Term, req etf.Term) (etf.Term, error) {
	mref, err := p.Monitor(ctx, to)
	if err != nil {
		return nil, err
	}
	n := p.node
	n.mu.Lock()
	n.aliases[mref] = p
	n.mu.Unlock()
	p.mu.Lock()
	if p.aliases != nil {
		p.aliases[mref] = struct{}{}
	}
	p.mu.Unlock()
	defer p.Unalias(mref)
	tag := etf.ImproperList{Elems: []etf.Term{atomAlias}, Tail: mref}
	msg := etf.Tuple{atomGenCall, etf.Tuple{p.pid, tag}, req}
	if err := p.Send(ctx, to, msg); err != nil {
		// A local name nobody holds, or a node that cannot be reached: the
		// monitor has already said so, and gen_server:call exits with that.
		if reason, ok := p.flushDown(mref); ok {
			return nil, &CallError{To: to, Reason: reason}
		}
		_ = p.Demonitor(ctx, mref)
		return nil, err
	}
	m, err := p.ReceiveMatch(ctx, func(m etf.Term) bool {
		t, ok := m.(etf.Tuple)
		if !ok {
			return false
		}
		if len(t) == 2 {
			return etf.Equal(t[0], tag)
		}
		return len(t) == 5 && t[0] == atomDown && t[1] == mref
	})
	if err != nil {
		_ = p.Demonitor(context.Background(), mref)
		p.flushDown(mref) // as demonitor(Ref, [flush]): no stray DOWN stays queued
		return nil, fmt.Errorf("node: call to %s: %w", etf.Format(to), err)
	}
	t := m.(etf.Tuple)
	if len(t) == 5 {
		return nil, &CallError{To: to, Reason: t[4]}
	}
	_ = p.Demonitor(ctx, mref)
	// A DOWN may have raced in after the reply: drop it.
	p.flushDown(mref)
	return t[1], nil
}

// flushDown removes the queued DOWN of monitor ref and returns its reason.
func (p *Process) flushDown(ref etf.Ref) (etf.Term, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.queue {
		if t, ok := m.(etf.Tuple); ok && len(t) == 5 && t[0] == atomDown && t[1] == ref {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			return t[4], true
		}
	}
	return nil, false
}

// Cast sends a gen_server cast ({'$gen_cast', Req}); like gen_server:cast it
// never fails for a missing server.
func (p *Process) Cast(ctx context.Context, to etf.Term, req etf.Term) error {
	return p.Send(ctx, to, etf.Tuple{atomGenCast, req})
}

// Call makes a gen_server call from a temporary process.
func (n *Node) Call(ctx context.Context, to etf.Term, req etf.Term) (etf.Term, error) {
	p, err := n.NewProcess()
	if err != nil {
		return nil, err
	}
	defer p.Exit(Normal)
	return p.Call(ctx, to, req)
}

// Cast sends a gen_server cast from the node.
func (n *Node) Cast(ctx context.Context, to etf.Term, req etf.Term) error {
	return n.Send(ctx, to, etf.Tuple{atomGenCast, req})
}

// From identifies the caller of a gen_server call, for Reply.
type From struct {
	Pid etf.Pid
	Tag etf.Term
}

// Reply answers a call as gen_server:reply/2 does: to the alias when the
// caller used one, else to the caller's pid.
func (p *Process) Reply(ctx context.Context, from From, reply etf.Term) error {
	msg := etf.Tuple{from.Tag, reply}
	if il, ok := from.Tag.(etf.ImproperList); ok && len(il.Elems) == 1 && il.Elems[0] == atomAlias {
		if ref, ok := il.Tail.(etf.Ref); ok {
			return p.Send(ctx, ref, msg)
		}
	}
	return p.Send(ctx, from.Pid, msg)
}

// Server is a Go gen_server: Erlang processes reach it with
// gen_server:call/cast({Name, GoNode}, ...).
type Server interface {
	// HandleCall answers a call. Returning an error stops the server with
	// that reason (the caller gets it as the call's exit reason).
	HandleCall(ctx context.Context, from From, req etf.Term) (etf.Term, error)
	HandleCast(ctx context.Context, req etf.Term) error
	HandleInfo(ctx context.Context, msg etf.Term) error
}

// ServerFuncs adapts plain functions to Server; nil functions ignore their
// messages (and a nil Call answers {error, not_implemented}).
type ServerFuncs struct {
	Call func(ctx context.Context, from From, req etf.Term) (etf.Term, error)
	Cast func(ctx context.Context, req etf.Term) error
	Info func(ctx context.Context, msg etf.Term) error
}

// HandleCall implements Server.
func (s ServerFuncs) HandleCall(ctx context.Context, from From, req etf.Term) (etf.Term, error) {
	if s.Call == nil {
		return etf.Tuple{etf.AtomError, etf.Atom("not_implemented")}, nil
	}
	return s.Call(ctx, from, req)
}

// HandleCast implements Server.
func (s ServerFuncs) HandleCast(ctx context.Context, req etf.Term) error {
	if s.Cast == nil {
		return nil
	}
	return s.Cast(ctx, req)
}

// HandleInfo implements Server.
func (s ServerFuncs) HandleInfo(ctx context.Context, msg etf.Term) error {
	if s.Info == nil {
		return nil
	}
	return s.Info(ctx, msg)
}

// StartServer spawns a process registered as name that serves s until it
// returns an error or the node stops.
func (n *Node) StartServer(name etf.Atom, s Server) (*Process, error) {
	ready := make(chan error, 1)
	p, err := n.Spawn(func(p *Process) error {
		if name != "" {
			if err := p.Register(name); err != nil {
				ready <- err
				return nil
			}
		}
		ready <- nil
		return p.serve(s)
	})
	if err != nil {
		return nil, err
	}
	if err := <-ready; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Process) serve(s Server) error {
	ctx := p.Context()
	for {
		m, err := p.Receive(ctx)
		if err != nil {
			var ee *ExitError
			if errors.As(err, &ee) || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if from, req, ok := parseCall(m); ok {
			reply, err := s.HandleCall(ctx, from, req)
			if err != nil {
				return err
			}
			if err := p.Reply(ctx, from, reply); err != nil {
				p.node.log.Warn("gen_server reply failed", "to", etf.Format(from.Pid), "err", err)
			}
			continue
		}
		if t, ok := m.(etf.Tuple); ok && len(t) == 2 && t[0] == atomGenCast {
			if err := s.HandleCast(ctx, t[1]); err != nil {
				return err
			}
			continue
		}
		if err := s.HandleInfo(ctx, m); err != nil {
			return err
		}
	}
}

// parseCall recognises {'$gen_call', {Pid, Tag}, Req}.
func parseCall(m etf.Term) (From, etf.Term, bool) {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) != 3 || t[0] != atomGenCall {
		return From{}, nil, false
	}
	f, ok := t[1].(etf.Tuple)
	if !ok || len(f) != 2 {
		return From{}, nil, false
	}
	pid, ok := f[0].(etf.Pid)
	if !ok {
		return From{}, nil, false
	}
	return From{Pid: pid, Tag: f[1]}, t[2], true
}
