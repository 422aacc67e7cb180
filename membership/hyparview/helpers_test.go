package hyparview

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

var t0 = time.Unix(1_800_000_000, 0)

// selfOf is the Self record node name would send.
func selfOf(name etf.Atom) Peer {
	return SelfPeer(name, netip.MustParseAddr("127.0.0.1"), 9100)
}

func newTestState(t testing.TB, name etf.Atom, mutate func(*Config)) *State {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(selfOf(name), cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	s.Start(t0)
	return s
}

// withActive puts nodes in s's active view through the JOIN path and
// returns s; the actions are discarded.
func withActive(t testing.TB, s *State, nodes ...etf.Atom) *State {
	t.Helper()
	for _, n := range nodes {
		s.HandleMessage(t0, &Join{Sender: selfOf(n)})
		if !s.IsActive(n) {
			t.Fatalf("setup: %s not active", n)
		}
	}
	return s
}

// withPassive puts nodes in s's passive view through a SHUFFLE_REPLY.
func withPassive(t testing.TB, s *State, nodes ...etf.Atom) *State {
	t.Helper()
	ps := make([]Peer, len(nodes))
	for i, n := range nodes {
		ps[i] = selfOf(n)
	}
	s.HandleMessage(t0, &ShuffleReply{Peers: ps, Sender: selfOf("zz@h")})
	for _, n := range nodes {
		if !s.IsPassive(n) {
			t.Fatalf("setup: %s not passive", n)
		}
	}
	return s
}

func sendsOf(acts []Action) []Send {
	var out []Send
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			out = append(out, s)
		}
	}
	return out
}

func eventsOf(acts []Action) []Event {
	var out []Event
	for _, a := range acts {
		if e, ok := a.(Event); ok {
			out = append(out, e)
		}
	}
	return out
}

func connectsOf(acts []Action) []etf.Atom {
	var out []etf.Atom
	for _, a := range acts {
		if c, ok := a.(Connect); ok {
			out = append(out, c.Node)
		}
	}
	return out
}

func timersOf(acts []Action) []SetTimer {
	var out []SetTimer
	for _, a := range acts {
		if st, ok := a.(SetTimer); ok {
			out = append(out, st)
		}
	}
	return out
}

// sendsTo returns the messages of type M sent to node.
func sendsTo[M Message](acts []Action, node etf.Atom) []M {
	var out []M
	for _, s := range sendsOf(acts) {
		if m, ok := s.Msg.(M); ok && s.To == node {
			out = append(out, m)
		}
	}
	return out
}

func wantEvents(t testing.TB, acts []Action, want ...Event) {
	t.Helper()
	got := eventsOf(acts)
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func up(n etf.Atom) Event { return Event{Type: EventPeerUp, Node: n} }
func down(n etf.Atom, r Reason) Event {
	return Event{Type: EventPeerDown, Node: n, Reason: r}
}

func wantNodes(t testing.TB, what string, got []etf.Atom, want ...etf.Atom) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// checkInvariants verifies what must hold after every input.
func checkInvariants(s *State) error {
	cfg := s.cfg
	if len(s.active) > cfg.ActiveSize {
		return fmt.Errorf("active view %d > %d", len(s.active), cfg.ActiveSize)
	}
	if len(s.passive) > cfg.PassiveSize {
		return fmt.Errorf("passive view %d > %d", len(s.passive), cfg.PassiveSize)
	}
	seen := map[etf.Atom]string{}
	for _, p := range s.active {
		if p.Node == s.self.Node {
			return fmt.Errorf("self in active view")
		}
		if s.blocked[p.Node] {
			return fmt.Errorf("blocked %s in active view", p.Node)
		}
		if seen[p.Node] != "" {
			return fmt.Errorf("%s twice in active view", p.Node)
		}
		seen[p.Node] = "active"
	}
	for _, e := range s.passive {
		if e.peer.Node == s.self.Node {
			return fmt.Errorf("self in passive view")
		}
		if seen[e.peer.Node] != "" {
			return fmt.Errorf("%s in passive view and %s", e.peer.Node, seen[e.peer.Node])
		}
		seen[e.peer.Node] = "passive"
		if e.failures >= cfg.MaxFailCount {
			return fmt.Errorf("%s kept with %d failures", e.peer.Node, e.failures)
		}
	}
	return nil
}

// checkEmitted verifies the records a batch of actions puts on the wire.
func checkEmitted(s *State, acts []Action) error {
	for _, a := range acts {
		snd, ok := a.(Send)
		if !ok {
			continue
		}
		if snd.Msg.From() != s.self {
			return fmt.Errorf("%T to %s carries sender %+v, not Self", snd.Msg, snd.To, snd.Msg.From())
		}
		if snd.To == s.self.Node {
			return fmt.Errorf("%T sent to self", snd.Msg)
		}
		var others []Peer
		switch m := snd.Msg.(type) {
		case *ForwardJoin:
			others = append(others, m.New)
			if m.TTL < 0 {
				return fmt.Errorf("negative TTL")
			}
		case *Shuffle:
			others = m.Peers
		case *ShuffleReply:
			others = m.Peers
		}
		for _, p := range others {
			if p.LastSeen.Valid || p.FailCount != 0 || p.BackoffUntil.Valid {
				return fmt.Errorf("%T to %s carries unsanitised record %+v", snd.Msg, snd.To, p)
			}
		}
	}
	return nil
}

// eventView tracks the active view as local subscribers see it from events.
type eventView map[etf.Atom]bool

func (v eventView) apply(acts []Action) error {
	for _, e := range eventsOf(acts) {
		switch e.Type {
		case EventPeerUp:
			if v[e.Node] {
				return fmt.Errorf("duplicate peer_up %s", e.Node)
			}
			v[e.Node] = true
		case EventPeerDown:
			if !v[e.Node] {
				return fmt.Errorf("peer_down %s without peer_up", e.Node)
			}
			delete(v, e.Node)
		}
	}
	return nil
}

func (v eventView) matches(s *State) error {
	var got []etf.Atom
	for n := range v {
		got = append(got, n)
	}
	slices.Sort(got)
	if want := s.ActiveNodes(); !slices.Equal(got, want) {
		return fmt.Errorf("events say active = %v, view is %v", got, want)
	}
	return nil
}
