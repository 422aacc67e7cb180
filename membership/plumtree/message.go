package plumtree

import (
	"errors"
	"fmt"

	"github.com/barrelgo/barrelgo/etf"
)

// Names of the wire protocol.
const (
	// ProcessName is the registered name every Plumtree message is sent to.
	ProcessName etf.Atom = "barrel_p2p_plumtree"
	// EnvelopeTag is the first element of {'$barrel_p2p_plumtree', Msg}.
	EnvelopeTag etf.Atom = "$barrel_p2p_plumtree"
)

const (
	atomGossip etf.Atom = "gossip"
	atomIHave  etf.Atom = "ihave"
	atomGraft  etf.Atom = "graft"
	atomPrune  etf.Atom = "prune"
)

// ErrMalformed is wrapped by every decoding error: the term does not have
// the exact shape barrel_p2p sends.
var ErrMalformed = errors.New("malformed plumtree message")

// Message is one of Gossip, IHave, Graft and Prune.
type Message interface {
	// Term returns the inner message tuple (without the envelope).
	Term() etf.Tuple
	// From returns the Sender element: the node that sent this message.
	From() etf.Atom
	isMessage()
}

// Gossip carries a broadcast body: {gossip, MsgId, Tag, Payload, Sender}.
// Sender is the immediate sender (each forwarder puts itself), not the
// originator. Tag and Payload are arbitrary terms relayed unchanged.
type Gossip struct {
	ID      ID
	Tag     etf.Term
	Payload etf.Term
	Sender  etf.Atom
}

// IHave announces that Sender has the body of ID: {ihave, MsgId, Sender}.
type IHave struct {
	ID     ID
	Sender etf.Atom
}

// Graft asks the receiver to resend ID and to push bodies to Sender again:
// {graft, MsgId, Sender}.
type Graft struct {
	ID     ID
	Sender etf.Atom
}

// Prune asks the receiver to stop pushing bodies to Sender: {prune, Sender}.
type Prune struct {
	Sender etf.Atom
}

func (Gossip) isMessage() {}
func (IHave) isMessage()  {}
func (Graft) isMessage()  {}
func (Prune) isMessage()  {}

// From returns the sender.
func (m Gossip) From() etf.Atom { return m.Sender }

// From returns the sender.
func (m IHave) From() etf.Atom { return m.Sender }

// From returns the sender.
func (m Graft) From() etf.Atom { return m.Sender }

// From returns the sender.
func (m Prune) From() etf.Atom { return m.Sender }

// Term returns {gossip, MsgId, Tag, Payload, Sender}.
func (m Gossip) Term() etf.Tuple {
	return etf.Tuple{atomGossip, m.ID.Term(), m.Tag, m.Payload, m.Sender}
}

// Term returns {ihave, MsgId, Sender}.
func (m IHave) Term() etf.Tuple { return etf.Tuple{atomIHave, m.ID.Term(), m.Sender} }

// Term returns {graft, MsgId, Sender}.
func (m Graft) Term() etf.Tuple { return etf.Tuple{atomGraft, m.ID.Term(), m.Sender} }

// Term returns {prune, Sender}.
func (m Prune) Term() etf.Tuple { return etf.Tuple{atomPrune, m.Sender} }

// Envelope returns the term to send to {barrel_p2p_plumtree, Node}:
// {'$barrel_p2p_plumtree', Msg}.
func Envelope(m Message) etf.Tuple { return etf.Tuple{EnvelopeTag, m.Term()} }

// DecodeEnvelope decodes {'$barrel_p2p_plumtree', Msg}, the term a
// REG_SEND to barrel_p2p_plumtree carries. Anything else is an error
// wrapping ErrMalformed; the Erlang receiver silently drops such terms, and
// so should the caller (after counting or logging it).
func DecodeEnvelope(t etf.Term) (Message, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 || tup[0] != EnvelopeTag {
		return nil, fmt.Errorf("plumtree: not a {'$barrel_p2p_plumtree', Msg} envelope: %w", ErrMalformed)
	}
	return DecodeMessage(tup[1])
}

// DecodeMessage decodes an inner message tuple.
func DecodeMessage(t etf.Term) (Message, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) == 0 {
		return nil, fmt.Errorf("plumtree: message is not a tagged tuple: %w", ErrMalformed)
	}
	kind, _ := tup[0].(etf.Atom)
	switch kind {
	case atomGossip:
		if len(tup) != 5 {
			return nil, arityErr(kind, len(tup), 5)
		}
		id, err := IDFromTerm(tup[1])
		if err != nil {
			return nil, err
		}
		s, err := sender(tup[4])
		if err != nil {
			return nil, err
		}
		return Gossip{ID: id, Tag: tup[2], Payload: tup[3], Sender: s}, nil
	case atomIHave, atomGraft:
		if len(tup) != 3 {
			return nil, arityErr(kind, len(tup), 3)
		}
		id, err := IDFromTerm(tup[1])
		if err != nil {
			return nil, err
		}
		s, err := sender(tup[2])
		if err != nil {
			return nil, err
		}
		if kind == atomIHave {
			return IHave{ID: id, Sender: s}, nil
		}
		return Graft{ID: id, Sender: s}, nil
	case atomPrune:
		if len(tup) != 2 {
			return nil, arityErr(kind, len(tup), 2)
		}
		s, err := sender(tup[1])
		if err != nil {
			return nil, err
		}
		return Prune{Sender: s}, nil
	}
	return nil, fmt.Errorf("plumtree: unknown message %s: %w", etf.Abbrev(tup[0]), ErrMalformed)
}

// sender accepts a non-empty node atom: the receiver sends replies to
// {barrel_p2p_plumtree, Sender}, which needs a node name.
func sender(t etf.Term) (etf.Atom, error) {
	a, ok := t.(etf.Atom)
	if !ok || a == "" {
		return "", fmt.Errorf("plumtree: sender %s is not a node atom: %w", etf.Abbrev(t), ErrMalformed)
	}
	return a, nil
}

func arityErr(kind etf.Atom, got, want int) error {
	return fmt.Errorf("plumtree: %s has %d elements, want %d: %w", kind, got, want, ErrMalformed)
}
