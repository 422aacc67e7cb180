package plumtree

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// Constants of barrel_p2p_plumtree (not configurable there).
const (
	// DefaultIHaveTimeout is how long an IHAVE waits for the body before a
	// GRAFT is sent (IHAVE_TIMEOUT).
	DefaultIHaveTimeout = time.Second
	// DefaultMessageTTL is how long a received id stays in the dedup cache
	// (MESSAGE_TTL).
	DefaultMessageTTL = 5 * time.Minute
	// DefaultCleanupInterval is the period of the cache sweep
	// (CLEANUP_INTERVAL). An entry therefore lives between MessageTTL and
	// MessageTTL + CleanupInterval.
	DefaultCleanupInterval = time.Minute
)

// Config parameterises a State. Zero durations take the defaults above,
// which the Go node should keep so the tree behaves like the Erlang nodes'.
type Config struct {
	// Self is the local node name, put as Sender in every message.
	Self etf.Atom
	// IHaveTimeout, MessageTTL and CleanupInterval: see the Default
	// constants.
	IHaveTimeout    time.Duration
	MessageTTL      time.Duration
	CleanupInterval time.Duration
	// Rand supplies the random part of generated ids. Nil means a PCG
	// seeded from Self, which keeps runs deterministic; ids stay unique
	// anyway because they also hash the time and a counter.
	Rand *rand.Rand
}

// TimerKind distinguishes the timers a State asks for.
type TimerKind uint8

const (
	// TimerGraft fires IHaveTimeout after the first IHAVE for a missing id.
	TimerGraft TimerKind = iota + 1
	// TimerCleanup fires every CleanupInterval to sweep the dedup cache.
	TimerCleanup
)

// Timer names one timer. It is comparable, so the driver can key its timers
// by it. Firing a timer that is no longer current does nothing.
type Timer struct {
	Kind TimerKind
	ID   ID       // TimerGraft: the missing id
	Peer etf.Atom // TimerGraft: the node whose IHAVE was seen first
	Seq  uint64   // generation, to recognise stale firings
}

// Action is one of Send, Deliver, SetTimer and CancelTimer.
type Action interface{ isAction() }

// Send asks the driver to send Envelope(Msg) to {barrel_p2p_plumtree, To}
// (Erlang uses nosuspend: drop rather than block on a busy channel).
type Send struct {
	To  etf.Atom
	Msg Message
}

// Deliver hands a broadcast to local subscribers; it happens once per id
// per node (within the cache lifetime), at the originator too. From is the
// immediate sender, or Self for a local broadcast. Erlang subscribers
// expect {plumtree_broadcast, {Tag, Payload}}.
type Deliver struct {
	ID      ID
	Tag     etf.Term
	Payload etf.Term
	From    etf.Atom
}

// SetTimer asks the driver to call Fire(now, Timer) After from now.
type SetTimer struct {
	Timer Timer
	After time.Duration
}

// CancelTimer tells the driver a timer is no longer needed.
type CancelTimer struct {
	Timer Timer
}

func (Send) isAction()        {}
func (Deliver) isAction()     {}
func (SetTimer) isAction()    {}
func (CancelTimer) isAction() {}

// Stats mirrors barrel_p2p_plumtree:get_stats/0.
type Stats struct {
	EagerPeers     int
	LazyPeers      int
	CachedMessages int
	PendingIHaves  int
	GossipSent     uint64
	GossipReceived uint64
	IHaveSent      uint64
	GraftSent      uint64
	PruneSent      uint64
}

type cached struct {
	tag, payload etf.Term
	at           time.Time
}

type pendingIHave struct {
	from etf.Atom
	seq  uint64
}

// State is the Plumtree state of one node. It is not safe for concurrent
// use; the driver serialises inputs.
type State struct {
	cfg      Config
	eager    []etf.Atom // newest first, as Erlang prepends
	lazy     []etf.Atom
	received map[ID]cached
	pending  map[ID]pendingIHave
	seq      uint64
	idSeq    int64
	stats    Stats
}

// New returns a State whose eager set is the active view (the Erlang
// process initialises eager from barrel_p2p:active_view() and lazy to []).
func New(cfg Config, activeView []etf.Atom) *State {
	if cfg.IHaveTimeout <= 0 {
		cfg.IHaveTimeout = DefaultIHaveTimeout
	}
	if cfg.MessageTTL <= 0 {
		cfg.MessageTTL = DefaultMessageTTL
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = DefaultCleanupInterval
	}
	if cfg.Rand == nil {
		h := fnv.New64a()
		h.Write([]byte(cfg.Self))
		cfg.Rand = rand.New(rand.NewPCG(h.Sum64(), 0x706c756d74726565))
	}
	s := &State{
		cfg:      cfg,
		received: make(map[ID]cached),
		pending:  make(map[ID]pendingIHave),
	}
	for _, n := range activeView {
		if n != cfg.Self && !slices.Contains(s.eager, n) {
			s.eager = append(s.eager, n)
		}
	}
	return s
}

// Start arms the periodic cache sweep.
func (s *State) Start(now time.Time) []Action {
	return []Action{s.cleanupTimer()}
}

func (s *State) cleanupTimer() SetTimer {
	s.seq++
	return SetTimer{Timer: Timer{Kind: TimerCleanup, Seq: s.seq}, After: s.cfg.CleanupInterval}
}

// Broadcast originates a broadcast with a fresh id (broadcast/2) and
// returns that id.
func (s *State) Broadcast(now time.Time, tag, payload etf.Term) (ID, []Action) {
	s.idSeq++
	rnd := s.cfg.Rand.Uint32()
	if rnd == 0 {
		rnd = 1 // rand:uniform(16#FFFFFFFF) is 1..2^32-1
	}
	id := NewID(s.cfg.Self, now.UnixMilli(), s.idSeq, rnd)
	return id, s.BroadcastID(now, id, tag, payload)
}

// BroadcastID originates a broadcast with the caller's id (broadcast/3).
// An id already in the cache is ignored.
func (s *State) BroadcastID(now time.Time, id ID, tag, payload etf.Term) []Action {
	if id.IsZero() {
		return nil
	}
	if _, dup := s.received[id]; dup {
		return nil
	}
	s.received[id] = cached{tag: tag, payload: payload, at: now}
	acts := []Action{Deliver{ID: id, Tag: tag, Payload: payload, From: s.cfg.Self}}
	acts = s.fanOut(acts, id, tag, payload, "")
	return acts
}

// fanOut sends GOSSIP to eager and IHAVE to lazy peers, except skip.
func (s *State) fanOut(acts []Action, id ID, tag, payload etf.Term, skip etf.Atom) []Action {
	g := Gossip{ID: id, Tag: tag, Payload: payload, Sender: s.cfg.Self}
	for _, p := range s.eager {
		if p != skip {
			acts = append(acts, Send{To: p, Msg: g})
			s.stats.GossipSent++
		}
	}
	ih := IHave{ID: id, Sender: s.cfg.Self}
	for _, p := range s.lazy {
		if p != skip {
			acts = append(acts, Send{To: p, Msg: ih})
			s.stats.IHaveSent++
		}
	}
	return acts
}

// Receive handles a decoded message from another node.
func (s *State) Receive(now time.Time, m Message) []Action {
	switch m := m.(type) {
	case Gossip:
		return s.onGossip(now, m)
	case IHave:
		return s.onIHave(m)
	case Graft:
		return s.onGraft(m)
	case Prune:
		s.moveToLazy(m.Sender)
	}
	return nil
}

func (s *State) onGossip(now time.Time, m Gossip) []Action {
	s.stats.GossipReceived++
	if _, dup := s.received[m.ID]; dup {
		// Tell the sender to stop pushing; the receiver keeps the sender
		// eager itself (PRUNE is one-directional in barrel_p2p).
		s.stats.PruneSent++
		return []Action{Send{To: m.Sender, Msg: Prune{Sender: s.cfg.Self}}}
	}
	s.received[m.ID] = cached{tag: m.Tag, payload: m.Payload, at: now}
	var acts []Action
	if p, ok := s.pending[m.ID]; ok {
		delete(s.pending, m.ID)
		acts = append(acts, CancelTimer{Timer: Timer{Kind: TimerGraft, ID: m.ID, Peer: p.from, Seq: p.seq}})
	}
	acts = append(acts, Deliver{ID: m.ID, Tag: m.Tag, Payload: m.Payload, From: m.Sender})
	acts = s.fanOut(acts, m.ID, m.Tag, m.Payload, m.Sender)
	s.ensureEager(m.Sender)
	return acts
}

func (s *State) onIHave(m IHave) []Action {
	if _, have := s.received[m.ID]; have {
		return nil
	}
	if _, waiting := s.pending[m.ID]; waiting {
		return nil // only the first announcer is remembered
	}
	s.seq++
	s.pending[m.ID] = pendingIHave{from: m.Sender, seq: s.seq}
	return []Action{SetTimer{
		Timer: Timer{Kind: TimerGraft, ID: m.ID, Peer: m.Sender, Seq: s.seq},
		After: s.cfg.IHaveTimeout,
	}}
}

func (s *State) onGraft(m Graft) []Action {
	s.ensureEager(m.Sender)
	c, ok := s.received[m.ID]
	if !ok {
		return nil
	}
	s.stats.GossipSent++
	return []Action{Send{To: m.Sender, Msg: Gossip{ID: m.ID, Tag: c.tag, Payload: c.payload, Sender: s.cfg.Self}}}
}

// Fire handles an expired timer.
func (s *State) Fire(now time.Time, t Timer) []Action {
	switch t.Kind {
	case TimerGraft:
		p, ok := s.pending[t.ID]
		if !ok || p.seq != t.Seq {
			return nil
		}
		delete(s.pending, t.ID)
		if _, have := s.received[t.ID]; have {
			return nil
		}
		// A single attempt; the grafter does not mark the peer eager
		// itself: the resent GOSSIP does that.
		s.stats.GraftSent++
		return []Action{Send{To: p.from, Msg: Graft{ID: t.ID, Sender: s.cfg.Self}}}
	case TimerCleanup:
		s.Expire(now)
		return []Action{s.cleanupTimer()}
	}
	return nil
}

// Expire drops the cache entries received at or before now - MessageTTL.
// After that an old id is treated as new. Fire(TimerCleanup) calls it.
func (s *State) Expire(now time.Time) {
	cutoff := now.Add(-s.cfg.MessageTTL)
	for id, c := range s.received {
		if !c.at.After(cutoff) {
			delete(s.received, id)
		}
	}
}

// NeighborUp handles HyParView's {peer_up, Node}: Node becomes eager.
func (s *State) NeighborUp(now time.Time, node etf.Atom) []Action {
	s.ensureEager(node)
	return nil
}

// NeighborDown handles {peer_down, Node, _}: Node leaves both sets.
// Pending IHAVEs from it stay; their GRAFT goes out and is lost, as in
// Erlang.
func (s *State) NeighborDown(now time.Time, node etf.Atom) []Action {
	s.eager = remove(s.eager, node)
	s.lazy = remove(s.lazy, node)
	return nil
}

// ensureEager makes node eager (moving it out of lazy). As in Erlang this
// applies to any node that sends GOSSIP or GRAFT, even one outside the
// active view; only NeighborDown removes it again.
func (s *State) ensureEager(node etf.Atom) {
	if node == s.cfg.Self || slices.Contains(s.eager, node) {
		return
	}
	s.lazy = remove(s.lazy, node)
	s.eager = slices.Insert(s.eager, 0, node)
}

func (s *State) moveToLazy(node etf.Atom) {
	if node == s.cfg.Self || !slices.Contains(s.eager, node) {
		return
	}
	s.eager = remove(s.eager, node)
	if !slices.Contains(s.lazy, node) {
		s.lazy = slices.Insert(s.lazy, 0, node)
	}
}

func remove(l []etf.Atom, n etf.Atom) []etf.Atom {
	if i := slices.Index(l, n); i >= 0 {
		return slices.Delete(l, i, i+1)
	}
	return l
}

// Eager returns the eager peers, newest first.
func (s *State) Eager() []etf.Atom { return slices.Clone(s.eager) }

// Lazy returns the lazy peers, newest first.
func (s *State) Lazy() []etf.Atom { return slices.Clone(s.lazy) }

// Has reports whether id is in the dedup cache.
func (s *State) Has(id ID) bool {
	_, ok := s.received[id]
	return ok
}

// Stats returns the counters of barrel_p2p_plumtree:get_stats/0.
func (s *State) Stats() Stats {
	st := s.stats
	st.EagerPeers = len(s.eager)
	st.LazyPeers = len(s.lazy)
	st.CachedMessages = len(s.received)
	st.PendingIHaves = len(s.pending)
	return st
}
