package membership

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Each Plumtree message sent or received moves barrel_p2p's counter for
// it, under barrel_p2p's name.
func TestPlumtreeCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	id := plumtree.NewID("a@h", 1, 0, 7)
	peer := etf.Atom("p@h")
	m.plumtreeSent(peer, plumtree.Gossip{ID: id, Tag: etf.Atom("t"), Payload: int64(1), Sender: "a@h"})
	m.plumtreeSent(peer, plumtree.Gossip{ID: id, Tag: etf.Atom("t"), Payload: int64(1), Sender: "a@h"})
	m.plumtreeSent(peer, plumtree.IHave{ID: id, Sender: "a@h"})
	m.plumtreeSent(peer, plumtree.Graft{ID: id, Sender: "a@h"})
	m.plumtreeSent(peer, plumtree.Prune{Sender: "a@h"})
	m.plumtreeSent(peer, plumtree.Prune{Sender: "a@h"})
	m.plumtreeReceived(plumtree.Gossip{ID: id, Sender: "s@h"})
	m.plumtreeReceived(plumtree.IHave{ID: id, Sender: "s@h"})
	want := `
# HELP barrel_p2p_plumtree_gossip_received_total GOSSIP frames received, duplicates included, by sender (barrel_p2p.plumtree.gossip.received).
# TYPE barrel_p2p_plumtree_gossip_received_total counter
barrel_p2p_plumtree_gossip_received_total{from="s@h"} 1
# HELP barrel_p2p_plumtree_gossip_sent_total GOSSIP frames sent: broadcasts, forwards and graft resends (barrel_p2p.plumtree.gossip.sent).
# TYPE barrel_p2p_plumtree_gossip_sent_total counter
barrel_p2p_plumtree_gossip_sent_total 2
# HELP barrel_p2p_plumtree_graft_sent_total GRAFT requests sent, by peer (barrel_p2p.plumtree.graft.sent).
# TYPE barrel_p2p_plumtree_graft_sent_total counter
barrel_p2p_plumtree_graft_sent_total{peer="p@h"} 1
# HELP barrel_p2p_plumtree_ihave_sent_total IHAVE announcements sent (barrel_p2p.plumtree.ihave.sent).
# TYPE barrel_p2p_plumtree_ihave_sent_total counter
barrel_p2p_plumtree_ihave_sent_total 1
# HELP barrel_p2p_plumtree_prune_sent_total PRUNE requests sent, by peer (barrel_p2p.plumtree.prune.sent).
# TYPE barrel_p2p_plumtree_prune_sent_total counter
barrel_p2p_plumtree_prune_sent_total{peer="p@h"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"barrel_p2p_plumtree_gossip_received_total", "barrel_p2p_plumtree_gossip_sent_total",
		"barrel_p2p_plumtree_graft_sent_total", "barrel_p2p_plumtree_ihave_sent_total",
		"barrel_p2p_plumtree_prune_sent_total"); err != nil {
		t.Fatal(err)
	}
	var none *Metrics // records nothing, and does not panic
	none.plumtreeSent(peer, plumtree.Prune{})
	none.plumtreeReceived(plumtree.Gossip{})
}

// On running nodes: a broadcast moves the sender's gossip_sent and the
// receiver's gossip_received and delivered.
func TestPlumtreeCountersOnTheWire(t *testing.T) {
	c := newTCPCluster(t)
	suffix := strconv.Itoa(int(time.Now().UnixNano() % 100000))
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, ma := c.startWith("pma"+suffix, func(cfg *Config) { cfg.Metrics = NewMetrics(regA) })
	b, mb := c.startWith("pmb"+suffix, func(cfg *Config) { cfg.Metrics = NewMetrics(regB) }, a.Name())
	eventually(t, "two-node view", func() (bool, string) {
		av := ma.ActiveView()
		return slices.Contains(av, b.Name()), fmt.Sprint(av)
	})
	got := make(chan struct{}, 1)
	defer mb.SubscribeBroadcast(etf.Atom("m"), func(etf.Atom, etf.Term) { got <- struct{}{} })()
	sentBefore := testutil.ToFloat64(ma.cfg.Metrics.gossipSent)
	if err := ma.Broadcast(etf.Atom("m"), etf.Atom("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("broadcast never arrived")
	}
	if d := testutil.ToFloat64(ma.cfg.Metrics.gossipSent) - sentBefore; d < 1 {
		t.Errorf("sender's gossip_sent grew by %v", d)
	}
	if v := testutil.ToFloat64(mb.cfg.Metrics.gossipReceived.WithLabelValues(string(a.Name()))); v < 1 {
		t.Errorf("receiver's gossip_received{from=%s} = %v", a.Name(), v)
	}
	if v := testutil.ToFloat64(mb.cfg.Metrics.deliveries); v < 1 {
		t.Errorf("receiver's delivered = %v", v)
	}
}
