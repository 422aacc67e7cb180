package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Default limits of the decoder; see DecodeOptions.
const (
	DefaultMaxDepth        = 10000
	DefaultMaxUncompressed = 256 << 20
)

// DecodeOptions tune the decoder. The zero value is safe for untrusted input.
type DecodeOptions struct {
	// MaxDepth bounds the nesting of tuples, lists, maps and funs
	// (DefaultMaxDepth when 0). Long lists do not count: only nesting does.
	MaxDepth int
	// MaxUncompressed bounds the size a COMPRESSED term may inflate to
	// (DefaultMaxUncompressed when 0).
	MaxUncompressed int
	// AtomRefs resolves ATOM_CACHE_REF indexes: the atoms a distribution
	// header listed for this message. Without it such references are errors.
	AtomRefs []Atom
	// AliasBinaries makes decoded binaries share the input's memory instead of
	// copying it. Only for callers that never modify or reuse the input.
	AliasBinaries bool
}

// DecodeError says what was wrong with the input and where.
type DecodeError struct {
	Offset int // byte offset in the input
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("etf: invalid external term at offset %d: %s", e.Offset, e.Msg)
}

// Decode decodes a whole term_to_binary output: the version byte 131, then
// one term (possibly COMPRESSED). Unlike binary_to_term/1, bytes left after
// the term are an error; use DecodeNext to read terms from a stream.
func Decode(b []byte) (Term, error) {
	return DecodeWith(b, nil)
}

// DecodeWith is Decode with options.
func DecodeWith(b []byte, opts *DecodeOptions) (Term, error) {
	t, n, err := DecodeVersioned(b, opts)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, &DecodeError{Offset: n, Msg: fmt.Sprintf("%d trailing bytes after the term", len(b)-n)}
	}
	return t, nil
}

// DecodeVersioned decodes one term that starts with the version byte and
// returns it with the number of bytes consumed.
func DecodeVersioned(b []byte, opts *DecodeOptions) (Term, int, error) {
	if len(b) == 0 {
		return nil, 0, &DecodeError{Offset: 0, Msg: "empty input"}
	}
	if b[0] != Version {
		return nil, 0, &DecodeError{Offset: 0, Msg: fmt.Sprintf("version byte is %d, want 131", b[0])}
	}
	var d decoder
	d.init(b, opts)
	d.off = 1
	if len(b) > 1 && b[1] == tagCompressed {
		t, err := d.decodeCompressed()
		return t, d.off, err
	}
	t, err := d.term()
	return t, d.off, err
}

// DecodeNext decodes one term without a version byte from the start of b, as
// terms follow a distribution header, and returns the bytes consumed.
func DecodeNext(b []byte, opts *DecodeOptions) (Term, int, error) {
	var d decoder
	d.init(b, opts)
	t, err := d.term()
	return t, d.off, err
}

type decoder struct {
	b        []byte
	off      int
	depth    int
	maxDepth int
	opts     *DecodeOptions
	base     int       // offset of b within the original input, for errors
	arena    []Term    // see terms
	pairArea []MapPair // see pairs
	byteArea []byte    // see copyBytes
	recent   [8]struct {
		raw string
		t   Term
	} // see knownSmallAtom
}

var zeroOpts DecodeOptions

// init prepares a zero decoder (every caller declares a fresh one):
// assigning a whole decoder would clear its 400 bytes a second time, on
// every term a message is decoded in.
func (d *decoder) init(b []byte, opts *DecodeOptions) {
	if opts == nil {
		opts = &zeroOpts
	}
	d.b, d.opts, d.maxDepth = b, opts, opts.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
}

// arenaChunk is the most elements one shared allocation holds.
const arenaChunk = 256

// terms returns room for n elements of a tuple or list. Small ones are cut
// from a shared chunk, so a message of many small tuples costs a few
// allocations instead of one per tuple; the cap is n, so appending to a
// decoded tuple copies instead of overwriting a neighbour. Counts reaching
// here were checked against the bytes left, and a chunk is sized from them
// too, so a hostile count cannot inflate it.
func (d *decoder) terms(n int) []Term {
	if n == 0 {
		return []Term{}
	}
	if n > len(d.arena) {
		if n > arenaChunk/4 {
			return make([]Term, n)
		}
		// An eighth of the bytes left guesses the elements still to come
		// (one takes two bytes at least, and most take many more).
		d.arena = make([]Term, min(arenaChunk, n+(len(d.b)-d.off)/8))
	}
	s := d.arena[:n:n]
	d.arena = d.arena[n:]
	return s
}

func (d *decoder) errf(off int, format string, args ...any) error {
	return &DecodeError{Offset: d.base + off, Msg: fmt.Sprintf(format, args...)}
}

// The readers below keep their error paths out of line (short), so that
// they inline into the decoding loop.

// short reports that what needs n bytes and fewer are left.
//
//go:noinline
func (d *decoder) short(n int, what string) error {
	if n == 1 {
		return d.errf(d.off, "%s: unexpected end of input", what)
	}
	return d.errf(d.off, "%s needs %d bytes, %d left", what, n, len(d.b)-d.off)
}

func (d *decoder) u8(what string) (byte, error) {
	if d.off >= len(d.b) {
		return 0, d.short(1, what)
	}
	v := d.b[d.off]
	d.off++
	return v, nil
}

func (d *decoder) u16(what string) (int, error) {
	if len(d.b)-d.off < 2 {
		return 0, d.short(2, what)
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return int(v), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if len(d.b)-d.off < 4 {
		return 0, d.short(4, what)
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

// count reads a 32-bit element count and checks that at least
// count*minBytes bytes remain, so that no hostile count allocates.
func (d *decoder) count(what string, minBytes int) (int, error) {
	at := d.off
	if len(d.b)-d.off < 4 {
		return 0, d.errf(at, "%s length needs 4 bytes, %d left", what, len(d.b)-d.off)
	}
	n := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	if uint64(n)*uint64(minBytes) > uint64(len(d.b)-d.off) {
		return 0, d.errf(at, "%s length %d exceeds the %d bytes left", what, n, len(d.b)-d.off)
	}
	return int(n), nil
}

func (d *decoder) take(n int, what string) ([]byte, error) {
	if n < 0 || len(d.b)-d.off < n {
		return nil, d.short(n, what)
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v, nil
}

func (d *decoder) bytesCopy(n int, what string) ([]byte, error) {
	v, err := d.take(n, what)
	if err != nil || d.opts.AliasBinaries {
		return v, err
	}
	return d.copyBytes(v), nil
}

// Small binaries are copied into a shared chunk of at most byteChunk bytes
// (never more than the input left), like terms does for elements: one
// allocation for many. The price is that keeping one small binary keeps
// its chunk, a bounded overhead.
const (
	byteChunk    = 1024
	smallBinary  = 64
	pairChunk    = 64
	smallMapSize = 16
)

func (d *decoder) copyBytes(v []byte) []byte {
	n := len(v)
	if n > smallBinary || n == 0 {
		return bytes.Clone(v)
	}
	if n > len(d.byteArea) {
		d.byteArea = make([]byte, min(byteChunk, n+len(d.b)-d.off))
	}
	s := d.byteArea[:n:n]
	d.byteArea = d.byteArea[n:]
	copy(s, v)
	return s
}

// pairs is terms for map pairs.
func (d *decoder) pairs(n int) Map {
	if n == 0 {
		return Map{}
	}
	if n > len(d.pairArea) {
		if n > smallMapSize {
			return make(Map, n)
		}
		// A pair takes at least 2 bytes, usually far more.
		d.pairArea = make([]MapPair, min(pairChunk, n+(len(d.b)-d.off)/8))
	}
	s := d.pairArea[:n:n]
	d.pairArea = d.pairArea[n:]
	return s
}

func (d *decoder) push() error {
	d.depth++
	if d.depth > d.maxDepth {
		return d.tooDeep()
	}
	return nil
}

//go:noinline
func (d *decoder) tooDeep() error {
	return d.errf(d.off, "nesting deeper than %d", d.maxDepth)
}

func (d *decoder) term() (Term, error) {
	at := d.off
	if at >= len(d.b) {
		return nil, d.errf(at, "tag: unexpected end of input")
	}
	tag := d.b[at]
	d.off++
	var err error
	switch tag {
	case tagSmallInteger:
		if d.off >= len(d.b) {
			return nil, d.errf(d.off, "SMALL_INTEGER_EXT: unexpected end of input")
		}
		v := d.b[d.off]
		d.off++
		return int64(v), nil // 0..255 are boxed without allocating
	case tagInteger:
		v, err := d.u32("INTEGER_EXT")
		return int64(int32(v)), err
	case tagSmallAtomUTF8:
		if t, ok := d.knownSmallAtom(); ok {
			return t, nil
		}
		return d.atomBody(tag, at)
	case tagAtomUTF8, tagAtom, tagSmallAtom, tagAtomCacheRef:
		return d.atomBody(tag, at)
	case tagBinary:
		n, err := d.count("BINARY_EXT", 1)
		if err != nil {
			return nil, err
		}
		return d.bytesCopy(n, "BINARY_EXT")
	case tagSmallTuple, tagLargeTuple:
		var n int
		if tag == tagSmallTuple {
			v, err := d.u8("SMALL_TUPLE_EXT arity")
			if err != nil {
				return nil, err
			}
			n = int(v)
		} else if n, err = d.count("LARGE_TUPLE_EXT", 1); err != nil {
			return nil, err
		}
		if n > len(d.b)-d.off {
			return nil, d.errf(at, "tuple arity %d exceeds the %d bytes left", n, len(d.b)-d.off)
		}
		if err := d.push(); err != nil {
			return nil, err
		}
		t := Tuple(d.terms(n))
		for i := range t {
			if t[i], err = d.term(); err != nil {
				return nil, err
			}
		}
		d.depth--
		return t, nil
	case tagNil:
		return List(nil), nil
	case tagString:
		n, err := d.u16("STRING_EXT length")
		if err != nil {
			return nil, err
		}
		v, err := d.take(n, "STRING_EXT")
		if err != nil {
			return nil, err
		}
		return ByteList(d.copyBytes(v)), nil
	case tagList:
		return d.list(at)
	case tagMap:
		return d.mapBody(at)
	case tagNewFloat:
		v, err := d.take(8, "NEW_FLOAT_EXT")
		if err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(v))
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, d.errf(at, "NEW_FLOAT_EXT is not a finite float")
		}
		return f, nil
	case tagFloat:
		v, err := d.take(31, "FLOAT_EXT")
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(v, 0); i >= 0 {
			v = v[:i]
		}
		f, ok := parseFloatExt(v)
		if !ok {
			return nil, d.errf(at, "FLOAT_EXT text %q is not a float", v)
		}
		return f, nil
	case tagSmallBig:
		n, err := d.u8("SMALL_BIG_EXT length")
		if err != nil {
			return nil, err
		}
		return d.bigBody(int(n), at)
	case tagLargeBig:
		n, err := d.count("LARGE_BIG_EXT", 1)
		if err != nil {
			return nil, err
		}
		return d.bigBody(n, at)
	case tagNewPid, tagPid:
		node, err := d.atom("pid node")
		if err != nil {
			return nil, err
		}
		var p Pid
		p.Node = node
		if p.ID, err = d.u32("pid id"); err != nil {
			return nil, err
		}
		if p.Serial, err = d.u32("pid serial"); err != nil {
			return nil, err
		}
		p.Creation, err = d.creation(tag == tagNewPid)
		return p, err
	case tagV4Port, tagNewPort, tagPort:
		node, err := d.atom("port node")
		if err != nil {
			return nil, err
		}
		p := Port{Node: node}
		if tag == tagV4Port {
			v, err := d.take(8, "V4_PORT_EXT id")
			if err != nil {
				return nil, err
			}
			p.ID = binary.BigEndian.Uint64(v)
		} else {
			id, err := d.u32("port id")
			if err != nil {
				return nil, err
			}
			p.ID = uint64(id)
		}
		p.Creation, err = d.creation(tag != tagPort)
		return p, err
	case tagNewerRef, tagNewRef:
		n, err := d.u16("reference length")
		if err != nil {
			return nil, err
		}
		if n > MaxRefWords {
			return nil, d.errf(at, "reference with %d id words (at most %d)", n, MaxRefWords)
		}
		node, err := d.atom("reference node")
		if err != nil {
			return nil, err
		}
		r := Ref{Node: node, Len: uint8(n)}
		if r.Creation, err = d.creation(tag == tagNewerRef); err != nil {
			return nil, err
		}
		for i := range n {
			if r.ID[i], err = d.u32("reference id"); err != nil {
				return nil, err
			}
		}
		return r, nil
	case tagRef:
		node, err := d.atom("reference node")
		if err != nil {
			return nil, err
		}
		r := Ref{Node: node, Len: 1}
		if r.ID[0], err = d.u32("reference id"); err != nil {
			return nil, err
		}
		r.Creation, err = d.creation(false)
		return r, err
	case tagBitBinary:
		n, err := d.count("BIT_BINARY_EXT", 1)
		if err != nil {
			return nil, err
		}
		bits, err := d.u8("BIT_BINARY_EXT bits")
		if err != nil {
			return nil, err
		}
		if bits < 1 || bits > 8 || n == 0 {
			return nil, d.errf(at, "BIT_BINARY_EXT with %d bytes and %d bits in the last byte", n, bits)
		}
		v, err := d.take(n, "BIT_BINARY_EXT")
		if err != nil {
			return nil, err
		}
		v = bytes.Clone(v)
		if bits == 8 {
			return v, nil
		}
		v[n-1] &= 0xff << (8 - bits)
		return BitString{Bytes: v, Bits: bits}, nil
	case tagExport:
		m, err := d.atom("EXPORT_EXT module")
		if err != nil {
			return nil, err
		}
		f, err := d.atom("EXPORT_EXT function")
		if err != nil {
			return nil, err
		}
		aat := d.off
		if t, err := d.u8("EXPORT_EXT arity"); err != nil || t != tagSmallInteger {
			if err == nil {
				err = d.errf(aat, "EXPORT_EXT arity must be SMALL_INTEGER_EXT, got %s", tagName(t))
			}
			return nil, err
		}
		a, err := d.u8("EXPORT_EXT arity")
		return ExportFun{Module: m, Function: f, Arity: a}, err
	case tagNewFun:
		return d.newFun(at)
	case tagCompressed:
		return nil, d.errf(at, "COMPRESSED is only valid at the top level")
	case tagLocal:
		return nil, d.errf(at, "LOCAL_EXT is only meaningful to the node that encoded it")
	case tagFun:
		return nil, d.errf(at, "FUN_EXT was removed in OTP 23")
	}
	return nil, d.errf(at, "unknown tag %d", tag)
}

// creation reads a 4-byte creation (new forms) or a 1-byte one (old forms).
func (d *decoder) creation(wide bool) (uint32, error) {
	if wide {
		return d.u32("creation")
	}
	v, err := d.u8("creation")
	return uint32(v), err
}

// atom reads a term that must be an atom.
func (d *decoder) atom(what string) (Atom, error) {
	at := d.off
	tag, err := d.u8(what)
	if err != nil {
		return "", err
	}
	if tag == tagSmallAtomUTF8 {
		if t, ok := d.knownSmallAtom(); ok {
			return t.(Atom), nil
		}
	}
	switch tag {
	case tagSmallAtomUTF8, tagAtomUTF8, tagAtom, tagSmallAtom, tagAtomCacheRef:
		t, err := d.atomBody(tag, at)
		if err != nil {
			return "", err
		}
		return t.(Atom), nil
	}
	return "", d.errf(at, "%s must be an atom, got %s", what, tagName(tag))
}

// knownSmallAtom is the fast path for the usual atom form,
// SMALL_ATOM_UTF8_EXT (its tag just read), when the atom is already in the
// intern snapshot: one map lookup, and no UTF-8 check since only valid
// atoms get there.
func (d *decoder) knownSmallAtom() (Term, bool) {
	if d.off >= len(d.b) {
		return nil, false
	}
	end := d.off + 1 + int(d.b[d.off])
	if end > len(d.b) {
		return nil, false
	}
	raw := d.b[d.off+1 : end]
	// A message repeats its atoms (record tags, node names, ok): a few
	// recent ones are checked before the shared table.
	slot := &d.recent[(len(raw)*7+int(d.b[end-1]))%len(d.recent)]
	if slot.raw == string(raw) && slot.t != nil {
		d.off = end
		return slot.t, true
	}
	m := atomTable.snap.Load()
	if m == nil {
		return nil, false
	}
	t, ok := (*m)[string(raw)]
	if ok {
		d.off = end
		slot.raw = string(t.(Atom))
		slot.t = t
	}
	return t, ok
}

// atomBody reads an atom after its tag, boxed: the intern table keeps each
// atom's Term so that returning it does not allocate.
func (d *decoder) atomBody(tag byte, at int) (Term, error) {
	var n int
	var err error
	switch tag {
	case tagSmallAtomUTF8, tagSmallAtom:
		var v byte
		v, err = d.u8("atom length")
		n = int(v)
	case tagAtomUTF8, tagAtom:
		n, err = d.u16("atom length")
	case tagAtomCacheRef:
		i, err := d.u8("ATOM_CACHE_REF index")
		if err != nil {
			return "", err
		}
		if int(i) >= len(d.opts.AtomRefs) {
			return "", d.errf(at, "ATOM_CACHE_REF %d with %d cached atoms in this message", i, len(d.opts.AtomRefs))
		}
		return internStringTerm(string(d.opts.AtomRefs[i])), nil
	}
	if err != nil {
		return "", err
	}
	raw, err := d.take(n, "atom text")
	if err != nil {
		return "", err
	}
	if tag == tagAtom || tag == tagSmallAtom {
		if n > maxAtomChars {
			return "", d.errf(at, "atom of %d characters (at most 255)", n)
		}
		return latin1Atom(raw), nil
	}
	if n > maxAtomChars {
		if !utf8.Valid(raw) {
			return "", d.errf(at, "atom text is not valid UTF-8")
		}
		if utf8.RuneCount(raw) > maxAtomChars {
			return "", d.errf(at, "atom of %d characters (at most 255)", utf8.RuneCount(raw))
		}
	} else if !utf8.Valid(raw) {
		return "", d.errf(at, "atom text is not valid UTF-8")
	}
	return internAtomTerm(raw), nil
}

func latin1Atom(raw []byte) Term {
	for _, c := range raw {
		if c >= 0x80 {
			buf := make([]byte, 0, 2*len(raw))
			for _, c := range raw {
				buf = utf8.AppendRune(buf, rune(c))
			}
			return internAtomTerm(buf)
		}
	}
	return internAtomTerm(raw)
}

func (d *decoder) bigBody(n int, at int) (Term, error) {
	sign, err := d.u8("bignum sign")
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, d.errf(at, "bignum sign byte %d", sign)
	}
	digits, err := d.take(n, "bignum digits")
	if err != nil {
		return nil, err
	}
	if n <= 8 {
		var u uint64
		for i := n - 1; i >= 0; i-- {
			u = u<<8 | uint64(digits[i])
		}
		if sign == 0 && u <= math.MaxInt64 {
			return int64(u), nil
		}
		if sign == 1 && u <= 1<<63 {
			return -int64(u), nil // 1<<63 negates to MinInt64
		}
	}
	be := make([]byte, n)
	for i, c := range digits {
		be[n-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if sign == 1 {
		v.Neg(v)
	}
	if v.IsInt64() {
		return v.Int64(), nil
	}
	return v, nil
}

// list decodes LIST_EXT, continuing through tails that are themselves lists
// so that a chain of one-element lists neither nests nor recurses.
func (d *decoder) list(at int) (Term, error) {
	if err := d.push(); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	var elems List
	for {
		n, err := d.count("LIST_EXT", 1)
		if err != nil {
			return nil, err
		}
		if elems == nil {
			elems = List(d.terms(n))[:0]
		}
		for range n {
			el, err := d.term()
			if err != nil {
				return nil, err
			}
			elems = append(elems, el)
		}
		if d.off >= len(d.b) {
			return nil, d.errf(d.off, "list tail: unexpected end of input")
		}
		switch d.b[d.off] {
		case tagNil:
			d.off++
			return elems, nil
		case tagList:
			d.off++
			continue
		case tagString:
			d.off++
			n, err := d.u16("STRING_EXT length")
			if err != nil {
				return nil, err
			}
			s, err := d.take(n, "STRING_EXT")
			if err != nil {
				return nil, err
			}
			for _, c := range s {
				elems = append(elems, int64(c))
			}
			return elems, nil
		}
		tail, err := d.term()
		if err != nil {
			return nil, err
		}
		if len(elems) == 0 {
			return tail, nil
		}
		return ImproperList{Elems: elems, Tail: tail}, nil
	}
}

func (d *decoder) mapBody(at int) (Term, error) {
	n, err := d.count("MAP_EXT", 2)
	if err != nil {
		return nil, err
	}
	if err := d.push(); err != nil {
		return nil, err
	}
	m := d.pairs(n)
	for i := range m {
		if m[i].Key, err = d.term(); err != nil {
			return nil, err
		}
		if m[i].Value, err = d.term(); err != nil {
			return nil, err
		}
	}
	d.depth--
	if i, dup := duplicateKey(m); dup {
		return nil, d.errf(at, "MAP_EXT repeats a key (pair %d)", i)
	}
	return m, nil
}

func (d *decoder) newFun(at int) (Term, error) {
	start := d.off
	size, err := d.u32("NEW_FUN_EXT size")
	if err != nil {
		return nil, err
	}
	if size < 4 || uint64(size) > uint64(len(d.b)-start) {
		return nil, d.errf(at, "NEW_FUN_EXT size %d does not fit the %d bytes left", size, len(d.b)-start)
	}
	end := start + int(size)
	if err := d.push(); err != nil {
		return nil, err
	}
	// Decode only within the fun's own bytes.
	outer := d.b
	d.b = d.b[:end]
	defer func() { d.b = outer; d.depth-- }()
	var f LocalFun
	if f.Arity, err = d.u8("NEW_FUN_EXT arity"); err != nil {
		return nil, err
	}
	u, err := d.take(16, "NEW_FUN_EXT uniq")
	if err != nil {
		return nil, err
	}
	copy(f.Uniq[:], u)
	if f.Index, err = d.u32("NEW_FUN_EXT index"); err != nil {
		return nil, err
	}
	nfree, err := d.u32("NEW_FUN_EXT free variables")
	if err != nil {
		return nil, err
	}
	if uint64(nfree) > uint64(end-d.off) {
		return nil, d.errf(at, "NEW_FUN_EXT with %d free variables in %d bytes", nfree, end-d.off)
	}
	if f.Module, err = d.atom("NEW_FUN_EXT module"); err != nil {
		return nil, err
	}
	if f.OldIndex, err = d.smallInt("NEW_FUN_EXT old index"); err != nil {
		return nil, err
	}
	if f.OldUniq, err = d.smallInt("NEW_FUN_EXT old uniq"); err != nil {
		return nil, err
	}
	pid, err := d.term()
	if err != nil {
		return nil, err
	}
	var ok bool
	if f.Pid, ok = pid.(Pid); !ok {
		return nil, d.errf(at, "NEW_FUN_EXT pid is not a pid")
	}
	f.FreeVars = make([]Term, nfree)
	for i := range f.FreeVars {
		if f.FreeVars[i], err = d.term(); err != nil {
			return nil, err
		}
	}
	if d.off != end {
		return nil, d.errf(at, "NEW_FUN_EXT size %d but its fields end after %d", size, d.off-start)
	}
	f.Raw = bytes.Clone(outer[start:end])
	return f, nil
}

func (d *decoder) smallInt(what string) (int64, error) {
	at := d.off
	t, err := d.term()
	if err != nil {
		return 0, err
	}
	if v, ok := t.(int64); ok {
		return v, nil
	}
	return 0, d.errf(at, "%s must be an integer", what)
}

func (d *decoder) decodeCompressed() (Term, error) {
	at := d.off
	d.off++ // tag
	size, err := d.u32("COMPRESSED size")
	if err != nil {
		return nil, err
	}
	limit := d.opts.MaxUncompressed
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	if uint64(size) > uint64(limit) {
		return nil, d.errf(at, "COMPRESSED term of %d bytes exceeds the limit of %d", size, limit)
	}
	zr, err := zlib.NewReader(bytes.NewReader(d.b[d.off:]))
	if err != nil {
		return nil, d.errf(d.off, "COMPRESSED: %v", err)
	}
	// Grow with what really inflates, never with the declared size: a short
	// input cannot claim a huge allocation.
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(zr, int64(size)+1)); err != nil {
		return nil, d.errf(d.off, "COMPRESSED: %v", err)
	}
	if out.Len() != int(size) {
		return nil, d.errf(at, "COMPRESSED declares %d bytes but inflates to %d", size, out.Len())
	}
	// The zlib reader may not have consumed trailing checksum bytes exactly;
	// compressed terms are only ever whole inputs, so consume everything.
	var inner decoder
	inner.init(out.Bytes(), &DecodeOptions{MaxDepth: d.opts.MaxDepth, AtomRefs: d.opts.AtomRefs})
	t, err := inner.term()
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Msg = "inside COMPRESSED (offset is in the inflated data): " + de.Msg
		}
		return nil, err
	}
	if inner.off != len(inner.b) {
		return nil, d.errf(at, "COMPRESSED data has %d bytes after the term", len(inner.b)-inner.off)
	}
	d.off = len(d.b)
	return t, nil
}

// parseFloatExt reads FLOAT_EXT text with the BEAM's grammar,
// [+-]digits[.,]digits[(e|E)[+-]digits], which is narrower than
// strconv.ParseFloat's (no hex floats, spaces, "inf" or missing fraction).
func parseFloatExt(v []byte) (float64, bool) {
	var buf [31]byte
	s := buf[:0]
	i := 0
	digits := func() bool {
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			s = append(s, v[i])
			i++
		}
		return i > start
	}
	sign := func() {
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			s = append(s, v[i])
			i++
		}
	}
	sign()
	if !digits() || i >= len(v) || (v[i] != '.' && v[i] != ',') {
		return 0, false
	}
	s = append(s, '.')
	i++
	if !digits() {
		return 0, false
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		s = append(s, 'e')
		i++
		sign()
		if !digits() {
			return 0, false
		}
	}
	if i != len(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
