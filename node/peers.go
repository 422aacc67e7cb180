package node

import (
	"slices"
	"strings"

	"github.com/barrelgo/barrelgo/etf"
)

// PeerInfo describes one established connection.
type PeerInfo struct {
	Name etf.Atom
	// Hidden is set for hidden peers, which Nodes leaves out.
	Hidden bool
}

// Peers lists every connected node, hidden ones included, sorted by name
// (erlang:nodes(connected) with each node's kind).
func (n *Node) Peers() []PeerInfo {
	n.mu.RLock()
	out := make([]PeerInfo, 0, len(n.peers))
	for name, p := range n.peers {
		out = append(out, PeerInfo{Name: name, Hidden: p.hidden})
	}
	n.mu.RUnlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
}
