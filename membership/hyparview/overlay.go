package hyparview

import "github.com/barrelgo/barrelgo/etf"

// Reachable returns the nodes reachable from from over active-view links,
// from included, given each node's active view. A link counts in both
// directions even when only one side holds it: messages flow both ways
// over the connection it stands for. Non-empty views do not make an
// overlay connected (it can settle as components whose views are all
// full), so checks of a running cluster compare len(Reachable) with its
// size.
func Reachable(views map[etf.Atom][]etf.Atom, from etf.Atom) map[etf.Atom]bool {
	adj := make(map[etf.Atom][]etf.Atom, len(views))
	for n, view := range views {
		for _, p := range view {
			adj[n] = append(adj[n], p)
			adj[p] = append(adj[p], n)
		}
	}
	seen := map[etf.Atom]bool{from: true}
	queue := []etf.Atom{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range adj[n] {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return seen
}
