package membership

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
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

// initState is all the loop's handlers need: New runs it before the names
// peers send to exist and before node events are subscribed, so traffic
// from a peer that still counts this node as a neighbour (a membership
// restarted on a running node) can be handled before the overlay starts.
func TestHandlersNeedOnlyInitState(t *testing.T) {
	c := newTCPCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := node.Start(ctx, node.Options{Name: "init" + strconv.Itoa(int(time.Now().UnixNano()%100000)) + "@127.0.0.1",
		Cookie: "m", EPMDAddr: c.epmd, NoEmbeddedEPMD: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	p, err := n.NewProcess()
	if err != nil {
		t.Fatal(err)
	}
	hv, err := hyparview.New(hyparview.SelfPeer(n.Name(), netip.MustParseAddr("127.0.0.1"), 0), hyparview.DefaultConfig(), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	m := &Membership{n: n, main: p, hv: hv, log: slog.New(slog.DiscardHandler)}
	m.initState()
	now := time.Now()
	peer := etf.Atom("gone@127.0.0.1")
	gossip := plumtree.Gossip{ID: plumtree.BinaryID([]byte("id-1")), Tag: etf.Atom("probe"), Payload: etf.Atom("x"), Sender: peer}
	m.handleOther(now, inbound{name: plumtree.ProcessName, msg: plumtree.Envelope(gossip)})
	m.handleOther(now, inbound{name: "barrel_p2p_registry_replica", msg: registry.ReplicaEnvelope(registry.RequestSync{From: peer})})
	m.gcNodeEvent(now, nodeEvent{Kind: node.NodeUp, Node: peer})
	if _, ok := m.gc.born[peer]; !ok {
		t.Fatal("nodeup before start not tracked")
	}
}
