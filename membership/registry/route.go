package registry

import (
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

// Router wire names and constants (barrel_p2p_router).
const (
	// RouterName is the registered name route requests are sent to.
	RouterName etf.Atom = "barrel_p2p_router"
	// RouteEnvelopeTag is the first element of {'$barrel_p2p_route', _}.
	RouteEnvelopeTag etf.Atom = "$barrel_p2p_route"
	// DefaultRouteTTL is the TTL of a request an originator builds.
	DefaultRouteTTL = 5
	// DefaultMaxInFlight is router_max_in_flight: requests served at once.
	DefaultMaxInFlight = 256
	// MaxVisited bounds the visited list of a received request.
	MaxVisited = 256
)

// Route error reasons on the wire.
const (
	RouteNotFound   etf.Atom = "not_found"
	RouteTTLExpired etf.Atom = "ttl_expired"
	RouteOverloaded etf.Atom = "overloaded"
	// RouteTimeout is never sent: it is what an unanswered hop counts as.
	RouteTimeout etf.Atom = "timeout"
)

const (
	atomRouteRequest etf.Atom = "route_request"
	atomRouteReq     etf.Atom = "route_req"
	atomFound        etf.Atom = "found"
)

// RouteReq is #route_req{}: {route_req, ServiceName, TTL, OriginNode,
// VisitedNodes}.
type RouteReq struct {
	Service Name
	TTL     int64
	Origin  etf.Atom
	Visited []etf.Atom
}

// Term returns {route_req, Name, TTL, Origin, Visited}.
func (q RouteReq) Term() etf.Tuple {
	visited := make(etf.List, len(q.Visited))
	for i, v := range q.Visited {
		visited[i] = v
	}
	return etf.Tuple{atomRouteReq, q.Service.Term(), q.TTL, q.Origin, visited}
}

// RouteRequest is {route_request, RouteReq, {CallerPid, Ref}}: answer
// {Ref, Result} to CallerPid.
type RouteRequest struct {
	Req    RouteReq
	Caller etf.Pid
	// Ref is echoed verbatim in the reply; any term is accepted.
	Ref etf.Term
}

// Envelope returns {'$barrel_p2p_route', {route_request, Req, {Caller,
// Ref}}}, to be sent to {barrel_p2p_router, Node} with noconnect.
func (m RouteRequest) Envelope() etf.Tuple {
	return etf.Tuple{RouteEnvelopeTag, etf.Tuple{atomRouteRequest, m.Req.Term(), etf.Tuple{m.Caller, m.Ref}}}
}

// RouteResult is {found, Node, Pid} or {error, Reason}.
type RouteResult struct {
	Found bool
	Node  etf.Atom
	Pid   etf.Pid
	// Error is the reason when !Found (RouteNotFound, RouteTTLExpired,
	// RouteOverloaded, or any atom a peer sent).
	Error etf.Atom
}

// Term returns {found, Node, Pid} or {error, Reason}.
func (r RouteResult) Term() etf.Tuple {
	if r.Found {
		return etf.Tuple{atomFound, r.Node, r.Pid}
	}
	return etf.Tuple{etf.AtomError, r.Error}
}

// RouteReply is {Ref, Result}, sent to the caller pid.
type RouteReply struct {
	Ref    etf.Term
	Result RouteResult
}

// Term returns {Ref, Result}.
func (m RouteReply) Term() etf.Tuple { return etf.Tuple{m.Ref, m.Result.Term()} }

// DecodeRouteRequest decodes the envelope a REG_SEND to barrel_p2p_router
// carries.
func DecodeRouteRequest(t etf.Term) (RouteRequest, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 || tup[0] != RouteEnvelopeTag {
		return RouteRequest{}, fmt.Errorf("registry: not a {'$barrel_p2p_route', _} envelope: %w", ErrMalformed)
	}
	in, ok := tup[1].(etf.Tuple)
	if !ok || len(in) != 3 || in[0] != atomRouteRequest {
		return RouteRequest{}, fmt.Errorf("registry: %s is not {route_request, Req, ReplyTo}: %w", etf.Abbrev(tup[1]), ErrMalformed)
	}
	rt, ok := in[2].(etf.Tuple)
	if !ok || len(rt) != 2 {
		return RouteRequest{}, fmt.Errorf("registry: reply-to %s is not {Pid, Ref}: %w", etf.Abbrev(in[2]), ErrMalformed)
	}
	caller, ok := rt[0].(etf.Pid)
	if !ok {
		return RouteRequest{}, fmt.Errorf("registry: reply-to %s is not a pid: %w", etf.Abbrev(rt[0]), ErrMalformed)
	}
	q, ok := in[1].(etf.Tuple)
	if !ok || len(q) != 5 || q[0] != atomRouteReq {
		return RouteRequest{}, fmt.Errorf("registry: %s is not a route_req: %w", etf.Abbrev(in[1]), ErrMalformed)
	}
	name, ok := ParseName(q[1])
	if !ok {
		return RouteRequest{}, fmt.Errorf("registry: route_req service %s is not an atom or binary: %w", etf.Abbrev(q[1]), ErrMalformed)
	}
	ttl, ok := q[2].(int64)
	if !ok {
		return RouteRequest{}, fmt.Errorf("registry: route_req ttl %s is not an integer: %w", etf.Abbrev(q[2]), ErrMalformed)
	}
	origin, ok := q[3].(etf.Atom)
	if !ok {
		return RouteRequest{}, fmt.Errorf("registry: route_req origin %s is not an atom: %w", etf.Abbrev(q[3]), ErrMalformed)
	}
	visited, err := atomList(q[4])
	if err != nil {
		return RouteRequest{}, err
	}
	return RouteRequest{
		Req:    RouteReq{Service: name, TTL: ttl, Origin: origin, Visited: visited},
		Caller: caller,
		Ref:    rt[1],
	}, nil
}

func atomList(t etf.Term) ([]etf.Atom, error) {
	var elems []etf.Term
	switch v := t.(type) {
	case etf.List:
		elems = v
	case nil:
	default:
		return nil, fmt.Errorf("registry: visited %s is not a proper list: %w", etf.Abbrev(t), ErrMalformed)
	}
	if len(elems) > MaxVisited {
		return nil, fmt.Errorf("registry: visited list of %d nodes exceeds %d: %w", len(elems), MaxVisited, ErrMalformed)
	}
	out := make([]etf.Atom, len(elems))
	for i, e := range elems {
		a, ok := e.(etf.Atom)
		if !ok {
			return nil, fmt.Errorf("registry: visited element %s is not an atom: %w", etf.Abbrev(e), ErrMalformed)
		}
		out[i] = a
	}
	return out, nil
}

// DecodeRouteReply decodes {Ref, {found, Node, Pid} | {error, Reason}}.
func DecodeRouteReply(t etf.Term) (RouteReply, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 {
		return RouteReply{}, fmt.Errorf("registry: route reply %s is not {Ref, Result}: %w", etf.Abbrev(t), ErrMalformed)
	}
	res, ok := tup[1].(etf.Tuple)
	switch {
	case ok && len(res) == 3 && res[0] == atomFound:
		node, ok1 := res[1].(etf.Atom)
		pid, ok2 := res[2].(etf.Pid)
		if !ok1 || !ok2 {
			return RouteReply{}, fmt.Errorf("registry: found result %s has the wrong types: %w", etf.Abbrev(res), ErrMalformed)
		}
		return RouteReply{Ref: tup[0], Result: RouteResult{Found: true, Node: node, Pid: pid}}, nil
	case ok && len(res) == 2 && res[0] == etf.AtomError:
		reason, ok := res[1].(etf.Atom)
		if !ok {
			return RouteReply{}, fmt.Errorf("registry: error result %s has no atom reason: %w", etf.Abbrev(res), ErrMalformed)
		}
		return RouteReply{Ref: tup[0], Result: RouteResult{Error: reason}}, nil
	}
	return RouteReply{}, fmt.Errorf("registry: route result %s is neither found nor error: %w", etf.Abbrev(tup[1]), ErrMalformed)
}
