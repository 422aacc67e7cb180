package plumtree_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const self = etf.Atom("me@h")

func newState(eager ...etf.Atom) *plumtree.State {
	return plumtree.New(plumtree.Config{Self: self}, eager)
}

func idOf(s string) plumtree.ID { return plumtree.BinaryID([]byte(s)) }

// describe renders actions as sorted strings, so tables can state the
// expected effect without depending on peer order.
func describe(acts []plumtree.Action) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case plumtree.Send:
			kind := fmt.Sprintf("%T", a.Msg)[len("plumtree."):]
			if a.Msg.From() != self {
				kind += "(from " + string(a.Msg.From()) + ")"
			}
			out = append(out, fmt.Sprintf("send %s %s", a.To, kind))
		case plumtree.Deliver:
			out = append(out, fmt.Sprintf("deliver from %s", a.From))
		case plumtree.SetTimer:
			out = append(out, fmt.Sprintf("timer %d %s %v", a.Timer.Kind, a.Timer.Peer, a.After))
		case plumtree.CancelTimer:
			out = append(out, fmt.Sprintf("cancel %d %s", a.Timer.Kind, a.Timer.Peer))
		}
	}
	slices.Sort(out)
	return out
}

func sorted(l []etf.Atom) []etf.Atom { l = slices.Clone(l); slices.Sort(l); return l }

func TestNewEagerFromActiveView(t *testing.T) {
	s := newState("a@h", self, "b@h", "a@h")
	if got := sorted(s.Eager()); !slices.Equal(got, []etf.Atom{"a@h", "b@h"}) {
		t.Fatalf("eager = %v", got)
	}
	if len(s.Lazy()) != 0 {
		t.Fatalf("lazy = %v", s.Lazy())
	}
	acts := s.Start(t0)
	if len(acts) != 1 || acts[0].(plumtree.SetTimer).Timer.Kind != plumtree.TimerCleanup ||
		acts[0].(plumtree.SetTimer).After != time.Minute {
		t.Fatalf("Start = %#v", acts)
	}
}

// setup builds a state with eager {a, b} and lazy {c}.
func setup() *plumtree.State {
	s := newState("a@h", "b@h", "c@h")
	s.Receive(t0, plumtree.Prune{Sender: "c@h"})
	return s
}

func TestReceiveBehaviour(t *testing.T) {
	g := func(id, from string) plumtree.Message {
		return plumtree.Gossip{ID: idOf(id), Tag: etf.Atom("t"), Payload: int64(1), Sender: etf.Atom(from)}
	}
	cases := []struct {
		name      string
		prep      func(s *plumtree.State)
		msg       plumtree.Message
		want      []string
		wantEager []etf.Atom
		wantLazy  []etf.Atom
	}{
		{
			name:      "new gossip from eager: deliver, forward to other eager, ihave to lazy",
			msg:       g("m1", "a@h"),
			want:      []string{"deliver from a@h", "send b@h Gossip", "send c@h IHave"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "new gossip from lazy: sender moves to eager, not sent back",
			msg:       g("m1", "c@h"),
			want:      []string{"deliver from c@h", "send a@h Gossip", "send b@h Gossip"},
			wantEager: []etf.Atom{"a@h", "b@h", "c@h"},
		},
		{
			name:      "new gossip from a stranger: it becomes eager (Q14)",
			msg:       g("m1", "x@h"),
			want:      []string{"deliver from x@h", "send a@h Gossip", "send b@h Gossip", "send c@h IHave"},
			wantEager: []etf.Atom{"a@h", "b@h", "x@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "duplicate gossip: prune the sender only, keep it eager",
			prep:      func(s *plumtree.State) { s.Receive(t0, g("m1", "a@h")) },
			msg:       g("m1", "b@h"),
			want:      []string{"send b@h Prune"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "duplicate of own broadcast",
			prep:      func(s *plumtree.State) { s.BroadcastID(t0, idOf("m1"), etf.Atom("t"), 1) },
			msg:       g("m1", "a@h"),
			want:      []string{"send a@h Prune"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "gossip after ihave cancels the graft timer",
			prep:      func(s *plumtree.State) { s.Receive(t0, plumtree.IHave{ID: idOf("m1"), Sender: "c@h"}) },
			msg:       g("m1", "a@h"),
			want:      []string{"cancel 1 c@h", "deliver from a@h", "send b@h Gossip", "send c@h IHave"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "ihave for a missing id arms a 1 s timer",
			msg:       plumtree.IHave{ID: idOf("m1"), Sender: "c@h"},
			want:      []string{"timer 1 c@h 1s"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "ihave for a received id is ignored",
			prep:      func(s *plumtree.State) { s.Receive(t0, g("m1", "a@h")) },
			msg:       plumtree.IHave{ID: idOf("m1"), Sender: "c@h"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "second ihave for the same id is ignored",
			prep:      func(s *plumtree.State) { s.Receive(t0, plumtree.IHave{ID: idOf("m1"), Sender: "c@h"}) },
			msg:       plumtree.IHave{ID: idOf("m1"), Sender: "a@h"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "graft for a cached id: sender eager, body resent to it only",
			prep:      func(s *plumtree.State) { s.Receive(t0, g("m1", "a@h")) },
			msg:       plumtree.Graft{ID: idOf("m1"), Sender: "c@h"},
			want:      []string{"send c@h Gossip"},
			wantEager: []etf.Atom{"a@h", "b@h", "c@h"},
		},
		{
			name:      "graft for an unknown id: sender eager, nothing sent",
			msg:       plumtree.Graft{ID: idOf("m9"), Sender: "c@h"},
			wantEager: []etf.Atom{"a@h", "b@h", "c@h"},
		},
		{
			name:      "prune from eager moves it to lazy",
			msg:       plumtree.Prune{Sender: "a@h"},
			wantEager: []etf.Atom{"b@h"}, wantLazy: []etf.Atom{"a@h", "c@h"},
		},
		{
			name:      "prune from lazy or a stranger changes nothing",
			msg:       plumtree.Prune{Sender: "x@h"},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
		{
			name:      "prune naming self changes nothing",
			msg:       plumtree.Prune{Sender: self},
			wantEager: []etf.Atom{"a@h", "b@h"}, wantLazy: []etf.Atom{"c@h"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := setup()
			if tc.prep != nil {
				tc.prep(s)
			}
			got := describe(s.Receive(t0, tc.msg))
			if !slices.Equal(got, tc.want) {
				t.Errorf("actions = %q, want %q", got, tc.want)
			}
			if e := sorted(s.Eager()); !slices.Equal(e, tc.wantEager) {
				t.Errorf("eager = %v, want %v", e, tc.wantEager)
			}
			if l := sorted(s.Lazy()); !slices.Equal(l, tc.wantLazy) {
				t.Errorf("lazy = %v, want %v", l, tc.wantLazy)
			}
		})
	}
}

func TestBroadcast(t *testing.T) {
	s := setup()
	id, acts := s.Broadcast(t0, etf.Atom("app"), etf.Tuple{etf.Atom("x"), 1.5})
	if b, ok := id.Bytes(); !ok || len(b) != 32 {
		t.Fatalf("generated id %v is not 32 bytes", id)
	}
	want := []string{"deliver from me@h", "send a@h Gossip", "send b@h Gossip", "send c@h IHave"}
	if got := describe(acts); !slices.Equal(got, want) {
		t.Fatalf("actions = %q, want %q", got, want)
	}
	if acts := s.BroadcastID(t0, id, etf.Atom("app"), 1); acts != nil {
		t.Fatalf("rebroadcast of a cached id = %q", describe(acts))
	}
	id2, _ := s.Broadcast(t0, etf.Atom("app"), 1)
	if id2 == id {
		t.Fatal("two broadcasts got the same id")
	}
	st := s.Stats()
	if st.GossipSent != 4 || st.IHaveSent != 2 || st.CachedMessages != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestGraftTimer(t *testing.T) {
	s := setup()
	acts := s.Receive(t0, plumtree.IHave{ID: idOf("m1"), Sender: "c@h"})
	timer := acts[0].(plumtree.SetTimer).Timer
	got := describe(s.Fire(t0.Add(time.Second), timer))
	if want := []string{"send c@h Graft"}; !slices.Equal(got, want) {
		t.Fatalf("fire = %q, want %q", got, want)
	}
	// The grafter does not make the announcer eager itself.
	if slices.Contains(s.Eager(), "c@h") {
		t.Fatal("c became eager on GRAFT send")
	}
	if again := s.Fire(t0.Add(2*time.Second), timer); again != nil {
		t.Fatalf("second firing = %q", describe(again))
	}
	// The resent body makes the announcer eager and is delivered.
	got = describe(s.Receive(t0, plumtree.Gossip{ID: idOf("m1"), Tag: etf.Atom("t"), Sender: "c@h"}))
	if want := []string{"deliver from c@h", "send a@h Gossip", "send b@h Gossip"}; !slices.Equal(got, want) {
		t.Fatalf("after graft = %q, want %q", got, want)
	}
	if st := s.Stats(); st.GraftSent != 1 || st.PendingIHaves != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestStaleGraftTimerAfterGossip(t *testing.T) {
	s := setup()
	timer := s.Receive(t0, plumtree.IHave{ID: idOf("m1"), Sender: "c@h"})[0].(plumtree.SetTimer).Timer
	s.Receive(t0, plumtree.Gossip{ID: idOf("m1"), Tag: etf.Atom("t"), Sender: "a@h"})
	if acts := s.Fire(t0.Add(time.Second), timer); acts != nil {
		t.Fatalf("stale timer produced %q", describe(acts))
	}
}

func TestNeighborEvents(t *testing.T) {
	s := setup()
	s.NeighborUp(t0, "c@h") // lazy -> eager
	s.NeighborUp(t0, "d@h")
	s.NeighborUp(t0, self)
	if e := sorted(s.Eager()); !slices.Equal(e, []etf.Atom{"a@h", "b@h", "c@h", "d@h"}) {
		t.Fatalf("eager = %v", e)
	}
	s.Receive(t0, plumtree.Prune{Sender: "d@h"})
	s.NeighborDown(t0, "d@h")
	s.NeighborDown(t0, "a@h")
	if e, l := sorted(s.Eager()), s.Lazy(); !slices.Equal(e, []etf.Atom{"b@h", "c@h"}) || len(l) != 0 {
		t.Fatalf("eager = %v lazy = %v", e, l)
	}
}

func TestCacheExpiry(t *testing.T) {
	s := setup()
	s.Receive(t0, plumtree.Gossip{ID: idOf("old"), Tag: etf.Atom("t"), Sender: "a@h"})
	s.Receive(t0.Add(time.Minute), plumtree.Gossip{ID: idOf("new"), Tag: etf.Atom("t"), Sender: "a@h"})
	cleanup := s.Start(t0)[0].(plumtree.SetTimer).Timer

	// At exactly t0+5min the entry of t0 is at the cutoff and goes.
	acts := s.Fire(t0.Add(5*time.Minute), cleanup)
	if len(acts) != 1 || acts[0].(plumtree.SetTimer).Timer.Kind != plumtree.TimerCleanup {
		t.Fatalf("cleanup did not re-arm: %#v", acts)
	}
	if s.Has(idOf("old")) || !s.Has(idOf("new")) {
		t.Fatalf("after sweep: old=%v new=%v", s.Has(idOf("old")), s.Has(idOf("new")))
	}
	// An expired id is new again: delivered and forwarded.
	got := describe(s.Receive(t0.Add(5*time.Minute), plumtree.Gossip{ID: idOf("old"), Tag: etf.Atom("t"), Sender: "a@h"}))
	if !slices.Contains(got, "deliver from a@h") {
		t.Fatalf("expired id not redelivered: %q", got)
	}
}

// Every tag is relayed unchanged, including ones no Go code knows and terms
// of every type.
func TestRelaysUnknownTagsLosslessly(t *testing.T) {
	tag := etf.Tuple{etf.Atom("app"), etf.Pid{Node: "e1@h", ID: 7, Creation: 3}}
	payload := etf.Map{
		{Key: etf.Tuple{etf.Atom("k"), int64(1)}, Value: 2.25},
		{Key: etf.Atom("ref"), Value: etf.Ref{Node: "e1@h", Creation: 1, Len: 3, ID: [5]uint32{1, 2, 3}}},
		{Key: etf.Atom("fun"), Value: etf.ExportFun{Module: "m", Function: "f", Arity: 2}},
		{Key: []byte("bin"), Value: etf.BitString{Bytes: []byte{0xF0}, Bits: 4}},
		{Key: etf.Atom("str"), Value: etf.ByteList("hello")},
		{Key: etf.Atom("improper"), Value: etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("t")}},
	}
	in := etf.Tuple{plumtree.EnvelopeTag, etf.Tuple{etf.Atom("gossip"), []byte("id-1"), tag, payload, etf.Atom("a@h")}}
	raw, err := etf.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	term, err := etf.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := plumtree.DecodeEnvelope(term)
	if err != nil {
		t.Fatal(err)
	}
	s := setup()
	for _, a := range s.Receive(t0, m) {
		switch a := a.(type) {
		case plumtree.Send:
			g, ok := a.Msg.(plumtree.Gossip)
			if !ok {
				continue
			}
			out, err := etf.Encode(plumtree.Envelope(plumtree.Gossip{ID: g.ID, Tag: g.Tag, Payload: g.Payload, Sender: "a@h"}))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(raw) {
				t.Fatalf("relayed bytes differ")
			}
		case plumtree.Deliver:
			if !etf.Equal(a.Tag, tag) || !etf.Equal(a.Payload, payload) {
				t.Fatalf("delivered %s %s", etf.Format(a.Tag), etf.Format(a.Payload))
			}
		}
	}
}
