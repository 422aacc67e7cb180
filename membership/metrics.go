package membership

import (
	"strings"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are membership's Prometheus instruments, named after barrel_p2p's
// (barrel_p2p.hyparview.peer_up becomes barrel_p2p_hyparview_peer_up_total).
// A nil *Metrics records nothing.
type Metrics struct {
	peerUp          prometheus.Counter
	peerDown        *prometheus.CounterVec
	left            prometheus.Counter
	pendingTimeouts prometheus.Counter
	malformedMsgs   *prometheus.CounterVec
	deliveries      prometheus.Counter
	reaps           *prometheus.CounterVec
	gossipSent      prometheus.Counter
	gossipReceived  *prometheus.CounterVec
	ihaveSent       prometheus.Counter
	graftSent       *prometheus.CounterVec
	pruneSent       *prometheus.CounterVec
}

// promName turns a barrel_p2p counter name into its Prometheus form.
func promName(instrument string) string {
	return strings.ReplaceAll(instrument, ".", "_") + "_total"
}

// NewMetrics creates and registers the instruments on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		peerUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "barrel_p2p_hyparview_peer_up_total",
			Help: "Peers that entered the active view (barrel_p2p.hyparview.peer_up)."}),
		peerDown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "barrel_p2p_hyparview_peer_down_total",
			Help: "Peers that left the active view, by reason (barrel_p2p.hyparview.peer_down)."}, []string{"reason"}),
		left: prometheus.NewCounter(prometheus.CounterOpts{Name: "barrel_p2p_hyparview_left_total",
			Help: "Graceful leaves of this node."}),
		pendingTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "barrel_p2p_hyparview_pending_timeout_total",
			Help: "Pending join, connect or neighbor attempts that timed out (barrel_p2p.hyparview.pending_timeout)."}),
		malformedMsgs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "barrelgo_membership_malformed_messages_total",
			Help: "Membership messages dropped because they did not decode, by target name."}, []string{"name"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "barrel_p2p_plumtree_delivered_total",
			Help: "Broadcasts delivered to this node (barrel_p2p.plumtree.delivered)."}),
		reaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "barrel_p2p_dist_gc_reap_total",
			Help: "Idle dist channels closed by the GC, by peer (barrel_p2p.dist_gc.reap)."}, []string{"peer"}),
		gossipSent: prometheus.NewCounter(prometheus.CounterOpts{Name: promName(plumtree.MetricGossipSent),
			Help: "GOSSIP frames sent: broadcasts, forwards and graft resends (" + plumtree.MetricGossipSent + ")."}),
		gossipReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(plumtree.MetricGossipReceived),
			Help: "GOSSIP frames received, duplicates included, by sender (" + plumtree.MetricGossipReceived + ")."}, []string{plumtree.LabelFrom}),
		ihaveSent: prometheus.NewCounter(prometheus.CounterOpts{Name: promName(plumtree.MetricIHaveSent),
			Help: "IHAVE announcements sent (" + plumtree.MetricIHaveSent + ")."}),
		graftSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(plumtree.MetricGraftSent),
			Help: "GRAFT requests sent, by peer (" + plumtree.MetricGraftSent + ")."}, []string{plumtree.LabelPeer}),
		pruneSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(plumtree.MetricPruneSent),
			Help: "PRUNE requests sent, by peer (" + plumtree.MetricPruneSent + ")."}, []string{plumtree.LabelPeer}),
	}
	if reg != nil {
		reg.MustRegister(m.peerUp, m.peerDown, m.left, m.pendingTimeouts, m.malformedMsgs, m.deliveries, m.reaps,
			m.gossipSent, m.gossipReceived, m.ihaveSent, m.graftSent, m.pruneSent)
	}
	return m
}

func (m *Metrics) hyparviewEvent(e hyparview.Event) {
	if m == nil {
		return
	}
	switch e.Type {
	case hyparview.EventPeerUp:
		m.peerUp.Inc()
	case hyparview.EventPeerDown:
		m.peerDown.WithLabelValues(string(e.Reason)).Inc()
	case hyparview.EventLeft:
		m.left.Inc()
	}
}

func (m *Metrics) pendingTimeout() {
	if m != nil {
		m.pendingTimeouts.Inc()
	}
}

func (m *Metrics) malformed(name etf.Atom) {
	if m != nil {
		m.malformedMsgs.WithLabelValues(string(name)).Inc()
	}
}

func (m *Metrics) delivered() {
	if m != nil {
		m.deliveries.Inc()
	}
}

// plumtreeSent counts a Plumtree message sent to peer.
func (m *Metrics) plumtreeSent(peer etf.Atom, msg plumtree.Message) {
	if m == nil {
		return
	}
	switch msg.(type) {
	case plumtree.Gossip:
		m.gossipSent.Inc()
	case plumtree.IHave:
		m.ihaveSent.Inc()
	case plumtree.Graft:
		m.graftSent.WithLabelValues(string(peer)).Inc()
	case plumtree.Prune:
		m.pruneSent.WithLabelValues(string(peer)).Inc()
	}
}

// plumtreeReceived counts a Plumtree message received.
func (m *Metrics) plumtreeReceived(msg plumtree.Message) {
	if m == nil {
		return
	}
	if g, ok := msg.(plumtree.Gossip); ok {
		m.gossipReceived.WithLabelValues(string(g.Sender)).Inc()
	}
}

func (m *Metrics) reaped(peer etf.Atom) {
	if m != nil {
		m.reaps.WithLabelValues(string(peer)).Inc()
	}
}
