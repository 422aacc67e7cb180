package hyparview

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// ErrJoinSelf is returned by Join when the contact is the local node
// (barrel_p2p's {error, cannot_join_self}).
var ErrJoinSelf = errors.New("hyparview: cannot join self")

// passiveEntry is a passive-view record plus the bookkeeping the Go node keeps
// from its own observations (membership.md §2.8 Go rule (d)); the advisory
// fields of the received record are never consulted.
type passiveEntry struct {
	peer         Peer
	lastSeen     time.Time // zero: never observed directly
	failures     int
	backoffUntil time.Time
}

type pendingEntry struct {
	kind PendingKind
	seq  uint64
	// peer is the record put in the active view on success.
	peer Peer
	// cand is the passive entry a neighbor attempt was promoted from, put
	// back with one more failure if the attempt fails (Go rule (c)).
	cand passiveEntry
}

// State is the HyParView state machine of one node. Every method takes the
// current time and returns the Actions to perform; State has no goroutines,
// no I/O and no clock of its own, and is not safe for concurrent use.
type State struct {
	cfg      Config
	self     Peer
	rng      *rand.Rand
	contacts []etf.Atom

	// Views are slices, not maps, so that every random choice is a pure
	// function of the rng and the input sequence.
	active  []Peer
	passive []passiveEntry

	pending    map[etf.Atom]*pendingEntry
	connecting map[etf.Atom]bool
	blocked    map[etf.Atom]bool

	joins, leaves int
	windowStart   time.Time
	period        time.Duration

	seq      uint64
	periodic map[TimerKind]uint64

	out []Action
}

// New returns the state of a node whose Self record is self (see SelfPeer;
// connected, priority and the failure fields are normalised to what
// barrel_p2p puts in a Self record). rng supplies every random choice; nil
// means a randomly seeded generator. Call Start once before anything else.
func New(self Peer, cfg Config, rng *rand.Rand) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self.Node == "" {
		return nil, fmt.Errorf("hyparview: self peer has no node name")
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	self = self.sanitized()
	self.Connected = true
	self.Priority = PriorityHigh
	s := &State{
		cfg:        cfg,
		self:       self,
		rng:        rng,
		pending:    map[etf.Atom]*pendingEntry{},
		connecting: map[etf.Atom]bool{},
		blocked:    map[etf.Atom]bool{},
		periodic:   map[TimerKind]uint64{},
		period:     cfg.ShufflePeriod,
	}
	for _, c := range cfg.ContactNodes {
		if c != "" && c != self.Node && !slices.Contains(s.contacts, c) {
			s.contacts = append(s.contacts, c)
		}
	}
	s.cfg.ContactNodes = slices.Clone(s.contacts)
	return s, nil
}

// Start arms the periodic timers: the first shuffle after ShufflePeriod, the
// passive cleanup, and, when there are contact nodes, the first bootstrap tick
// after min(1 s, ContactRetry).
func (s *State) Start(now time.Time) []Action {
	s.windowStart = now
	s.armPeriodic(TimerShuffle, s.cfg.ShufflePeriod)
	s.armPeriodic(TimerCleanup, s.cfg.PassiveCleanupPeriod)
	if len(s.contacts) > 0 {
		s.armPeriodic(TimerContact, min(BootstrapInitialDelay, s.cfg.ContactRetry))
	}
	return s.flush()
}

// Join asks to join the overlay through contact: connect, then send JOIN
// (membership.md §2.6). It returns immediately; failures are not reported.
// Joining a blocked node does nothing.
func (s *State) Join(now time.Time, contact etf.Atom) ([]Action, error) {
	if contact == s.self.Node {
		return nil, ErrJoinSelf
	}
	if contact == "" {
		return nil, fmt.Errorf("hyparview: join: empty node name")
	}
	if !s.blocked[contact] {
		s.join(contact)
	}
	return s.flush(), nil
}

// Leave sends DISCONNECT to every active peer and clears both views
// (barrel_p2p leave/0). Pending attempts, the blocked set and the bootstrap
// tick stay, so leaving is not sticky, as in barrel_p2p. Unlike barrel_p2p
// (quirk Q11) a PeerDown(graceful) is emitted for each dropped peer before
// Left, so local consumers do not keep stale peers.
func (s *State) Leave(now time.Time) []Action {
	for _, p := range s.active {
		s.send(p.Node, &Disconnect{Sender: s.self})
	}
	for _, p := range s.active {
		s.emit(Event{Type: EventPeerDown, Node: p.Node, Reason: ReasonGraceful})
	}
	s.emit(Event{Type: EventLeft})
	s.active = nil
	s.passive = nil
	return s.flush()
}

// Block is barrel_p2p's block_peers/1 test seam: each active node in nodes
// gets PeerDown(blocked); nodes leave both views and their pending attempts
// are dropped; while blocked they are never admitted to the active view,
// never dialled for a FORWARD_JOIN and never promoted. They may still enter
// the passive view from FORWARD_JOIN and shuffles, as in barrel_p2p.
func (s *State) Block(now time.Time, nodes ...etf.Atom) []Action {
	for _, n := range nodes {
		if n == "" || n == s.self.Node {
			continue
		}
		if _, ok := s.removeActive(n); ok {
			s.emit(Event{Type: EventPeerDown, Node: n, Reason: ReasonBlocked})
		}
		s.removePassive(n)
		delete(s.pending, n)
		s.blocked[n] = true
	}
	return s.flush()
}

// Unblock clears the blocked set; nothing reconnects by itself.
func (s *State) Unblock(now time.Time) []Action {
	clear(s.blocked)
	return s.flush()
}

// HandleMessage applies a HyParView message received on barrel_p2p_bridge.
// The sender is taken from m.From().Node, never from the envelope (as
// barrel_p2p does). Messages claiming to come from the local node are ignored.
func (s *State) HandleMessage(now time.Time, m Message) []Action {
	sender := m.From()
	if sender.Node == s.self.Node || sender.Node == "" {
		return nil
	}
	s.touch(now, sender)
	switch m := m.(type) {
	case *Join:
		s.onJoin(now, m)
	case *ForwardJoin:
		s.onForwardJoin(now, m)
	case *Neighbor:
		s.onNeighbor(now, m)
	case *NeighborReply:
		s.onNeighborReply(now, m)
	case *Disconnect:
		s.onDisconnect(now, m)
	case *Shuffle:
		s.onShuffle(now, m)
	case *ShuffleReply:
		s.onShuffleReply(now, m)
	}
	return s.flush()
}

// ConnectResult reports the outcome of a Connect action. Success completes the
// pending attempt for node; failure is barrel_p2p's
// peer_failed(Node, connect_failed). Results for connects State did not ask
// for are ignored.
func (s *State) ConnectResult(now time.Time, node etf.Atom, ok bool) []Action {
	if !s.connecting[node] {
		return nil
	}
	delete(s.connecting, node)
	if ok {
		s.onConnected(now, node)
	} else {
		s.onFailed(now, node, ReasonConnectFailed)
	}
	return s.flush()
}

// NodeUp reports a visible nodeup. As in barrel_p2p's bridge, it only matters
// for a node State is connecting to; inbound connections never enter the
// active view by themselves.
func (s *State) NodeUp(now time.Time, node etf.Atom) []Action {
	if !s.connecting[node] {
		return nil
	}
	delete(s.connecting, node)
	s.onConnected(now, node)
	return s.flush()
}

// NodeDown reports a visible nodedown (any node): barrel_p2p's
// peer_failed(Node, nodedown), the only failure detector (membership.md §2.10).
func (s *State) NodeDown(now time.Time, node etf.Atom) []Action {
	if node == s.self.Node {
		return nil
	}
	s.onFailed(now, node, ReasonNodedown)
	return s.flush()
}

// TimerFired delivers a timer armed by a SetTimer action. Stale timers are
// ignored.
func (s *State) TimerFired(now time.Time, t Timer) []Action {
	switch t.Kind {
	case TimerPending:
		pe := s.pending[t.Node]
		if pe == nil || pe.seq != t.Seq {
			return nil
		}
		delete(s.pending, t.Node)
		delete(s.connecting, t.Node)
		s.emit(PendingTimeout{Node: t.Node, Kind: pe.kind})
		if pe.kind == PendingNeighbor {
			s.recordFailure(now, t.Node, &pe.cand)
			s.promote(now)
		}
	case TimerShuffle, TimerCleanup, TimerContact:
		if s.periodic[t.Kind] != t.Seq {
			return nil
		}
		switch t.Kind {
		case TimerShuffle:
			s.shuffle()
			// barrel_p2p promotes only after a loss or a rejection, so a
			// node whose candidates were all backing off at that moment
			// stays isolated; retrying on the tick, only while the view is
			// empty, is the safety net (a fuller view would cost a dist
			// connection per tick to mostly full peers).
			if len(s.active) == 0 {
				s.promote(now)
			}
			s.period = s.nextPeriod(now)
			s.armPeriodic(TimerShuffle, s.period)
		case TimerCleanup:
			s.cleanup(now)
			s.armPeriodic(TimerCleanup, s.cfg.PassiveCleanupPeriod)
		case TimerContact:
			if len(s.active) == 0 {
				for _, c := range s.contacts {
					if !s.blocked[c] {
						s.join(c)
					}
				}
			}
			s.armPeriodic(TimerContact, s.cfg.ContactRetry)
		}
	}
	return s.flush()
}

// TriggerShuffle shuffles now without touching the timer (trigger_shuffle/0).
func (s *State) TriggerShuffle(now time.Time) []Action {
	s.shuffle()
	return s.flush()
}

// TriggerCleanup ages the passive view now (trigger_cleanup/0).
func (s *State) TriggerCleanup(now time.Time) []Action {
	s.cleanup(now)
	return s.flush()
}

// Self returns the local Self record.
func (s *State) Self() Peer { return s.self }

// Config returns the configuration in use.
func (s *State) Config() Config {
	c := s.cfg
	c.ContactNodes = slices.Clone(c.ContactNodes)
	return c
}

// Active returns the active view sorted by node, as the records the node
// would put in a shuffle (sanitised, connected = true).
func (s *State) Active() []Peer {
	out := make([]Peer, len(s.active))
	for i, p := range s.active {
		out[i] = activeRecord(p)
	}
	return sortPeers(out)
}

// Passive returns the passive view sorted by node (sanitised, connected = false).
func (s *State) Passive() []Peer {
	out := make([]Peer, len(s.passive))
	for i, e := range s.passive {
		out[i] = passiveRecord(e)
	}
	return sortPeers(out)
}

// ActiveNodes returns the active-view node names, sorted.
func (s *State) ActiveNodes() []etf.Atom { return nodesOf(s.Active()) }

// PassiveNodes returns the passive-view node names, sorted.
func (s *State) PassiveNodes() []etf.Atom { return nodesOf(s.Passive()) }

// IsActive reports whether node is in the active view.
func (s *State) IsActive(node etf.Atom) bool { return s.activeIndex(node) >= 0 }

// IsPassive reports whether node is in the passive view.
func (s *State) IsPassive(node etf.Atom) bool { return s.passiveIndex(node) >= 0 }

// Pending reports the pending attempt for node, if any.
func (s *State) Pending(node etf.Atom) (PendingKind, bool) {
	if pe := s.pending[node]; pe != nil {
		return pe.kind, true
	}
	return 0, false
}

// Blocked returns the blocked nodes, sorted.
func (s *State) Blocked() []etf.Atom {
	out := make([]etf.Atom, 0, len(s.blocked))
	for n := range s.blocked {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ShufflePeriod returns the period armed after the last shuffle tick.
func (s *State) ShufflePeriod() time.Duration { return s.period }

// Churn returns the joins and leaves counted in the current churn window
// (get_churn_stats/0); like barrel_p2p, reading may start a new window.
func (s *State) Churn(now time.Time) (joins, leaves int) {
	s.rollWindow(now)
	return s.joins, s.leaves
}

// ---- message handlers (membership.md §2.4) ----

// onJoin is handle_join/2, acting as the contact.
func (s *State) onJoin(now time.Time, m *Join) {
	s.countJoin(now)
	// Unlike barrel_p2p (quirk Q10) peer_up is emitted only if the joiner
	// was really added, so a blocked joiner produces no event.
	if s.addActive(now, m.Sender) {
		s.emit(Event{Type: EventPeerUp, Node: m.Sender.Node})
	}
	// Re-emitted on every JOIN, including duplicates, as Erlang does.
	fj := &ForwardJoin{New: m.Sender.sanitized(), TTL: s.cfg.ARWL, Sender: s.self}
	for _, p := range slices.Clone(s.active) {
		if p.Node != m.Sender.Node {
			s.send(p.Node, fj)
		}
	}
}

// onForwardJoin is handle_forward_join/4.
func (s *State) onForwardJoin(now time.Time, m *ForwardJoin) {
	np := m.New.sanitized()
	if m.TTL == 0 {
		s.addPassive(now, np, false)
		return
	}
	if np.Node == s.self.Node {
		return
	}
	if m.TTL == s.cfg.PRWL {
		s.addPassive(now, np, false)
	}
	if len(s.active) < s.cfg.ActiveSize && !s.blocked[np.Node] {
		// Accept: dial the joiner without telling it (quirk Q2). Already
		// linked or already trying means there is nothing more to do.
		if s.activeIndex(np.Node) >= 0 || s.pending[np.Node] != nil {
			return
		}
		s.setPending(np.Node, &pendingEntry{kind: PendingConnect, peer: makePeerFrom(np)})
		s.connect(np.Node)
		return
	}
	if to, ok := s.randomActive(m.Sender.Node, np.Node); ok {
		s.send(to, &ForwardJoin{New: np, TTL: m.TTL - 1, Sender: s.self})
	}
}

// onNeighbor is handle_neighbor/3.
func (s *State) onNeighbor(now time.Time, m *Neighbor) {
	from := m.Sender.Node
	// An already-active sender is accepted (it lost us, e.g. after an Erlang
	// restart, quirk Q1) and a blocked one refused, so that the reply always
	// matches what the view does; barrel_p2p replies from the priority alone.
	accept := m.Priority == PriorityHigh || len(s.active) < s.cfg.ActiveSize || s.activeIndex(from) >= 0
	if s.blocked[from] {
		accept = false
	}
	s.send(from, &NeighborReply{Accept: accept, Sender: s.self})
	// peer_up is emitted on this path too (a permitted improvement over
	// quirk Q3), so local Plumtree and replicas learn the neighbour.
	if accept && s.addActive(now, m.Sender) {
		s.emit(Event{Type: EventPeerUp, Node: from})
	}
}

// onNeighborReply is handle_neighbor_reply/2.
func (s *State) onNeighborReply(now time.Time, m *NeighborReply) {
	from := m.Sender.Node
	if pe := s.pending[from]; pe != nil && pe.kind == PendingNeighbor {
		// Go rule (b): the reply settles the attempt (quirk Q9 not copied).
		delete(s.pending, from)
	}
	if m.Accept {
		// Accepted even when unsolicited, as barrel_p2p does: the sender
		// already holds us in its active view.
		if s.addActive(now, m.Sender) {
			s.emit(Event{Type: EventPeerUp, Node: from})
		}
		return
	}
	if p, ok := s.removeActive(from); ok {
		// We hold from but it refuses to hold us: the low-priority
		// NEIGHBOR after a FORWARD_JOIN met a full joiner. A one-sided
		// active entry starves Plumtree (it only pushes along links both
		// ends hold), so keep the peer as a passive candidate instead.
		// Not as freshly observed, and backed off, so that promotion does
		// not ask the same full joiner again at once.
		s.addPassive(now, p, false)
		if i := s.passiveIndex(from); i >= 0 {
			s.passive[i].backoffUntil = now.Add(s.cfg.BaseBackoff)
		}
		s.emit(Event{Type: EventPeerDown, Node: from, Reason: ReasonDropped})
	}
	// Rejected: the candidate is not put back in the passive view.
	s.promote(now)
}

// onDisconnect is handle_disconnect/2.
func (s *State) onDisconnect(now time.Time, m *Disconnect) {
	from := m.Sender.Node
	if _, ok := s.removeActive(from); !ok {
		return
	}
	s.countLeave(now)
	// Not marked as observed: a node that just dropped us must not be the
	// first promotion candidate, or eviction would ping-pong (barrel_p2p
	// gets the same effect from last_seen = undefined sorting last).
	s.addPassive(now, m.Sender, false)
	s.emit(Event{Type: EventPeerDown, Node: from, Reason: ReasonGraceful})
	s.promote(now)
}

// onShuffle is handle_shuffle/4.
func (s *State) onShuffle(now time.Time, m *Shuffle) {
	f := make([]Peer, 0, len(m.Peers))
	for _, p := range m.Peers {
		if p.Node != s.self.Node {
			f = append(f, p.sanitized())
		}
	}
	reply := s.sample(len(f)) // from the views before the merge below
	for _, p := range f {
		if s.activeIndex(p.Node) < 0 {
			s.addPassive(now, p, false)
		}
	}
	s.send(m.Sender.Node, &ShuffleReply{Peers: reply, Sender: s.self})
	if m.TTL > 0 {
		if to, ok := s.randomActive(m.Sender.Node, ""); ok {
			s.send(to, &Shuffle{TTL: m.TTL - 1, Peers: f, Sender: s.self})
		}
	}
}

// onShuffleReply is handle_shuffle_reply/2.
func (s *State) onShuffleReply(now time.Time, m *ShuffleReply) {
	for _, p := range m.Peers {
		if p.Node != s.self.Node && s.activeIndex(p.Node) < 0 {
			s.addPassive(now, p.sanitized(), false)
		}
	}
}

// ---- connection management (membership.md §2.5) ----

// onConnected is handle_cast({peer_connected, Node}).
func (s *State) onConnected(now time.Time, node etf.Atom) {
	pe := s.pending[node]
	if pe == nil {
		// barrel_p2p would insert the node (capped) and emit peer_up, but
		// with no pending attempt the connect was abandoned (backstop or
		// Block); admitting it without a JOIN or NEIGHBOR would only make
		// a one-sided link.
		return
	}
	switch pe.kind {
	case PendingJoin:
		delete(s.pending, node)
		if s.blocked[node] {
			return
		}
		// barrel_p2p bypasses the cap here (quirk Q4); the Go view never
		// exceeds ActiveSize, so a full view evicts as on every other path.
		added := s.addActive(now, pe.peer)
		s.send(node, &Join{Sender: s.self})
		if added {
			s.emit(Event{Type: EventPeerUp, Node: node})
		}
	case PendingConnect:
		delete(s.pending, node)
		if s.addActive(now, pe.peer) {
			s.emit(Event{Type: EventPeerUp, Node: node})
			// barrel_p2p never tells the joiner, whose bridge ignores the
			// unsolicited nodeup, so the link stays one-sided until a dist
			// GC reaps it (quirk Q2). A low-priority NEIGHBOR lets a joiner
			// with room hold the link too, as in the HyParView paper; a
			// full joiner refuses and nothing changes here.
			s.send(node, &Neighbor{Priority: PriorityLow, Sender: s.self})
		}
	case PendingNeighbor:
		if s.activeIndex(node) >= 0 {
			delete(s.pending, node)
			return
		}
		// Go rule (a): NEIGHBOR goes out once the channel exists (quirk Q7),
		// and barrel_p2p's crash on this case (quirk Q1) is not copied.
		prio := PriorityLow
		if len(s.active) == 0 {
			prio = PriorityHigh
		}
		s.send(node, &Neighbor{Priority: prio, Sender: s.self})
	}
}

// onFailed is handle_peer_removal/4 for peer_failed(Node, Reason).
func (s *State) onFailed(now time.Time, node etf.Atom, reason Reason) {
	s.countLeave(now)
	if _, ok := s.removeActive(node); ok {
		// Not moved to the passive view, as in barrel_p2p.
		s.emit(Event{Type: EventPeerDown, Node: node, Reason: reason})
		s.promote(now)
		return
	}
	pe := s.pending[node]
	if pe == nil {
		return
	}
	delete(s.pending, node)
	if pe.kind == PendingNeighbor {
		s.recordFailure(now, node, &pe.cand)
		s.promote(now)
		return
	}
	s.recordFailure(now, node, nil)
}

func (s *State) join(contact etf.Atom) {
	if pe := s.pending[contact]; pe != nil && pe.kind == PendingJoin {
		return
	}
	s.setPending(contact, &pendingEntry{kind: PendingJoin, peer: makePeer(contact)})
	s.connect(contact)
}

func (s *State) setPending(node etf.Atom, pe *pendingEntry) {
	s.seq++
	pe.seq = s.seq
	s.pending[node] = pe
	s.emit(SetTimer{Timer: Timer{Kind: TimerPending, Node: node, Seq: pe.seq}, After: s.cfg.PendingTimeout})
}

func (s *State) connect(node etf.Atom) {
	if s.connecting[node] {
		return
	}
	s.connecting[node] = true
	s.emit(Connect{Node: node})
}

// ---- views (membership.md §2.7, §2.8) ----

// addActive is the capped insert of add_to_active_view/2. It reports whether
// p's node was not active before and is now. Refreshing an already-active
// node never evicts (barrel_p2p evicts a bystander when the view is full).
func (s *State) addActive(now time.Time, p Peer) bool {
	if p.Node == s.self.Node || p.Node == "" || s.blocked[p.Node] {
		return false
	}
	p = p.sanitized()
	p.Connected = true
	if i := s.activeIndex(p.Node); i >= 0 {
		s.active[i] = mergeRecord(s.active[i], p)
		return false
	}
	if i := s.passiveIndex(p.Node); i >= 0 {
		p = mergeRecord(s.passive[i].peer, p)
		s.passive = slices.Delete(s.passive, i, i+1)
	}
	for len(s.active) >= s.cfg.ActiveSize {
		i := s.rng.IntN(len(s.active))
		ev := s.active[i]
		s.active = slices.Delete(s.active, i, i+1)
		s.send(ev.Node, &Disconnect{Sender: s.self})
		s.emit(Event{Type: EventPeerDown, Node: ev.Node, Reason: ReasonDropped})
		s.addPassive(now, ev, true)
	}
	if pe := s.pending[p.Node]; pe != nil && pe.kind != PendingJoin {
		delete(s.pending, p.Node)
	}
	s.active = append(s.active, p)
	return true
}

func (s *State) removeActive(node etf.Atom) (Peer, bool) {
	i := s.activeIndex(node)
	if i < 0 {
		return Peer{}, false
	}
	p := s.active[i]
	s.active = slices.Delete(s.active, i, i+1)
	return p, true
}

// addPassive is add_to_passive/3, keeping the views disjoint. observed marks
// a record of a node this node has just been linked with (its last_seen).
func (s *State) addPassive(now time.Time, p Peer, observed bool) {
	if p.Node == s.self.Node || p.Node == "" || s.activeIndex(p.Node) >= 0 {
		return
	}
	p = p.sanitized()
	p.Connected = false
	if i := s.passiveIndex(p.Node); i >= 0 {
		e := &s.passive[i]
		e.peer = mergeRecord(e.peer, p)
		if observed {
			e.lastSeen = now
		}
		return
	}
	e := passiveEntry{peer: p}
	if observed {
		e.lastSeen = now
	}
	s.insertPassive(e)
}

// insertPassive appends a new entry, evicting uniformly at random when full.
func (s *State) insertPassive(e passiveEntry) {
	if s.cfg.PassiveSize == 0 {
		return
	}
	for len(s.passive) >= s.cfg.PassiveSize {
		i := s.rng.IntN(len(s.passive))
		s.passive = slices.Delete(s.passive, i, i+1)
	}
	s.passive = append(s.passive, e)
}

func (s *State) removePassive(node etf.Atom) {
	if i := s.passiveIndex(node); i >= 0 {
		s.passive = slices.Delete(s.passive, i, i+1)
	}
}

// recordFailure is record_peer_failure/2. cand, when not nil, is the entry a
// failed promotion was taken from; it goes back to the passive view with the
// failure counted, so backoff works for promoted candidates (quirk Q8 fixed).
func (s *State) recordFailure(now time.Time, node etf.Atom, cand *passiveEntry) {
	i := s.passiveIndex(node)
	var e passiveEntry
	switch {
	case i >= 0:
		e = s.passive[i]
	case cand != nil && s.activeIndex(node) < 0 && node != s.self.Node:
		e = *cand
	default:
		return
	}
	e.failures++
	if e.failures >= s.cfg.MaxFailCount {
		if i >= 0 {
			s.passive = slices.Delete(s.passive, i, i+1)
		}
		return
	}
	e.backoffUntil = now.Add(backoff(s.cfg.BaseBackoff, e.failures))
	if i >= 0 {
		s.passive[i] = e
	} else {
		s.insertPassive(e)
	}
}

// backoff is min(base × 2^failures, MaxBackoff) without overflow.
func backoff(base time.Duration, failures int) time.Duration {
	d := base
	for range failures {
		if d >= MaxBackoff/2 {
			return MaxBackoff
		}
		d *= 2
	}
	return min(d, MaxBackoff)
}

// promote is maybe_promote_passive/1: one candidate per call, the eligible
// passive entry seen most recently (never-seen entries last, ties broken at
// random), dialled first; NEIGHBOR follows in onConnected.
func (s *State) promote(now time.Time) {
	if len(s.active)+s.pendingAdmissions() >= s.cfg.ActiveSize {
		return
	}
	best, ties := -1, 0
	for i, e := range s.passive {
		if e.failures >= s.cfg.MaxFailCount || e.backoffUntil.After(now) ||
			s.blocked[e.peer.Node] || s.pending[e.peer.Node] != nil {
			continue
		}
		if best < 0 {
			best, ties = i, 1
			continue
		}
		switch c := e.lastSeen.Compare(s.passive[best].lastSeen); {
		case c > 0:
			best, ties = i, 1
		case c == 0:
			ties++
			if s.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	if best < 0 {
		return
	}
	e := s.passive[best]
	s.passive = slices.Delete(s.passive, best, best+1)
	s.setPending(e.peer.Node, &pendingEntry{kind: PendingNeighbor, peer: e.peer, cand: e})
	s.connect(e.peer.Node)
}

// pendingAdmissions counts attempts that will each add one active member if
// they succeed, so that promotion does not overshoot the cap.
func (s *State) pendingAdmissions() int {
	n := 0
	for node := range s.pending {
		if s.activeIndex(node) < 0 {
			n++
		}
	}
	return n
}

// cleanup is do_cleanup_passive_view/1.
func (s *State) cleanup(now time.Time) {
	s.passive = slices.DeleteFunc(s.passive, func(e passiveEntry) bool {
		return e.failures >= s.cfg.MaxFailCount ||
			(!e.lastSeen.IsZero() && now.Sub(e.lastSeen) >= s.cfg.PassiveMaxAge)
	})
}

// touch refreshes what is known about the immediate sender of a message: its
// advertised record, and for a passive entry the time it was last heard from.
func (s *State) touch(now time.Time, p Peer) {
	if i := s.activeIndex(p.Node); i >= 0 {
		s.active[i] = mergeRecord(s.active[i], p)
		return
	}
	if i := s.passiveIndex(p.Node); i >= 0 {
		s.passive[i].lastSeen = now
	}
}

// ---- shuffle (membership.md §2.4.5, §2.9) ----

func (s *State) shuffle() {
	if len(s.active) == 0 {
		return
	}
	target := s.active[s.rng.IntN(len(s.active))].Node
	s.send(target, &Shuffle{TTL: s.cfg.PRWL, Peers: s.sample(s.cfg.ShuffleLength), Sender: s.self})
}

// sample is random_peers/2: n records drawn uniformly without replacement from
// Self, the active view and the passive view.
func (s *State) sample(n int) []Peer {
	pool := make([]Peer, 0, 1+len(s.active)+len(s.passive))
	pool = append(pool, s.self)
	for _, p := range s.active {
		pool = append(pool, activeRecord(p))
	}
	for _, e := range s.passive {
		pool = append(pool, passiveRecord(e))
	}
	n = min(n, len(pool))
	for i := range n {
		j := i + s.rng.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	return pool[:n:n]
}

// nextPeriod is calculate_shuffle_period/1.
func (s *State) nextPeriod(now time.Time) time.Duration {
	joins, leaves := s.Churn(now)
	base := s.cfg.ShufflePeriod
	var d time.Duration
	switch churn := joins + leaves; {
	case churn > HighChurn:
		d = MinShufflePeriod
	case churn > MediumChurn:
		d = max(MinShufflePeriod, base/2)
	default:
		d = min(base, MaxShufflePeriod)
	}
	return min(max(d, MinShufflePeriod), MaxShufflePeriod)
}

func (s *State) rollWindow(now time.Time) {
	if s.windowStart.IsZero() {
		s.windowStart = now
	}
	if now.Sub(s.windowStart) > s.cfg.ChurnWindow {
		s.joins, s.leaves = 0, 0
		s.windowStart = now
	}
}

func (s *State) countJoin(now time.Time) {
	s.rollWindow(now)
	s.joins++
}

func (s *State) countLeave(now time.Time) {
	s.rollWindow(now)
	s.leaves++
}

// ---- helpers ----

func (s *State) emit(a Action) { s.out = append(s.out, a) }

func (s *State) flush() []Action {
	out := s.out
	s.out = nil
	return out
}

func (s *State) send(to etf.Atom, m Message) { s.emit(Send{To: to, Msg: m}) }

func (s *State) armPeriodic(k TimerKind, after time.Duration) {
	s.seq++
	s.periodic[k] = s.seq
	s.emit(SetTimer{Timer: Timer{Kind: k, Seq: s.seq}, After: after})
}

func (s *State) activeIndex(node etf.Atom) int {
	return slices.IndexFunc(s.active, func(p Peer) bool { return p.Node == node })
}

func (s *State) passiveIndex(node etf.Atom) int {
	return slices.IndexFunc(s.passive, func(e passiveEntry) bool { return e.peer.Node == node })
}

// randomActive picks a uniformly random active node other than the two given.
func (s *State) randomActive(not1, not2 etf.Atom) (etf.Atom, bool) {
	var cands []etf.Atom
	for _, p := range s.active {
		if p.Node != not1 && p.Node != not2 {
			cands = append(cands, p.Node)
		}
	}
	if len(cands) == 0 {
		return "", false
	}
	return cands[s.rng.IntN(len(cands))], true
}

// mergeRecord takes the newer record but keeps an address and port learned
// earlier when the newer one (e.g. from make_peer) has none.
func mergeRecord(old, p Peer) Peer {
	if !p.Address.IsValid() {
		p.Address = old.Address
	}
	if !p.Port.Valid {
		p.Port = old.Port
	}
	if !p.QuicPort.Valid {
		p.QuicPort = old.QuicPort
	}
	return p
}

// makePeerFrom is the active record for a node dialled after FORWARD_JOIN:
// make_peer/1 plus the address the joiner advertised.
func makePeerFrom(p Peer) Peer {
	return mergeRecord(p, makePeer(p.Node))
}

func activeRecord(p Peer) Peer {
	p = p.sanitized()
	p.Connected = true
	p.Priority = PriorityLow
	return p
}

func passiveRecord(e passiveEntry) Peer {
	p := e.peer.sanitized()
	p.Connected = false
	p.Priority = PriorityLow
	return p
}

func sortPeers(ps []Peer) []Peer {
	slices.SortFunc(ps, func(a, b Peer) int { return cmp.Compare(a.Node, b.Node) })
	return ps
}

func nodesOf(ps []Peer) []etf.Atom {
	out := make([]etf.Atom, len(ps))
	for i, p := range ps {
		out[i] = p.Node
	}
	return out
}
