package hyparview

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// cluster wires States together in one goroutine: Send actions go through the
// real codecs and are delivered only over an existing link (noconnect),
// Connect creates links and reports nodeup on both ends, and timers run on a
// virtual clock.
type cluster struct {
	t       testing.TB
	now     time.Time
	nodes   map[etf.Atom]*simNode
	names   []etf.Atom
	links   map[[2]etf.Atom]bool
	queue   []func()
	timers  timerQueue
	tseq    uint64
	dropped int
	sent    int
	// loss, when set, drops that fraction of messages (drawn from lossRng).
	loss    float64
	lossRng *rand.Rand
	cfg     Config
	seed    uint64
}

type simNode struct {
	st    *State
	alive bool
	view  eventView
	epoch int // bumped by restart; older timers are discarded
}

type simTimer struct {
	at    time.Time
	seq   uint64
	node  etf.Atom
	epoch int
	tm    Timer
}

type timerQueue []simTimer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)   { *q = append(*q, x.(simTimer)) }
func (q *timerQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newCluster(t testing.TB, seed uint64, n int, cfg Config) *cluster {
	c := &cluster{t: t, now: t0, nodes: map[etf.Atom]*simNode{}, links: map[[2]etf.Atom]bool{}, cfg: cfg, seed: seed}
	for i := range n {
		name := etf.Atom(fmt.Sprintf("n%02d@127.0.0.1", i))
		st, err := New(selfOf(name), cfg, rand.New(rand.NewPCG(seed, uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[name] = &simNode{st: st, alive: true, view: eventView{}}
		c.names = append(c.names, name)
		c.apply(name, st.Start(c.now))
	}
	return c
}

func linkKey(a, b etf.Atom) [2]etf.Atom {
	if a > b {
		a, b = b, a
	}
	return [2]etf.Atom{a, b}
}

// apply performs the actions node returned and checks its invariants.
func (c *cluster) apply(node etf.Atom, acts []Action) {
	c.t.Helper()
	n := c.nodes[node]
	if err := checkInvariants(n.st); err != nil {
		c.t.Fatalf("%v %s: %v", c.now.Sub(t0), node, err)
	}
	if err := checkEmitted(n.st, acts); err != nil {
		c.t.Fatalf("%v %s: %v", c.now.Sub(t0), node, err)
	}
	if err := n.view.apply(acts); err != nil {
		c.t.Fatalf("%v %s: %v", c.now.Sub(t0), node, err)
	}
	if err := n.view.matches(n.st); err != nil {
		c.t.Fatalf("%v %s: %v", c.now.Sub(t0), node, err)
	}
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			raw, err := etf.Encode(EncodeEnvelope(node, a.Msg))
			if err != nil {
				c.t.Fatalf("encode: %v", err)
			}
			c.sent++
			to := a.To
			if !c.links[linkKey(node, to)] || !c.nodes[to].alive ||
				(c.loss > 0 && c.lossRng.Float64() < c.loss) {
				c.dropped++
				continue
			}
			c.queue = append(c.queue, func() {
				if !c.links[linkKey(node, to)] {
					c.dropped++
					return
				}
				term, err := etf.Decode(raw)
				if err != nil {
					c.t.Fatalf("decode: %v", err)
				}
				env, err := DecodeEnvelope(term)
				if err != nil {
					c.t.Fatalf("decode envelope: %v", err)
				}
				if env.FromNode != node {
					c.t.Fatalf("envelope from %s, sent by %s", env.FromNode, node)
				}
				c.apply(to, c.nodes[to].st.HandleMessage(c.now, env.Msg))
			})
		case Connect:
			target := a.Node
			c.queue = append(c.queue, func() {
				if !c.nodes[node].alive {
					return
				}
				t, ok := c.nodes[target]
				if !ok || !t.alive {
					c.apply(node, c.nodes[node].st.ConnectResult(c.now, target, false))
					return
				}
				if !c.links[linkKey(node, target)] {
					c.links[linkKey(node, target)] = true
					c.apply(node, c.nodes[node].st.NodeUp(c.now, target))
					c.apply(target, t.st.NodeUp(c.now, node))
				}
				c.apply(node, c.nodes[node].st.ConnectResult(c.now, target, true))
			})
		case SetTimer:
			c.tseq++
			heap.Push(&c.timers, simTimer{at: c.now.Add(a.After), seq: c.tseq, node: node, epoch: n.epoch, tm: a.Timer})
		}
	}
}

func (c *cluster) drain() {
	for len(c.queue) > 0 {
		f := c.queue[0]
		c.queue = c.queue[1:]
		f()
	}
}

// runUntil processes messages and timers up to the virtual time end.
func (c *cluster) runUntil(end time.Time) {
	c.drain()
	for c.timers.Len() > 0 && !c.timers[0].at.After(end) {
		tm := heap.Pop(&c.timers).(simTimer)
		c.now = tm.at
		if n := c.nodes[tm.node]; n.alive && n.epoch == tm.epoch {
			c.apply(tm.node, n.st.TimerFired(c.now, tm.tm))
		}
		c.drain()
	}
	c.now = end
}

func (c *cluster) join(node, contact etf.Atom) {
	acts, err := c.nodes[node].st.Join(c.now, contact)
	if err != nil {
		c.t.Fatal(err)
	}
	c.apply(node, acts)
	c.drain()
}

// kill stops node: its links close and each peer sees a nodedown.
func (c *cluster) kill(node etf.Atom) {
	c.nodes[node].alive = false
	for _, other := range c.names {
		if c.links[linkKey(node, other)] {
			delete(c.links, linkKey(node, other))
			if c.nodes[other].alive {
				c.apply(other, c.nodes[other].st.NodeDown(c.now, node))
			}
		}
	}
	c.drain()
}

// restart replaces node's state with a fresh one, as when barrel_p2p's
// hyparview process crashes and restarts with empty views (quirk Q1): links
// stay up and nobody is told.
func (c *cluster) restart(node etf.Atom, contacts ...etf.Atom) {
	n := c.nodes[node]
	cfg := c.cfg
	cfg.ContactNodes = contacts
	n.epoch++
	st, err := New(selfOf(node), cfg, rand.New(rand.NewPCG(c.seed, uint64(1000+n.epoch))))
	if err != nil {
		c.t.Fatal(err)
	}
	n.st, n.view = st, eventView{}
	c.apply(node, st.Start(c.now))
	c.drain()
}

func (c *cluster) alive() []etf.Atom {
	var out []etf.Atom
	for _, n := range c.names {
		if c.nodes[n].alive {
			out = append(out, n)
		}
	}
	return out
}

// checkOverlay verifies that the active views of the live nodes are within
// bounds, name only live linked nodes, and form one connected graph.
func (c *cluster) checkOverlay() {
	c.t.Helper()
	alive := c.alive()
	adj := map[etf.Atom][]etf.Atom{}
	for _, n := range alive {
		st := c.nodes[n].st
		act := st.ActiveNodes()
		if len(act) == 0 || len(act) > st.cfg.ActiveSize {
			c.t.Fatalf("%s active view %v out of bounds", n, act)
		}
		if len(alive) > st.cfg.ActiveSize+1 && len(st.PassiveNodes()) == 0 {
			c.t.Errorf("%s learned no passive peers", n)
		}
		for _, m := range act {
			if !c.nodes[m].alive {
				c.t.Fatalf("%s keeps dead %s active", n, m)
			}
			if !c.links[linkKey(n, m)] {
				c.t.Fatalf("%s holds %s active without a link", n, m)
			}
			adj[n] = append(adj[n], m)
			adj[m] = append(adj[m], n)
		}
	}
	seen := map[etf.Atom]bool{alive[0]: true}
	stack := []etf.Atom{alive[0]}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range adj[n] {
			if !seen[m] {
				seen[m] = true
				stack = append(stack, m)
			}
		}
	}
	if len(seen) != len(alive) {
		c.t.Fatalf("overlay split: %d of %d live nodes reachable", len(seen), len(alive))
	}
}

func (c *cluster) symmetry() (sym, total int) {
	for _, n := range c.alive() {
		for _, m := range c.nodes[n].st.ActiveNodes() {
			total++
			if c.nodes[m].st.IsActive(n) {
				sym++
			}
		}
	}
	return sym, total
}

func TestClusterThreeNodesExactViews(t *testing.T) {
	for seed := range uint64(20) {
		c := newCluster(t, seed, 3, DefaultConfig())
		a, b, cc := c.names[0], c.names[1], c.names[2]
		c.join(b, a)
		c.runUntil(c.now.Add(time.Second))
		c.join(cc, a)
		c.runUntil(t0.Add(2 * time.Minute))
		for _, n := range c.names {
			var others []etf.Atom
			for _, m := range c.names {
				if m != n {
					others = append(others, m)
				}
			}
			if got := c.nodes[n].st.ActiveNodes(); !slices.Equal(got, others) {
				t.Fatalf("seed %d: %s active %v, want %v", seed, n, got, others)
			}
		}
		c.checkOverlay()
	}
}

func TestClusterTwentyNodes(t *testing.T) {
	seeds := uint64(4)
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 1000))
		c := newCluster(t, seed, 20, DefaultConfig())
		for i := 1; i < len(c.names); i++ {
			c.join(c.names[i], c.names[r.IntN(i)])
			c.runUntil(c.now.Add(500 * time.Millisecond))
		}
		c.runUntil(t0.Add(3 * time.Minute))
		c.checkOverlay()
		sym, total := c.symmetry()
		t.Logf("seed %d after joins: %d/%d active links symmetric, %d sends (%d dropped)", seed, sym, total, c.sent, c.dropped)

		// Kill three nodes, one at a time, then let the overlay repair.
		for _, i := range r.Perm(len(c.names))[:3] {
			c.kill(c.names[i])
			c.runUntil(c.now.Add(10 * time.Second))
		}
		c.runUntil(c.now.Add(3 * time.Minute))
		c.checkOverlay()
		sym, total = c.symmetry()
		t.Logf("seed %d after 3 nodedowns: %d/%d symmetric", seed, sym, total)
	}
}

// TestClusterRestartsAndLoss restarts random nodes with empty views while 5%
// of messages are lost, then checks that the overlay heals: views within
// bounds, no dead or unlinked active entries, one connected overlay.
func TestClusterRestartsAndLoss(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 2000))
		c := newCluster(t, seed, 12, DefaultConfig())
		for i := 1; i < len(c.names); i++ {
			c.join(c.names[i], c.names[r.IntN(i)])
			c.runUntil(c.now.Add(500 * time.Millisecond))
		}
		c.runUntil(c.now.Add(time.Minute))
		c.loss, c.lossRng = 0.05, rand.New(rand.NewPCG(seed, 3000))
		for range 8 {
			i := 1 + r.IntN(len(c.names)-1)
			c.restart(c.names[i], c.names[0])
			c.runUntil(c.now.Add(7 * time.Second))
		}
		c.loss = 0
		c.runUntil(c.now.Add(3 * time.Minute))
		c.checkOverlay()
		sym, total := c.symmetry()
		t.Logf("seed %d: %d/%d active links symmetric, %d of %d sends dropped", seed, sym, total, c.dropped, c.sent)
	}
}
