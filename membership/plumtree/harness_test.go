package plumtree_test

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

// cluster is a synchronous discrete-event harness: every node is a State,
// messages travel over the links of a fixed graph with a per-link latency,
// timers fire in virtual time, and nothing runs concurrently.
type cluster struct {
	t       *testing.T
	rng     *rand.Rand
	now     time.Time
	names   []etf.Atom
	nodes   map[etf.Atom]*plumtree.State
	latency map[[2]etf.Atom]time.Duration // present = link exists
	queue   eventQueue
	seq     uint64
	dead    map[plumtree.Timer]bool
	jitter  time.Duration

	delivered map[plumtree.ID]map[etf.Atom]int // deliveries per node
	payloads  map[plumtree.ID]etf.Term
	gossipRx  map[plumtree.ID]int // GOSSIP frames received
	grafts    int
}

type event struct {
	at    time.Time
	seq   uint64
	node  etf.Atom
	msg   plumtree.Message // nil for a timer
	timer plumtree.Timer
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// newCluster builds n nodes on a random connected graph: a random spanning
// tree plus random extra links, with every degree capped at maxDegree (the
// HyParView active-view size).
func newCluster(t *testing.T, seed uint64, n, maxDegree, extra int, jitter time.Duration) *cluster {
	c := &cluster{
		t: t, jitter: jitter, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now: t0, nodes: map[etf.Atom]*plumtree.State{}, latency: map[[2]etf.Atom]time.Duration{},
		dead: map[plumtree.Timer]bool{}, delivered: map[plumtree.ID]map[etf.Atom]int{},
		payloads: map[plumtree.ID]etf.Term{}, gossipRx: map[plumtree.ID]int{},
	}
	for i := range n {
		c.names = append(c.names, etf.Atom(fmt.Sprintf("n%02d@sim", i)))
	}
	degree := map[etf.Atom]int{}
	link := func(a, b etf.Atom) bool {
		if a == b || degree[a] >= maxDegree || degree[b] >= maxDegree {
			return false
		}
		if _, ok := c.latency[[2]etf.Atom{a, b}]; ok {
			return false
		}
		d := time.Duration(2+c.rng.IntN(40)) * time.Millisecond
		c.latency[[2]etf.Atom{a, b}], c.latency[[2]etf.Atom{b, a}] = d, d
		degree[a]++
		degree[b]++
		return true
	}
	order := slices.Clone(c.names)
	c.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for i := 1; i < len(order); i++ {
		for !link(order[i], order[c.rng.IntN(i)]) {
		}
	}
	for tries := 0; extra > 0 && tries < 10000; tries++ {
		if link(c.names[c.rng.IntN(n)], c.names[c.rng.IntN(n)]) {
			extra--
		}
	}
	for i, name := range c.names {
		s := plumtree.New(plumtree.Config{Self: name, Rand: rand.New(rand.NewPCG(seed, uint64(i)))}, c.neighbours(name))
		c.nodes[name] = s
		c.apply(name, s.Start(c.now))
	}
	return c
}

func (c *cluster) neighbours(n etf.Atom) []etf.Atom {
	var out []etf.Atom
	for _, m := range c.names {
		if _, ok := c.latency[[2]etf.Atom{n, m}]; ok {
			out = append(out, m)
		}
	}
	return out
}

func (c *cluster) push(e event) {
	c.seq++
	e.seq = c.seq
	heap.Push(&c.queue, e)
}

func (c *cluster) apply(node etf.Atom, acts []plumtree.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case plumtree.Send:
			d, ok := c.latency[[2]etf.Atom{node, a.To}]
			if !ok {
				continue // no dist channel: dropped, like a noconnect/nosuspend loss
			}
			// Round-trip the message through the real codec.
			raw, err := etf.Encode(plumtree.Envelope(a.Msg))
			if err != nil {
				c.t.Fatal(err)
			}
			term, err := etf.Decode(raw)
			if err != nil {
				c.t.Fatal(err)
			}
			m, err := plumtree.DecodeEnvelope(term)
			if err != nil {
				c.t.Fatal(err)
			}
			// Per-message jitter reorders messages as a real network does.
			jitter := time.Duration(c.rng.IntN(int(c.jitter) + 1))
			c.push(event{at: c.now.Add(d + jitter), node: a.To, msg: m})
		case plumtree.Deliver:
			if c.delivered[a.ID] == nil {
				c.delivered[a.ID] = map[etf.Atom]int{}
			}
			c.delivered[a.ID][node]++
			if want, ok := c.payloads[a.ID]; ok && !etf.Equal(want, a.Payload) {
				c.t.Fatalf("%s delivered a different payload for %v", node, a.ID)
			}
		case plumtree.SetTimer:
			c.push(event{at: c.now.Add(a.After), node: node, timer: a.Timer})
		case plumtree.CancelTimer:
			c.dead[a.Timer] = true
		}
	}
}

// run processes events until only the periodic cleanup timers are left.
func (c *cluster) run() {
	for c.queue.Len() > 0 {
		busy := false
		for _, e := range c.queue {
			if e.msg != nil || e.timer.Kind == plumtree.TimerGraft {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		e := heap.Pop(&c.queue).(event)
		c.now = e.at
		s := c.nodes[e.node]
		if e.msg != nil {
			if g, ok := e.msg.(plumtree.Gossip); ok {
				c.gossipRx[g.ID]++
			}
			c.apply(e.node, s.Receive(c.now, e.msg))
			continue
		}
		if c.dead[e.timer] {
			delete(c.dead, e.timer)
			continue
		}
		acts := s.Fire(c.now, e.timer)
		for _, a := range acts {
			if snd, ok := a.(plumtree.Send); ok {
				if _, ok := snd.Msg.(plumtree.Graft); ok {
					c.grafts++
				}
			}
		}
		c.apply(e.node, acts)
	}
}

// broadcast originates one message at origin, runs the cluster to
// quiescence and returns its relative message redundancy.
func (c *cluster) broadcast(origin etf.Atom, tag, payload etf.Term) (plumtree.ID, float64) {
	c.t.Helper()
	id, acts := c.nodes[origin].Broadcast(c.now, tag, payload)
	c.payloads[id] = payload
	c.apply(origin, acts)
	c.run()
	got := c.delivered[id]
	for _, n := range c.names {
		if got[n] != 1 {
			c.t.Fatalf("broadcast %v from %s: %s delivered %d times", id, origin, n, got[n])
		}
	}
	n := len(c.names)
	return id, float64(c.gossipRx[id])/float64(n-1) - 1
}

func (c *cluster) cut(a, b etf.Atom) {
	delete(c.latency, [2]etf.Atom{a, b})
	delete(c.latency, [2]etf.Atom{b, a})
	c.apply(a, c.nodes[a].NeighborDown(c.now, b))
	c.apply(b, c.nodes[b].NeighborDown(c.now, a))
}

func (c *cluster) connected() bool {
	seen := map[etf.Atom]bool{c.names[0]: true}
	stack := []etf.Atom{c.names[0]}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range c.neighbours(n) {
			if !seen[m] {
				seen[m] = true
				stack = append(stack, m)
			}
		}
	}
	return len(seen) == len(c.names)
}

func TestClusterBroadcastAndRMR(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		seed   uint64
		jitter time.Duration
	}{{1, 0}, {2, 0}, {3, 5 * time.Millisecond}, {4, 20 * time.Millisecond}, {5, 50 * time.Millisecond}} {
		seed := tc.seed
		t.Run(fmt.Sprintf("seed%d_jitter%v", seed, tc.jitter), func(t *testing.T) {
			c := newCluster(t, seed, n, 5, 25, tc.jitter)
			links := 0
			for range c.latency {
				links++
			}
			links /= 2
			if !c.connected() {
				t.Fatal("graph not connected")
			}
			// The first broadcast floods the graph (every link eager).
			_, first := c.broadcast(c.names[0], etf.Atom("app"), int64(0))
			// Warm-up from random origins lets PRUNEs shape the tree.
			var early []string
			for i := range 40 {
				_, rmr := c.broadcast(c.names[c.rng.IntN(n)], etf.Atom("app"), int64(i))
				if i < 6 {
					early = append(early, fmt.Sprintf("%.2f", rmr))
				}
			}
			grafts := c.grafts
			const measured = 60
			total := 0.0
			worst := 0.0
			for i := range measured {
				// Unknown tags of any shape are relayed like known ones.
				tag := etf.Tuple{etf.Atom("unknown_app_tag"), int64(i)}
				_, rmr := c.broadcast(c.names[c.rng.IntN(n)], tag, etf.Map{{Key: etf.Atom("i"), Value: int64(i)}})
				total += rmr
				worst = max(worst, rmr)
			}
			avg := total / measured
			t.Logf("seed %d jitter %v: %d nodes, %d links (mean degree %.2f); RMR first broadcast %.3f, after stabilising mean %.3f worst %.3f; grafts during measurement %d; RMR of broadcasts 2-7: %v",
				seed, tc.jitter, n, links, 2*float64(links)/n, first, avg, worst, c.grafts-grafts, early)
			if first < 0.5 {
				t.Errorf("first broadcast RMR %.3f: expected flooding redundancy", first)
			}
			if avg > 0.25*first || avg > 0.5 {
				t.Errorf("mean RMR after stabilising %.3f is not small (first %.3f)", avg, first)
			}
		})
	}
}

// After links fail (peer_down on both ends), IHAVE/GRAFT repairs the tree
// and every node still receives every broadcast exactly once.
func TestClusterRepairsAfterLinkLoss(t *testing.T) {
	c := newCluster(t, 7, 20, 5, 25, 10*time.Millisecond)
	for i := range 20 {
		c.broadcast(c.names[c.rng.IntN(20)], etf.Atom("app"), int64(i))
	}
	cuts := 0
	for _, a := range c.names {
		for _, b := range c.neighbours(a) {
			if cuts >= 6 || !slices.Contains(c.nodes[a].Eager(), b) {
				continue
			}
			c.cut(a, b)
			if !c.connected() {
				// Put it back: the test needs a connected graph.
				d := 10 * time.Millisecond
				c.latency[[2]etf.Atom{a, b}], c.latency[[2]etf.Atom{b, a}] = d, d
				c.apply(a, c.nodes[a].NeighborUp(c.now, b))
				c.apply(b, c.nodes[b].NeighborUp(c.now, a))
				continue
			}
			cuts++
		}
	}
	if cuts == 0 {
		t.Fatal("no eager link could be cut")
	}
	before := c.grafts
	for i := range 20 {
		c.broadcast(c.names[c.rng.IntN(20)], etf.Atom("app"), int64(100+i))
	}
	t.Logf("cut %d eager links; %d grafts repaired the tree", cuts, c.grafts-before)
}

// Concurrent broadcasts from several origins on a cold cluster prune links
// in conflicting directions; the tree must still deliver everything once
// and settle to a low redundancy.
func TestClusterConcurrentColdStart(t *testing.T) {
	const n = 20
	c := newCluster(t, 11, n, 5, 25, 20*time.Millisecond)
	var ids []plumtree.ID
	for i := range 5 {
		id, acts := c.nodes[c.names[i*3]].Broadcast(c.now, etf.Atom("app"), int64(i))
		c.payloads[id] = int64(i)
		ids = append(ids, id)
		c.apply(c.names[i*3], acts)
	}
	c.run()
	for _, id := range ids {
		for _, name := range c.names {
			if c.delivered[id][name] != 1 {
				t.Fatalf("%v: %s delivered %d times", id, name, c.delivered[id][name])
			}
		}
	}
	grafts := c.grafts
	total := 0.0
	for i := range 40 {
		_, rmr := c.broadcast(c.names[c.rng.IntN(n)], etf.Atom("app"), int64(10+i))
		total += rmr
	}
	t.Logf("after 5 concurrent cold broadcasts: mean RMR of 40 later broadcasts %.3f, %d grafts", total/40, c.grafts-grafts)
	if total/40 > 0.5 {
		t.Errorf("mean RMR %.3f", total/40)
	}
}
