package registry

import (
	"cmp"
	"slices"

	"github.com/barrelgo/barrelgo/etf"
)

const (
	atomServiceEntry etf.Atom = "service_entry"
	atomValue        etf.Atom = "value"
	atomTombstone    etf.Atom = "tombstone"
)

// Name is a service name: an Erlang atom or binary (barrel_p2p accepts
// both, and they are different names).
type Name struct {
	Text   string
	Binary bool
}

// AtomName returns the atom name s.
func AtomName(s string) Name { return Name{Text: s} }

// BinaryName returns the binary name s.
func BinaryName(s string) Name { return Name{Text: s, Binary: true} }

// Term returns the atom or binary.
func (n Name) Term() etf.Term {
	if n.Binary {
		return []byte(n.Text)
	}
	return etf.Atom(n.Text)
}

// String renders the name in Erlang syntax.
func (n Name) String() string { return etf.Format(n.Term()) }

// Compare orders names as Erlang terms: atoms before binaries, then by text.
func (n Name) Compare(m Name) int {
	if n.Binary != m.Binary {
		if m.Binary {
			return -1
		}
		return 1
	}
	return cmp.Compare(n.Text, m.Text)
}

// ParseName accepts an atom or a binary.
func ParseName(t etf.Term) (Name, bool) {
	switch v := t.(type) {
	case etf.Atom:
		return AtomName(string(v)), true
	case []byte:
		return BinaryName(string(v)), true
	}
	return Name{}, false
}

// Key is a registry key {ServiceName, Node}: one registration per name per
// node.
type Key struct {
	Name Name
	Node etf.Atom
}

// Term returns {Name, Node}.
func (k Key) Term() etf.Tuple { return etf.Tuple{k.Name.Term(), k.Node} }

// Compare orders keys as the Erlang tuples do.
func (k Key) Compare(l Key) int {
	if c := k.Name.Compare(l.Name); c != 0 {
		return c
	}
	return cmp.Compare(k.Node, l.Node)
}

// ServiceEntry is #service_entry{name, pid, node, meta}, on the wire
// {service_entry, Name, Pid, Node, Meta}.
type ServiceEntry struct {
	Name Name
	Pid  etf.Pid
	Node etf.Atom
	// Meta is the metadata map, kept in wire order so it re-encodes to the
	// same bytes.
	Meta etf.Map
}

// Term returns {service_entry, Name, Pid, Node, Meta}.
func (e ServiceEntry) Term() etf.Tuple {
	meta := e.Meta
	if meta == nil {
		meta = etf.Map{}
	}
	return etf.Tuple{atomServiceEntry, e.Name.Term(), e.Pid, e.Node, meta}
}

// Key returns {Name, Node}.
func (e ServiceEntry) Key() Key { return Key{Name: e.Name, Node: e.Node} }

// Dot is an OR-map dot {Node, HLC}: who wrote a value, and when.
type Dot struct {
	Node etf.Atom
	Time Timestamp
}

// Compare orders dots by HLC, then node atom (dot_compare/2), which breaks
// ties identically on every replica.
func (d Dot) Compare(e Dot) int {
	if c := d.Time.Compare(e.Time); c != 0 {
		return c
	}
	return cmp.Compare(d.Node, e.Node)
}

// Term returns {Node, {timestamp, W, L}}.
func (d Dot) Term() etf.Tuple { return etf.Tuple{d.Node, d.Time.Term()} }

// Entry is one OR-map entry: {value, ServiceEntry, #{Dot => true}} or
// {tombstone, HLC}. Despite the name the map is last-writer-wins with
// permanent tombstones (barrel_p2p_ormap).
type Entry struct {
	Tombstone bool
	// Time is the removal time of a tombstone.
	Time Timestamp
	// Service and Dots describe a live value; Dots is non-empty, without
	// duplicates, in wire order.
	Service ServiceEntry
	Dots    []Dot
}

// Live reports whether the entry is a value.
func (e Entry) Live() bool { return !e.Tombstone }

// MaxDot returns the greatest dot of a value.
func (e Entry) MaxDot() Dot {
	var m Dot
	for i, d := range e.Dots {
		if i == 0 || d.Compare(m) > 0 {
			m = d
		}
	}
	return m
}

// Term returns the wire form of the entry.
func (e Entry) Term() etf.Tuple {
	if e.Tombstone {
		return etf.Tuple{atomTombstone, e.Time.Term()}
	}
	dots := make(etf.Map, len(e.Dots))
	for i, d := range e.Dots {
		dots[i] = etf.MapPair{Key: d.Term(), Value: etf.AtomTrue}
	}
	return etf.Tuple{atomValue, e.Service.Term(), dots}
}

// Merge returns the merge of two entries for the same key
// (barrel_p2p_ormap:merge_entry/2; local is the first argument):
//
//   - value/value: dots are united; the value with the greater max dot
//     wins, the incoming one on a tie;
//   - tombstone/tombstone: the later HLC;
//   - tombstone/value (either order): the tombstone iff its HLC is strictly
//     greater than every dot's HLC, else the value.
//
// The result is the same whatever the argument order, so replicas
// converge.
func Merge(local, incoming Entry) Entry {
	switch {
	case !local.Tombstone && !incoming.Tombstone:
		out := incoming
		if local.MaxDot().Compare(incoming.MaxDot()) > 0 {
			out = local
		}
		out.Dots = unionDots(local.Dots, incoming.Dots)
		return out
	case local.Tombstone && incoming.Tombstone:
		if local.Time.Compare(incoming.Time) > 0 {
			return local
		}
		return incoming
	case local.Tombstone:
		return tombOrValue(local, incoming)
	default:
		return tombOrValue(incoming, local)
	}
}

func tombOrValue(tomb, value Entry) Entry {
	if tomb.Time.Compare(value.MaxDot().Time) > 0 {
		return tomb
	}
	return value
}

func unionDots(a, b []Dot) []Dot {
	out := slices.Clone(a)
	for _, d := range b {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// ormap is the registry's map; iteration order is made deterministic by
// sortedKeys wherever it is visible.
type ormap map[Key]Entry

func (m ormap) sortedKeys() []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}

func (m ormap) hasLive() bool {
	for _, e := range m {
		if e.Live() {
			return true
		}
	}
	return false
}

// items returns the whole map, tombstones included, sorted by key.
func (m ormap) items() []Item {
	out := make([]Item, 0, len(m))
	for _, k := range m.sortedKeys() {
		out = append(out, Item{Key: k, Entry: m[k]})
	}
	return out
}
