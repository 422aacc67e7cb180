// Package termgen generates Erlang terms for interop and property tests: a
// fixed list of boundary cases for every term kind, and a deterministic
// random generator seeded by the caller so that any failure can be replayed.
// Terms are built from the types etf's decoder produces (plus CharList), so a
// decoded copy can be checked against the original with etf.Equal.
package termgen

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"

	"github.com/barrelgo/barrelgo/etf"
)

// Case is a named term.
type Case struct {
	Name string
	Term etf.Term
}

// Gen is a deterministic random term generator. It is not safe for
// concurrent use.
type Gen struct {
	r *rand.Rand
	// MaxDepth bounds container nesting (default 4).
	MaxDepth int
	// MaxLen bounds the length of random lists, tuples, maps and binaries
	// (default 8; boundary cases are larger).
	MaxLen int
}

// New returns a generator whose output depends only on seed.
func New(seed uint64) *Gen {
	return &Gen{r: rand.New(rand.NewPCG(seed, 0x62617272656c676f)), MaxDepth: 4, MaxLen: 8}
}

// Kinds lists the term kinds Term draws from, for reporting.
var Kinds = []string{
	"atom", "int", "bignum", "float", "binary", "bitstring", "list", "improper",
	"bytelist", "charlist", "tuple", "map", "pid", "port", "ref", "export",
}

// Term returns a random term of any kind.
func (g *Gen) Term() etf.Term { return g.term(0, false) }

// Kind returns a random term of the named kind (one of Kinds).
func (g *Gen) Kind(kind string) etf.Term { return g.kind(kind, 0, false) }

func (g *Gen) term(depth int, key bool) etf.Term {
	kinds := Kinds
	if depth >= g.MaxDepth {
		kinds = leafKinds
	}
	return g.kind(kinds[g.r.IntN(len(kinds))], depth, key)
}

var leafKinds = []string{"atom", "int", "bignum", "float", "binary", "bitstring", "pid", "port", "ref", "export"}

func (g *Gen) kind(kind string, depth int, key bool) etf.Term {
	switch kind {
	case "atom":
		return g.Atom()
	case "int":
		return g.Int()
	case "bignum":
		return g.Bignum()
	case "float":
		return g.Float(key)
	case "binary":
		return g.bytes(g.r.IntN(4 * g.MaxLen))
	case "bitstring":
		return g.BitString()
	case "list":
		n := g.r.IntN(g.MaxLen + 1)
		if n == 0 {
			return etf.List(nil)
		}
		l := make(etf.List, n)
		for i := range l {
			l[i] = g.term(depth+1, key)
		}
		return l
	case "improper":
		n := 1 + g.r.IntN(g.MaxLen)
		elems := make([]etf.Term, n)
		for i := range elems {
			elems[i] = g.term(depth+1, key)
		}
		return etf.ImproperList{Elems: elems, Tail: g.nonList(depth+1, key)}
	case "bytelist":
		// Empty is [], which decodes as List(nil); keep ByteList non-empty.
		return etf.ByteList(g.bytes(1 + g.r.IntN(4*g.MaxLen)))
	case "charlist":
		return etf.CharList(g.text(1 + g.r.IntN(g.MaxLen)))
	case "tuple":
		t := make(etf.Tuple, g.r.IntN(g.MaxLen+1))
		for i := range t {
			t[i] = g.term(depth+1, key)
		}
		return t
	case "map":
		return g.Map(g.r.IntN(g.MaxLen+1), depth+1)
	case "pid":
		return etf.Pid{Node: g.Node(), ID: g.r.Uint32(), Serial: g.r.Uint32(), Creation: g.Creation()}
	case "port":
		id := g.r.Uint64()
		if g.r.IntN(2) == 0 {
			id = uint64(g.r.Uint32())
		}
		return etf.Port{Node: g.Node(), ID: id, Creation: g.Creation()}
	case "ref":
		ref := etf.Ref{Node: g.Node(), Creation: g.Creation(), Len: uint8(1 + g.r.IntN(etf.MaxRefWords))}
		for i := range ref.Len {
			ref.ID[i] = g.r.Uint32()
		}
		return ref
	case "export":
		return etf.ExportFun{Module: g.Atom(), Function: g.Atom(), Arity: uint8(g.r.IntN(256))}
	}
	panic(fmt.Sprintf("termgen: unknown kind %q", kind))
}

// nonList returns a term that is neither a list nor [], for improper tails.
func (g *Gen) nonList(depth int, key bool) etf.Term {
	for {
		t := g.term(depth, key)
		switch t.(type) {
		case etf.List, etf.ByteList, etf.CharList, etf.ImproperList:
			continue
		}
		return t
	}
}

// Map returns a map of up to n pairs with keys of mixed kinds, unique by
// etf.Equal.
func (g *Gen) Map(n, depth int) etf.Map {
	m := make(etf.Map, 0, n)
	for len(m) < n {
		k := g.term(depth, true)
		if _, dup := m.Get(k); dup {
			continue
		}
		m = append(m, etf.MapPair{Key: k, Value: g.term(depth, false)})
	}
	return m
}

var atomRunes = []rune("abcxyz_@ABZ09éüßÿ日本語Ωж🙂")

// Atom returns an atom of 0..20 characters, sometimes non-ASCII.
func (g *Gen) Atom() etf.Atom {
	n := g.r.IntN(21)
	var b strings.Builder
	ascii := g.r.IntN(3) > 0
	for range n {
		if ascii {
			b.WriteByte("abcdefghijklmnopqrstuvwxyz_0123456789"[g.r.IntN(37)])
		} else {
			b.WriteRune(atomRunes[g.r.IntN(len(atomRunes))])
		}
	}
	return etf.Atom(b.String())
}

// Node returns a node name, never nonode@nohost: an OTP VM without
// distribution treats that name as itself and rejects pids it could not
// have created.
func (g *Gen) Node() etf.Atom {
	switch g.r.IntN(4) {
	case 0:
		return "v1@127.0.0.1"
	case 1:
		return etf.Atom(fmt.Sprintf("n%d@host%d", g.r.IntN(1000), g.r.IntN(10)))
	case 2:
		return "nœud@hôte"
	}
	return etf.Atom(strings.Repeat("x", 120) + "@" + strings.Repeat("h", 100))
}

// Creation returns a creation value: 0, small, or any 32-bit value.
func (g *Gen) Creation() uint32 {
	switch g.r.IntN(3) {
	case 0:
		return 0
	case 1:
		return uint32(1 + g.r.IntN(3))
	}
	return g.r.Uint32()
}

// Int returns an int64 near one of the encoding boundaries or uniformly random.
func (g *Gen) Int() etf.Term {
	bounds := []int64{0, 255, 256, -1, math.MaxInt32, math.MinInt32, math.MaxInt32 + 1,
		math.MinInt32 - 1, math.MaxUint32, math.MaxInt64, math.MinInt64, 1 << 40, -1 << 40}
	switch g.r.IntN(4) {
	case 0:
		return bounds[g.r.IntN(len(bounds))]
	case 1:
		return int64(g.r.IntN(256))
	case 2:
		return int64(g.r.Int32())
	}
	return int64(g.r.Uint64())
}

// Bignum returns a *big.Int outside the int64 range, of 8..300 digit bytes,
// either sign.
func (g *Gen) Bignum() etf.Term {
	n := 8 + g.r.IntN(40)
	if g.r.IntN(8) == 0 {
		n = 250 + g.r.IntN(50) // around the SMALL_BIG/LARGE_BIG switch
	}
	b := g.bytes(n)
	b[0] |= 0x80
	v := new(big.Int).SetBytes(b)
	if g.r.IntN(2) == 0 {
		v.Neg(v)
	}
	if v.IsInt64() { // only -2^63 can land here
		v.Sub(v, big.NewInt(1))
	}
	return v
}

// Float returns a finite float64: special values, subnormals, or random bit
// patterns. Map keys never get -0.0: before OTP 27 0.0 =:= -0.0, so a map
// holding both would have a duplicate key there.
func (g *Gen) Float(key bool) etf.Term {
	special := []float64{0, 1, -1.5, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		0x1p-1022, math.MaxFloat64, -math.MaxFloat64, 0.1, 1e15, 1e16, 123456.789}
	switch g.r.IntN(4) {
	case 0:
		if !key && g.r.IntN(4) == 0 {
			return math.Copysign(0, -1)
		}
		return special[g.r.IntN(len(special))]
	case 1: // subnormal
		return math.Float64frombits(g.r.Uint64N(1<<52-1) + 1)
	case 2:
		return g.r.NormFloat64() * 1e6
	}
	for {
		f := math.Float64frombits(g.r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) && !(key && f == 0 && math.Signbit(f)) {
			return f
		}
	}
}

// BitString returns a bitstring of 1..7 bits in its last byte, unused bits zero.
func (g *Gen) BitString() etf.BitString {
	b := g.bytes(1 + g.r.IntN(g.MaxLen))
	bits := uint8(1 + g.r.IntN(7))
	b[len(b)-1] &= 0xff << (8 - bits)
	return etf.BitString{Bytes: b, Bits: bits}
}

func (g *Gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *Gen) text(n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(atomRunes[g.r.IntN(len(atomRunes))])
	}
	return b.String()
}

func pow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func neg(v *big.Int) *big.Int { return new(big.Int).Neg(v) }

func sub1(v *big.Int) *big.Int { return new(big.Int).Sub(v, big.NewInt(1)) }

// Boundaries returns fixed cases at the edges of every encoding: the
// SMALL_INTEGER/INTEGER/SMALL_BIG/LARGE_BIG switches, atom lengths in
// characters and bytes, STRING_EXT's 65535 limit, SMALL/LARGE tuples, OTP's
// 32-key flatmap limit, and the extreme pid, port and ref fields.
func Boundaries() []Case {
	minI64 := big.NewInt(math.MinInt64)
	maxI64 := big.NewInt(math.MaxInt64)
	cs := []Case{
		{"int_0", int64(0)}, {"int_255", int64(255)}, {"int_256", int64(256)},
		{"int_neg1", int64(-1)}, {"int_max_i32", int64(math.MaxInt32)},
		{"int_min_i32", int64(math.MinInt32)}, {"int_max_i32_plus1", int64(math.MaxInt32 + 1)},
		{"int_min_i32_minus1", int64(math.MinInt32 - 1)}, {"int_max_u32", int64(math.MaxUint32)},
		{"int_max_i64", int64(math.MaxInt64)}, {"int_min_i64", int64(math.MinInt64)},
		{"big_max_i64_plus1", new(big.Int).Add(maxI64, big.NewInt(1))},
		{"big_min_i64_minus1", sub1(minI64)},
		{"big_2pow64", pow2(64)}, {"big_neg_2pow64", neg(pow2(64))},
		{"big_2pow64_minus1", sub1(pow2(64))},
		{"big_small_big_max", sub1(pow2(2040))}, {"big_neg_small_big_max", neg(sub1(pow2(2040)))},
		{"big_large_big_min", pow2(2040)}, {"big_neg_large_big_min", neg(pow2(2040))},
		{"big_2pow65536", pow2(65536)},
		{"float_0", 0.0}, {"float_neg0", math.Copysign(0, -1)},
		{"float_min_subnormal", math.SmallestNonzeroFloat64},
		{"float_max_subnormal", math.Float64frombits(1<<52 - 1)},
		{"float_neg_subnormal", -math.Float64frombits(12345)},
		{"float_min_normal", 0x1p-1022}, {"float_max", math.MaxFloat64}, {"float_neg_max", -math.MaxFloat64},
		{"atom_empty", etf.Atom("")},
		{"atom_255_ascii", etf.Atom(strings.Repeat("a", 255))},
		{"atom_255_latin1", etf.Atom(strings.Repeat("é", 255))},
		{"atom_255_cjk", etf.Atom(strings.Repeat("日", 255))},
		{"atom_255_emoji", etf.Atom(strings.Repeat("🙂", 255))},
		{"atom_utf8_mixed", etf.Atom("héllo_日本_🙂")},
		{"bin_empty", []byte{}},
		{"bin_large", largeBytes(200_000)},
		{"bits_1", etf.BitString{Bytes: []byte{0x80}, Bits: 1}},
		{"bits_7", etf.BitString{Bytes: []byte{1, 2, 0xfe}, Bits: 7}},
		{"nil", etf.List(nil)},
		{"bytelist_1", etf.ByteList{0}},
		{"bytelist_65535", etf.ByteList(largeBytes(65535))},
		{"bytelist_65536", etf.ByteList(largeBytes(65536))},
		{"list_small_ints", etf.List{int64(1), int64(2), int64(255)}},
		{"list_int_256", etf.List{int64(256)}},
		{"charlist_cjk", etf.CharList("日本語")},
		{"charlist_latin1", etf.CharList("héllo")},
		{"improper_atom_tail", etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("t")}},
		{"improper_bytes", etf.ImproperList{Elems: []etf.Term{int64(1), int64(2)}, Tail: int64(3)}},
		{"tuple_empty", etf.Tuple{}},
		{"tuple_255", intTuple(255)}, {"tuple_256", intTuple(256)},
		{"map_empty", etf.Map{}},
		{"map_32_keys", intMap(32)}, {"map_33_keys", intMap(33)},
		{"map_int_float_keys", etf.Map{{Key: int64(2), Value: etf.Atom("i")}, {Key: 1.5, Value: etf.Atom("f")},
			{Key: int64(1), Value: etf.Atom("one")}, {Key: 1.0, Value: etf.Atom("onef")}}},
		{"map_tuple_int_float_keys", etf.Map{{Key: etf.Tuple{int64(2)}, Value: int64(1)}, {Key: etf.Tuple{1.5}, Value: int64(2)}}},
		{"map_mixed_keys", etf.Map{
			{Key: etf.Atom("a"), Value: int64(1)}, {Key: int64(1), Value: etf.Atom("a")},
			{Key: []byte("b"), Value: etf.List(nil)}, {Key: etf.List(nil), Value: 2.5},
			{Key: etf.Tuple{etf.Atom("t")}, Value: etf.Map{}}, {Key: etf.ByteList("s"), Value: int64(3)},
			{Key: etf.Map{{Key: etf.Atom("k"), Value: int64(1)}}, Value: int64(4)},
			{Key: etf.Pid{Node: "a@b", ID: 1, Serial: 2, Creation: 3}, Value: int64(5)},
		}},
		{"pid_max", etf.Pid{Node: "a@b", ID: math.MaxUint32, Serial: math.MaxUint32, Creation: math.MaxUint32}},
		{"pid_zero", etf.Pid{Node: "a@b"}},
		{"port_small", etf.Port{Node: "a@b", ID: 5, Creation: 7}},
		{"port_max", etf.Port{Node: "a@b", ID: math.MaxUint64, Creation: math.MaxUint32}},
		{"ref_1_word", etf.Ref{Node: "a@b", Creation: 1, Len: 1, ID: [5]uint32{7}}},
		{"ref_3_words", etf.Ref{Node: "a@b", Creation: 1, Len: 3, ID: [5]uint32{1, 2, 3}}},
		{"ref_5_words", etf.Ref{Node: "a@b", Creation: math.MaxUint32, Len: 5,
			ID: [5]uint32{math.MaxUint32, 1, 2, 3, math.MaxUint32}}},
		{"export_max_arity", etf.ExportFun{Module: "lists", Function: "map", Arity: 255}},
		{"export_utf8", etf.ExportFun{Module: "modé", Function: "日本", Arity: 0}},
	}
	return cs
}

func largeBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func intTuple(n int) etf.Tuple {
	t := make(etf.Tuple, n)
	for i := range t {
		t[i] = int64(i)
	}
	return t
}

func intMap(n int) etf.Map {
	m := make(etf.Map, n)
	for i := range m {
		m[i] = etf.MapPair{Key: int64(i), Value: int64(i * i)}
	}
	return m
}
