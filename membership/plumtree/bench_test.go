package plumtree_test

import (
	"encoding/binary"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

// BenchmarkReceiveGossip measures decoding plus handling of a new GOSSIP
// on a node with 5 neighbours.
func BenchmarkReceiveGossip(b *testing.B) {
	s := plumtree.New(plumtree.Config{Self: self}, []etf.Atom{"a@h", "b@h", "c@h", "d@h", "e@h"})
	payload := etf.Tuple{etf.Atom("delta"), etf.Atom("a@h"), etf.Map{{Key: etf.Atom("a@h"), Value: int64(1795696755255)}}}
	id := make([]byte, 32)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(id, uint64(i))
		term := etf.Tuple{plumtree.EnvelopeTag, etf.Tuple{etf.Atom("gossip"), id, etf.Atom("barrel_p2p_members_replica"), payload, etf.Atom("a@h")}}
		m, err := plumtree.DecodeEnvelope(term)
		if err != nil {
			b.Fatal(err)
		}
		s.Receive(t0, m)
	}
}
