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
