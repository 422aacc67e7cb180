package hyparview

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

const me etf.Atom = "go@h"

func small(c *Config) { c.ActiveSize = 2 }

// ---- JOIN (§2.4.1) ----

func TestJoinReceivedWithRoom(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "a@h", "b@h")
	acts := s.HandleMessage(t0, &Join{Sender: selfOf("j@h")})
	wantEvents(t, acts, up("j@h"))
	if m := eventsOf(acts)[0].Metric(); m != "barrel_p2p.hyparview.peer_up" {
		t.Fatalf("metric %q", m)
	}
	wantNodes(t, "active", s.ActiveNodes(), "a@h", "b@h", "j@h")
	for _, n := range []etf.Atom{"a@h", "b@h"} {
		fj := sendsTo[*ForwardJoin](acts, n)
		if len(fj) != 1 || fj[0].New.Node != "j@h" || fj[0].TTL != 6 || fj[0].Sender != s.Self() {
			t.Fatalf("forward_join to %s: %+v", n, fj)
		}
	}
	if len(sendsOf(acts)) != 2 {
		t.Fatalf("sent %v; the joiner gets no reply", sendsOf(acts))
	}
	if j, _ := s.Churn(t0); j != 3 {
		t.Fatalf("churn joins = %d, want 3", j)
	}
}

func TestJoinReceivedFullEvicts(t *testing.T) {
	s := withActive(t, newTestState(t, me, small), "a@h", "b@h")
	acts := s.HandleMessage(t0, &Join{Sender: selfOf("j@h")})
	ev := eventsOf(acts)
	if len(ev) != 2 || ev[0].Type != EventPeerDown || ev[0].Reason != ReasonDropped || ev[1] != up("j@h") {
		t.Fatalf("events %v, want peer_down(X, dropped) then peer_up(j)", ev)
	}
	dropped, kept := ev[0].Node, etf.Atom("a@h")
	if dropped == "a@h" {
		kept = "b@h"
	}
	if d := sendsTo[*Disconnect](acts, dropped); len(d) != 1 || d[0].Sender != s.Self() {
		t.Fatalf("no DISCONNECT to evicted %s: %v", dropped, sendsOf(acts))
	}
	wantNodes(t, "active", s.ActiveNodes(), kept, "j@h")
	wantNodes(t, "passive", s.PassiveNodes(), dropped)
	if fj := sendsTo[*ForwardJoin](acts, kept); len(fj) != 1 {
		t.Fatalf("forward_join to remaining %s: %v", kept, fj)
	}
	if len(connectsOf(acts)) != 0 {
		t.Fatal("eviction must not touch connections")
	}
}

func TestDuplicateJoinIsIdempotent(t *testing.T) {
	s := withActive(t, newTestState(t, me, small), "a@h", "j@h")
	acts := s.HandleMessage(t0, &Join{Sender: selfOf("j@h")})
	wantEvents(t, acts)
	wantNodes(t, "active", s.ActiveNodes(), "a@h", "j@h")
	if fj := sendsTo[*ForwardJoin](acts, "a@h"); len(fj) != 1 {
		t.Fatalf("FORWARD_JOIN must be re-emitted on a duplicate JOIN: %v", sendsOf(acts))
	}
	if len(sendsTo[*Disconnect](acts, "a@h")) != 0 {
		t.Fatal("duplicate JOIN evicted a bystander")
	}
}

func TestJoinFromBlockedNode(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "a@h")
	s.Block(t0, "j@h")
	acts := s.HandleMessage(t0, &Join{Sender: selfOf("j@h")})
	wantEvents(t, acts) // barrel_p2p emits peer_up here (Q10)
	if s.IsActive("j@h") {
		t.Fatal("blocked joiner admitted")
	}
	if len(sendsTo[*ForwardJoin](acts, "a@h")) != 1 {
		t.Fatal("FORWARD_JOIN for a blocked joiner is still sent, as in barrel_p2p")
	}
}

// ---- FORWARD_JOIN (§2.4.2) ----

func TestForwardJoin(t *testing.T) {
	type result struct {
		passive  bool
		connect  bool
		forwardN int // forwards sent
		fwdTTL   int
	}
	for _, tc := range []struct {
		name    string
		active  []etf.Atom
		blocked bool
		newNode etf.Atom
		ttl     int
		want    result
	}{
		{name: "ttl 0 stores", active: []etf.Atom{"s@h"}, newNode: "n@h", ttl: 0, want: result{passive: true}},
		{name: "ttl 0 self", active: []etf.Atom{"s@h"}, newNode: me, ttl: 0},
		{name: "self", active: []etf.Atom{"s@h"}, newNode: me, ttl: 6},
		{name: "room: dial only", active: []etf.Atom{"s@h"}, newNode: "n@h", ttl: 6, want: result{connect: true}},
		{name: "ttl prwl: store and dial", active: []etf.Atom{"s@h"}, newNode: "n@h", ttl: 3, want: result{passive: true, connect: true}},
		{name: "full: forward", active: []etf.Atom{"s@h", "x@h"}, newNode: "n@h", ttl: 6, want: result{forwardN: 1, fwdTTL: 5}},
		{name: "full ttl prwl: store and forward", active: []etf.Atom{"s@h", "x@h"}, newNode: "n@h", ttl: 3, want: result{passive: true, forwardN: 1, fwdTTL: 2}},
		{name: "full ttl 1: forward 0", active: []etf.Atom{"s@h", "x@h"}, newNode: "n@h", ttl: 1, want: result{forwardN: 1, fwdTTL: 0}},
		{name: "full, only sender and joiner active", active: []etf.Atom{"s@h", "n@h"}, newNode: "n@h", ttl: 6},
		{name: "blocked joiner: forward", active: []etf.Atom{"s@h", "x@h"}, blocked: true, newNode: "n@h", ttl: 6, want: result{forwardN: 1, fwdTTL: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := small
			if tc.blocked {
				mut = func(c *Config) { c.ActiveSize = 5 }
			}
			s := withActive(t, newTestState(t, me, mut), tc.active...)
			if tc.blocked {
				s.Block(t0, tc.newNode)
			}
			acts := s.HandleMessage(t0, &ForwardJoin{New: selfOf(tc.newNode), TTL: tc.ttl, Sender: selfOf("s@h")})
			if got := s.IsPassive(tc.newNode); got != tc.want.passive {
				t.Errorf("passive = %v", got)
			}
			if got := slices.Contains(connectsOf(acts), tc.newNode); got != tc.want.connect {
				t.Errorf("connect = %v (%v)", got, acts)
			}
			if k, ok := s.Pending(tc.newNode); ok != tc.want.connect || (ok && k != PendingConnect) {
				t.Errorf("pending = %v %v", k, ok)
			}
			var fwd []*ForwardJoin
			for _, sd := range sendsOf(acts) {
				m, ok := sd.Msg.(*ForwardJoin)
				if !ok {
					t.Fatalf("unexpected %T to %s", sd.Msg, sd.To)
				}
				if sd.To == "s@h" || sd.To == tc.newNode {
					t.Fatalf("forwarded to %s", sd.To)
				}
				if m.Sender != s.Self() || m.New.Node != tc.newNode {
					t.Fatalf("forward %+v", m)
				}
				fwd = append(fwd, m)
			}
			if len(fwd) != tc.want.forwardN || (len(fwd) == 1 && fwd[0].TTL != tc.want.fwdTTL) {
				t.Errorf("forwards %+v, want %d with TTL %d", fwd, tc.want.forwardN, tc.want.fwdTTL)
			}
			if len(eventsOf(acts)) != 0 {
				t.Errorf("events %v", eventsOf(acts))
			}
		})
	}
}

// An accepted FORWARD_JOIN puts the joiner in the active view once dialled.
// barrel_p2p never tells the joiner (quirk Q2); the Go node sends it a
// low-priority NEIGHBOR so that the link can become symmetric.
func TestForwardJoinAcceptCompletes(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "s@h")
	s.HandleMessage(t0, &ForwardJoin{New: selfOf("n@h"), TTL: 3, Sender: selfOf("s@h")})
	if !s.IsPassive("n@h") {
		t.Fatal("TTL = prwl must store the joiner")
	}
	acts := s.ConnectResult(t0, "n@h", true)
	wantEvents(t, acts, up("n@h"))
	if nb := sendsTo[*Neighbor](acts, "n@h"); len(sendsOf(acts)) != 1 || len(nb) != 1 || nb[0].Priority != PriorityLow {
		t.Fatalf("sent %v; want one NEIGHBOR(low) to the joiner", sendsOf(acts))
	}
	// A refusal (full joiner) must not leave a one-sided link: Plumtree
	// only pushes along links both ends hold (the 1,000-node simulation
	// showed broadcasts reaching 24-73% of nodes with them). The joiner
	// becomes a passive candidate.
	wantEvents(t, s.HandleMessage(t0, &NeighborReply{Accept: false, Sender: selfOf("n@h")}),
		Event{Type: EventPeerDown, Node: "n@h", Reason: ReasonDropped})
	if s.IsActive("n@h") || !s.IsPassive("n@h") {
		t.Fatal("a refused one-sided link must move to the passive view")
	}
	if _, ok := s.Pending("n@h"); ok {
		t.Fatal("pending not cleared")
	}
	// The advertised address survives (make_peer would have lost it).
	if a := s.Active(); !a[0].Address.IsValid() && !a[1].Address.IsValid() {
		t.Fatal("joiner's address lost")
	}
	// A nodeup for the same connection afterwards changes nothing.
	if acts := s.NodeUp(t0, "n@h"); len(acts) != 0 {
		t.Fatalf("late nodeup: %v", acts)
	}
}

// ---- NEIGHBOR (§2.4.3) ----

func TestNeighbor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		active  []etf.Atom
		prio    Priority
		block   bool
		accept  bool
		evicts  bool
		upEvent bool
	}{
		{name: "high full", active: []etf.Atom{"a@h", "b@h"}, prio: PriorityHigh, accept: true, evicts: true, upEvent: true},
		{name: "low full", active: []etf.Atom{"a@h", "b@h"}, prio: PriorityLow},
		{name: "low room", active: []etf.Atom{"a@h"}, prio: PriorityLow, accept: true, upEvent: true},
		{name: "low full already active", active: []etf.Atom{"a@h", "n@h"}, prio: PriorityLow, accept: true},
		{name: "high blocked", active: []etf.Atom{"a@h"}, prio: PriorityHigh, block: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withActive(t, newTestState(t, me, small), tc.active...)
			if tc.block {
				s.Block(t0, "n@h")
			}
			acts := s.HandleMessage(t0, &Neighbor{Priority: tc.prio, Sender: selfOf("n@h")})
			sends := sendsOf(acts)
			if len(sends) == 0 || sends[0].To != "n@h" {
				t.Fatalf("first send must be the reply to n@h: %v", sends)
			}
			r, ok := sends[0].Msg.(*NeighborReply)
			if !ok || r.Accept != tc.accept || r.Sender != s.Self() {
				t.Fatalf("reply %+v, want accept=%v", sends[0].Msg, tc.accept)
			}
			if s.IsActive("n@h") != tc.accept {
				t.Fatalf("active = %v", s.IsActive("n@h"))
			}
			evicted := false
			for _, e := range eventsOf(acts) {
				if e.Type == EventPeerDown && e.Reason == ReasonDropped {
					evicted = true
				}
			}
			if evicted != tc.evicts {
				t.Fatalf("evicted = %v (%v)", evicted, acts)
			}
			if got := slices.Contains(eventsOf(acts), up("n@h")); got != tc.upEvent {
				t.Fatalf("peer_up = %v", got)
			}
		})
	}
}

// ---- promotion, NEIGHBOR_REPLY (§2.4.3, §2.8) ----

func TestPromotionConnectsFirstThenNeighbor(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, small), "a@h", "b@h"), "p@h")
	acts := s.NodeDown(t0, "a@h")
	wantEvents(t, acts, down("a@h", ReasonNodedown))
	if s.IsPassive("a@h") {
		t.Fatal("a node lost by nodedown is not moved to the passive view")
	}
	if !slices.Equal(connectsOf(acts), []etf.Atom{"p@h"}) {
		t.Fatalf("connects %v, want [p@h]", connectsOf(acts))
	}
	if len(sendsOf(acts)) != 0 {
		t.Fatal("NEIGHBOR must wait for the connection (quirk Q7)")
	}
	if k, ok := s.Pending("p@h"); !ok || k != PendingNeighbor || s.IsPassive("p@h") {
		t.Fatalf("pending %v %v, passive %v", k, ok, s.IsPassive("p@h"))
	}
	acts = s.ConnectResult(t0, "p@h", true)
	nb := sendsTo[*Neighbor](acts, "p@h")
	if len(nb) != 1 || nb[0].Priority != PriorityLow || nb[0].Sender != s.Self() {
		t.Fatalf("neighbor %v", sendsOf(acts))
	}
	acts = s.HandleMessage(t0, &NeighborReply{Accept: true, Sender: selfOf("p@h")})
	wantEvents(t, acts, up("p@h"))
	if _, ok := s.Pending("p@h"); ok {
		t.Fatal("pending neighbor must be cleared by the reply (quirk Q9)")
	}
	wantNodes(t, "active", s.ActiveNodes(), "b@h", "p@h")
}

func TestPromotionPriorityHighWhenEmpty(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, nil), "a@h"), "p@h")
	s.NodeDown(t0, "a@h")
	acts := s.ConnectResult(t0, "p@h", true)
	if nb := sendsTo[*Neighbor](acts, "p@h"); len(nb) != 1 || nb[0].Priority != PriorityHigh {
		t.Fatalf("neighbor %v", sendsOf(acts))
	}
}

func TestNeighborRejectedPromotesNext(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, small), "a@h", "b@h"), "p@h", "q@h")
	acts := s.NodeDown(t0, "a@h")
	first := connectsOf(acts)[0]
	second := etf.Atom("q@h")
	if first == "q@h" {
		second = "p@h"
	}
	s.ConnectResult(t0, first, true)
	acts = s.HandleMessage(t0, &NeighborReply{Accept: false, Sender: selfOf(first)})
	if s.IsPassive(first) || s.IsActive(first) {
		t.Fatal("the rejecting node is not re-added, as in barrel_p2p")
	}
	if !slices.Equal(connectsOf(acts), []etf.Atom{second}) {
		t.Fatalf("connects %v, want next candidate %s", connectsOf(acts), second)
	}
}

func TestUnsolicitedNeighborReplyAccepted(t *testing.T) {
	s := newTestState(t, me, nil)
	acts := s.HandleMessage(t0, &NeighborReply{Accept: true, Sender: selfOf("e@h")})
	wantEvents(t, acts, up("e@h"))
	// again: no flapping, no duplicate event
	wantEvents(t, s.HandleMessage(t0, &NeighborReply{Accept: true, Sender: selfOf("e@h")}))
}

func TestPromotionOrderAndBackoff(t *testing.T) {
	s := withActive(t, newTestState(t, me, small), "a@h", "b@h", "c@h")
	// a@h was evicted by c@h's JOIN... find the observed (evicted) entry.
	evicted := s.PassiveNodes()
	if len(evicted) != 1 {
		t.Fatalf("passive %v", evicted)
	}
	withPassive(t, s, "h1@h", "h2@h")
	// The evicted node was observed; hearsay entries were not, so it is
	// promoted first (greatest last_seen).
	active := s.ActiveNodes()
	acts := s.NodeDown(t0, active[0])
	if got := connectsOf(acts); !slices.Equal(got, evicted) {
		t.Fatalf("promoted %v, want observed %v", got, evicted)
	}
	cand := evicted[0]
	for _, n := range []etf.Atom{"h1@h", "h2@h"} {
		s.removePassive(n)
	}
	// Failures put the candidate back with exponential backoff (quirk Q8
	// fixed): 2 s, 4 s, 8 s, 16 s, then removal at max_fail_count = 5.
	now := t0
	// A stray rejection runs promotion without changing the views.
	tick := func(at time.Time) []Action {
		return s.HandleMessage(at, &NeighborReply{Accept: false, Sender: selfOf("r@h")})
	}
	for i := 1; i <= 5; i++ {
		acts = s.ConnectResult(now, cand, false)
		if i == 5 {
			if s.IsPassive(cand) {
				t.Fatal("entry kept after max_fail_count failures")
			}
			break
		}
		if !s.IsPassive(cand) {
			t.Fatalf("failure %d: candidate not back in passive", i)
		}
		wait := time.Duration(1<<i) * time.Second
		if e := s.passive[s.passiveIndex(cand)]; e.failures != i || !e.backoffUntil.Equal(now.Add(wait)) {
			t.Fatalf("failure %d: %+v", i, e)
		}
		if c := connectsOf(acts); len(c) != 0 {
			t.Fatalf("failure %d: promoted %v during backoff", i, c)
		}
		if c := connectsOf(tick(now.Add(wait - time.Millisecond))); len(c) != 0 {
			t.Fatalf("failure %d: promoted %v during backoff", i, c)
		}
		now = now.Add(wait)
		if c := connectsOf(tick(now)); !slices.Equal(c, []etf.Atom{cand}) {
			t.Fatalf("failure %d: not promoted after backoff: %v", i, c)
		}
	}
}

func TestBackoffCap(t *testing.T) {
	if got := backoff(time.Second, 20); got != MaxBackoff {
		t.Fatalf("backoff = %v", got)
	}
	if got := backoff(time.Second, 3); got != 8*time.Second {
		t.Fatalf("backoff = %v", got)
	}
	if got := backoff(time.Duration(1<<62), 1000); got != MaxBackoff {
		t.Fatalf("backoff = %v", got)
	}
}

// ---- DISCONNECT (§2.4.4) ----

func TestDisconnect(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, nil), "a@h", "b@h"), "p@h")
	_, leaves := s.Churn(t0)
	acts := s.HandleMessage(t0, &Disconnect{Sender: selfOf("a@h")})
	wantEvents(t, acts, down("a@h", ReasonGraceful))
	// Promotion runs at once and may pick the sender back out of the
	// passive view (it ties with p@h: neither was observed).
	k, pending := s.Pending("a@h")
	if s.IsActive("a@h") || !(s.IsPassive("a@h") || pending && k == PendingNeighbor) {
		t.Fatal("DISCONNECT must move the sender to the passive view")
	}
	if c := connectsOf(acts); len(c) != 1 {
		t.Fatalf("promotion must run: %v", acts)
	}
	if _, l := s.Churn(t0); l != leaves+1 {
		t.Fatalf("leaves = %d", l)
	}
	// From a node not active: ignored (tolerates Q2/Q1 asymmetry).
	wantEvents(t, s.HandleMessage(t0, &Disconnect{Sender: selfOf("z@h")}))
	if s.IsPassive("z@h") {
		t.Fatal("DISCONNECT from a non-active node must be ignored")
	}
}

// ---- SHUFFLE (§2.4.5) ----

func TestShuffleReceived(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "s@h", "a@h")
	peers := []Peer{selfOf("s@h"), selfOf(me), selfOf("x@h"), selfOf("y@h"), selfOf("a@h")}
	peers[2].LastSeen, peers[2].FailCount = Int(-5), 3
	acts := s.HandleMessage(t0, &Shuffle{TTL: 3, Peers: peers, Sender: selfOf("s@h")})
	wantNodes(t, "passive", s.PassiveNodes(), "x@h", "y@h")
	wantNodes(t, "active", s.ActiveNodes(), "a@h", "s@h")
	r := sendsTo[*ShuffleReply](acts, "s@h")
	if len(r) != 1 || len(r[0].Peers) != 4 && len(r[0].Peers) != 3 {
		t.Fatalf("reply %v", sendsOf(acts))
	}
	// The pool before the merge is Self + 2 active = 3 records; F has 4.
	if len(r[0].Peers) != 3 {
		t.Fatalf("reply has %d records, want 3 (pool before merge)", len(r[0].Peers))
	}
	for _, p := range r[0].Peers {
		if p.Node == "x@h" || p.Node == "y@h" {
			t.Fatal("reply drawn after the merge")
		}
	}
	f := sendsTo[*Shuffle](acts, "a@h")
	if len(f) != 1 || f[0].TTL != 2 || len(f[0].Peers) != 4 || f[0].Sender != s.Self() {
		t.Fatalf("forward %v", sendsOf(acts))
	}
	for _, p := range f[0].Peers {
		if p.Node == me {
			t.Fatal("forwarded list keeps self")
		}
	}
	if err := checkEmitted(s, acts); err != nil {
		t.Fatal(err)
	}
	// TTL 0: reply, no forward.
	acts = s.HandleMessage(t0, &Shuffle{TTL: 0, Peers: nil, Sender: selfOf("s@h")})
	if len(sendsOf(acts)) != 1 || len(sendsTo[*ShuffleReply](acts, "s@h")) != 1 {
		t.Fatalf("ttl 0: %v", sendsOf(acts))
	}
}

func TestShuffleFromNonActiveSender(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "a@h")
	acts := s.HandleMessage(t0, &Shuffle{TTL: 2, Peers: []Peer{selfOf("e@h")}, Sender: selfOf("e@h")})
	if len(sendsTo[*ShuffleReply](acts, "e@h")) != 1 || len(sendsTo[*Shuffle](acts, "a@h")) != 1 {
		t.Fatalf("sends %v", sendsOf(acts))
	}
	if s.IsActive("e@h") || !s.IsPassive("e@h") {
		t.Fatal("a one-sided neighbour's shuffle must not admit it")
	}
}

func TestShuffleReplyReceived(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "a@h")
	s.HandleMessage(t0, &ShuffleReply{Peers: []Peer{selfOf(me), selfOf("a@h"), selfOf("x@h"), selfOf("x@h")}, Sender: selfOf("a@h")})
	wantNodes(t, "passive", s.PassiveNodes(), "x@h")
}

func TestShuffleTimerAndAdaptivePeriod(t *testing.T) {
	s, _ := New(selfOf(me), DefaultConfig(), nil)
	acts := s.Start(t0)
	var first SetTimer
	for _, st := range timersOf(acts) {
		if st.Timer.Kind == TimerShuffle {
			first = st
		}
	}
	if first.After != 10*time.Second {
		t.Fatalf("first shuffle after %v", first.After)
	}
	// No active peer: no shuffle, timer re-armed.
	acts = s.TimerFired(t0.Add(10*time.Second), first.Timer)
	if len(sendsOf(acts)) != 0 || len(timersOf(acts)) != 1 {
		t.Fatalf("idle tick: %v", acts)
	}
	// Stale firing is ignored.
	if acts := s.TimerFired(t0, first.Timer); len(acts) != 0 {
		t.Fatalf("stale timer: %v", acts)
	}
	withActive(t, s, "a@h", "b@h")
	withPassive(t, s, "p1@h", "p2@h", "p3@h", "p4@h", "p5@h", "p6@h", "p7@h", "p8@h")
	now := t0.Add(11 * time.Second)
	acts = s.TriggerShuffle(now)
	sends := sendsOf(acts)
	if len(sends) != 1 {
		t.Fatalf("sends %v", sends)
	}
	sh := sends[0].Msg.(*Shuffle)
	if (sends[0].To != "a@h" && sends[0].To != "b@h") || sh.TTL != 3 || len(sh.Peers) != 8 || sh.Sender != s.Self() {
		t.Fatalf("shuffle %+v to %s", sh, sends[0].To)
	}
	if err := checkEmitted(s, acts); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	for _, tc := range []struct {
		churn int
		base  time.Duration
		want  time.Duration
	}{
		{0, cfg.ShufflePeriod, 10 * time.Second},
		{5, cfg.ShufflePeriod, 10 * time.Second},
		{6, cfg.ShufflePeriod, 5 * time.Second},
		{10, cfg.ShufflePeriod, 5 * time.Second},
		{11, cfg.ShufflePeriod, 2 * time.Second},
		{6, 3 * time.Second, 2 * time.Second},
		{0, 60 * time.Second, 30 * time.Second},
		{0, time.Second, 2 * time.Second},
	} {
		c := DefaultConfig()
		c.ShufflePeriod = tc.base
		s := newTestState(t, me, func(x *Config) { *x = c })
		for i := range tc.churn {
			s.NodeDown(t0, etf.Atom("d"+string(rune('a'+i))+"@h"))
		}
		acts := s.TimerFired(t0.Add(time.Second), Timer{Kind: TimerShuffle, Seq: s.periodic[TimerShuffle]})
		ts := timersOf(acts)
		if len(ts) != 1 || ts[0].After != tc.want || s.ShufflePeriod() != tc.want {
			t.Errorf("churn %d base %v: next %v, want %v", tc.churn, tc.base, ts, tc.want)
		}
	}
}

func TestChurnWindowResets(t *testing.T) {
	s := newTestState(t, me, nil)
	for range 12 {
		s.NodeDown(t0, "x@h")
	}
	if _, l := s.Churn(t0.Add(30 * time.Second)); l != 12 {
		t.Fatalf("leaves %d within the window", l)
	}
	if j, l := s.Churn(t0.Add(30*time.Second + time.Millisecond)); j != 0 || l != 0 {
		t.Fatalf("window not reset: %d %d", j, l)
	}
}

// ---- passive view (§2.8) ----

func TestPassiveCapAndCleanup(t *testing.T) {
	s := newTestState(t, me, func(c *Config) { c.PassiveSize = 3 })
	withPassive(t, s, "a@h", "b@h", "c@h")
	s.HandleMessage(t0, &ShuffleReply{Peers: []Peer{selfOf("d@h")}, Sender: selfOf("z@h")})
	if len(s.passive) != 3 || !s.IsPassive("d@h") {
		t.Fatalf("passive %v", s.PassiveNodes())
	}
	// Observed entries age out; hearsay (never observed) entries stay.
	s2 := withActive(t, newTestState(t, me, small), "a@h", "b@h", "c@h")
	observed := s2.PassiveNodes()[0]
	withPassive(t, s2, "h@h")
	s2.TriggerCleanup(t0.Add(299 * time.Second))
	wantNodes(t, "passive", s2.PassiveNodes(), observed, "h@h")
	acts := s2.TimerFired(t0.Add(300*time.Second), Timer{Kind: TimerCleanup, Seq: s2.periodic[TimerCleanup]})
	wantNodes(t, "passive", s2.PassiveNodes(), "h@h")
	if ts := timersOf(acts); len(ts) != 1 || ts[0].After != 60*time.Second {
		t.Fatalf("cleanup re-arm %v", ts)
	}
}

func TestMessageRefreshesLastSeen(t *testing.T) {
	s := withPassive(t, newTestState(t, me, nil), "p@h", "q@h")
	later := t0.Add(time.Minute)
	s.HandleMessage(later, &ShuffleReply{Sender: selfOf("q@h")})
	if e := s.passive[s.passiveIndex("q@h")]; !e.lastSeen.Equal(later) {
		t.Fatalf("lastSeen %v", e.lastSeen)
	}
}

// ---- connection management (§2.5) ----

func TestJoinAPI(t *testing.T) {
	s := withActive(t, newTestState(t, me, nil), "a@h")
	if _, err := s.Join(t0, me); !errors.Is(err, ErrJoinSelf) {
		t.Fatalf("join self: %v", err)
	}
	acts, err := s.Join(t0, "c@h")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(connectsOf(acts), []etf.Atom{"c@h"}) || len(sendsOf(acts)) != 0 {
		t.Fatalf("join: %v", acts)
	}
	ts := timersOf(acts)
	if len(ts) != 1 || ts[0].Timer.Kind != TimerPending || ts[0].After != 30*time.Second {
		t.Fatalf("pending timer %v", ts)
	}
	// A second Join while connecting does not dial again.
	if acts, _ := s.Join(t0, "c@h"); len(acts) != 0 {
		t.Fatalf("second join: %v", acts)
	}
	acts = s.NodeUp(t0, "c@h")
	wantEvents(t, acts, up("c@h"))
	j := sendsTo[*Join](acts, "c@h")
	if len(j) != 1 || j[0].Sender != s.Self() {
		t.Fatalf("JOIN %v", sendsOf(acts))
	}
	// Re-joining an active contact resends JOIN without a new peer_up.
	acts, _ = s.Join(t0, "c@h")
	acts = append(acts, s.ConnectResult(t0, "c@h", true)...)
	wantEvents(t, acts)
	if len(sendsTo[*Join](acts, "c@h")) != 1 {
		t.Fatalf("re-join: %v", acts)
	}
}

func TestJoinCompletionRespectsCap(t *testing.T) {
	s := withActive(t, newTestState(t, me, small), "a@h", "b@h")
	s.Join(t0, "c@h")
	acts := s.ConnectResult(t0, "c@h", true)
	if len(s.active) != 2 || !s.IsActive("c@h") {
		t.Fatalf("active %v", s.ActiveNodes())
	}
	if ev := eventsOf(acts); len(ev) != 2 || ev[0].Reason != ReasonDropped {
		t.Fatalf("events %v", ev)
	}
}

func TestJoinBlockedIsNoop(t *testing.T) {
	s := newTestState(t, me, nil)
	s.Block(t0, "c@h")
	acts, err := s.Join(t0, "c@h")
	if err != nil || len(acts) != 0 {
		t.Fatalf("%v %v", acts, err)
	}
}

func TestConnectFailures(t *testing.T) {
	s := withPassive(t, newTestState(t, me, nil), "c@h")
	s.Join(t0, "c@h")
	acts := s.ConnectResult(t0, "c@h", false)
	if _, ok := s.Pending("c@h"); ok {
		t.Fatal("pending kept")
	}
	wantEvents(t, acts)
	if e := s.passive[s.passiveIndex("c@h")]; e.failures != 1 {
		t.Fatalf("failure not recorded on the passive entry: %+v", e)
	}
	// An active node reported by a failed connect: peer_down(connect_failed).
	withActive(t, s, "a@h")
	s.Join(t0, "a@h")
	acts = s.ConnectResult(t0, "a@h", false)
	wantEvents(t, acts, down("a@h", ReasonConnectFailed))
	// Results nobody asked for are ignored.
	if acts := s.ConnectResult(t0, "q@h", true); len(acts) != 0 {
		t.Fatalf("unsolicited result: %v", acts)
	}
}

func TestUnsolicitedNodeUpIgnored(t *testing.T) {
	s := newTestState(t, me, nil)
	if acts := s.NodeUp(t0, "e@h"); len(acts) != 0 || s.IsActive("e@h") {
		t.Fatalf("unsolicited nodeup: %v", acts)
	}
	// nodedown of a node that was never active: counted, no event.
	wantEvents(t, s.NodeDown(t0, "e@h"))
	if _, l := s.Churn(t0); l != 1 {
		t.Fatalf("leaves %d", l)
	}
}

func TestPendingTimeout(t *testing.T) {
	s := newTestState(t, me, nil)
	acts, _ := s.Join(t0, "c@h")
	tm := timersOf(acts)[0].Timer
	acts = s.TimerFired(t0.Add(30*time.Second), tm)
	if len(acts) != 1 || acts[0] != (PendingTimeout{Node: "c@h", Kind: PendingJoin}) {
		t.Fatalf("timeout actions %v", acts)
	}
	if _, ok := s.Pending("c@h"); ok {
		t.Fatal("pending kept")
	}
	// A late connect result is ignored (no pending, no longer connecting).
	if acts := s.ConnectResult(t0.Add(31*time.Second), "c@h", true); len(acts) != 0 || s.IsActive("c@h") {
		t.Fatalf("late connect: %v", acts)
	}
	// A timer for a superseded attempt is ignored.
	acts, _ = s.Join(t0, "c@h")
	if ts := timersOf(acts); len(ts) != 1 || ts[0].Timer == tm {
		t.Fatalf("new attempt timer %v", ts)
	}
	if acts := s.TimerFired(t0, tm); len(acts) != 0 {
		t.Fatalf("stale pending timer: %v", acts)
	}
}

// ---- leave, block (§2.13) ----

func TestLeave(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, nil), "a@h", "b@h"), "p@h")
	acts := s.Leave(t0)
	if len(sendsTo[*Disconnect](acts, "a@h")) != 1 || len(sendsTo[*Disconnect](acts, "b@h")) != 1 {
		t.Fatalf("sends %v", sendsOf(acts))
	}
	ev := eventsOf(acts)
	if len(ev) != 3 || ev[2].Type != EventLeft {
		t.Fatalf("events %v", ev)
	}
	if len(s.active) != 0 || len(s.passive) != 0 {
		t.Fatal("views not cleared")
	}
	// Not sticky: a former peer's NEIGHBOR (even low) is accepted.
	acts = s.HandleMessage(t0, &Neighbor{Priority: PriorityLow, Sender: selfOf("a@h")})
	if r := sendsTo[*NeighborReply](acts, "a@h"); len(r) != 1 || !r[0].Accept {
		t.Fatalf("reply %v", sendsOf(acts))
	}
}

func TestBlockUnblock(t *testing.T) {
	s := withPassive(t, withActive(t, newTestState(t, me, nil), "a@h", "b@h"), "p@h")
	acts := s.Block(t0, "a@h", "p@h", "n@h")
	wantEvents(t, acts, down("a@h", ReasonBlocked))
	if s.IsActive("a@h") || s.IsPassive("p@h") {
		t.Fatal("blocked nodes kept in views")
	}
	wantNodes(t, "blocked", s.Blocked(), "a@h", "n@h", "p@h")
	// Passive insertion stays possible (as in barrel_p2p) but promotion skips.
	s.HandleMessage(t0, &ShuffleReply{Peers: []Peer{selfOf("p@h")}, Sender: selfOf("b@h")})
	if !s.IsPassive("p@h") {
		t.Fatal("shuffle must still reach the passive view")
	}
	if c := connectsOf(s.NodeDown(t0, "b@h")); len(c) != 0 {
		t.Fatalf("promoted a blocked node: %v", c)
	}
	if acts := s.HandleMessage(t0, &NeighborReply{Accept: true, Sender: selfOf("n@h")}); s.IsActive("n@h") || len(acts) != 0 {
		t.Fatal("blocked node admitted by NEIGHBOR_REPLY")
	}
	s.Unblock(t0)
	if len(s.Blocked()) != 0 {
		t.Fatal("unblock")
	}
	if c := connectsOf(s.TimerFired(t0, Timer{Kind: TimerShuffle, Seq: s.periodic[TimerShuffle]})); !slices.Equal(c, []etf.Atom{"p@h"}) {
		t.Fatalf("after unblock promotion %v", c)
	}
}

// ---- bootstrap (§2.6) ----

func TestBootstrap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ContactNodes = []etf.Atom{"c1@h", me, "c2@h", "c1@h"}
	s, err := New(selfOf(me), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	acts := s.Start(t0)
	var tick SetTimer
	for _, st := range timersOf(acts) {
		if st.Timer.Kind == TimerContact {
			tick = st
		}
	}
	if tick.After != time.Second {
		t.Fatalf("first contact tick %+v", tick)
	}
	acts = s.TimerFired(t0.Add(time.Second), tick.Timer)
	if c := connectsOf(acts); !slices.Equal(c, []etf.Atom{"c1@h", "c2@h"}) {
		t.Fatalf("contacts dialled %v", c)
	}
	var next SetTimer
	for _, st := range timersOf(acts) {
		if st.Timer.Kind == TimerContact {
			next = st
		}
	}
	if next.After != 5*time.Second {
		t.Fatalf("retry %+v", next)
	}
	s.ConnectResult(t0, "c1@h", true)
	acts = s.TimerFired(t0.Add(6*time.Second), next.Timer)
	if c := connectsOf(acts); len(c) != 0 {
		t.Fatalf("joined while the active view is not empty: %v", c)
	}
}

// ---- §10: Erlang-side bugs tolerated without flapping ----

func TestToleratesErlangRestart(t *testing.T) {
	// e@h restarts with empty views (quirk Q1): it keeps the dist channel, so
	// no nodedown. It may re-JOIN (bootstrap), ask NEIGHBOR high (promotion of
	// us from a passive view it rebuilt), or answer a NEIGHBOR it crashed on.
	s := withActive(t, newTestState(t, me, small), "e@h", "b@h")
	view := eventView{"e@h": true, "b@h": true}
	for _, m := range []Message{
		&Join{Sender: selfOf("e@h")},
		&Neighbor{Priority: PriorityHigh, Sender: selfOf("e@h")},
		&Neighbor{Priority: PriorityLow, Sender: selfOf("e@h")},
		&NeighborReply{Accept: true, Sender: selfOf("e@h")},
		&Shuffle{TTL: 3, Peers: []Peer{selfOf("e@h")}, Sender: selfOf("e@h")},
		&ShuffleReply{Peers: []Peer{selfOf("e@h"), selfOf("b@h")}, Sender: selfOf("e@h")},
		&ForwardJoin{New: selfOf("e@h"), TTL: 3, Sender: selfOf("b@h")},
	} {
		acts := s.HandleMessage(t0, m)
		if len(eventsOf(acts)) != 0 {
			t.Fatalf("%T: events %v (flapping)", m, eventsOf(acts))
		}
		if len(sendsTo[*Disconnect](acts, "b@h"))+len(sendsTo[*Disconnect](acts, "e@h")) != 0 {
			t.Fatalf("%T evicted a neighbour", m)
		}
		if err := view.matches(s); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if s.IsPassive("e@h") || s.IsPassive("b@h") {
			t.Fatalf("%T: active node entered the passive view", m)
		}
	}
}

func TestToleratesAsymmetricViews(t *testing.T) {
	// x@h accepted our FORWARD_JOIN and dialled us (quirk Q2): the nodeup is
	// unsolicited, x@h holds us one-sidedly and sends us traffic.
	s := withActive(t, newTestState(t, me, nil), "c@h")
	wantEvents(t, s.NodeUp(t0, "x@h"))
	acts := s.HandleMessage(t0, &Shuffle{TTL: 3, Peers: []Peer{selfOf("x@h"), selfOf("c@h")}, Sender: selfOf("x@h")})
	wantEvents(t, acts)
	if s.IsActive("x@h") {
		t.Fatal("one-sided neighbour admitted")
	}
	// Its nodedown (dist GC reaping) is not an active loss.
	wantEvents(t, s.NodeDown(t0, "x@h"))
	wantNodes(t, "active", s.ActiveNodes(), "c@h")
	// It may also DISCONNECT us although we never held it.
	wantEvents(t, s.HandleMessage(t0, &Disconnect{Sender: selfOf("x@h")}))
}

func TestToleratesNonDisjointRecords(t *testing.T) {
	// Erlang views are not disjoint (Q6): the same node can arrive as
	// connected=true and =false in one sample, and records carry foreign
	// last_seen/fail_count values (Q5).
	s := withActive(t, newTestState(t, me, nil), "a@h")
	p1, p2 := selfOf("x@h"), selfOf("x@h")
	p2.Connected, p2.FailCount, p2.LastSeen = false, 99, Int(-576460750736411332)
	s.HandleMessage(t0, &ShuffleReply{Peers: []Peer{p1, p2, selfOf("a@h")}, Sender: selfOf("a@h")})
	wantNodes(t, "passive", s.PassiveNodes(), "x@h")
	e := s.passive[s.passiveIndex("x@h")]
	if e.failures != 0 || !e.lastSeen.IsZero() {
		t.Fatalf("foreign bookkeeping inherited: %+v", e)
	}
	if err := checkInvariants(s); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesFromSelfIgnored(t *testing.T) {
	s := newTestState(t, me, nil)
	for _, m := range []Message{
		&Join{Sender: s.Self()},
		&Neighbor{Priority: PriorityHigh, Sender: s.Self()},
		&NeighborReply{Accept: true, Sender: s.Self()},
	} {
		if acts := s.HandleMessage(t0, m); len(acts) != 0 || len(s.active) != 0 {
			t.Fatalf("%T from self: %v", m, acts)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ActiveSize, c.ARWL, c.ShufflePeriod = 0, 300, 0
	if _, err := New(selfOf(me), c, nil); err == nil {
		t.Fatal("invalid config accepted")
	}
	if _, err := New(Peer{}, DefaultConfig(), nil); err == nil {
		t.Fatal("empty self accepted")
	}
}
