// Package sim runs many barrel_p2p members in one process with virtual time,
// driving the pure HyParView, Plumtree and registry state machines exactly as
// the membership runtime does, over a simulated distribution network.
// It exists to measure the overlay at scale (join, failure repair, broadcast
// reliability and redundancy, registry convergence) deterministically from a
// seed; Run and Report execute the standard scenario.
//
// # Model
//
// A Sim is a discrete-event scheduler: a priority queue of (virtual time,
// insertion order, event). Everything runs on the caller's goroutine; the
// state machines are not safe for concurrent use and never see concurrency
// here.
//
// Distribution connections are a symmetric set of node pairs. Sends use
// noconnect semantics, as membership.go's SendNoConnect: a message to a node
// without a connection is dropped. Each connection is FIFO in each direction
// (a message never overtakes an earlier one on the same connection) with a
// per-message latency drawn from [MinLatency, MaxLatency], and an optional
// independent loss rate. A Connect action takes a handshake of a few
// latencies and yields exactly one ConnectResult; a new connection also gives
// both ends a NodeUp, as node.SubscribeFunc does. A crashed node loses every
// connection and each surviving peer receives NodeDown after CrashDetect. A
// partition drops messages across the cut at once and tears the crossing
// connections down (NodeDown on both sides) after PartitionDetect, the tick
// timeout of a real cluster; connects across it fail after ConnectTimeout.
// Every node runs the runtime's idle dist-channel GC (membership/distgc.go),
// which closes connections to nodes outside its active view once they are
// DistGCMinAge old.
package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// Options configures a Sim. Zero fields take the documented defaults.
type Options struct {
	// Nodes is the number of nodes (1000).
	Nodes int
	// Seed makes a run reproducible (1).
	Seed uint64
	// Contacts is how many of the first nodes every node lists in
	// ContactNodes (3), as a static barrel_p2p configuration would.
	Contacts int
	// StartSpread spreads node starts uniformly over [0, StartSpread) (10 s);
	// the contacts start at 0.
	StartSpread time.Duration
	// MinLatency and MaxLatency bound the one-way latency of a message
	// (1 ms and 20 ms).
	MinLatency, MaxLatency time.Duration
	// Loss is the probability that a message is dropped in flight (0).
	// Distribution runs over TCP, so this models a lossy relay, not TCP.
	Loss float64
	// CrashDetect is when the peers of a crashed node see NodeDown. Zero
	// models a killed process: connections reset, NodeDown after one
	// latency, connects refused. Positive models a dead host: connections
	// linger until then (OTP's tick timeout is 45-75 s) and connects time
	// out after ConnectTimeout.
	CrashDetect time.Duration
	// PartitionDetect is when the ends of a connection cut by a partition
	// see NodeDown (60 s, OTP's net_ticktime).
	PartitionDetect time.Duration
	// ConnectTimeout is how long a connect across a partition takes to fail
	// (10 s, the runtime's connect timeout).
	ConnectTimeout time.Duration
	// DistGCSweepPeriod and DistGCMinAge drive the runtime's idle
	// dist-channel GC (membership/distgc.go, barrel_p2p_dist_gc): every
	// period from its start a node disconnects each connected node outside
	// its active view whose connection is at least DistGCMinAge old, and
	// both ends see NodeDown. Zero means 60 s and 300 s, the runtime's
	// defaults; a negative period disables the GC.
	DistGCSweepPeriod, DistGCMinAge time.Duration
	// CheckEveryInput checks the view bounds in the state machines after
	// every input (slower); otherwise the active bound is checked after
	// every input from the events and both bounds by CheckViews.
	CheckEveryInput bool
	// HyParView is the protocol configuration (hyparview.DefaultConfig()
	// when ActiveSize is 0). ContactNodes is set from Contacts.
	HyParView hyparview.Config
}

func (o Options) withDefaults() Options {
	if o.Nodes <= 0 {
		o.Nodes = 1000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Contacts <= 0 {
		o.Contacts = 3
	}
	o.Contacts = min(o.Contacts, o.Nodes)
	if o.StartSpread <= 0 {
		o.StartSpread = 10 * time.Second
	}
	if o.MinLatency <= 0 {
		o.MinLatency = time.Millisecond
	}
	if o.MaxLatency < o.MinLatency {
		o.MaxLatency = max(20*time.Millisecond, o.MinLatency)
	}
	if o.PartitionDetect <= 0 {
		o.PartitionDetect = 60 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.DistGCSweepPeriod == 0 {
		o.DistGCSweepPeriod = 60 * time.Second
	}
	if o.DistGCMinAge <= 0 {
		o.DistGCMinAge = 300 * time.Second
	}
	if o.HyParView.ActiveSize == 0 {
		o.HyParView = hyparview.DefaultConfig()
	}
	return o
}

// Epoch is virtual time zero. HLC and Plumtree ids embed wall-clock
// milliseconds, so it is a plausible date rather than the zero time.
var Epoch = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

// queue is a binary min-heap on (at, seq); seq makes the order total and
// therefore the run deterministic.
type queue []event

func (q queue) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *queue) push(e event) {
	*q = append(*q, e)
	h := *q
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *queue) pop() event {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = event{}
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// conn is one distribution connection. gen tells a message sent on it from
// one sent on a later connection between the same pair; last holds the
// latest scheduled arrival per direction (index 0: lower id to higher) so
// that delivery is FIFO.
type conn struct {
	gen   uint64
	since time.Duration
	last  [2]time.Duration
}

type pair struct{ a, b int32 }

func pairOf(x, y int) pair {
	if x > y {
		x, y = y, x
	}
	return pair{int32(x), int32(y)}
}

// cut is one partition: no traffic between a node of A and a node of B.
type cut struct {
	a, b []bool
}

// NetStats counts network-level happenings.
type NetStats struct {
	Events        uint64 // scheduler events run
	Sent          uint64 // messages handed to the network
	Delivered     uint64 // messages that reached a live node
	NoConnect     uint64 // dropped at send: no connection (noconnect)
	Lost          uint64 // dropped by the Loss rate
	Cut           uint64 // dropped in flight: connection gone, partition or dead receiver
	Malformed     uint64 // inbound messages a decoder refused (should stay 0)
	Connects      uint64 // Connect actions
	Results       uint64 // ConnectResults delivered
	Abandoned     uint64 // ConnectResults not delivered: the requester died
	ConnectFailed uint64 // ConnectResult(false)
	Connections   uint64 // connections established
	NodeDowns     uint64 // NodeDown inputs delivered
	PendingTimeo  uint64 // hyparview PendingTimeout actions
	DistGC        uint64 // connections closed by the dist GC
	PeerUps       uint64 // hyparview PeerUp events
	PeerDowns     map[hyparview.Reason]uint64
	ByName        map[etf.Atom]uint64 // messages sent per registered name
	Gossip        uint64              // Plumtree GOSSIP received by live nodes
	IHave         uint64
	Graft         uint64
	Prune         uint64
}

// Sim is a simulated cluster. It is not safe for concurrent use.
type Sim struct {
	opts  Options
	now   time.Duration
	q     queue
	seq   uint64
	rng   *rand.Rand
	nodes []*Node
	names map[etf.Atom]*Node
	conns map[pair]*conn
	cuts  []cut
	gen   uint64

	lastStart time.Duration

	// Stats counts network activity since New.
	Stats NetStats

	violations     []string
	violationCount int

	// OnDeliver, when set, is called for every Plumtree delivery.
	OnDeliver func(n *Node, d plumtree.Deliver)
	// OnService, when set, is called for every registry service event.
	OnService func(n *Node, e registry.Event)
	// OnGossip, when set, is called for every GOSSIP a live node receives,
	// before the state machine sees it.
	OnGossip func(n *Node, g plumtree.Gossip)
}

// New builds a cluster of opts.Nodes nodes and schedules their starts:
// the contacts at time 0, the others uniformly over StartSpread. Nothing runs
// until Run, RunFor or RunUntil is called.
func New(opts Options) (*Sim, error) {
	opts = opts.withDefaults()
	if opts.Loss < 0 || opts.Loss >= 1 {
		return nil, fmt.Errorf("sim: loss %v outside [0, 1)", opts.Loss)
	}
	if opts.Nodes > 1<<20 {
		return nil, fmt.Errorf("sim: %d nodes is too many", opts.Nodes)
	}
	s := &Sim{
		opts:  opts,
		rng:   rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x73696d756c61746f)),
		names: map[etf.Atom]*Node{},
		conns: map[pair]*conn{},
	}
	s.Stats.PeerDowns = map[hyparview.Reason]uint64{}
	s.Stats.ByName = map[etf.Atom]uint64{}
	contacts := make([]etf.Atom, opts.Contacts)
	for i := range opts.Nodes {
		n := &Node{
			sim:  s,
			id:   i,
			name: etf.Atom(fmt.Sprintf("n%04d@10.%d.%d.%d", i, i>>16&255, i>>8&255, i&255)),
			addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		}
		n.pid = etf.Pid{Node: n.name, ID: 100, Creation: 1}
		s.nodes = append(s.nodes, n)
		s.names[n.name] = n
		if i < opts.Contacts {
			contacts[i] = n.name
		}
	}
	s.opts.HyParView.ContactNodes = contacts
	if err := s.opts.HyParView.Validate(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	for i, n := range s.nodes {
		at := time.Duration(0)
		if i >= opts.Contacts {
			at = time.Duration(s.rng.Int64N(int64(opts.StartSpread)))
		}
		s.lastStart = max(s.lastStart, at)
		s.schedule(at, func() { n.start() })
	}
	return s, nil
}

// LastStart is when the last of the initial node starts is scheduled.
func (s *Sim) LastStart() time.Duration { return s.lastStart }

// Options returns the effective options.
func (s *Sim) Options() Options { return s.opts }

// Now returns the current virtual time as an instant.
func (s *Sim) Now() time.Time { return Epoch.Add(s.now) }

// Elapsed returns the virtual time since the start of the run.
func (s *Sim) Elapsed() time.Duration { return s.now }

// Nodes returns every node, started or not, alive or not, by id.
func (s *Sim) Nodes() []*Node { return s.nodes }

// Node returns the node with the given id.
func (s *Sim) Node(id int) *Node { return s.nodes[id] }

// Lookup returns the node named name.
func (s *Sim) Lookup(name etf.Atom) (*Node, bool) {
	n, ok := s.names[name]
	return n, ok
}

// Alive returns the live nodes by id.
func (s *Sim) Alive() []*Node {
	var out []*Node
	for _, n := range s.nodes {
		if n.alive {
			out = append(out, n)
		}
	}
	return out
}

// Rand is the simulation's generator, for scenario choices that must follow
// from the seed.
func (s *Sim) Rand() *rand.Rand { return s.rng }

func (s *Sim) schedule(at time.Duration, fn func()) {
	s.seq++
	s.q.push(event{at: at, seq: s.seq, fn: fn})
}

// Schedule runs fn at virtual time Elapsed()+after, on the simulation
// goroutine, in order with the protocol events.
func (s *Sim) Schedule(after time.Duration, fn func()) {
	s.schedule(s.now+max(after, 0), fn)
}

// RunUntil runs every event due at or before t (virtual time since the
// start) and leaves the clock at t.
func (s *Sim) RunUntil(t time.Duration) {
	for len(s.q) > 0 && s.q[0].at <= t {
		e := s.q.pop()
		s.now = e.at
		s.Stats.Events++
		e.fn()
	}
	s.now = max(s.now, t)
}

// RunFor runs the simulation for d of virtual time.
func (s *Sim) RunFor(d time.Duration) { s.RunUntil(s.now + d) }

func (s *Sim) latency() time.Duration {
	span := int64(s.opts.MaxLatency - s.opts.MinLatency)
	if span <= 0 {
		return s.opts.MinLatency
	}
	return s.opts.MinLatency + time.Duration(s.rng.Int64N(span+1))
}

// handshake is the time a new distribution connection takes: TCP connect
// plus the name/challenge exchange, about two round trips.
func (s *Sim) handshake() time.Duration {
	return s.latency() + s.latency() + s.latency() + s.latency()
}

func (s *Sim) reachable(x, y int) bool {
	for _, c := range s.cuts {
		if (c.a[x] && c.b[y]) || (c.a[y] && c.b[x]) {
			return false
		}
	}
	return true
}

// Connected reports whether a distribution connection exists between a
// and b (possibly one a partition has cut but not yet torn down).
func (s *Sim) Connected(a, b *Node) bool {
	_, ok := s.conns[pairOf(a.id, b.id)]
	return ok
}

// Connections returns the number of open distribution connections.
func (s *Sim) Connections() int { return len(s.conns) }

// send is SendNoConnect from node from to {name, to} (or to a pid when name
// is empty), carrying the term the runtime would put on the wire.
func (s *Sim) send(from *Node, to etf.Atom, name etf.Atom, msg etf.Term) {
	s.Stats.Sent++
	s.Stats.ByName[name]++
	dst := s.names[to]
	if dst == nil {
		s.Stats.NoConnect++
		return
	}
	if dst == from {
		// A local send skips the network (node.SendNoConnect to self).
		inc := from.inc
		s.schedule(s.now, func() {
			if from.alive && from.inc == inc {
				s.Stats.Delivered++
				from.inbound(name, msg)
			}
		})
		return
	}
	key := pairOf(from.id, dst.id)
	c := s.conns[key]
	if c == nil {
		s.Stats.NoConnect++
		return
	}
	if s.opts.Loss > 0 && s.rng.Float64() < s.opts.Loss {
		s.Stats.Lost++
		return
	}
	dir := 0
	if from.id > dst.id {
		dir = 1
	}
	at := max(s.now+s.latency(), c.last[dir])
	c.last[dir] = at
	gen, dinc := c.gen, dst.inc
	s.schedule(at, func() {
		if cur := s.conns[key]; cur == nil || cur.gen != gen || !dst.alive || dst.inc != dinc || !s.reachable(from.id, dst.id) {
			s.Stats.Cut++
			return
		}
		s.Stats.Delivered++
		dst.inbound(name, msg)
	})
}

// connect performs a Connect action of n: exactly one ConnectResult, and a
// NodeUp at both ends when a new connection is made.
func (s *Sim) connect(n *Node, target etf.Atom) {
	s.Stats.Connects++
	inc := n.inc
	result := func(after time.Duration, ok bool) {
		s.schedule(s.now+after, func() {
			if !n.alive || n.inc != inc {
				s.Stats.Abandoned++
				return
			}
			s.Stats.Results++
			if !ok {
				s.Stats.ConnectFailed++
			}
			n.connectResult(target, ok)
		})
	}
	t := s.names[target]
	switch {
	case t == nil:
		result(s.latency(), false)
	case t == n || s.conns[pairOf(n.id, t.id)] != nil:
		// Already connected: node.Connect returns at once, no NodeUp.
		result(0, true)
	case !s.reachable(n.id, t.id):
		result(s.opts.ConnectTimeout, false)
	case !t.alive && s.opts.CrashDetect <= 0:
		result(s.handshake(), false) // refused: the host is up
	case !t.alive:
		result(s.opts.ConnectTimeout, false) // the host is gone
	default:
		tinc := t.inc
		s.schedule(s.now+s.handshake(), func() {
			if !n.alive || n.inc != inc {
				s.Stats.Abandoned++
				return
			}
			s.Stats.Results++
			if !t.alive || t.inc != tinc || !s.reachable(n.id, t.id) {
				s.Stats.ConnectFailed++
				n.connectResult(target, false)
				return
			}
			key := pairOf(n.id, t.id)
			if s.conns[key] == nil {
				s.gen++
				s.conns[key] = &conn{gen: s.gen, since: s.now}
				n.peers[int32(t.id)] = struct{}{}
				t.peers[int32(n.id)] = struct{}{}
				s.Stats.Connections++
				n.nodeUp(t.name)
				t.nodeUp(n.name)
			}
			n.connectResult(target, true)
		})
	}
}

// disconnect tears down the connection between a and b and reports
// NodeDown to each live end after its delay.
func (s *Sim) disconnect(a, b *Node, delayA, delayB time.Duration) {
	key := pairOf(a.id, b.id)
	c := s.conns[key]
	if c == nil {
		return
	}
	delete(s.conns, key)
	delete(a.peers, int32(b.id))
	delete(b.peers, int32(a.id))
	for _, end := range []struct {
		n, other *Node
		d        time.Duration
	}{{a, b, delayA}, {b, a, delayB}} {
		if !end.n.alive {
			continue
		}
		n, other, inc := end.n, end.other, end.n.inc
		s.schedule(s.now+end.d, func() {
			// A connection made again meanwhile would have produced a
			// NodeUp after this NodeDown in a real node too; the state
			// machine sees them in that order, so deliver regardless.
			if n.alive && n.inc == inc {
				n.nodeDown(other.name)
			}
		})
	}
}

// peersOf returns the nodes n has a connection with, by id.
func (s *Sim) peersOf(n *Node) []*Node {
	out := make([]*Node, 0, len(n.peers))
	for id := range n.peers {
		out = append(out, s.nodes[id])
	}
	slices.SortFunc(out, func(x, y *Node) int { return x.id - y.id })
	return out
}

// distGC is one sweep of the runtime's gcSweepNow on n. A connection's
// age counts from its NodeUp, which both ends get when it is made.
func (s *Sim) distGC(n *Node) {
	for _, p := range s.peersOf(n) {
		c := s.conns[pairOf(n.id, p.id)]
		if c == nil || s.now-c.since < s.opts.DistGCMinAge || n.hv.IsActive(p.name) {
			continue
		}
		s.Stats.DistGC++
		s.disconnect(n, p, 0, s.latency())
	}
}

// Crash kills n at once: its state is lost and its connections close.
// With CrashDetect zero (a killed process) the connections reset at once
// and each peer sees NodeDown after one latency; otherwise (a dead host)
// they linger, swallowing traffic, until the peers' tick timeout
// CrashDetect.
func (s *Sim) Crash(n *Node) { s.CrashMany([]*Node{n}) }

// CrashMany crashes the given nodes together: all are dead before any
// survivor can react.
func (s *Sim) CrashMany(nodes []*Node) {
	var dead []*Node
	for _, n := range nodes {
		if n.alive {
			n.alive = false
			n.activeIDs = nil
			dead = append(dead, n)
		}
	}
	slices.SortFunc(dead, func(x, y *Node) int { return x.id - y.id })
	for _, n := range dead {
		for _, p := range s.peersOf(n) {
			if s.opts.CrashDetect <= 0 {
				s.disconnect(n, p, 0, s.latency())
				continue
			}
			key := pairOf(n.id, p.id)
			gen := s.conns[key].gen
			s.schedule(s.now+s.opts.CrashDetect, func() {
				if c := s.conns[key]; c != nil && c.gen == gen {
					s.disconnect(n, p, 0, 0)
				}
			})
		}
	}
}

// Restart starts a crashed node again with empty state (a new incarnation
// of the same name); connections its old incarnation left open close first.
func (s *Sim) Restart(n *Node) {
	if n.alive {
		return
	}
	for _, p := range s.peersOf(n) {
		s.disconnect(n, p, 0, 0)
	}
	n.start()
}

// Partition cuts every link between a node of a and a node of b: messages
// across are dropped from now on, connects across fail after ConnectTimeout,
// and existing connections across are torn down (NodeDown at both ends)
// after PartitionDetect unless healed before. It returns an id for Heal.
func (s *Sim) Partition(a, b []*Node) int {
	c := cut{a: make([]bool, len(s.nodes)), b: make([]bool, len(s.nodes))}
	for _, n := range a {
		c.a[n.id] = true
	}
	for _, n := range b {
		c.b[n.id] = true
	}
	s.cuts = append(s.cuts, c)
	var crossing []pair
	for p := range s.conns {
		x, y := int(p.a), int(p.b)
		if (c.a[x] && c.b[y]) || (c.a[y] && c.b[x]) {
			crossing = append(crossing, p)
		}
	}
	slices.SortFunc(crossing, func(p, q pair) int {
		if p.a != q.a {
			return int(p.a - q.a)
		}
		return int(p.b - q.b)
	})
	for _, p := range crossing {
		gen := s.conns[p].gen
		s.schedule(s.now+s.opts.PartitionDetect, func() {
			if c := s.conns[p]; c != nil && c.gen == gen && !s.reachable(int(p.a), int(p.b)) {
				s.disconnect(s.nodes[p.a], s.nodes[p.b], 0, 0)
			}
		})
	}
	return len(s.cuts) - 1
}

// Heal removes every partition.
func (s *Sim) Heal() { s.cuts = nil }

// Violations returns the invariant violations seen so far (the first 20)
// and their total count.
func (s *Sim) Violations() ([]string, int) { return s.violations, s.violationCount }

func (s *Sim) violation(format string, args ...any) {
	s.violationCount++
	if len(s.violations) < 20 {
		s.violations = append(s.violations, fmt.Sprintf("t=%v ", s.now)+fmt.Sprintf(format, args...))
	}
}
