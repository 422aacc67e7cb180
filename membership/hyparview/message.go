package hyparview

import (
	"errors"
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

// Wire names (membership.md §1.2, §2.4).
const (
	// BridgeName is the registered name every HyParView message is sent to,
	// as a REG_SEND with noconnect semantics.
	BridgeName etf.Atom = "barrel_p2p_bridge"
	// EnvelopeTag is the first element of {'$barrel_p2p_hyparview', FromNode, Msg}.
	EnvelopeTag etf.Atom = "$barrel_p2p_hyparview"
)

// Message tags.
const (
	tagJoin          etf.Atom = "join"
	tagForwardJoin   etf.Atom = "forward_join"
	tagNeighbor      etf.Atom = "neighbor"
	tagNeighborReply etf.Atom = "neighbor_reply"
	tagDisconnect    etf.Atom = "disconnect"
	tagShuffle       etf.Atom = "shuffle"
	tagShuffleReply  etf.Atom = "shuffle_reply"
)

// Bounds applied by the decoder. barrel_p2p uses TTLs of arwl = 6 and prwl = 3
// and samples of shuffle_length = 8 records; the bounds leave ample room for
// reconfigured clusters while refusing walks that would circulate for ever
// (a negative TTL is never decremented to 0) and oversized samples.
const (
	MaxTTL          = 255
	MaxMessagePeers = 256
)

// arities maps each message tag to its tuple size.
var arities = map[etf.Atom]int{
	tagJoin: 2, tagForwardJoin: 4, tagNeighbor: 3, tagNeighborReply: 3,
	tagDisconnect: 2, tagShuffle: 4, tagShuffleReply: 3,
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed HyParView term")

// Message is one of the seven HyParView messages: *Join, *ForwardJoin,
// *Neighbor, *NeighborReply, *Disconnect, *Shuffle, *ShuffleReply.
type Message interface {
	// From is the SenderPeer element: the immediate sender's Self record.
	From() Peer
	term() etf.Tuple
}

// Join is {join, SenderPeer}, sent by a joiner to its contact once connected.
type Join struct {
	Sender Peer
}

// ForwardJoin is {forward_join, NewPeer, TTL, SenderPeer}.
type ForwardJoin struct {
	New    Peer
	TTL    int
	Sender Peer
}

// Neighbor is {neighbor, high | low, SenderPeer}, a passive-view promotion request.
type Neighbor struct {
	Priority Priority
	Sender   Peer
}

// NeighborReply is {neighbor_reply, Accept, SenderPeer}.
type NeighborReply struct {
	Accept bool
	Sender Peer
}

// Disconnect is {disconnect, SenderPeer}: the sender dropped the receiver from
// its active view (eviction or leave). The dist channel stays open.
type Disconnect struct {
	Sender Peer
}

// Shuffle is {shuffle, TTL, Peers, SenderPeer}.
type Shuffle struct {
	TTL    int
	Peers  []Peer
	Sender Peer
}

// ShuffleReply is {shuffle_reply, Peers, SenderPeer}.
type ShuffleReply struct {
	Peers  []Peer
	Sender Peer
}

// From implements Message.
func (m *Join) From() Peer { return m.Sender }

// From implements Message.
func (m *ForwardJoin) From() Peer { return m.Sender }

// From implements Message.
func (m *Neighbor) From() Peer { return m.Sender }

// From implements Message.
func (m *NeighborReply) From() Peer { return m.Sender }

// From implements Message.
func (m *Disconnect) From() Peer { return m.Sender }

// From implements Message.
func (m *Shuffle) From() Peer { return m.Sender }

// From implements Message.
func (m *ShuffleReply) From() Peer { return m.Sender }

func (m *Join) term() etf.Tuple { return etf.Tuple{tagJoin, m.Sender.ToTerm()} }
func (m *ForwardJoin) term() etf.Tuple {
	return etf.Tuple{tagForwardJoin, m.New.ToTerm(), int64(m.TTL), m.Sender.ToTerm()}
}
func (m *Neighbor) term() etf.Tuple {
	return etf.Tuple{tagNeighbor, m.Priority.atom(), m.Sender.ToTerm()}
}
func (m *NeighborReply) term() etf.Tuple {
	return etf.Tuple{tagNeighborReply, boolAtom(m.Accept), m.Sender.ToTerm()}
}
func (m *Disconnect) term() etf.Tuple { return etf.Tuple{tagDisconnect, m.Sender.ToTerm()} }
func (m *Shuffle) term() etf.Tuple {
	return etf.Tuple{tagShuffle, int64(m.TTL), peersTerm(m.Peers), m.Sender.ToTerm()}
}
func (m *ShuffleReply) term() etf.Tuple {
	return etf.Tuple{tagShuffleReply, peersTerm(m.Peers), m.Sender.ToTerm()}
}

func peersTerm(ps []Peer) etf.Term {
	l := make(etf.List, len(ps))
	for i, p := range ps {
		l[i] = p.ToTerm()
	}
	return l
}

// Envelope is a decoded {'$barrel_p2p_hyparview', FromNode, Msg}. barrel_p2p
// ignores FromNode and acts on Msg.From().Node; so does State.
type Envelope struct {
	FromNode etf.Atom
	Msg      Message
}

// EncodeMessage returns the inner term of m, e.g. {join, SenderPeer}.
func EncodeMessage(m Message) etf.Term { return m.term() }

// EncodeEnvelope returns {'$barrel_p2p_hyparview', from, Msg}, the payload of
// a REG_SEND to {barrel_p2p_bridge, To}. from must be the sending node.
func EncodeEnvelope(from etf.Atom, m Message) etf.Term {
	return etf.Tuple{EnvelopeTag, from, m.term()}
}

// DecodeEnvelope validates and decodes a message received by barrel_p2p_bridge.
func DecodeEnvelope(t etf.Term) (Envelope, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != EnvelopeTag {
		return Envelope{}, fmt.Errorf("hyparview: %s is not a {'$barrel_p2p_hyparview', From, Msg} envelope: %w", short(t), ErrMalformed)
	}
	from, ok := tup[1].(etf.Atom)
	if !ok || from == "" {
		return Envelope{}, fmt.Errorf("hyparview: envelope sender %s is not a node atom: %w", short(tup[1]), ErrMalformed)
	}
	m, err := DecodeMessage(tup[2])
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{FromNode: from, Msg: m}, nil
}

// DecodeMessage validates and decodes the inner HyParView message. Unknown
// tags, wrong arities, wrong element types, TTLs outside 0..MaxTTL and peer
// lists longer than MaxMessagePeers are errors wrapping ErrMalformed.
func DecodeMessage(t etf.Term) (Message, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) < 2 {
		return nil, fmt.Errorf("hyparview: message %s is not a tagged tuple: %w", short(t), ErrMalformed)
	}
	tag, _ := tup[0].(etf.Atom)
	arity := arities[tag]
	if arity == 0 {
		return nil, fmt.Errorf("hyparview: unknown message tag %s: %w", short(tup[0]), ErrMalformed)
	}
	if len(tup) != arity {
		return nil, fmt.Errorf("hyparview: %s message has %d elements, want %d: %w", tag, len(tup), arity, ErrMalformed)
	}
	sender, err := PeerFromTerm(tup[arity-1])
	if err != nil {
		return nil, fmt.Errorf("hyparview: %s sender: %w", tag, err)
	}
	switch tag {
	case tagJoin:
		return &Join{Sender: sender}, nil
	case tagDisconnect:
		return &Disconnect{Sender: sender}, nil
	case tagForwardJoin:
		np, err := PeerFromTerm(tup[1])
		if err != nil {
			return nil, fmt.Errorf("hyparview: forward_join new peer: %w", err)
		}
		ttl, err := ttlFromTerm(tup[2])
		if err != nil {
			return nil, err
		}
		return &ForwardJoin{New: np, TTL: ttl, Sender: sender}, nil
	case tagNeighbor:
		prio, err := priorityFromTerm(tup[1])
		if err != nil {
			return nil, fmt.Errorf("hyparview: neighbor: %w", err)
		}
		return &Neighbor{Priority: prio, Sender: sender}, nil
	case tagNeighborReply:
		var accept bool
		switch tup[1] {
		case atomTrue:
			accept = true
		case atomFalse:
		default:
			return nil, fmt.Errorf("hyparview: neighbor_reply accept %s is not a boolean: %w", short(tup[1]), ErrMalformed)
		}
		return &NeighborReply{Accept: accept, Sender: sender}, nil
	case tagShuffle:
		ttl, err := ttlFromTerm(tup[1])
		if err != nil {
			return nil, err
		}
		ps, err := peersFromTerm(tup[2])
		if err != nil {
			return nil, err
		}
		return &Shuffle{TTL: ttl, Peers: ps, Sender: sender}, nil
	default: // tagShuffleReply
		ps, err := peersFromTerm(tup[1])
		if err != nil {
			return nil, err
		}
		return &ShuffleReply{Peers: ps, Sender: sender}, nil
	}
}

func ttlFromTerm(t etf.Term) (int, error) {
	v, ok := t.(int64)
	if !ok || v < 0 || v > MaxTTL {
		return 0, fmt.Errorf("hyparview: TTL %s is not an integer in 0..%d: %w", short(t), MaxTTL, ErrMalformed)
	}
	return int(v), nil
}

func peersFromTerm(t etf.Term) ([]Peer, error) {
	var l etf.List
	switch v := t.(type) {
	case nil:
	case etf.List:
		l = v
	default:
		return nil, fmt.Errorf("hyparview: peer list %s is not a proper list: %w", short(t), ErrMalformed)
	}
	if len(l) > MaxMessagePeers {
		return nil, fmt.Errorf("hyparview: peer list has %d records, limit %d: %w", len(l), MaxMessagePeers, ErrMalformed)
	}
	ps := make([]Peer, len(l))
	for i, e := range l {
		p, err := PeerFromTerm(e)
		if err != nil {
			return nil, fmt.Errorf("hyparview: peer list element %d: %w", i, err)
		}
		ps[i] = p
	}
	return ps, nil
}
