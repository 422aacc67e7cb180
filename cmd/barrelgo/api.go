package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership"
	"github.com/barrelgo/barrelgo/node"
)

// registerAPI makes barrel_p2p's query functions callable on this node
// with rpc:call/erpc:call, under barrel_p2p's own module name so the same
// calls work against Erlang and Go members (membership.md §6), plus
// barrelgo:status/0.
func (r *runtime) registerAPI() {
	n := r.n
	n.RegisterFunc("barrelgo", "status", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		return r.status().term(), nil
	}))
	m := r.m
	if m == nil {
		// Like an Erlang node without barrel_p2p: barrel_p2p:* is undef.
		return
	}
	n.RegisterFunc("barrel_p2p", "active_view", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		return atomList(m.ActiveView()), nil
	}))
	n.RegisterFunc("barrel_p2p", "passive_view", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		return atomList(m.PassiveView()), nil
	}))
	n.RegisterFunc("barrel_p2p", "list_services", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		return etf.List(m.ListServices()), nil
	}))
	n.RegisterFunc("barrel_p2p", "lookup", arity(1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		svcs, err := m.Lookup(a[0])
		if err != nil {
			return nil, badarg
		}
		if len(svcs) == 0 {
			return notFound, nil
		}
		entries := etf.List{}
		for _, s := range svcs {
			entries = append(entries, serviceEntry(s))
		}
		return etf.Tuple{etf.AtomOK, entries}, nil
	}))
	// whereis_service/1,2: the options map of /2 (retries) is accepted;
	// barrelgo asks its registry then the overlay once.
	n.RegisterFunc("barrel_p2p", "whereis_service", func(ctx context.Context, a []etf.Term) (etf.Term, error) {
		if len(a) != 1 && len(a) != 2 {
			return nil, undef
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		where, pid, err := m.WhereisService(ctx, a[0])
		switch {
		case errors.Is(err, membership.ErrServiceNotFound), errors.Is(err, context.DeadlineExceeded):
			return notFound, nil
		case err != nil:
			return nil, badarg
		case where == n.Name():
			return etf.Tuple{etf.AtomOK, pid}, nil
		}
		return etf.Tuple{etf.AtomOK, where, pid}, nil
	})
	n.RegisterFunc("barrel_p2p", "join", arity(1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		contact, ok := a[0].(etf.Atom)
		if !ok {
			return nil, badarg
		}
		if contact == n.Name() {
			return etf.Tuple{etf.AtomError, etf.Atom("cannot_join_self")}, nil
		}
		if err := m.Join(contact); err != nil {
			return etf.Tuple{etf.AtomError, etf.Atom("stopped")}, nil
		}
		return etf.AtomOK, nil
	}))
	n.RegisterFunc("barrel_p2p", "leave", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		_ = m.Leave()
		return etf.AtomOK, nil
	}))
}

// erlangError is an error the caller sees as that Erlang error reason.
type erlangError etf.Atom

func (e erlangError) Error() string        { return string(e) }
func (e erlangError) ExitReason() etf.Term { return etf.Atom(e) }

var (
	notFound = etf.Tuple{etf.AtomError, etf.Atom("not_found")}
	undef    = erlangError("undef")
	badarg   = erlangError("badarg")
)

// arity makes f undef for any other number of arguments, as a missing
// Erlang function clause of that arity would be.
func arity(k int, f node.Func) node.Func {
	return func(ctx context.Context, a []etf.Term) (etf.Term, error) {
		if len(a) != k {
			return nil, undef
		}
		return f(ctx, a)
	}
}

// serviceEntry is barrel_p2p's #service_entry{name, pid, node, meta}.
func serviceEntry(s membership.Service) etf.Tuple {
	meta := s.Meta
	if meta == nil {
		meta = etf.Map{}
	}
	return etf.Tuple{etf.Atom("service_entry"), s.Name, s.Pid, s.Node, meta}
}

func atomList(l []etf.Atom) etf.List {
	out := etf.List{}
	for _, a := range l {
		out = append(out, a)
	}
	return out
}

// registerTestAPI registers the seams interop's process-level cluster
// tests drive a node through ($BARRELGO_TEST_API=1 only: they let any
// cookie holder cut the node off its overlay):
//
//	barrelgo:block(Nodes) / barrelgo:unblock()  membership.Block/Unblock
//	barrelgo:broadcast(Tag, Payload)            a Plumtree broadcast
//	barrelgo:received(Tag)                      payloads of Tag delivered
//	                                            since the first call with Tag
//	barrelgo:register_service(Name)             a service backed by a new
//	                                            local process; returns its pid
func (r *runtime) registerTestAPI() {
	n, m := r.n, r.m
	if m == nil {
		return
	}
	n.RegisterFunc("barrelgo", "block", arity(1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		var nodes []etf.Atom
		for _, t := range list(a[0]) {
			nd, ok := t.(etf.Atom)
			if !ok {
				return nil, badarg
			}
			nodes = append(nodes, nd)
		}
		m.Block(nodes...)
		return etf.AtomOK, nil
	}))
	n.RegisterFunc("barrelgo", "unblock", arity(0, func(context.Context, []etf.Term) (etf.Term, error) {
		m.Unblock()
		return etf.AtomOK, nil
	}))
	n.RegisterFunc("barrelgo", "broadcast", arity(2, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		if err := m.Broadcast(a[0], a[1]); err != nil {
			return nil, badarg
		}
		return etf.AtomOK, nil
	}))
	var mu sync.Mutex
	received := map[string]*etf.List{}
	n.RegisterFunc("barrelgo", "received", arity(1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		key := etf.Format(a[0])
		mu.Lock()
		got, ok := received[key]
		if !ok {
			got = &etf.List{}
			received[key] = got
		}
		out := slices.Clone(*got)
		mu.Unlock()
		if !ok {
			// Subscribing outside mu: the callback takes it on the
			// membership goroutine.
			m.SubscribeBroadcast(a[0], func(_ etf.Atom, payload etf.Term) {
				mu.Lock()
				*got = append(*got, payload)
				mu.Unlock()
			})
		}
		return append(etf.List{}, out...), nil
	}))
	n.RegisterFunc("barrelgo", "register_service", arity(1, func(_ context.Context, a []etf.Term) (etf.Term, error) {
		p, err := n.Spawn(func(p *node.Process) error {
			<-p.Context().Done()
			return nil
		})
		if err != nil {
			return nil, badarg
		}
		if err := m.RegisterService(a[0], p.Pid(), nil); err != nil {
			return nil, badarg
		}
		return p.Pid(), nil
	}))
}
