package registry

import (
	"errors"
	"fmt"
	"strings"

	"github.com/barrelgo/barrelgo/etf"
)

// Wire names.
const (
	// RegistryReplica is the registered name of the registry's replica
	// instance and the Plumtree tag of its deltas.
	RegistryReplica etf.Atom = "barrel_p2p_registry_replica"
	// LeaderReplica, MembersReplica and ReminderReplica are the other
	// default replica instances; a Go node must accept and drop their
	// full_sync/request_sync and relay their gossip.
	LeaderReplica   etf.Atom = "barrel_p2p_leader_replica"
	MembersReplica  etf.Atom = "barrel_p2p_members_replica"
	ReminderReplica etf.Atom = "barrel_p2p_reminder_replica"
	// MapReplicaPrefix prefixes the instance of each replicated map:
	// 'barrel_p2p_map_replica$<MapName>'.
	MapReplicaPrefix = "barrel_p2p_map_replica$"
	// ReplicaEnvelopeTag is the first element of {'$barrel_p2p_replica', Msg}.
	ReplicaEnvelopeTag etf.Atom = "$barrel_p2p_replica"
)

const (
	atomDelta       etf.Atom = "delta"
	atomCustom      etf.Atom = "custom"
	atomFullSync    etf.Atom = "full_sync"
	atomRequestSync etf.Atom = "request_sync"
)

// Bounds on peer-supplied maps, checked before any per-entry work.
const (
	// MaxItems bounds the entries of one delta or snapshot.
	MaxItems = 1 << 16
	// MaxDots bounds the dots of one value entry.
	MaxDots = 1 << 10
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed registry message")

// IsReplicaInstance reports whether name is one of barrel_p2p's replica
// instance names, all of which receive {'$barrel_p2p_replica', _}.
func IsReplicaInstance(name etf.Atom) bool {
	switch name {
	case RegistryReplica, LeaderReplica, MembersReplica, ReminderReplica:
		return true
	}
	return strings.HasPrefix(string(name), MapReplicaPrefix)
}

// Item is one key and entry of a delta or snapshot.
type Item struct {
	Key   Key
	Entry Entry
}

// Rejection reports one entry (or a whole payload, Key nil) dropped by
// validation.
type Rejection struct {
	Key etf.Term
	Err error
}

// Delta is the registry payload {delta, OriginNode, #{Key => Entry}} that
// travels over Plumtree with tag barrel_p2p_registry_replica. Receivers
// ignore OriginNode.
type Delta struct {
	Origin etf.Atom
	Items  []Item
}

// Term returns {delta, Origin, #{...}}, items in slice order.
func (d Delta) Term() etf.Tuple {
	return etf.Tuple{atomDelta, d.Origin, EncodeItems(d.Items)}
}

// EncodeItems returns the OR-map term of items, in slice order (a delta's
// map or a full_sync snapshot).
func EncodeItems(items []Item) etf.Map {
	m := make(etf.Map, len(items))
	for i, it := range items {
		m[i] = etf.MapPair{Key: it.Key.Term(), Value: it.Entry.Term()}
	}
	return m
}

// DecodeDelta decodes a registry Plumtree payload. A payload that is not
// {delta, Atom, Map} is an error; inside a well-formed payload each entry
// is validated on its own, the valid ones returned and the others reported
// as rejections (barrel_p2p_crdt_wire:accept/2 filters the same way).
func DecodeDelta(payload etf.Term) (Delta, []Rejection, error) {
	tup, ok := payload.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != atomDelta {
		return Delta{}, nil, fmt.Errorf("registry: payload %s is not {delta, Origin, Map}: %w", etf.Abbrev(payload), ErrMalformed)
	}
	origin, ok := tup[1].(etf.Atom)
	if !ok {
		return Delta{}, nil, fmt.Errorf("registry: delta origin %s is not an atom: %w", etf.Abbrev(tup[1]), ErrMalformed)
	}
	items, rej, err := DecodeItems(tup[2])
	if err != nil {
		return Delta{}, nil, err
	}
	return Delta{Origin: origin, Items: items}, rej, nil
}

// DecodeItems decodes an OR-map of service entries (a delta's map or a
// full_sync snapshot). See DecodeDelta for the error/rejection split.
//
// Each entry must be {value, {service_entry, N, P, Nd, M}, Dots} with N an
// atom or binary, P a pid, Nd an atom, M a map and Dots a non-empty map
// with keys {Atom, {timestamp, W, L}}, or {tombstone, {timestamp, W, L}};
// the key must be {N, Nd} (barrel_p2p does not check the key; the Go node
// does, since a key that disagrees with its entry has no meaning).
func DecodeItems(t etf.Term) ([]Item, []Rejection, error) {
	raw, rej, err := decodeRawMap(t, nil)
	if err != nil {
		return nil, nil, err
	}
	items := make([]Item, 0, len(raw))
	for _, r := range raw {
		it, err := typedItem(r)
		if err != nil {
			rej = append(rej, Rejection{Key: r.Key, Err: err})
			continue
		}
		items = append(items, it)
	}
	return items, rej, nil
}

func typedItem(r RawItem) (Item, error) {
	kt, ok := r.Key.(etf.Tuple)
	if !ok || len(kt) != 2 {
		return Item{}, fmt.Errorf("registry: key %s is not {Name, Node}: %w", etf.Abbrev(r.Key), ErrMalformed)
	}
	name, ok1 := ParseName(kt[0])
	node, ok2 := kt[1].(etf.Atom)
	if !ok1 || !ok2 {
		return Item{}, fmt.Errorf("registry: key %s is not {atom()|binary(), atom()}: %w", etf.Abbrev(r.Key), ErrMalformed)
	}
	key := Key{Name: name, Node: node}
	if r.Entry.Tombstone {
		return Item{Key: key, Entry: Entry{Tombstone: true, Time: r.Entry.Time}}, nil
	}
	svc, err := ParseServiceEntry(r.Entry.Value)
	if err != nil {
		return Item{}, err
	}
	if svc.Key() != key {
		return Item{}, fmt.Errorf("registry: key %s does not match its entry %s: %w", etf.Abbrev(r.Key), etf.Abbrev(r.Entry.Value), ErrMalformed)
	}
	return Item{Key: key, Entry: Entry{Service: svc, Dots: r.Entry.Dots}}, nil
}

// ParseServiceEntry decodes {service_entry, Name, Pid, Node, Meta} with
// barrel_p2p_registry:valid_service_entry/1's checks.
func ParseServiceEntry(t etf.Term) (ServiceEntry, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 5 || tup[0] != atomServiceEntry {
		return ServiceEntry{}, fmt.Errorf("registry: %s is not a service_entry: %w", etf.Abbrev(t), ErrMalformed)
	}
	name, ok := ParseName(tup[1])
	pid, ok2 := tup[2].(etf.Pid)
	node, ok3 := tup[3].(etf.Atom)
	meta, ok4 := tup[4].(etf.Map)
	if !ok || !ok2 || !ok3 || !ok4 {
		return ServiceEntry{}, fmt.Errorf("registry: service_entry fields of %s have the wrong types: %w", etf.Abbrev(t), ErrMalformed)
	}
	return ServiceEntry{Name: name, Pid: pid, Node: node, Meta: meta}, nil
}

// RawEntry is an OR-map entry whose leaf value is kept as a term: the
// generic wire form of every replica instance (barrel_p2p_crdt_wire).
type RawEntry struct {
	Tombstone bool
	Time      Timestamp
	Value     etf.Term
	Dots      []Dot
}

// Term returns {value, Value, Dots} or {tombstone, HLC}.
func (e RawEntry) Term() etf.Tuple {
	if e.Tombstone {
		return etf.Tuple{atomTombstone, e.Time.Term()}
	}
	dots := make(etf.Map, len(e.Dots))
	for i, d := range e.Dots {
		dots[i] = etf.MapPair{Key: d.Term(), Value: etf.AtomTrue}
	}
	return etf.Tuple{atomValue, e.Value, dots}
}

// RawItem is one key and entry of a generic OR-map.
type RawItem struct {
	Key   etf.Term
	Entry RawEntry
}

// RawDelta is {delta, Origin, OrMap} of any replica instance, e.g. the
// {alive, WallMs} heartbeats of barrel_p2p_members_replica.
type RawDelta struct {
	Origin etf.Atom
	Items  []RawItem
}

// Term returns {delta, Origin, #{...}}.
func (d RawDelta) Term() etf.Tuple {
	m := make(etf.Map, len(d.Items))
	for i, it := range d.Items {
		m[i] = etf.MapPair{Key: it.Key, Value: it.Entry.Term()}
	}
	return etf.Tuple{atomDelta, d.Origin, m}
}

// DecodeRawDelta decodes {delta, Origin, OrMap} with the wrapper checks of
// barrel_p2p_crdt_wire:valid_entry/2 and an optional leaf check (nil
// accepts any leaf).
func DecodeRawDelta(payload etf.Term, leaf func(etf.Term) error) (RawDelta, []Rejection, error) {
	tup, ok := payload.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != atomDelta {
		return RawDelta{}, nil, fmt.Errorf("registry: payload %s is not {delta, Origin, Map}: %w", etf.Abbrev(payload), ErrMalformed)
	}
	origin, ok := tup[1].(etf.Atom)
	if !ok {
		return RawDelta{}, nil, fmt.Errorf("registry: delta origin %s is not an atom: %w", etf.Abbrev(tup[1]), ErrMalformed)
	}
	items, rej, err := decodeRawMap(tup[2], leaf)
	if err != nil {
		return RawDelta{}, nil, err
	}
	return RawDelta{Origin: origin, Items: items}, rej, nil
}

func decodeRawMap(t etf.Term, leaf func(etf.Term) error) ([]RawItem, []Rejection, error) {
	m, ok := t.(etf.Map)
	if !ok {
		return nil, nil, fmt.Errorf("registry: OR-map %s is not a map: %w", etf.Abbrev(t), ErrMalformed)
	}
	if len(m) > MaxItems {
		return nil, nil, fmt.Errorf("registry: OR-map of %d entries exceeds %d: %w", len(m), MaxItems, ErrMalformed)
	}
	var rej []Rejection
	items := make([]RawItem, 0, len(m))
	for _, p := range m {
		e, err := parseRawEntry(p.Value, leaf)
		if err != nil {
			rej = append(rej, Rejection{Key: p.Key, Err: err})
			continue
		}
		items = append(items, RawItem{Key: p.Key, Entry: e})
	}
	return items, rej, nil
}

func parseRawEntry(t etf.Term, leaf func(etf.Term) error) (RawEntry, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) == 0 {
		return RawEntry{}, fmt.Errorf("registry: entry %s is not a tuple: %w", etf.Abbrev(t), ErrMalformed)
	}
	switch {
	case len(tup) == 2 && tup[0] == atomTombstone:
		ts, err := ParseTimestamp(tup[1])
		if err != nil {
			return RawEntry{}, err
		}
		return RawEntry{Tombstone: true, Time: ts}, nil
	case len(tup) == 3 && tup[0] == atomValue:
		dm, ok := tup[2].(etf.Map)
		if !ok || len(dm) == 0 {
			return RawEntry{}, fmt.Errorf("registry: dots of %s are not a non-empty map: %w", etf.Abbrev(t), ErrMalformed)
		}
		if len(dm) > MaxDots {
			return RawEntry{}, fmt.Errorf("registry: %d dots exceed %d: %w", len(dm), MaxDots, ErrMalformed)
		}
		dots := make([]Dot, 0, len(dm))
		for _, p := range dm {
			d, err := parseDot(p.Key)
			if err != nil {
				return RawEntry{}, err
			}
			dots = append(dots, d)
		}
		if leaf != nil {
			if err := leaf(tup[1]); err != nil {
				return RawEntry{}, fmt.Errorf("registry: leaf %s: %w: %w", etf.Abbrev(tup[1]), ErrMalformed, err)
			}
		}
		return RawEntry{Value: tup[1], Dots: dots}, nil
	}
	return RawEntry{}, fmt.Errorf("registry: entry %s is neither {value, V, Dots} nor {tombstone, HLC}: %w", etf.Abbrev(t), ErrMalformed)
}

// parseDot decodes {Node, {timestamp, W, L}}. The dot map's values are
// always true in barrel_p2p and are not checked (as in Erlang).
func parseDot(t etf.Term) (Dot, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 {
		return Dot{}, fmt.Errorf("registry: dot %s is not {Node, HLC}: %w", etf.Abbrev(t), ErrMalformed)
	}
	node, ok := tup[0].(etf.Atom)
	if !ok {
		return Dot{}, fmt.Errorf("registry: dot node %s is not an atom: %w", etf.Abbrev(tup[0]), ErrMalformed)
	}
	ts, err := ParseTimestamp(tup[1])
	if err != nil {
		return Dot{}, err
	}
	return Dot{Node: node, Time: ts}, nil
}

// ReplicaMsg is FullSync or RequestSync, the direct (non-Plumtree) messages
// between replica instances.
type ReplicaMsg interface {
	// Term returns the inner message (without the envelope).
	Term() etf.Tuple
	isReplicaMsg()
}

// FullSync is {full_sync, FromNode, Snapshot}: a peer pushes its state.
// For the registry the snapshot is the sender's local OR-map (see
// DecodeItems); other instances use other shapes (members: #{Node =>
// WallMs}), so it is kept as a term here.
type FullSync struct {
	From     etf.Atom
	Snapshot etf.Term
}

// RequestSync is {request_sync, FromNode}: "push your state to me".
type RequestSync struct {
	From etf.Atom
}

func (FullSync) isReplicaMsg()    {}
func (RequestSync) isReplicaMsg() {}

// Term returns {full_sync, From, Snapshot}.
func (m FullSync) Term() etf.Tuple { return etf.Tuple{atomFullSync, m.From, m.Snapshot} }

// Term returns {request_sync, From}.
func (m RequestSync) Term() etf.Tuple { return etf.Tuple{atomRequestSync, m.From} }

// ReplicaEnvelope returns {'$barrel_p2p_replica', Msg}, to be sent to
// {Instance, Node} with noconnect semantics.
func ReplicaEnvelope(m ReplicaMsg) etf.Tuple { return etf.Tuple{ReplicaEnvelopeTag, m.Term()} }

// DecodeReplicaEnvelope decodes {'$barrel_p2p_replica', Msg}.
func DecodeReplicaEnvelope(t etf.Term) (ReplicaMsg, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 || tup[0] != ReplicaEnvelopeTag {
		return nil, fmt.Errorf("registry: not a {'$barrel_p2p_replica', Msg} envelope: %w", ErrMalformed)
	}
	in, ok := tup[1].(etf.Tuple)
	if !ok || len(in) == 0 {
		return nil, fmt.Errorf("registry: replica message %s is not a tagged tuple: %w", etf.Abbrev(tup[1]), ErrMalformed)
	}
	switch {
	case len(in) == 3 && in[0] == atomFullSync:
		from, ok := in[1].(etf.Atom)
		if !ok || from == "" {
			return nil, fmt.Errorf("registry: full_sync sender %s is not a node: %w", etf.Abbrev(in[1]), ErrMalformed)
		}
		return FullSync{From: from, Snapshot: in[2]}, nil
	case len(in) == 2 && in[0] == atomRequestSync:
		from, ok := in[1].(etf.Atom)
		if !ok || from == "" {
			return nil, fmt.Errorf("registry: request_sync sender %s is not a node: %w", etf.Abbrev(in[1]), ErrMalformed)
		}
		return RequestSync{From: from}, nil
	}
	return nil, fmt.Errorf("registry: unknown replica message %s: %w", etf.Abbrev(in), ErrMalformed)
}
