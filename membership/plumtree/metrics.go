package plumtree

// Metric names of barrel_p2p (spec §7), emitted by the driver so dashboards
// work across languages. All are counters.
const (
	// MetricGossipSent grows by N per fan-out of N GOSSIP frames
	// (broadcast, forward, graft resend): count Send actions carrying a
	// Gossip. No attributes.
	MetricGossipSent = "barrel_p2p.plumtree.gossip.sent"
	// MetricGossipReceived counts every GOSSIP received, duplicates
	// included. Attribute LabelFrom = the Sender element.
	MetricGossipReceived = "barrel_p2p.plumtree.gossip.received"
	// MetricIHaveSent grows by N per IHAVE fan-out. No attributes.
	MetricIHaveSent = "barrel_p2p.plumtree.ihave.sent"
	// MetricGraftSent counts each GRAFT; attribute LabelPeer.
	MetricGraftSent = "barrel_p2p.plumtree.graft.sent"
	// MetricPruneSent counts each PRUNE; attribute LabelPeer.
	MetricPruneSent = "barrel_p2p.plumtree.prune.sent"
)

// Attribute keys of the metrics above; values are node names.
const (
	LabelFrom = "from"
	LabelPeer = "peer"
)
