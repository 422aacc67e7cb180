package hyparview

import (
	"fmt"
	"math/big"
	"net/netip"

	"github.com/barrelgo/barrelgo/etf"
)

// Atoms of the wire format.
const (
	atomPeer  etf.Atom = "peer"
	atomHigh  etf.Atom = "high"
	atomLow   etf.Atom = "low"
	atomTrue           = etf.AtomTrue
	atomFalse          = etf.AtomFalse
	atomUndef          = etf.AtomUndefined
)

// Priority is the NEIGHBOR priority (and the advisory #peer.priority field).
type Priority uint8

const (
	// PriorityLow is asked by a node that still has active neighbours; the
	// receiver accepts only if its active view has room.
	PriorityLow Priority = iota
	// PriorityHigh is asked by a node whose active view is empty; the
	// receiver always accepts.
	PriorityHigh
)

// String returns the Erlang atom text of p.
func (p Priority) String() string {
	if p == PriorityHigh {
		return string(atomHigh)
	}
	return string(atomLow)
}

func (p Priority) atom() etf.Atom {
	if p == PriorityHigh {
		return atomHigh
	}
	return atomLow
}

func priorityFromTerm(t etf.Term) (Priority, error) {
	switch t {
	case atomHigh:
		return PriorityHigh, nil
	case atomLow:
		return PriorityLow, nil
	}
	return 0, fmt.Errorf("priority %s is not high or low: %w", short(t), ErrMalformed)
}

// OptInt is an Erlang "integer() | undefined" field. The zero value is
// undefined.
type OptInt struct {
	Value int64
	Valid bool
}

// Int returns a defined OptInt.
func Int(v int64) OptInt { return OptInt{Value: v, Valid: true} }

func (o OptInt) term() etf.Term {
	if !o.Valid {
		return atomUndef
	}
	return o.Value
}

// optIntFromTerm accepts an int64-sized integer or the atom undefined.
func optIntFromTerm(t etf.Term) (OptInt, bool) {
	switch v := t.(type) {
	case int64:
		return Int(v), true
	case etf.Atom:
		if v == atomUndef {
			return OptInt{}, true
		}
	}
	return OptInt{}, false
}

// Peer is barrel_p2p's #peer{} record, on the wire the 10-tuple
// {peer, Id, Address, Port, QuicPort, Connected, Priority, LastSeen,
// FailCount, BackoffUntil} (membership.md §2.1). Only Node is ever used for
// decisions; every other field is advisory and, when received, meaningless
// outside the sender (LastSeen and BackoffUntil are the sender's monotonic
// clock readings).
type Peer struct {
	// Node is the peer's node name, the only field used for addressing.
	Node etf.Atom
	// Address is the advertised IP; the zero Addr encodes as undefined. IPv4
	// addresses encode as {A,B,C,D}, all others as the 8-tuple of 16-bit words.
	Address netip.Addr
	// Port is the advertised listen port.
	Port OptInt
	// QuicPort is never set by barrel_p2p (always undefined there).
	QuicPort OptInt
	// Connected is true in Self records and for active-view entries.
	Connected bool
	// Priority is stored by barrel_p2p but never used for decisions.
	Priority Priority
	// LastSeen is the sender's freshness hint; the Go node sends undefined.
	LastSeen OptInt
	// FailCount is the sender's connect-failure count; the Go node sends 0.
	FailCount int64
	// BackoffUntil is the sender's backoff deadline; the Go node sends undefined.
	BackoffUntil OptInt
}

// SelfPeer returns the Self record a node advertises about itself, with the
// values barrel_p2p puts in its own (connected, high priority, no failure
// state). A zero addr or port < 0 encodes as undefined.
func SelfPeer(node etf.Atom, addr netip.Addr, port int) Peer {
	p := Peer{Node: node, Address: addr, Connected: true, Priority: PriorityHigh}
	if port >= 0 {
		p.Port = Int(int64(port))
	}
	return p
}

// makePeer is barrel_p2p's make_peer/1 for a node known only by name, minus
// the native-unit last_seen (quirk Q5: the Go node keeps freshness locally).
func makePeer(node etf.Atom) Peer {
	return Peer{Node: node, Connected: true, Priority: PriorityLow}
}

// sanitized returns p as the Go node emits records about other nodes: the
// sender-local failure and freshness fields are reset so the receiver never
// inherits them (membership.md §2.1 "Go rules").
func (p Peer) sanitized() Peer {
	p.LastSeen = OptInt{}
	p.FailCount = 0
	p.BackoffUntil = OptInt{}
	return p
}

// ToTerm returns the 10-tuple wire form of p.
func (p Peer) ToTerm() etf.Term {
	return etf.Tuple{
		atomPeer,
		p.Node,
		addrTerm(p.Address),
		p.Port.term(),
		p.QuicPort.term(),
		boolAtom(p.Connected),
		p.Priority.atom(),
		p.LastSeen.term(),
		p.FailCount,
		p.BackoffUntil.term(),
	}
}

// PeerFromTerm decodes a #peer{} 10-tuple. The record tag, the arity, the node
// atom, connected, priority, last_seen, fail_count and backoff_until must have
// the types barrel_p2p gives them. Address, port and quic_port are
// informational only and barrel_p2p never reads them, so a value of another
// shape is tolerated and decoded as undefined (membership.md §2.1: "Tolerate
// address/port being undefined or arbitrary").
func PeerFromTerm(t etf.Term) (Peer, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 10 || tup[0] != atomPeer {
		return Peer{}, fmt.Errorf("hyparview: %s is not a 10-field #peer{} record: %w", short(t), ErrMalformed)
	}
	var p Peer
	node, ok := tup[1].(etf.Atom)
	if !ok || node == "" {
		return Peer{}, fmt.Errorf("hyparview: #peer.id %s is not a node atom: %w", short(tup[1]), ErrMalformed)
	}
	p.Node = node
	p.Address, _ = addrFromTerm(tup[2])
	p.Port, _ = optIntFromTerm(tup[3])
	p.QuicPort, _ = optIntFromTerm(tup[4])
	switch tup[5] {
	case atomTrue:
		p.Connected = true
	case atomFalse:
	default:
		return Peer{}, fmt.Errorf("hyparview: #peer.connected %s is not a boolean: %w", short(tup[5]), ErrMalformed)
	}
	var err error
	if p.Priority, err = priorityFromTerm(tup[6]); err != nil {
		return Peer{}, fmt.Errorf("hyparview: #peer.%w", err)
	}
	if p.LastSeen, ok = optIntFromTerm(tup[7]); !ok {
		return Peer{}, fmt.Errorf("hyparview: #peer.last_seen %s is not an integer or undefined: %w", short(tup[7]), ErrMalformed)
	}
	fc, ok := tup[8].(int64)
	if !ok || fc < 0 {
		return Peer{}, fmt.Errorf("hyparview: #peer.fail_count %s is not a non-negative integer: %w", short(tup[8]), ErrMalformed)
	}
	p.FailCount = fc
	if p.BackoffUntil, ok = optIntFromTerm(tup[9]); !ok {
		return Peer{}, fmt.Errorf("hyparview: #peer.backoff_until %s is not an integer or undefined: %w", short(tup[9]), ErrMalformed)
	}
	return p, nil
}

func boolAtom(b bool) etf.Atom {
	if b {
		return atomTrue
	}
	return atomFalse
}

func addrTerm(a netip.Addr) etf.Term {
	switch {
	case !a.IsValid():
		return atomUndef
	case a.Is4():
		b := a.As4()
		return etf.Tuple{int64(b[0]), int64(b[1]), int64(b[2]), int64(b[3])}
	default:
		b := a.As16()
		t := make(etf.Tuple, 8)
		for i := range t {
			t[i] = int64(b[2*i])<<8 | int64(b[2*i+1])
		}
		return t
	}
}

// addrFromTerm decodes an inet:ip_address() tuple; anything else (including
// undefined) yields the zero Addr and false.
func addrFromTerm(t etf.Term) (netip.Addr, bool) {
	tup, ok := t.(etf.Tuple)
	if !ok {
		return netip.Addr{}, false
	}
	switch len(tup) {
	case 4:
		var b [4]byte
		for i, e := range tup {
			v, ok := e.(int64)
			if !ok || v < 0 || v > 0xFF {
				return netip.Addr{}, false
			}
			b[i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	case 8:
		var b [16]byte
		for i, e := range tup {
			v, ok := e.(int64)
			if !ok || v < 0 || v > 0xFFFF {
				return netip.Addr{}, false
			}
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// short renders a term for an error message, bounded so that a hostile
// message cannot blow up logs.
func short(t etf.Term) string {
	switch v := t.(type) {
	case etf.Atom:
		return fmt.Sprintf("%q", clip(string(v)))
	case int64:
		return fmt.Sprint(v)
	case *big.Int:
		return "bignum"
	case etf.Tuple:
		return fmt.Sprintf("%d-tuple", len(v))
	case etf.List:
		return fmt.Sprintf("%d-element list", len(v))
	}
	return fmt.Sprintf("%T", t)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
