package registry_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

var callerPid = pid("e1@h", 77)

func routeMsg(name string, ttl int64, visited ...etf.Atom) etf.Term {
	return registry.RouteRequest{
		Req:    registry.RouteReq{Service: registry.AtomName(name), TTL: ttl, Origin: "e1@h", Visited: visited},
		Caller: callerPid,
		Ref:    etf.Tuple{etf.Atom("any"), "ref term"},
	}.Envelope()
}

func withRouter(c *registry.Config) { c.RouterPid = pid(goNode, 500) }

func replies(acts []registry.Action) []registry.RouteResult {
	var out []registry.RouteResult
	for _, r := range actionsOf[registry.ReplyRoute](acts) {
		out = append(out, r.Msg.Result)
	}
	return out
}

func TestRouteImmediateAnswers(t *testing.T) {
	r := newReg(withRouter)
	p := pid(goNode, 1)
	r.Register(ms(0), registry.AtomName("mine"), p, nil)
	cases := []struct {
		name   string
		msg    etf.Term
		active []etf.Atom
		want   registry.RouteResult
	}{
		{"local service", routeMsg("mine", 3, "e1@h"), []etf.Atom{"x@h"}, registry.RouteResult{Found: true, Node: goNode, Pid: p}},
		{"ttl 0", routeMsg("mine", 0, "e1@h"), nil, registry.RouteResult{Error: registry.RouteTTLExpired}},
		{"negative ttl", routeMsg("other", -1), nil, registry.RouteResult{Error: registry.RouteTTLExpired}},
		{"no candidates", routeMsg("other", 3, "e1@h"), []etf.Atom{"e1@h"}, registry.RouteResult{Error: registry.RouteNotFound}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acts := r.HandleRouteRequest(ms(0), tc.msg, tc.active)
			rr := actionsOf[registry.ReplyRoute](acts)
			if len(acts) != 1 || len(rr) != 1 || rr[0].To != callerPid || rr[0].Msg.Result != tc.want ||
				!etf.Equal(rr[0].Msg.Ref, etf.Tuple{etf.Atom("any"), "ref term"}) {
				t.Fatalf("acts %v", acts)
			}
		})
	}
	if st := r.Stats(); st.RoutesInFlight != 0 || st.RouteRequests != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Without a RouterPid the node never forwards.
	plain := newReg()
	if got := replies(plain.HandleRouteRequest(ms(0), routeMsg("other", 3), []etf.Atom{"x@h"})); len(got) != 1 || got[0].Error != registry.RouteNotFound {
		t.Fatalf("no router pid: %v", got)
	}
}

func TestRouteForwarding(t *testing.T) {
	r := newReg(withRouter)
	active := []etf.Atom{"e1@h", "a@h", "b@h", "c@h"}
	acts := r.HandleRouteRequest(ms(0), routeMsg("svc", 3, "e1@h", "e1@h"), active)
	var tried []etf.Atom
	step := func(acts []registry.Action) (registry.SendRoute, registry.Timer) {
		t.Helper()
		sends := actionsOf[registry.SendRoute](acts)
		timers := actionsOf[registry.SetTimer](acts)
		if len(sends) != 1 || len(timers) != 1 || timers[0].After != 5*time.Second {
			t.Fatalf("expected one forward and one timer: %v", acts)
		}
		s := sends[0]
		want := []etf.Atom{goNode, "e1@h", "e1@h"}
		if s.Msg.Req.TTL != 2 || !slices.Equal(s.Msg.Req.Visited, want) || s.Msg.Req.Origin != "e1@h" ||
			s.Msg.Caller != pid(goNode, 500) || s.Msg.Ref != etf.Term(timers[0].Timer.Ref) {
			t.Fatalf("forwarded %+v", s.Msg)
		}
		tried = append(tried, s.To)
		return s, timers[0].Timer
	}
	s1, _ := step(acts)
	// not_found from the first hop: cancel its timer, try the next.
	acts = r.HandleRouteReply(ms(10), registry.RouteReply{Ref: s1.Msg.Ref, Result: registry.RouteResult{Error: registry.RouteNotFound}}.Term())
	if c := actionsOf[registry.CancelTimer](acts); len(c) != 1 || c[0].Timer.Ref != s1.Msg.Ref {
		t.Fatalf("cancel %v", acts)
	}
	_, timer2 := step(acts)
	// The second hop times out.
	s3, _ := step(r.Fire(ms(5010), timer2))
	if acts := r.Fire(ms(5010), timer2); acts != nil {
		t.Fatalf("stale timer: %v", acts)
	}
	// The third answers found.
	found := registry.RouteResult{Found: true, Node: "z@h", Pid: pid("z@h", 3)}
	acts = r.HandleRouteReply(ms(5020), registry.RouteReply{Ref: s3.Msg.Ref, Result: found}.Term())
	if got := replies(acts); len(got) != 1 || got[0] != found {
		t.Fatalf("final %v", acts)
	}
	slices.Sort(tried)
	if !slices.Equal(tried, []etf.Atom{"a@h", "b@h", "c@h"}) {
		t.Fatalf("tried %v (visited nodes must be skipped)", tried)
	}
	// A late reply is dropped.
	if acts := r.HandleRouteReply(ms(6000), registry.RouteReply{Ref: s1.Msg.Ref, Result: found}.Term()); acts != nil {
		t.Fatalf("late reply %v", acts)
	}
	if st := r.Stats(); st.RoutesInFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRouteAllCandidatesFail(t *testing.T) {
	r := newReg(withRouter)
	acts := r.HandleRouteRequest(ms(0), routeMsg("svc", 5), []etf.Atom{"a@h", "b@h"})
	for range 2 {
		s := actionsOf[registry.SendRoute](acts)
		if len(s) != 1 {
			t.Fatalf("acts %v", acts)
		}
		acts = r.HandleRouteReply(ms(0), registry.RouteReply{Ref: s[0].Msg.Ref, Result: registry.RouteResult{Error: registry.RouteOverloaded}}.Term())
	}
	if got := replies(acts); len(got) != 1 || got[0].Error != registry.RouteNotFound {
		t.Fatalf("final %v", acts)
	}
}

func TestRouteOverload(t *testing.T) {
	r := newReg(withRouter, func(c *registry.Config) { c.MaxInFlight = 1 })
	r.HandleRouteRequest(ms(0), routeMsg("svc", 5), []etf.Atom{"a@h"})
	acts := r.HandleRouteRequest(ms(0), routeMsg("svc", 5), []etf.Atom{"a@h"})
	if got := replies(acts); len(got) != 1 || got[0].Error != registry.RouteOverloaded {
		t.Fatalf("over cap: %v", acts)
	}
	if st := r.Stats(); st.RouteDropped != 1 || st.RoutesInFlight != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRouteMalformed(t *testing.T) {
	good := routeMsg("svc", 5).(etf.Tuple)
	inner := good[1].(etf.Tuple)
	req := inner[1].(etf.Tuple)
	mod := func(f func(q etf.Tuple)) etf.Term {
		q := append(etf.Tuple{}, req...)
		f(q)
		return etf.Tuple{good[0], etf.Tuple{inner[0], q, inner[2]}}
	}
	cases := map[string]etf.Term{
		"wrong envelope":    etf.Tuple{etf.Atom("$barrel_p2p_router"), inner},
		"not route_request": etf.Tuple{good[0], etf.Tuple{etf.Atom("route"), req, inner[2]}},
		"reply-to not pair": etf.Tuple{good[0], etf.Tuple{inner[0], req, callerPid}},
		"caller not a pid":  etf.Tuple{good[0], etf.Tuple{inner[0], req, etf.Tuple{etf.Atom("name"), etf.Atom("r")}}},
		"req arity 4":       etf.Tuple{good[0], etf.Tuple{inner[0], req[:4], inner[2]}},
		"service a string":  mod(func(q etf.Tuple) { q[1] = etf.ByteList("svc") }),
		"ttl a float":       mod(func(q etf.Tuple) { q[2] = 5.0 }),
		"origin a binary":   mod(func(q etf.Tuple) { q[3] = []byte("e1@h") }),
		"visited improper":  mod(func(q etf.Tuple) { q[4] = etf.ImproperList{Elems: []etf.Term{etf.Atom("a")}, Tail: etf.Atom("b")} }),
		"visited non-atom":  mod(func(q etf.Tuple) { q[4] = etf.List{int64(1)} }),
		"visited huge":      mod(func(q etf.Tuple) { q[4] = make(etf.List, registry.MaxVisited+1) }),
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			r := newReg(withRouter)
			acts := r.HandleRouteRequest(ms(0), msg, []etf.Atom{"a@h"})
			rej := actionsOf[registry.Rejected](acts)
			if len(acts) != 1 || len(rej) != 1 || !errors.Is(rej[0].Err, registry.ErrMalformed) {
				t.Fatalf("acts %v", acts)
			}
		})
	}
	r := newReg(withRouter)
	for _, bad := range []etf.Term{
		etf.Tuple{etf.Atom("ref")},
		etf.Tuple{etf.Atom("ref"), etf.Tuple{etf.Atom("found"), etf.Atom("n"), etf.Atom("p")}},
		etf.Tuple{etf.Atom("ref"), etf.Tuple{etf.Atom("error"), "x"}},
		etf.Tuple{etf.Atom("ref"), etf.Atom("ok")},
	} {
		if rej := actionsOf[registry.Rejected](r.HandleRouteReply(ms(0), bad)); len(rej) != 1 {
			t.Errorf("%s accepted", etf.Format(bad))
		}
	}
	// A well-formed reply whose ref is not ours is dropped silently.
	if acts := r.HandleRouteReply(ms(0), etf.Tuple{etf.Atom("ref"), etf.Tuple{etf.Atom("error"), etf.Atom("x")}}); acts != nil {
		t.Fatalf("foreign ref: %v", acts)
	}
}

// routeNet connects Go registries so that route requests and replies flow
// between them synchronously.
type routeNet struct {
	t      *testing.T
	nodes  map[etf.Atom]*registry.Registry
	active map[etf.Atom][]etf.Atom
	byPid  map[etf.Pid]etf.Atom
	done   []registry.LookupDone
	sent   int
}

func newRouteNet(t *testing.T, edges [][2]etf.Atom) *routeNet {
	n := &routeNet{t: t, nodes: map[etf.Atom]*registry.Registry{}, active: map[etf.Atom][]etf.Atom{}, byPid: map[etf.Pid]etf.Atom{}}
	add := func(a etf.Atom) {
		if _, ok := n.nodes[a]; ok {
			return
		}
		p := etf.Pid{Node: a, ID: 500, Creation: 1}
		n.byPid[p] = a
		n.nodes[a] = registry.New(registry.Config{Self: a, RouterPid: p})
	}
	for _, e := range edges {
		add(e[0])
		add(e[1])
		n.active[e[0]] = append(n.active[e[0]], e[1])
		n.active[e[1]] = append(n.active[e[1]], e[0])
	}
	return n
}

// apply carries out actions synchronously, through the wire codecs.
func (n *routeNet) apply(from etf.Atom, acts []registry.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case registry.SendRoute:
			n.sent++
			term := roundTrip(n.t, a.Msg.Envelope())
			n.apply(a.To, n.nodes[a.To].HandleRouteRequest(ms(0), term, n.active[a.To]))
		case registry.ReplyRoute:
			to := n.byPid[a.To]
			n.apply(to, n.nodes[to].HandleRouteReply(ms(0), roundTrip(n.t, a.Msg.Term())))
		case registry.LookupDone:
			n.done = append(n.done, a)
		case registry.Rejected:
			n.t.Fatalf("%s rejected %v", from, a.Err)
		}
	}
}

func roundTrip(t *testing.T, term etf.Term) etf.Term {
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	out, err := etf.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRouteOverlayLookup(t *testing.T) {
	// a - b - c - d, and a - e (a dead end).
	n := newRouteNet(t, [][2]etf.Atom{{"a@h", "b@h"}, {"b@h", "c@h"}, {"c@h", "d@h"}, {"a@h", "e@h"}})
	p := pid("d@h", 9)
	n.nodes["d@h"].Register(ms(0), registry.AtomName("far"), p, nil)

	id, acts := n.nodes["a@h"].FindService(ms(0), registry.AtomName("far"), n.active["a@h"])
	n.apply("a@h", acts)
	if len(n.done) != 1 || n.done[0].ID != id || n.done[0].Result != (registry.RouteResult{Found: true, Node: "d@h", Pid: p}) {
		t.Fatalf("lookup %+v", n.done)
	}
	// Local services are found without a message.
	sent := n.sent
	id, acts = n.nodes["d@h"].FindService(ms(0), registry.AtomName("far"), n.active["d@h"])
	if len(acts) != 1 || acts[0].(registry.LookupDone).ID != id || !acts[0].(registry.LookupDone).Result.Found || n.sent != sent {
		t.Fatalf("local find %v", acts)
	}
	// Beyond the TTL (5 from the originator) the search gives up.
	long := newRouteNet(t, [][2]etf.Atom{{"n0@h", "n1@h"}, {"n1@h", "n2@h"}, {"n2@h", "n3@h"}, {"n3@h", "n4@h"}, {"n4@h", "n5@h"}, {"n5@h", "n6@h"}})
	long.nodes["n6@h"].Register(ms(0), registry.AtomName("far"), pid("n6@h", 1), nil)
	_, acts = long.nodes["n0@h"].FindService(ms(0), registry.AtomName("far"), long.active["n0@h"])
	long.apply("n0@h", acts)
	if len(long.done) != 1 || long.done[0].Result.Found {
		t.Fatalf("ttl-bounded lookup %+v", long.done)
	}
	// The TTL check comes before the local lookup, so with TTL 5 the
	// fifth hop already answers ttl_expired; four hops is the reach.
	long.nodes["n5@h"].Register(ms(0), registry.AtomName("five"), pid("n5@h", 1), nil)
	_, acts = long.nodes["n0@h"].FindService(ms(0), registry.AtomName("five"), long.active["n0@h"])
	long.apply("n0@h", acts)
	long.nodes["n4@h"].Register(ms(0), registry.AtomName("near"), pid("n4@h", 1), nil)
	_, acts = long.nodes["n0@h"].FindService(ms(0), registry.AtomName("near"), long.active["n0@h"])
	long.apply("n0@h", acts)
	if len(long.done) != 3 || long.done[1].Result.Found || !long.done[2].Result.Found {
		t.Fatalf("5 and 4 hops away %+v", long.done)
	}
}
