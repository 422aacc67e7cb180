package membership

import (
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/node"
)

// The node-event subscription starts before the membership's first turn,
// so a peer dialing in at that moment is handled before the GC has started:
// it must be tracked, keep its time, and not crash the loop on a map that
// does not exist yet.
func TestDistGCNodeUpBeforeStart(t *testing.T) {
	var m Membership
	t0 := time.Now()
	m.gcNodeEvent(t0, nodeEvent{Kind: node.NodeUp, Node: "early@127.0.0.1"})
	m.gcNodeEvent(t0.Add(time.Second), nodeEvent{Kind: node.NodeUp, Node: "early@127.0.0.1"})
	if born, ok := m.gc.born["early@127.0.0.1"]; !ok || !born.Equal(t0) {
		t.Fatalf("early nodeup: tracked %v since %v, want since %v", ok, born, t0)
	}
	m.gcNodeEvent(t0, nodeEvent{Kind: node.NodeDown, Node: "early@127.0.0.1"})
	if _, ok := m.gc.born["early@127.0.0.1"]; ok {
		t.Fatal("still tracked after nodedown")
	}
}
