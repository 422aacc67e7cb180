// Package etf implements the Erlang External Term Format: the Go types that
// model every Erlang term, and a codec that reads and writes them byte for byte
// as term_to_binary/binary_to_term do.
//
// # Term model
//
// A Term is any of the following Go values. The decoder produces exactly these
// types; the encoder accepts them plus a few Go conveniences (listed after).
//
//	Erlang                 Go type (decoded)
//	atom                   Atom
//	integer (fits int64)   int64
//	integer (bignum)       *big.Int (only when it does not fit int64)
//	float                  float64
//	binary                 []byte
//	bitstring              BitString (bits used in the last byte: 1..7)
//	[] (nil)               List(nil)
//	proper list            List
//	string (STRING_EXT)    ByteList (a list of integers 0..255)
//	improper list          ImproperList
//	tuple                  Tuple
//	map                    Map (pairs in wire order)
//	pid                    Pid
//	port                   Port
//	reference              Ref
//	fun M:F/A              ExportFun
//	fun (local)            LocalFun (opaque, re-encoded as received)
//
// Encoder conveniences: Go int, int8..int64, uint..uint64 encode as integers;
// string encodes as a binary (use ByteList or CharList for a list); bool as
// the atoms true/false; nil as []; a *big.Int of any size as an integer.
//
// Marshal and Unmarshal (marshal.go) convert between arbitrary Go values and
// terms; Format and Parse (text.go) convert terms to and from Erlang syntax.
package etf

import (
	"math/big"
)

// Term is any Erlang term in its Go form; see the package documentation for
// the set of types.
type Term = any

// Atom is an Erlang atom. Atoms longer than 255 characters are refused by the
// encoder, as by the BEAM.
type Atom string

// Common atoms.
const (
	AtomTrue      Atom = "true"
	AtomFalse     Atom = "false"
	AtomUndefined Atom = "undefined"
	AtomOK        Atom = "ok"
	AtomError     Atom = "error"
)

// BitString is a bitstring whose length is not a multiple of 8. Bits is the
// number of significant bits in the last byte of Bytes (1..8); the unused low
// bits of that byte are zero. A BitString with Bits == 8 is a plain binary.
type BitString struct {
	Bytes []byte
	Bits  uint8
}

// List is a proper Erlang list. The zero value (nil) is the empty list [].
type List []Term

// ByteList is a list whose elements are all integers 0..255, as carried by
// STRING_EXT ("hello" in Erlang source). It is a list, not a binary: it
// compares equal to the List of the same integers.
type ByteList []byte

// CharList is a string to be encoded as an Erlang charlist (a list of Unicode
// code points). The decoder never produces it; Unmarshal can turn lists into
// Go strings when asked.
type CharList string

// ImproperList is a list whose tail is not []: [A, B | Tail].
// Elems must not be empty.
type ImproperList struct {
	Elems []Term
	Tail  Term
}

// Tuple is an Erlang tuple.
type Tuple []Term

// MapPair is one key/value association of a Map.
type MapPair struct {
	Key   Term
	Value Term
}

// Map is an Erlang map as an ordered list of pairs. The decoder keeps the
// order of the wire; the encoder writes the pairs in slice order unless
// EncodeOptions.Deterministic asks for Erlang term order. Keys must be
// unique (by Equal); the decoder enforces it.
type Map []MapPair

// Get returns the value associated with key (compared with Equal).
func (m Map) Get(key Term) (Term, bool) {
	for _, p := range m {
		if Equal(p.Key, key) {
			return p.Value, true
		}
	}
	return nil, false
}

// Pid is an Erlang process identifier.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// Port is an Erlang port identifier.
type Port struct {
	Node     Atom
	ID       uint64
	Creation uint32
}

// MaxRefWords is the largest number of ID words a reference carries
// (alias references use 5).
const MaxRefWords = 5

// Ref is an Erlang reference. It is comparable, so it can key Go maps.
type Ref struct {
	Node     Atom
	Creation uint32
	Len      uint8 // number of meaningful words in ID, 0..MaxRefWords
	ID       [MaxRefWords]uint32
}

// Words returns the meaningful ID words of the reference.
func (r Ref) Words() []uint32 { return r.ID[:r.Len] }

// ExportFun is an external fun, fun Module:Function/Arity.
type ExportFun struct {
	Module   Atom
	Function Atom
	Arity    uint8
}

// LocalFun is a fun defined in a module (NEW_FUN_EXT). Its fields are decoded
// for inspection, but its bytes depend on the compiled module, so it is
// re-encoded verbatim from Raw (the bytes after the tag).
type LocalFun struct {
	Arity    uint8
	Uniq     [16]byte
	Index    uint32
	Module   Atom
	OldIndex int64
	OldUniq  int64
	Pid      Pid
	FreeVars []Term
	Raw      []byte
}

// bigInt keeps the import used by documentation references in other files.
var _ = (*big.Int)(nil)
