package hyparview

import (
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// Action is an effect State asks its driver to perform: Send, Connect,
// SetTimer, Event or PendingTimeout. Actions are returned in the order they
// must be performed.
type Action interface{ isAction() }

// Send asks the driver to REG_SEND EncodeEnvelope(self, Msg) to
// {barrel_p2p_bridge, To} with noconnect semantics: when no distribution
// channel to To exists, the message is dropped silently (membership.md §1.2).
type Send struct {
	To  etf.Atom
	Msg Message
}

// Connect asks the driver to establish a distribution channel to Node (or
// notice that one exists) and then to call State.ConnectResult exactly once
// with the outcome. The driver also reports every visible nodeup and nodedown
// (State.NodeUp, State.NodeDown) whether or not it was asked to connect.
type Connect struct {
	Node etf.Atom
}

// SetTimer asks the driver to call State.TimerFired(Timer) after After.
// Timers are never cancelled: State ignores a timer that is no longer
// current, so the driver needs no bookkeeping beyond scheduling.
type SetTimer struct {
	Timer Timer
	After time.Duration
}

// Event is a membership event for local subscribers (barrel_p2p's
// {barrel_p2p_event, Event}); each one also increments the matching metric.
type Event struct {
	Type EventType
	// Node is the peer for PeerUp and PeerDown; empty for Left.
	Node etf.Atom
	// Reason is set for PeerDown.
	Reason Reason
}

// PendingTimeout reports that a pending join, connect or neighbor attempt hit
// the PendingTimeout backstop. It feeds the
// barrel_p2p.hyparview.pending_timeout{peer} metric only; barrel_p2p does not
// notify subscribers of it.
type PendingTimeout struct {
	Node etf.Atom
	Kind PendingKind
}

// Metric returns the name of the counter the event increments (§7).
func (e Event) Metric() string {
	switch e.Type {
	case EventPeerUp:
		return MetricPeerUp
	case EventPeerDown:
		return MetricPeerDown
	case EventLeft:
		return MetricLeft
	}
	return ""
}

func (Send) isAction()           {}
func (Connect) isAction()        {}
func (SetTimer) isAction()       {}
func (Event) isAction()          {}
func (PendingTimeout) isAction() {}

// EventType is the kind of an Event.
type EventType uint8

const (
	// EventPeerUp is {peer_up, Node}: Node entered the active view.
	EventPeerUp EventType = iota + 1
	// EventPeerDown is {peer_down, Node, Reason}: Node left the active view.
	EventPeerDown
	// EventLeft is the atom left, emitted by Leave.
	EventLeft
)

// String returns the Erlang tag of the event.
func (t EventType) String() string {
	switch t {
	case EventPeerUp:
		return "peer_up"
	case EventPeerDown:
		return "peer_down"
	case EventLeft:
		return "left"
	}
	return "unknown"
}

// Reason is the third element of {peer_down, Node, Reason}; its text is the
// Erlang atom and the value of the metric's reason label.
type Reason string

// barrel_p2p's peer_down reasons (membership.md §2.12).
const (
	// ReasonNodedown: the distribution channel to an active peer went down.
	ReasonNodedown Reason = "nodedown"
	// ReasonConnectFailed: a connect attempt to an active peer failed.
	ReasonConnectFailed Reason = "connect_failed"
	// ReasonGraceful: the peer sent DISCONNECT, or the local node left.
	ReasonGraceful Reason = "graceful"
	// ReasonDropped: evicted to make room in a full active view.
	ReasonDropped Reason = "dropped"
	// ReasonBlocked: removed by Block.
	ReasonBlocked Reason = "blocked"
)

// TimerKind identifies what a Timer is for.
type TimerKind uint8

const (
	// TimerShuffle is the adaptive shuffle tick (barrel_p2p_hyparview_shuffle).
	TimerShuffle TimerKind = iota + 1
	// TimerCleanup is the passive aging tick (barrel_p2p_hyparview_cleanup).
	TimerCleanup
	// TimerContact is the bootstrap tick (barrel_p2p_bootstrap).
	TimerContact
	// TimerPending is the backstop of one pending attempt; Node is set.
	TimerPending
)

// String names the timer kind.
func (k TimerKind) String() string {
	switch k {
	case TimerShuffle:
		return "shuffle"
	case TimerCleanup:
		return "cleanup"
	case TimerContact:
		return "contact"
	case TimerPending:
		return "pending"
	}
	return "unknown"
}

// Timer identifies one armed timer. It is comparable; Seq makes every arming
// distinct so that State can recognise stale firings.
type Timer struct {
	Kind TimerKind
	Node etf.Atom
	Seq  uint64
}

// PendingKind is the kind of a pending attempt (the Kind of barrel_p2p's
// pending map entries).
type PendingKind uint8

const (
	// PendingJoin: connecting to a contact; JOIN is sent once connected.
	PendingJoin PendingKind = iota + 1
	// PendingConnect: connecting to a joiner accepted from FORWARD_JOIN.
	PendingConnect
	// PendingNeighbor: promoting a passive entry; NEIGHBOR is sent once
	// connected and the entry lasts until NEIGHBOR_REPLY.
	PendingNeighbor
)

// String returns the Erlang atom of the kind.
func (k PendingKind) String() string {
	switch k {
	case PendingJoin:
		return "join"
	case PendingConnect:
		return "connect"
	case PendingNeighbor:
		return "neighbor"
	}
	return "unknown"
}

// Metric names and label keys (membership.md §7). The runtime exports them;
// Joined and Shuffle are defined by barrel_p2p but never emitted.
const (
	MetricPeerUp         = "barrel_p2p.hyparview.peer_up"
	MetricPeerDown       = "barrel_p2p.hyparview.peer_down"
	MetricLeft           = "barrel_p2p.hyparview.left"
	MetricJoined         = "barrel_p2p.hyparview.joined"
	MetricShuffle        = "barrel_p2p.hyparview.shuffle"
	MetricPendingTimeout = "barrel_p2p.hyparview.pending_timeout"

	LabelPeer   = "peer"
	LabelReason = "reason"
	LabelTarget = "target"
)
