package etf

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"math"
	"math/big"
	"slices"
	"unicode/utf8"
)

// Erlang's term order classes: number < atom < reference < fun < port < pid
// < tuple < map < nil < list < bitstring.
const (
	classNumber = iota + 1
	classAtom
	classRef
	classFun
	classPort
	classPid
	classTuple
	classMap
	classNil
	classList
	classBits
	classInvalid
)

func class(t Term) int {
	switch v := t.(type) {
	case int64, int, int8, int16, int32, uint, uint8, uint16, uint32, uint64, *big.Int, big.Int, float64, float32:
		return classNumber
	case Atom, bool:
		return classAtom
	case Ref:
		return classRef
	case ExportFun, LocalFun:
		return classFun
	case Port:
		return classPort
	case Pid:
		return classPid
	case Tuple:
		return classTuple
	case Map:
		return classMap
	case nil:
		return classNil
	case List:
		return nilOr(len(v))
	case []Term:
		return nilOr(len(v))
	case ByteList:
		return nilOr(len(v))
	case CharList:
		return nilOr(len(v))
	case ImproperList:
		if len(v.Elems) == 0 {
			return class(v.Tail)
		}
		return classList
	case []byte, string, BitString:
		return classBits
	}
	return classInvalid
}

func nilOr(n int) int {
	if n == 0 {
		return classNil
	}
	return classList
}

// Compare orders two terms as Erlang's < and == do: -1, 0 or +1. Numbers
// compare by value, so Compare(1, 1.0) == 0.
func Compare(a, b Term) int { return compareTerms(a, b, false) }

// Equal reports whether a and b are exactly equal, as Erlang's =:=: 1 and
// 1.0 differ, a ByteList equals the List of the same integers, and maps are
// equal regardless of pair order.
func Equal(a, b Term) bool { return compareTerms(a, b, true) == 0 }

// compareExact is the total order of map keys: like Compare, but every
// integer sorts before every float, at any depth.
func compareExact(a, b Term) int { return compareTerms(a, b, true) }

func compareTerms(a, b Term, exact bool) int {
	ca, cb := class(a), class(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
	case classNumber:
		return compareNumbers(a, b, exact)
	case classAtom:
		return cmp.Compare(atomOf(a), atomOf(b))
	case classRef:
		x, y := a.(Ref), b.(Ref)
		if c := cmp.Compare(x.Node, y.Node); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Creation, y.Creation); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Len, y.Len); c != 0 {
			return c
		}
		for i := int(x.Len) - 1; i >= 0; i-- {
			if c := cmp.Compare(x.ID[i], y.ID[i]); c != 0 {
				return c
			}
		}
		return 0
	case classFun:
		return compareFuns(a, b, exact)
	case classPort:
		x, y := a.(Port), b.(Port)
		return cmpChain(cmp.Compare(x.Node, y.Node), cmp.Compare(x.Creation, y.Creation), cmp.Compare(x.ID, y.ID))
	case classPid:
		// OTP orders pids by serial and number first, then by node: this is
		// what [deterministic] map encoding shows on OTP 25 and 27.
		x, y := a.(Pid), b.(Pid)
		return cmpChain(cmp.Compare(x.Serial, y.Serial), cmp.Compare(x.ID, y.ID),
			cmp.Compare(x.Node, y.Node), cmp.Compare(x.Creation, y.Creation))
	case classTuple:
		x, y := a.(Tuple), b.(Tuple)
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
		for i := range x {
			if c := compareTerms(x[i], y[i], exact); c != 0 {
				return c
			}
		}
		return 0
	case classMap:
		return compareMaps(a.(Map), b.(Map), exact)
	case classNil:
		return 0
	case classList:
		if x, ok := a.(ByteList); ok {
			if y, ok := b.(ByteList); ok {
				return bytes.Compare(x, y)
			}
		}
		xs, xt := listParts(a)
		ys, yt := listParts(b)
		n := min(len(xs), len(ys))
		for i := range n {
			if c := compareTerms(xs[i], ys[i], exact); c != 0 {
				return c
			}
		}
		switch {
		case len(xs) == len(ys):
			return compareTerms(xt, yt, exact)
		case len(xs) < len(ys):
			// a's tail is compared with the rest of b.
			return compareTerms(xt, restOf(ys[n:], yt), exact)
		default:
			return compareTerms(restOf(xs[n:], xt), yt, exact)
		}
	case classBits:
		xb, xbits := bitsOf(a)
		yb, ybits := bitsOf(b)
		// Compare all full bytes, then the partial ones, then length.
		n := min(len(xb), len(yb))
		if c := bytes.Compare(xb[:n], yb[:n]); c != 0 {
			return c
		}
		return cmp.Compare(len(xb)*8-8+int(xbits), len(yb)*8-8+int(ybits))
	}
	return 0
}

func cmpChain(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

func restOf(elems []Term, tail Term) Term {
	if tail == nil || class(tail) == classNil {
		return List(elems)
	}
	return ImproperList{Elems: elems, Tail: tail}
}

func atomOf(t Term) Atom {
	switch v := t.(type) {
	case Atom:
		return v
	case bool:
		if v {
			return AtomTrue
		}
		return AtomFalse
	}
	return ""
}

// listParts returns the elements and the tail (nil for proper lists).
func listParts(t Term) ([]Term, Term) {
	switch v := t.(type) {
	case List:
		return v, nil
	case []Term:
		return v, nil
	case ByteList:
		out := make([]Term, len(v))
		for i, c := range v {
			out[i] = int64(c)
		}
		return out, nil
	case CharList:
		out := make([]Term, 0, utf8.RuneCountInString(string(v)))
		for _, r := range string(v) {
			out = append(out, int64(r))
		}
		return out, nil
	case ImproperList:
		if c := class(v.Tail); c == classList {
			// A list tail continues the list: [1|[2]] is [1,2].
			rest, tail := listParts(v.Tail)
			return append(slices.Clip(v.Elems), rest...), tail
		} else if c == classNil {
			return v.Elems, nil
		}
		return v.Elems, v.Tail
	}
	return nil, nil
}

// bitsOf returns the bytes of a bitstring and the bits used in its last byte
// (8 for binaries; for the empty binary the length formula still works).
func bitsOf(t Term) ([]byte, uint8) {
	switch v := t.(type) {
	case []byte:
		return v, 8
	case string:
		return []byte(v), 8
	case BitString:
		if v.Bits == 0 {
			return v.Bytes, 8
		}
		return v.Bytes, v.Bits
	}
	return nil, 8
}

// number normalises the numeric convenience types.
func number(t Term) (i int64, bi *big.Int, f float64, kind int) {
	switch v := t.(type) {
	case int64:
		return v, nil, 0, 0
	case int:
		return int64(v), nil, 0, 0
	case int8:
		return int64(v), nil, 0, 0
	case int16:
		return int64(v), nil, 0, 0
	case int32:
		return int64(v), nil, 0, 0
	case uint8:
		return int64(v), nil, 0, 0
	case uint16:
		return int64(v), nil, 0, 0
	case uint32:
		return int64(v), nil, 0, 0
	case uint:
		return number(uint64(v))
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil, 0, 0
		}
		return 0, new(big.Int).SetUint64(v), 0, 1
	case *big.Int:
		if v.IsInt64() {
			return v.Int64(), nil, 0, 0
		}
		return 0, v, 0, 1
	case big.Int:
		return number(&v)
	case float64:
		return 0, nil, v, 2
	case float32:
		return 0, nil, float64(v), 2
	}
	return 0, nil, 0, 0
}

func compareNumbers(a, b Term, exact bool) int {
	ai, ab, af, ak := number(a)
	bi, bb, bf, bk := number(b)
	switch {
	case ak == 0 && bk == 0:
		return cmp.Compare(ai, bi)
	case ak == 2 && bk == 2:
		if exact && af == bf {
			// =:= tells 0.0 from -0.0 since OTP 27.
			return cmp.Compare(b2i(math.Signbit(bf)), b2i(math.Signbit(af)))
		}
		return cmp.Compare(af, bf)
	case ak != 2 && bk != 2:
		return toBig(ai, ab).Cmp(toBig(bi, bb))
	}
	// In map-key order every integer sorts before every float, whatever
	// the values (Erlang's "exact" order); otherwise compare the values.
	if exact {
		if ak == 2 {
			return 1
		}
		return -1
	}
	var c int
	if ak == 2 {
		c = -compareIntFloat(bi, bb, af)
	} else {
		c = compareIntFloat(ai, ab, bf)
	}
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func toBig(i int64, b *big.Int) *big.Int {
	if b != nil {
		return b
	}
	return big.NewInt(i)
}

func compareIntFloat(i int64, b *big.Int, f float64) int {
	if b == nil && i > -(1<<53) && i < 1<<53 {
		return cmp.Compare(float64(i), f)
	}
	x := new(big.Float).SetInt(toBig(i, b))
	return x.Cmp(big.NewFloat(f))
}

func compareFuns(a, b Term, exact bool) int {
	ea, aIsExport := a.(ExportFun)
	eb, bIsExport := b.(ExportFun)
	switch {
	case aIsExport && bIsExport:
		return cmpChain(cmp.Compare(ea.Module, eb.Module), cmp.Compare(ea.Function, eb.Function), cmp.Compare(ea.Arity, eb.Arity))
	case aIsExport:
		return 1
	case bIsExport:
		return -1
	}
	la, lb := a.(LocalFun), b.(LocalFun)
	if c := cmpChain(cmp.Compare(la.Module, lb.Module), cmp.Compare(la.OldIndex, lb.OldIndex),
		cmp.Compare(la.OldUniq, lb.OldUniq), bytes.Compare(la.Uniq[:], lb.Uniq[:]),
		cmp.Compare(len(la.FreeVars), len(lb.FreeVars))); c != 0 {
		return c
	}
	for i := range la.FreeVars {
		if c := compareTerms(la.FreeVars[i], lb.FreeVars[i], exact); c != 0 {
			return c
		}
	}
	return 0
}

// compareMaps orders maps by size, then by their sorted keys, then by the
// values in key order, as Erlang does.
func compareMaps(x, y Map, exact bool) int {
	if c := cmp.Compare(len(x), len(y)); c != 0 {
		return c
	}
	xs := sortedPairs(x)
	ys := sortedPairs(y)
	for i := range xs {
		if c := compareExact(xs[i].Key, ys[i].Key); c != 0 {
			return c
		}
	}
	for i := range xs {
		if c := compareTerms(xs[i].Value, ys[i].Value, exact); c != 0 {
			return c
		}
	}
	return 0
}

func sortedPairs(m Map) Map {
	if slices.IsSortedFunc(m, func(a, b MapPair) int { return compareExact(a.Key, b.Key) }) {
		return m
	}
	s := slices.Clone(m)
	slices.SortFunc(s, func(a, b MapPair) int { return compareExact(a.Key, b.Key) })
	return s
}

var hashSeed = maphash.MakeSeed()

// duplicateKey reports whether two keys of m are exactly equal, returning
// the index of the second one. Large maps are checked through a hash so that
// a hostile map cannot cost quadratic time.
func duplicateKey(m Map) (int, bool) {
	if len(m) <= 16 {
		for i := 1; i < len(m); i++ {
			for j := range i {
				if keysEqual(m[i].Key, m[j].Key) {
					return i, true
				}
			}
		}
		return 0, false
	}
	seen := make(map[uint64]int32, len(m))
	var h maphash.Hash
	h.SetSeed(hashSeed)
	for i, p := range m {
		h.Reset()
		hashTerm(&h, p.Key)
		k := h.Sum64()
		j, ok := seen[k]
		if !ok {
			seen[k] = int32(i)
			continue
		}
		if keysEqual(p.Key, m[j].Key) {
			return i, true
		}
		// A true 64-bit collision, which the per-process random seed makes
		// rare and unforceable: compare with every earlier key.
		for j := range i {
			if keysEqual(p.Key, m[j].Key) {
				return i, true
			}
		}
	}
	return 0, false
}

// keysEqual is Equal with fast paths for the usual map keys.
func keysEqual(a, b Term) bool {
	switch x := a.(type) {
	case Atom:
		if y, ok := b.(Atom); ok {
			return x == y
		}
	case int64:
		if y, ok := b.(int64); ok {
			return x == y
		}
	}
	return Equal(a, b)
}

// hashTerm feeds h with a hash consistent with Equal.
func hashTerm(h *maphash.Hash, t Term) {
	c := class(t)
	h.WriteByte(byte(c))
	switch c {
	case classNumber:
		i, b, f, k := number(t)
		switch k {
		case 0:
			maphash.WriteComparable(h, i)
		case 1:
			h.Write(b.Bytes())
		default:
			maphash.WriteComparable(h, math.Float64bits(f))
		}
	case classAtom:
		h.WriteString(string(atomOf(t)))
	case classRef, classPort, classPid:
		maphash.WriteComparable(h, t)
	case classFun:
		if e, ok := t.(ExportFun); ok {
			maphash.WriteComparable(h, e)
		} else {
			u := t.(LocalFun).Uniq
			h.Write(u[:])
		}
	case classTuple:
		for _, e := range t.(Tuple) {
			hashTerm(h, e)
		}
	case classMap:
		// Order-independent: sum of the pair hashes.
		var sum uint64
		for _, p := range t.(Map) {
			var ph maphash.Hash
			ph.SetSeed(hashSeed)
			hashTerm(&ph, p.Key)
			hashTerm(&ph, p.Value)
			sum += ph.Sum64()
		}
		maphash.WriteComparable(h, sum)
	case classList:
		elems, tail := listParts(t)
		for _, e := range elems {
			hashTerm(h, e)
		}
		if tail != nil {
			h.WriteByte(0xff)
			hashTerm(h, tail)
		}
	case classBits:
		b, bits := bitsOf(t)
		h.Write(b)
		h.WriteByte(bits)
	}
}
