package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// MinorVersion selects the encoding variants of term_to_binary's
// {minor_version, N} option. The zero value is OTP's default, 2.
type MinorVersion uint8

const (
	// Minor2 is the default: NEW_FLOAT_EXT and UTF-8 atoms.
	Minor2 MinorVersion = iota
	// Minor1 writes Latin-1 representable atoms as ATOM_EXT.
	Minor1
	// Minor0 also writes floats as the 31-byte text FLOAT_EXT.
	Minor0
)

// EncodeOptions tune the encoder. The zero value encodes as term_to_binary/1.
type EncodeOptions struct {
	// Deterministic writes map keys in Erlang term order (as the
	// [deterministic] option) instead of slice order.
	Deterministic bool
	// Compress, when 1..9, zlib-compresses the whole term at that level
	// (term_to_binary's {compressed, N}); like OTP, the plain form is kept
	// when compression would not make the term smaller. Only Encode honours it.
	Compress int
	// Minor selects legacy atom and float encodings.
	Minor MinorVersion
}

// EncodeError reports a Go value that has no Erlang term form.
type EncodeError struct {
	Value any
	Msg   string
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("etf: cannot encode %T: %s", e.Value, e.Msg)
}

// Encode returns the external term format of t, starting with the version
// byte 131, like erlang:term_to_binary/1.
func Encode(t Term) ([]byte, error) {
	return EncodeWith(t, nil)
}

// encodeBufs recycles EncodeWith's scratch buffers: encoding into a warm
// buffer and copying out the exact bytes costs one allocation, where
// growing a fresh slice costs one per doubling.
var encodeBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest scratch buffer kept: bigger encodings are
// rare, and handed to the caller instead of copied.
const maxPooledBuf = 256 << 10

// EncodeWith is Encode with options.
func EncodeWith(t Term, opts *EncodeOptions) ([]byte, error) {
	if opts == nil || opts.Compress <= 0 {
		// A lone binary is written straight into its result: appending to
		// a header neither zeroes the new memory nor copies it twice.
		switch v := t.(type) {
		case []byte:
			if uint64(len(v)) <= math.MaxUint32 {
				return append(binaryHeader(len(v)), v...), nil
			}
		case string:
			if uint64(len(v)) <= math.MaxUint32 {
				return append(binaryHeader(len(v)), v...), nil
			}
		}
	}
	bp := encodeBufs.Get().(*[]byte)
	out, err := AppendEncode((*bp)[:0], t, opts)
	if err != nil {
		encodeBufs.Put(bp)
		return nil, err
	}
	if cap(out) > maxPooledBuf {
		encodeBufs.Put(bp) // still the buffer from before out outgrew it
		return out, nil
	}
	res := bytes.Clone(out)
	*bp = out[:0]
	encodeBufs.Put(bp)
	return res, nil
}

func binaryHeader(n int) []byte {
	h := []byte{Version, tagBinary, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[2:], uint32(n))
	return h
}

// AppendEncode appends the version byte and the encoding of t to dst.
func AppendEncode(dst []byte, t Term, opts *EncodeOptions) ([]byte, error) {
	start := len(dst)
	dst = append(dst, Version)
	dst, err := AppendTerm(dst, t, opts)
	if err != nil || opts == nil || opts.Compress <= 0 {
		return dst, err
	}
	if opts.Compress > 9 {
		return dst[:start], &EncodeError{Value: t, Msg: "compression level must be 0..9"}
	}
	plain := dst[start+1:]
	var zb bytes.Buffer
	zw, err := zlib.NewWriterLevel(&zb, opts.Compress)
	if err != nil {
		return dst[:start], err
	}
	if _, err := zw.Write(plain); err != nil {
		return dst[:start], err
	}
	if err := zw.Close(); err != nil {
		return dst[:start], err
	}
	// OTP keeps the plain form unless compression saves bytes (tag+size = 5).
	if zb.Len()+5 >= len(plain) {
		return dst, nil
	}
	out := make([]byte, 0, zb.Len()+5)
	out = append(out, tagCompressed)
	out = binary.BigEndian.AppendUint32(out, uint32(len(plain)))
	out = append(out, zb.Bytes()...)
	return append(dst[:start+1], out...), nil
}

// AppendTerm appends the encoding of t without the version byte, as it
// appears inside a term or after a distribution header.
func AppendTerm(dst []byte, t Term, opts *EncodeOptions) ([]byte, error) {
	e := encoder{}
	if opts != nil {
		e.opts = *opts
	}
	return e.append(dst, t)
}

// AppendTuple appends the encoding of the tuple of elems, as AppendTerm
// does for Tuple(elems), for callers whose elements are at hand but not
// as a Tuple: a Tuple passed as a Term is boxed, an allocation per call.
func AppendTuple(dst []byte, elems []Term, opts *EncodeOptions) ([]byte, error) {
	e := encoder{}
	if opts != nil {
		e.opts = *opts
	}
	return e.appendTuple(dst, elems)
}

type encoder struct {
	opts EncodeOptions
}

func (e *encoder) append(b []byte, t Term) ([]byte, error) {
	switch v := t.(type) {
	case Atom:
		return e.appendAtom(b, v)
	case int64:
		return appendInt(b, v), nil
	case int:
		return appendInt(b, int64(v)), nil
	case []byte:
		b = append(b, tagBinary)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...), nil
	case string:
		b = append(b, tagBinary)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...), nil
	case Tuple:
		return e.appendTuple(b, v)
	case List:
		return e.appendList(b, v, nil)
	case Map:
		return e.appendMap(b, v)
	case float64:
		return e.appendFloat(b, v)
	case Pid:
		b = append(b, tagNewPid)
		b, err := e.appendAtom(b, v.Node)
		if err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint32(b, v.ID)
		b = binary.BigEndian.AppendUint32(b, v.Serial)
		return binary.BigEndian.AppendUint32(b, v.Creation), nil
	case Ref:
		if v.Len > MaxRefWords {
			return b, &EncodeError{Value: t, Msg: "reference with more than 5 words"}
		}
		b = append(b, tagNewerRef)
		b = binary.BigEndian.AppendUint16(b, uint16(v.Len))
		b, err := e.appendAtom(b, v.Node)
		if err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint32(b, v.Creation)
		for _, w := range v.ID[:v.Len] {
			b = binary.BigEndian.AppendUint32(b, w)
		}
		return b, nil
	case Port:
		b = append(b, tagV4Port)
		b, err := e.appendAtom(b, v.Node)
		if err != nil {
			return b, err
		}
		b = binary.BigEndian.AppendUint64(b, v.ID)
		return binary.BigEndian.AppendUint32(b, v.Creation), nil
	case ByteList:
		if len(v) == 0 {
			return append(b, tagNil), nil
		}
		if len(v) <= maxStringExt {
			b = append(b, tagString)
			b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
			return append(b, v...), nil
		}
		b = append(b, tagList)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		for _, c := range v {
			b = append(b, tagSmallInteger, c)
		}
		return append(b, tagNil), nil
	case CharList:
		return e.appendCharList(b, string(v))
	case ImproperList:
		if len(v.Elems) == 0 {
			return e.append(b, v.Tail)
		}
		return e.appendList(b, v.Elems, v.Tail)
	case bool:
		if v {
			return e.appendAtom(b, AtomTrue)
		}
		return e.appendAtom(b, AtomFalse)
	case nil:
		return append(b, tagNil), nil
	case *big.Int:
		if v == nil {
			return b, &EncodeError{Value: t, Msg: "nil *big.Int"}
		}
		if v.IsInt64() {
			return appendInt(b, v.Int64()), nil
		}
		return appendBig(b, v), nil
	case BitString:
		return appendBitString(b, v, t)
	case ExportFun:
		b = append(b, tagExport)
		b, err := e.appendAtom(b, v.Module)
		if err != nil {
			return b, err
		}
		if b, err = e.appendAtom(b, v.Function); err != nil {
			return b, err
		}
		return append(b, tagSmallInteger, v.Arity), nil
	case LocalFun:
		if len(v.Raw) == 0 {
			return b, &EncodeError{Value: t, Msg: "local fun without its raw bytes (only decoded funs can be re-encoded)"}
		}
		b = append(b, tagNewFun)
		return append(b, v.Raw...), nil
	case int8:
		return appendInt(b, int64(v)), nil
	case int16:
		return appendInt(b, int64(v)), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case uint8:
		return appendInt(b, int64(v)), nil
	case uint16:
		return appendInt(b, int64(v)), nil
	case uint32:
		return appendInt(b, int64(v)), nil
	case uint:
		return appendUint(b, uint64(v)), nil
	case uint64:
		return appendUint(b, v), nil
	case float32:
		return e.appendFloat(b, float64(v))
	case []Term:
		return e.appendList(b, v, nil)
	case big.Int:
		return e.append(b, &v)
	}
	return b, &EncodeError{Value: t, Msg: "not a term type (use etf.Marshal for Go values)"}
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 255:
		return append(b, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		b = append(b, tagInteger)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v)))
	}
	sign := byte(0)
	u := uint64(v)
	if v < 0 {
		sign = 1
		u = uint64(-v) // -MinInt64 wraps to itself, which is the right magnitude
	}
	return appendSmallBig(b, sign, u)
}

func appendUint(b []byte, u uint64) []byte {
	if u <= math.MaxInt64 {
		return appendInt(b, int64(u))
	}
	return appendSmallBig(b, 0, u)
}

func appendSmallBig(b []byte, sign byte, u uint64) []byte {
	n := (bitsLen(u) + 7) / 8
	b = append(b, tagSmallBig, byte(n), sign)
	for range n {
		b = append(b, byte(u))
		u >>= 8
	}
	return b
}

func bitsLen(u uint64) int {
	n := 0
	for u != 0 {
		n++
		u >>= 1
	}
	return n
}

func appendBig(b []byte, v *big.Int) []byte {
	sign := byte(0)
	if v.Sign() < 0 {
		sign = 1
	}
	n := (v.BitLen() + 7) / 8
	if n <= 255 {
		b = append(b, tagSmallBig, byte(n), sign)
	} else {
		b = append(b, tagLargeBig)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, sign)
	}
	start := len(b)
	b = slices.Grow(b, n)[:start+n]
	// FillBytes writes big-endian; ETF digits are little-endian.
	new(big.Int).Abs(v).FillBytes(b[start:])
	slices.Reverse(b[start:])
	return b
}

func (e *encoder) appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, &EncodeError{Value: f, Msg: "Erlang has no infinities or NaN"}
	}
	if e.opts.Minor == Minor0 {
		var buf [32]byte
		s := strconv.AppendFloat(buf[:0], f, 'e', 20, 64)
		b = append(b, tagFloat)
		start := len(b)
		b = append(b, make([]byte, 31)...)
		copy(b[start:], s)
		return b, nil
	}
	b = append(b, tagNewFloat)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

func (e *encoder) appendAtom(b []byte, a Atom) ([]byte, error) {
	n := len(a)
	if !utf8.ValidString(string(a)) {
		// The BEAM (and Decode) would refuse the bytes.
		return b, &EncodeError{Value: a, Msg: "atom is not valid UTF-8"}
	}
	if n > maxAtomChars {
		// Only multi-byte characters can make a valid atom longer than 255 bytes.
		if utf8.RuneCountInString(string(a)) > maxAtomChars {
			return b, &EncodeError{Value: a, Msg: "atom longer than 255 characters"}
		}
	}
	if e.opts.Minor != Minor2 && isLatin1(string(a)) {
		b = append(b, tagAtom)
		b = binary.BigEndian.AppendUint16(b, uint16(utf8.RuneCountInString(string(a))))
		for _, r := range string(a) {
			b = append(b, byte(r))
		}
		return b, nil
	}
	if n <= 255 {
		b = append(b, tagSmallAtomUTF8, byte(n))
	} else {
		b = append(b, tagAtomUTF8)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	}
	return append(b, a...), nil
}

func isLatin1(s string) bool {
	for _, r := range s {
		if r > 255 {
			return false
		}
	}
	return true
}

// appendList writes elems as a list ending in tail (nil means []). Like OTP,
// a proper list of small non-negative integers up to 65535 long becomes
// STRING_EXT.
func (e *encoder) appendTuple(b []byte, elems []Term) ([]byte, error) {
	if len(elems) <= 255 {
		b = append(b, tagSmallTuple, byte(len(elems)))
	} else {
		b = append(b, tagLargeTuple)
		b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
	}
	var err error
	for _, el := range elems {
		if b, err = e.append(b, el); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (e *encoder) appendList(b []byte, elems []Term, tail Term) ([]byte, error) {
	if len(elems) == 0 {
		return append(b, tagNil), nil
	}
	if tail == nil && len(elems) <= maxStringExt && allBytes(elems) {
		b = append(b, tagString)
		b = binary.BigEndian.AppendUint16(b, uint16(len(elems)))
		for _, el := range elems {
			c, _ := smallByte(el)
			b = append(b, c)
		}
		return b, nil
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(len(elems)))
	var err error
	for _, el := range elems {
		if b, err = e.append(b, el); err != nil {
			return b, err
		}
	}
	if tail == nil {
		return append(b, tagNil), nil
	}
	return e.append(b, tail)
}

// allBytes reports whether every element is an integer in 0..255.
func allBytes(elems []Term) bool {
	for _, el := range elems {
		if _, ok := smallByte(el); !ok {
			return false
		}
	}
	return true
}

func smallByte(t Term) (byte, bool) {
	switch v := t.(type) {
	case int64:
		return byte(v), v >= 0 && v <= 255
	case int:
		return byte(v), v >= 0 && v <= 255
	case uint8:
		return v, true
	case int32:
		return byte(v), v >= 0 && v <= 255
	}
	return 0, false
}

func (e *encoder) appendCharList(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, &EncodeError{Value: CharList(s), Msg: "charlist is not valid UTF-8"}
	}
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return append(b, tagNil), nil
	}
	if n <= maxStringExt && isLatin1(s) {
		b = append(b, tagString)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b, nil
	}
	b = append(b, tagList)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for _, r := range s {
		b = appendInt(b, int64(r))
	}
	return append(b, tagNil), nil
}

func (e *encoder) appendMap(b []byte, m Map) ([]byte, error) {
	b = append(b, tagMap)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
	pairs := m
	if e.opts.Deterministic && len(m) > 1 {
		pairs = slices.Clone(m)
		slices.SortStableFunc(pairs, func(x, y MapPair) int { return compareExact(x.Key, y.Key) })
	}
	var err error
	for _, p := range pairs {
		if b, err = e.append(b, p.Key); err != nil {
			return b, err
		}
		if b, err = e.append(b, p.Value); err != nil {
			return b, err
		}
	}
	return b, nil
}

func appendBitString(b []byte, v BitString, t Term) ([]byte, error) {
	switch {
	case v.Bits == 8 || (v.Bits == 0 && len(v.Bytes) == 0):
		b = append(b, tagBinary)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v.Bytes)))
		return append(b, v.Bytes...), nil
	case v.Bits < 1 || v.Bits > 8 || len(v.Bytes) == 0:
		return b, &EncodeError{Value: t, Msg: "bitstring needs 1..8 bits in a non-empty last byte"}
	}
	b = append(b, tagBitBinary)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v.Bytes)))
	b = append(b, v.Bits)
	b = append(b, v.Bytes[:len(v.Bytes)-1]...)
	// The unused low bits must be zero on the wire.
	return append(b, v.Bytes[len(v.Bytes)-1]&(0xff<<(8-v.Bits))), nil
}
