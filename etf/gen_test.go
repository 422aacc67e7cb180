package etf

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
)

// termGen produces random terms in the form the decoder returns them, so
// that decode(encode(t)) is Equal to t. With ergo set it stays inside what
// ergo's etf package can encode (see ergo_diff_test.go): no bitstrings,
// ports or funs, 3-word references, and map keys that Go maps can hold.
type termGen struct {
	r        *rand.Rand
	maxDepth int
	maxLen   int
	ergo     bool
}

func newTermGen(seed uint64, ergo bool) *termGen {
	return &termGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxDepth: 4, maxLen: 6, ergo: ergo}
}

func (g *termGen) term() Term { return g.gen(0) }

const (
	genInt = iota
	genBig
	genFloat
	genAtom
	genBinary
	genBits
	genPid
	genPort
	genRef
	genExport
	genNil
	// Containers from here on.
	genTuple
	genList
	genByteList
	genSmallIntList
	genImproper
	genMap
	genKinds
)

func (g *termGen) gen(depth int) Term {
	for {
		k := g.r.IntN(genKinds)
		if k >= genTuple && depth >= g.maxDepth {
			continue
		}
		if g.ergo && (k == genBits || k == genPort || k == genExport) {
			continue
		}
		return g.kind(k, depth)
	}
}

func (g *termGen) kind(k, depth int) Term {
	r := g.r
	switch k {
	case genInt:
		return g.int()
	case genBig:
		return g.big()
	case genFloat:
		return g.float()
	case genAtom:
		return g.atom()
	case genBinary:
		return g.bytes(g.length(300))
	case genBits:
		b := g.bytes(1 + r.IntN(8))
		bits := uint8(1 + r.IntN(7))
		b[len(b)-1] &= 0xff << (8 - bits)
		return BitString{Bytes: b, Bits: bits}
	case genPid:
		return Pid{Node: g.node(), ID: r.Uint32(), Serial: r.Uint32(), Creation: r.Uint32()}
	case genPort:
		return Port{Node: g.node(), ID: r.Uint64(), Creation: r.Uint32()}
	case genRef:
		ref := Ref{Node: g.node(), Creation: r.Uint32(), Len: uint8(r.IntN(MaxRefWords + 1))}
		if g.ergo {
			ref.Len = 3
		}
		for i := range ref.Len {
			ref.ID[i] = r.Uint32()
		}
		return ref
	case genExport:
		return ExportFun{Module: g.atom(), Function: g.atom(), Arity: uint8(r.IntN(256))}
	case genNil:
		return List(nil)
	case genTuple:
		n := g.length(g.maxLen)
		if depth == 0 && r.IntN(20) == 0 {
			n = 256 + r.IntN(50) // LARGE_TUPLE_EXT
		}
		t := make(Tuple, n)
		for i := range t {
			t[i] = g.gen(depth + 1)
		}
		return t
	case genList:
		l := make(List, 1+g.length(g.maxLen))
		for i := range l {
			l[i] = g.gen(depth + 1)
		}
		return l
	case genByteList:
		return ByteList(g.bytes(1 + g.length(40)))
	case genSmallIntList:
		// A List that the encoder turns into STRING_EXT.
		l := make(List, 1+g.length(20))
		for i := range l {
			l[i] = int64(r.IntN(256))
		}
		return l
	case genImproper:
		elems := make([]Term, 1+g.length(g.maxLen))
		for i := range elems {
			elems[i] = g.gen(depth + 1)
		}
		for {
			// The tail of an improper list is anything but a list.
			tail := g.gen(depth + 1)
			if c := class(tail); c != classList && c != classNil {
				return ImproperList{Elems: elems, Tail: tail}
			}
		}
	case genMap:
		n := g.length(g.maxLen)
		if depth == 0 && r.IntN(10) == 0 {
			n = 17 + r.IntN(40) // past the hashed duplicate check threshold
		}
		m := make(Map, 0, n)
	pairs:
		for range n {
			key := g.mapKey(depth + 1)
			for _, p := range m {
				if Equal(p.Key, key) {
					continue pairs
				}
			}
			m = append(m, MapPair{Key: key, Value: g.gen(depth + 1)})
		}
		return m
	}
	panic("unknown kind")
}

// mapKey returns a key; under ergo only keys a Go map can hold (plus tuples,
// which the converter turns into pointers).
func (g *termGen) mapKey(depth int) Term {
	if !g.ergo {
		return g.gen(depth)
	}
	switch g.r.IntN(5) {
	case 0:
		return g.int()
	case 1:
		f := g.float()
		if f == 0 {
			f = 0.5 // 0.0 and -0.0 are one Go map key
		}
		return f
	case 2:
		return ByteList(g.bytes(1 + g.length(10)))
	case 3:
		return Tuple{g.atom(), g.int()}
	}
	return g.atom()
}

// length returns a small length, mostly below max.
func (g *termGen) length(max int) int {
	if g.r.IntN(8) == 0 {
		return g.r.IntN(max + 1)
	}
	return g.r.IntN(min(max, 4) + 1)
}

func (g *termGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

var intEdges = []int64{
	0, 1, 255, 256, -1, -255, -256, 65535, 65536,
	math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1,
	math.MaxUint32, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64, math.MinInt64 + 1,
}

func (g *termGen) int() int64 {
	r := g.r
	switch r.IntN(5) {
	case 0:
		return intEdges[r.IntN(len(intEdges))]
	case 1:
		return int64(r.IntN(256))
	case 2:
		return int64(int32(r.Uint32()))
	case 3:
		return int64(r.Uint64()) >> r.IntN(64)
	}
	return -int64(r.IntN(1 << 20))
}

// big returns an integer that does not fit int64, so that it decodes as a
// *big.Int.
func (g *termGen) big() *big.Int {
	r := g.r
	var n int
	switch r.IntN(6) {
	case 0:
		n = 8 // 2^63..2^64-1 and their negatives
	case 1:
		n = 256 + r.IntN(60) // LARGE_BIG_EXT
	default:
		n = 9 + r.IntN(24)
	}
	mag := g.bytes(n)
	mag[0] |= 0x80 // keep n significant bytes and stay out of int64
	v := new(big.Int).SetBytes(mag)
	if r.IntN(2) == 0 {
		v.Neg(v)
		if n == 8 && v.IsInt64() { // -2^63 is MinInt64
			v.Sub(v, big.NewInt(1))
		}
	}
	return v
}

var floatEdges = []float64{
	0, math.Copysign(0, -1), 1, -1.5, 5e-324, -5e-324, 2.2250738585072014e-308,
	math.MaxFloat64, -math.MaxFloat64, 1e15, 0.1, math.Pi,
}

func (g *termGen) float() float64 {
	if g.r.IntN(3) == 0 {
		return floatEdges[g.r.IntN(len(floatEdges))]
	}
	for {
		f := math.Float64frombits(g.r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

var atomWords = []string{"ok", "error", "undefined", "true", "false", "$gen_call", "", "v1@127.0.0.1", "Ätom", "日本語", "ÿ", "🙂"}

func (g *termGen) atom() Atom {
	r := g.r
	switch r.IntN(6) {
	case 0:
		n := 255
		if r.IntN(2) == 0 {
			n = r.IntN(256)
		}
		return Atom(strings.Repeat("x", n))
	case 1:
		// Multi-byte characters, up to 255 of them (ATOM_UTF8_EXT).
		var sb strings.Builder
		for range r.IntN(256) {
			sb.WriteRune(rune(0x80 + r.IntN(0x3000)))
		}
		return Atom(sb.String())
	}
	return Atom(atomWords[r.IntN(len(atomWords))])
}

func (g *termGen) node() Atom {
	nodes := []Atom{"a@h", "v1@127.0.0.1", "nonode@nohost", "gateway@10.0.0.7"}
	return nodes[g.r.IntN(len(nodes))]
}
