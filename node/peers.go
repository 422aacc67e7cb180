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
	// MessagesIn and MessagesOut count this connection's distribution
	// messages so far (see Stats).
	MessagesIn, MessagesOut uint64
}

// Stats counts distribution messages over every connection this node has
// had, closed ones included: every control message, signals included
// (links, monitors, exits, spawn requests), not ticks. A fragmented
// message counts once.
type Stats struct {
	MessagesIn  uint64 // received and dispatched
	MessagesOut uint64 // handed to a connection for writing
}

// Stats returns the node's message counts; both only grow.
func (n *Node) Stats() Stats {
	n.mu.RLock()
	defer n.mu.RUnlock()
	st := n.gone
	for _, p := range n.peers {
		c := p.conn.Stats()
		st.MessagesIn += c.MessagesIn
		st.MessagesOut += c.MessagesOut
	}
	return st
}

// Peers lists every connected node, hidden ones included, sorted by name
// (erlang:nodes(connected) with each node's kind).
func (n *Node) Peers() []PeerInfo {
	n.mu.RLock()
	out := make([]PeerInfo, 0, len(n.peers))
	for name, p := range n.peers {
		st := p.conn.Stats()
		out = append(out, PeerInfo{Name: name, Hidden: p.hidden, MessagesIn: st.MessagesIn, MessagesOut: st.MessagesOut})
	}
	n.mu.RUnlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(string(a.Name), string(b.Name)) })
	return out
}
