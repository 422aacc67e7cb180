package sim

import (
	"slices"

	"github.com/barrelgo/barrelgo/etf"
)

// Overlay describes the active views of the live nodes taken as an
// undirected graph (an edge when either end holds the other).
type Overlay struct {
	Alive      int // live nodes
	Components int // connected components among them
	Largest    int // nodes in the largest component
	Isolated   int // live nodes with an empty active view
	// Asymmetric counts directed active entries whose reverse is missing.
	Asymmetric int
	// Stale counts active entries naming a dead node.
	Stale int
	// Unheld counts live nodes that no live node holds in its active view.
	// Unless they broadcast themselves, Plumtree never sends them anything
	// (neither GOSSIP nor IHAVE), however connected the undirected graph.
	Unheld int
}

// Connected reports whether every live node is in one component.
func (o Overlay) Connected() bool { return o.Alive > 0 && o.Components == 1 }

// Overlay computes the overlay graph from the event-mirrored active views.
// It is cheap enough to call every few virtual milliseconds.
func (s *Sim) Overlay() Overlay {
	var o Overlay
	adj := make([][]int32, len(s.nodes))
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		o.Alive++
		if len(n.activeIDs) == 0 {
			o.Isolated++
		}
		for _, p := range n.activeIDs {
			q := s.nodes[p]
			if !q.alive {
				o.Stale++
				continue
			}
			if !slices.Contains(q.activeIDs, int32(n.id)) {
				o.Asymmetric++
			}
			adj[n.id] = append(adj[n.id], p)
			adj[p] = append(adj[p], int32(n.id))
		}
	}
	held := make([]bool, len(s.nodes))
	for _, n := range s.nodes {
		if n.alive {
			for _, p := range n.activeIDs {
				held[p] = true
			}
		}
	}
	for _, n := range s.nodes {
		if n.alive && !held[n.id] {
			o.Unheld++
		}
	}
	seen := make([]bool, len(s.nodes))
	var stack []int32
	for _, n := range s.nodes {
		if !n.alive || seen[n.id] {
			continue
		}
		o.Components++
		size := 0
		seen[n.id] = true
		stack = append(stack[:0], int32(n.id))
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for _, w := range adj[v] {
				if !seen[w] && s.nodes[w].alive {
					seen[w] = true
					stack = append(stack, w)
				}
			}
		}
		o.Largest = max(o.Largest, size)
	}
	return o
}

// Views summarises the views as the state machines hold them.
type Views struct {
	MaxActive, MaxPassive   int
	MeanActive, MeanPassive float64
	// FullActive counts live nodes whose active view is full.
	FullActive int
	// MaxEager and MaxLazy are the largest Plumtree sets; they may hold
	// nodes outside the active view (membership.md §3.4).
	MaxEager, MaxLazy int
}

// CheckViews reads every live node's views from its state machines, records
// a violation for a view over its bound or an active view that differs from
// the one its events reported, and returns the summary.
func (s *Sim) CheckViews() Views {
	var v Views
	cfg := s.opts.HyParView
	live := 0
	var sumA, sumP int
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		live++
		active := n.hv.ActiveNodes()
		passive := n.hv.PassiveNodes()
		a, p := len(active), len(passive)
		if a > cfg.ActiveSize {
			s.violation("%s: active view of %d > %d", n.name, a, cfg.ActiveSize)
		}
		if p > cfg.PassiveSize {
			s.violation("%s: passive view of %d > %d", n.name, p, cfg.PassiveSize)
		}
		if !s.sameView(n, active) {
			s.violation("%s: active view %v differs from its events %v", n.name, active, n.ActiveIDs())
		}
		for _, x := range passive {
			if slices.Contains(active, x) {
				s.violation("%s: %s is both active and passive", n.name, x)
			}
		}
		if a == cfg.ActiveSize {
			v.FullActive++
		}
		v.MaxActive = max(v.MaxActive, a)
		v.MaxPassive = max(v.MaxPassive, p)
		sumA += a
		sumP += p
		st := n.pt.Stats()
		v.MaxEager = max(v.MaxEager, st.EagerPeers)
		v.MaxLazy = max(v.MaxLazy, st.LazyPeers)
	}
	if live > 0 {
		v.MeanActive = float64(sumA) / float64(live)
		v.MeanPassive = float64(sumP) / float64(live)
	}
	return v
}

func (s *Sim) sameView(n *Node, active []etf.Atom) bool {
	if len(active) != len(n.activeIDs) {
		return false
	}
	for _, a := range active {
		p := s.names[a]
		if p == nil || !slices.Contains(n.activeIDs, int32(p.id)) {
			return false
		}
	}
	return true
}

// Reach describes how far broadcasts can get along a directed graph over
// the live nodes: Plumtree pushes GOSSIP or IHAVE only from a node to the
// members of its eager and lazy sets, so a node nobody lists hears nothing
// it did not originate, however connected the undirected overlay looks.
type Reach struct {
	// Mean and Min are the fractions of live nodes reachable from sampled
	// origins: what a broadcast from a random origin can at best deliver.
	Mean, Min float64
	// Starved counts live nodes the largest strongly connected component
	// cannot reach.
	Starved int
}

// ActiveReach computes Reach on the active entries (holder to held), the
// sets Plumtree starts from.
func (s *Sim) ActiveReach(k int) Reach {
	return s.reach(k, func(v *Node, edge func(int32)) {
		for _, w := range v.activeIDs {
			edge(w)
		}
	})
}

// PushReach computes Reach on the Plumtree eager and lazy sets, which also
// hold nodes outside the active view that once sent GOSSIP or GRAFT.
func (s *Sim) PushReach(k int) Reach {
	return s.reach(k, func(v *Node, edge func(int32)) {
		for _, set := range [][]etf.Atom{v.pt.Eager(), v.pt.Lazy()} {
			for _, a := range set {
				if w := s.names[a]; w != nil {
					edge(int32(w.id))
				}
			}
		}
	})
}

func (s *Sim) reach(k int, edges func(v *Node, edge func(int32))) Reach {
	n := len(s.nodes)
	out := make([][]int32, n)
	rev := make([][]int32, n)
	var alive []*Node
	for _, v := range s.nodes {
		if !v.alive {
			continue
		}
		alive = append(alive, v)
		edges(v, func(w int32) {
			if s.nodes[w].alive {
				out[v.id] = append(out[v.id], w)
				rev[w] = append(rev[w], int32(v.id))
			}
		})
	}
	if len(alive) == 0 {
		return Reach{}
	}
	seen := make([]bool, n)
	var todo []int32
	from := func(roots []int32) int {
		clear(seen)
		todo = append(todo[:0], roots...)
		for _, r := range roots {
			seen[r] = true
		}
		count := len(roots)
		for len(todo) > 0 {
			v := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			for _, w := range out[v] {
				if !seen[w] {
					seen[w] = true
					count++
					todo = append(todo, w)
				}
			}
		}
		return count
	}
	r := Reach{Min: 1}
	k = max(1, min(k, len(alive)))
	for i := range k {
		f := float64(from([]int32{int32(alive[i*len(alive)/k].id)})) / float64(len(alive))
		r.Mean += f / float64(k)
		r.Min = min(r.Min, f)
	}
	big := s.largestSCC(alive, out, rev)
	r.Starved = len(alive) - from(big)
	return r
}

// largestSCC returns the members of the largest strongly connected
// component (Kosaraju: finishing order on the graph, then components on the
// reverse graph in decreasing finishing order).
func (s *Sim) largestSCC(alive []*Node, out, rev [][]int32) []int32 {
	n := len(s.nodes)
	order := make([]int32, 0, len(alive))
	seen := make([]bool, n)
	type frame struct{ v, i int32 }
	var stack []frame
	for _, v := range alive {
		if seen[v.id] {
			continue
		}
		seen[v.id] = true
		stack = append(stack[:0], frame{int32(v.id), 0})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if int(f.i) < len(out[f.v]) {
				w := out[f.v][f.i]
				f.i++
				if !seen[w] {
					seen[w] = true
					stack = append(stack, frame{w, 0})
				}
				continue
			}
			order = append(order, f.v)
			stack = stack[:len(stack)-1]
		}
	}
	comp := make([]int32, n)
	for i := range comp {
		comp[i] = -1
	}
	var best, cur []int32
	for i := len(order) - 1; i >= 0; i-- {
		if comp[order[i]] >= 0 {
			continue
		}
		c := order[i]
		comp[c] = c
		cur = append(cur[:0], c)
		for j := 0; j < len(cur); j++ {
			for _, w := range rev[cur[j]] {
				if comp[w] < 0 {
					comp[w] = c
					cur = append(cur, w)
				}
			}
		}
		if len(cur) > len(best) {
			best = append(best[:0], cur...)
		}
	}
	return best
}

// Hops returns the mean and the largest shortest-path length, in overlay
// hops, from up to k live nodes spread over the ids to every live node they
// reach in the undirected overlay. A random graph of the same degree would
// have a diameter of about log(n)/log(degree).
func (s *Sim) Hops(k int) (mean float64, longest int) {
	alive := s.Alive()
	if len(alive) == 0 || k <= 0 {
		return 0, 0
	}
	adj := make([][]int32, len(s.nodes))
	for _, n := range alive {
		for _, p := range n.activeIDs {
			if s.nodes[p].alive {
				adj[n.id] = append(adj[n.id], p)
				adj[p] = append(adj[p], int32(n.id))
			}
		}
	}
	dist := make([]int32, len(s.nodes))
	var sum, count int
	for i := range min(k, len(alive)) {
		src := alive[i*len(alive)/min(k, len(alive))]
		for j := range dist {
			dist[j] = -1
		}
		dist[src.id] = 0
		q := []int32{int32(src.id)}
		for len(q) > 0 {
			v := q[0]
			q = q[1:]
			for _, w := range adj[v] {
				if dist[w] < 0 {
					dist[w] = dist[v] + 1
					sum += int(dist[w])
					count++
					longest = max(longest, int(dist[w]))
					q = append(q, w)
				}
			}
		}
	}
	if count > 0 {
		mean = float64(sum) / float64(count)
	}
	return mean, longest
}
