package etf

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// UnmarshalOptions adjusts Unmarshal. The zero value gives the behaviour of
// Unmarshal.
type UnmarshalOptions struct {
	// CharlistAsString lets a charlist (a list of code points, which the
	// decoder gives as ByteList or List) fill a Go string anywhere, as the
	// charlist field option does for one field. It is off by default because
	// a list of small integers is not always text.
	CharlistAsString bool
}

// UnmarshalError reports a term that does not fit the Go value it is
// unmarshalled into.
type UnmarshalError struct {
	Term   Term         // the offending term
	Type   reflect.Type // the Go type it was to fill
	Path   string       // where, from the value given to Unmarshal: ".Peers[3].Port"
	Reason string       // why, when the kinds alone do not say
	Err    error        // from an UnmarshalETF method, if that is what failed

	rev []string // path segments, innermost first, until Unmarshal returns
}

func (e *UnmarshalError) Error() string {
	return conversionError("etf: cannot unmarshal "+describeTerm(e.Term)+" into Go value of type ", e.Type, e.Path, e.Reason, e.Err)
}

func (e *UnmarshalError) Unwrap() error { return e.Err }

// InvalidUnmarshalError reports an argument to Unmarshal that is not a
// non-nil pointer.
type InvalidUnmarshalError struct {
	Type reflect.Type
}

func (e *InvalidUnmarshalError) Error() string {
	switch {
	case e.Type == nil:
		return "etf: Unmarshal(nil)"
	case e.Type.Kind() != reflect.Pointer:
		return "etf: Unmarshal(non-pointer " + e.Type.String() + ")"
	}
	return "etf: Unmarshal(nil " + e.Type.String() + ")"
}

// Unmarshal stores the Go form of a term in the value v points to, following
// the table in the documentation of Marshal. Map keys that match no struct
// field are ignored, and fields whose key is missing keep their value. On
// error v may be partly filled.
func Unmarshal(t Term, v any) error {
	return UnmarshalOptions{}.Unmarshal(t, v)
}

// Unmarshal is Unmarshal with options.
func (o UnmarshalOptions) Unmarshal(t Term, v any) error {
	if p, ok := v.(*Term); ok && p != nil {
		*p = t
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	e := rv.Elem()
	err := cachedValueDecoder(e.Type(), 0)(decodeState{charlist: o.CharlistAsString}, t, e)
	if e, ok := err.(*UnmarshalError); ok {
		e.Path, e.rev = joinPath(e.rev, e.Path), nil
	}
	return err
}

// decodeState travels by value down the decoders, so it costs no allocation.
type decodeState struct {
	charlist bool
	depth    int
}

func (d decodeState) next() decodeState {
	d.depth++
	return d
}

type valueDecoder func(d decodeState, t Term, v reflect.Value) error

var valueDecoderCache sync.Map // valueCodecKey -> valueDecoder

// cachedValueDecoder returns the cached decoder of a type; see cachedValueEncoder.
func cachedValueDecoder(t reflect.Type, f tagFlags) valueDecoder {
	k := valueCodecKey{t, f}
	if fi, ok := valueDecoderCache.Load(k); ok {
		return fi.(valueDecoder)
	}
	var (
		wg sync.WaitGroup
		fn valueDecoder
	)
	wg.Add(1)
	fi, loaded := valueDecoderCache.LoadOrStore(k, valueDecoder(func(d decodeState, t Term, v reflect.Value) error {
		wg.Wait()
		return fn(d, t, v)
	}))
	if loaded {
		return fi.(valueDecoder)
	}
	fn = newValueDecoder(t, f)
	wg.Done()
	valueDecoderCache.Store(k, fn)
	return fn
}

func unmarshalTypeErr(t Term, v reflect.Value, reason string) error {
	return &UnmarshalError{Term: t, Type: v.Type(), Reason: reason}
}

func prefixUnmarshal(err error, seg string) error {
	if e, ok := err.(*UnmarshalError); ok {
		e.rev = append(e.rev, seg)
	}
	return err
}

func nestingErr(t Term, v reflect.Value) error { return unmarshalTypeErr(t, v, nestingReason) }

func newValueDecoder(t reflect.Type, f tagFlags) valueDecoder {
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(rtUnmarshaler) {
		return unmarshalWithMethod
	}
	switch t {
	case rtAtom, rtBitString, rtImproperList, rtTuple, rtMap, rtPid, rtPort, rtRef, rtExportFun, rtLocalFun:
		return unmarshalExact
	case rtList:
		return unmarshalList
	case rtByteList:
		return unmarshalByteList
	case rtCharList:
		return unmarshalStringFunc(true)
	case rtBigInt:
		return unmarshalBigInt
	case rtAddr:
		return unmarshalAddr
	}
	switch t.Kind() {
	case reflect.Bool:
		return unmarshalBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return unmarshalInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return unmarshalUint
	case reflect.Float32, reflect.Float64:
		return unmarshalFloat
	case reflect.String:
		return unmarshalStringFunc(f&tagOptCharlist != 0)
	case reflect.Interface:
		return unmarshalInterface
	case reflect.Pointer:
		return unmarshalPointerFunc(t, f)
	case reflect.Slice, reflect.Array:
		return unmarshalSeqFunc(t, f)
	case reflect.Map:
		return unmarshalMapFunc(t)
	case reflect.Struct:
		return unmarshalStructFunc(t)
	}
	return func(_ decodeState, term Term, v reflect.Value) error {
		return unmarshalTypeErr(term, v, "unsupported type")
	}
}

func unmarshalWithMethod(_ decodeState, t Term, v reflect.Value) error {
	if !v.CanAddr() {
		return unmarshalTypeErr(t, v, "UnmarshalETF needs an addressable value")
	}
	err := v.Addr().Interface().(Unmarshaler).UnmarshalETF(t)
	if err == nil {
		return nil
	}
	if e, ok := err.(*UnmarshalError); ok {
		// A nested Unmarshal call: keep its detail and extend its path.
		return e
	}
	return &UnmarshalError{Term: t, Type: v.Type(), Reason: "UnmarshalETF", Err: err}
}

// unmarshalExact fills a term type with a term of exactly that type.
func unmarshalExact(_ decodeState, t Term, v reflect.Value) error {
	if t == nil || reflect.TypeOf(t) != v.Type() {
		return unmarshalTypeErr(t, v, "")
	}
	v.Set(reflect.ValueOf(t))
	return nil
}

func unmarshalList(_ decodeState, t Term, v reflect.Value) error {
	switch x := t.(type) {
	case List:
		v.Set(reflect.ValueOf(x))
		return nil
	case ByteList:
		l := make(List, len(x))
		for i, b := range x {
			l[i] = int64(b)
		}
		v.Set(reflect.ValueOf(l))
		return nil
	}
	return unmarshalTypeErr(t, v, "")
}

func unmarshalByteList(_ decodeState, t Term, v reflect.Value) error {
	switch x := t.(type) {
	case ByteList:
		v.Set(reflect.ValueOf(x))
		return nil
	case List:
		if len(x) == 0 {
			v.SetZero()
			return nil
		}
		bl := make(ByteList, len(x))
		for i, e := range x {
			n, b, ok := integerTerm(e)
			if !ok || b != nil || n < 0 || n > 255 {
				return unmarshalTypeErr(t, v, "element "+strconv.Itoa(i)+" is not an integer 0..255")
			}
			bl[i] = byte(n)
		}
		v.Set(reflect.ValueOf(bl))
		return nil
	}
	return unmarshalTypeErr(t, v, "")
}

// integerTerm returns the value of an integer term: n, or b when it does not fit
// int64. It also takes the Go integer kinds that the encoder accepts, so
// that terms built by hand unmarshal as their encoding would.
func integerTerm(t Term) (n int64, b *big.Int, ok bool) {
	switch x := t.(type) {
	case int64:
		return x, nil, true
	case *big.Int:
		if x == nil {
			return 0, nil, false
		}
		if x.IsInt64() {
			return x.Int64(), nil, true
		}
		return 0, x, true
	case int:
		return int64(x), nil, true
	case int8:
		return int64(x), nil, true
	case int16:
		return int64(x), nil, true
	case int32:
		return int64(x), nil, true
	case uint8:
		return int64(x), nil, true
	case uint16:
		return int64(x), nil, true
	case uint32:
		return int64(x), nil, true
	case uint:
		return integerTerm(uintTerm(uint64(x)))
	case uint64:
		return integerTerm(uintTerm(x))
	}
	return 0, nil, false
}

func unmarshalBool(_ decodeState, t Term, v reflect.Value) error {
	switch x := t.(type) {
	case Atom:
		switch x {
		case AtomTrue:
			v.SetBool(true)
			return nil
		case AtomFalse:
			v.SetBool(false)
			return nil
		}
	case bool:
		v.SetBool(x)
		return nil
	}
	return unmarshalTypeErr(t, v, "")
}

func unmarshalInt(_ decodeState, t Term, v reflect.Value) error {
	n, b, ok := integerTerm(t)
	if !ok {
		return unmarshalTypeErr(t, v, "")
	}
	if b != nil || v.OverflowInt(n) {
		return unmarshalTypeErr(t, v, "out of range")
	}
	v.SetInt(n)
	return nil
}

func unmarshalUint(_ decodeState, t Term, v reflect.Value) error {
	n, b, ok := integerTerm(t)
	if !ok {
		return unmarshalTypeErr(t, v, "")
	}
	var u uint64
	switch {
	case b != nil && b.IsUint64():
		u = b.Uint64()
	case b != nil || n < 0:
		return unmarshalTypeErr(t, v, "out of range")
	default:
		u = uint64(n)
	}
	if v.OverflowUint(u) {
		return unmarshalTypeErr(t, v, "out of range")
	}
	v.SetUint(u)
	return nil
}

func unmarshalFloat(_ decodeState, t Term, v reflect.Value) error {
	var f float64
	switch x := t.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		n, b, ok := integerTerm(t)
		if !ok {
			return unmarshalTypeErr(t, v, "")
		}
		f = float64(n)
		if b != nil {
			f, _ = new(big.Float).SetInt(b).Float64()
			if math.IsInf(f, 0) {
				return unmarshalTypeErr(t, v, "out of range")
			}
		}
	}
	if v.OverflowFloat(f) {
		return unmarshalTypeErr(t, v, "out of range")
	}
	v.SetFloat(f)
	return nil
}

func unmarshalBigInt(_ decodeState, t Term, v reflect.Value) error {
	n, b, ok := integerTerm(t)
	if !ok {
		return unmarshalTypeErr(t, v, "")
	}
	if !v.CanAddr() {
		return unmarshalTypeErr(t, v, "big.Int needs an addressable value")
	}
	dst := v.Addr().Interface().(*big.Int)
	if b != nil {
		dst.Set(b)
	} else {
		dst.SetInt64(n)
	}
	return nil
}

const charlistHint = "a list fills a string only with the charlist option or UnmarshalOptions.CharlistAsString"

func unmarshalStringFunc(charlist bool) valueDecoder {
	return func(d decodeState, t Term, v reflect.Value) error {
		switch x := t.(type) {
		case []byte:
			v.SetString(string(x))
			return nil
		case Atom:
			v.SetString(string(x))
			return nil
		case string:
			v.SetString(x)
			return nil
		case CharList:
			v.SetString(string(x))
			return nil
		case ByteList, List:
			if !charlist && !d.charlist {
				return unmarshalTypeErr(t, v, charlistHint)
			}
			s, reason := charlistToString(x)
			if reason != "" {
				return unmarshalTypeErr(t, v, reason)
			}
			v.SetString(s)
			return nil
		}
		return unmarshalTypeErr(t, v, "")
	}
}

// charlistToString converts a list of Unicode code points to UTF-8. A ByteList
// holds code points 0..255 (Latin-1), not UTF-8 bytes.
func charlistToString(t Term) (string, string) {
	switch x := t.(type) {
	case ByteList:
		ascii := true
		for _, c := range x {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return string(x), ""
		}
		b := make([]byte, 0, 2*len(x))
		for _, c := range x {
			b = utf8.AppendRune(b, rune(c))
		}
		return string(b), ""
	case List:
		b := make([]byte, 0, len(x))
		for i, e := range x {
			n, big, ok := integerTerm(e)
			if !ok || big != nil || n < 0 || n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
				return "", "element " + strconv.Itoa(i) + " is not a Unicode code point"
			}
			b = utf8.AppendRune(b, rune(n))
		}
		return string(b), ""
	}
	return "", "not a list"
}

func unmarshalInterface(d decodeState, t Term, v reflect.Value) error {
	if v.NumMethod() == 0 {
		if t == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(t))
		}
		return nil
	}
	// As encoding/json: a non-nil pointer already in the interface says what
	// to fill.
	if !v.IsNil() {
		if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
			if d.depth > maxNesting {
				return nestingErr(t, v)
			}
			return cachedValueDecoder(e.Type().Elem(), 0)(d.next(), t, e.Elem())
		}
	}
	if t != nil && reflect.TypeOf(t).Implements(v.Type()) {
		v.Set(reflect.ValueOf(t))
		return nil
	}
	return unmarshalTypeErr(t, v, "")
}

func unmarshalPointerFunc(t reflect.Type, f tagFlags) valueDecoder {
	elem := cachedValueDecoder(t.Elem(), f)
	return func(d decodeState, term Term, v reflect.Value) error {
		if a, ok := term.(Atom); ok && a == AtomUndefined {
			v.SetZero()
			return nil
		}
		if d.depth > maxNesting {
			return nestingErr(term, v)
		}
		if !v.IsNil() {
			return elem(d.next(), term, v.Elem())
		}
		p := reflect.New(t.Elem())
		if err := elem(d.next(), term, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
}

// seqElems returns the elements of a list (or of a tuple, when tuple is
// set): either as terms or, for a ByteList, as bytes.
func seqElems(t Term, tuple bool) ([]Term, ByteList, bool) {
	if tuple {
		x, ok := t.(Tuple)
		return x, nil, ok
	}
	switch x := t.(type) {
	case List:
		return x, nil, true
	case ByteList:
		return nil, x, true
	}
	return nil, nil, false
}

// binaryOf returns the bytes of a term that can fill a byte slice as a
// whole: a binary, the string the encoder writes as one, or a ByteList.
func binaryOf(t Term) ([]byte, bool) {
	switch x := t.(type) {
	case []byte:
		return x, true
	case ByteList:
		return x, true
	case string:
		return []byte(x), true
	}
	return nil, false
}

func unmarshalSeqFunc(t reflect.Type, f tagFlags) valueDecoder {
	tuple := f&tagOptTuple != 0
	elemT := t.Elem()
	elem := cachedValueDecoder(elemT, f&^tagOptTuple)
	isArray := t.Kind() == reflect.Array
	// Byte slices and arrays also take binaries, unless their element type
	// converts itself.
	bytesOK := elemT.Kind() == reflect.Uint8 && !tuple && !reflect.PointerTo(elemT).Implements(rtUnmarshaler)
	return func(d decodeState, term Term, v reflect.Value) error {
		if bytesOK {
			if b, ok := binaryOf(term); ok {
				if !isArray {
					v.SetBytes(bytes.Clone(b))
					return nil
				}
				if len(b) != v.Len() {
					return unmarshalTypeErr(term, v, "want "+strconv.Itoa(v.Len())+" bytes")
				}
				for i, c := range b {
					v.Index(i).SetUint(uint64(c))
				}
				return nil
			}
		}
		ts, bl, ok := seqElems(term, tuple)
		if !ok {
			return unmarshalTypeErr(term, v, "")
		}
		n := len(ts) + len(bl)
		if d.depth > maxNesting {
			return nestingErr(term, v)
		}
		s := v
		if isArray {
			if n != v.Len() {
				return unmarshalTypeErr(term, v, "want "+strconv.Itoa(v.Len())+" elements")
			}
		} else {
			if n == 0 {
				v.SetZero()
				return nil
			}
			s = reflect.MakeSlice(t, n, n)
		}
		for i := range n {
			var e Term
			if ts != nil {
				e = ts[i]
			} else {
				e = int64(bl[i])
			}
			if err := elem(d.next(), e, s.Index(i)); err != nil {
				return prefixUnmarshal(err, "["+strconv.Itoa(i)+"]")
			}
		}
		if !isArray {
			v.Set(s)
		}
		return nil
	}
}

func unmarshalMapFunc(t reflect.Type) valueDecoder {
	keyT, valT := t.Key(), t.Elem()
	keyDec := cachedValueDecoder(keyT, 0)
	valDec := cachedValueDecoder(valT, 0)
	// Keys of these kinds can hold a slice at run time, which Go cannot hash.
	check := keyT.Kind() == reflect.Interface || keyT.Kind() == reflect.Struct || keyT.Kind() == reflect.Array
	return func(d decodeState, term Term, v reflect.Value) error {
		m, ok := term.(Map)
		if !ok {
			return unmarshalTypeErr(term, v, "")
		}
		if d.depth > maxNesting {
			return nestingErr(term, v)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(t, len(m)))
		}
		for _, p := range m {
			k := reflect.New(keyT).Elem()
			if err := keyDec(d.next(), p.Key, k); err != nil {
				return prefixUnmarshal(err, "[key "+sketchTerm(p.Key, 40)+"]")
			}
			if check && !k.Comparable() {
				return &UnmarshalError{Term: p.Key, Type: keyT, Path: "[key " + sketchTerm(p.Key, 40) + "]",
					Reason: "the key cannot be a Go map key"}
			}
			val := reflect.New(valT).Elem()
			if err := valDec(d.next(), p.Value, val); err != nil {
				return prefixUnmarshal(err, "["+sketchTerm(p.Key, 40)+"]")
			}
			v.SetMapIndex(k, val)
		}
		return nil
	}
}

func unmarshalAddr(_ decodeState, t Term, v reflect.Value) error {
	switch x := t.(type) {
	case Atom:
		if x == AtomUndefined {
			v.SetZero()
			return nil
		}
	case Tuple:
		var max int64
		switch len(x) {
		case 4:
			max = 255
		case 8:
			max = 65535
		default:
			return unmarshalTypeErr(t, v, "not an inet:ip_address()")
		}
		var b [16]byte
		for i, e := range x {
			n, big, ok := integerTerm(e)
			if !ok || big != nil || n < 0 || n > max {
				return unmarshalTypeErr(t, v, "not an inet:ip_address()")
			}
			if len(x) == 4 {
				b[i] = byte(n)
			} else {
				b[2*i], b[2*i+1] = byte(n>>8), byte(n)
			}
		}
		var a netip.Addr
		if len(x) == 4 {
			a = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			a = netip.AddrFrom16(b)
		}
		v.Set(reflect.ValueOf(a))
		return nil
	}
	return unmarshalTypeErr(t, v, "")
}

func unmarshalStructFunc(t reflect.Type) valueDecoder {
	si := cachedStructInfo(t)
	if si.err != "" {
		return func(_ decodeState, term Term, v reflect.Value) error {
			return unmarshalTypeErr(term, v, si.err)
		}
	}
	decs := make([]valueDecoder, len(si.fields))
	for i := range si.fields {
		decs[i] = cachedValueDecoder(si.fields[i].typ, si.fields[i].flags)
	}
	field := func(d decodeState, i int, term Term, v reflect.Value) error {
		f := &si.fields[i]
		if err := decs[i](d, term, f.value(v)); err != nil {
			return prefixUnmarshal(err, "."+f.goName)
		}
		return nil
	}
	switch si.layout {
	case layoutRecord, layoutTuple:
		first := 0
		reason := fmt.Sprintf("want a %d-tuple", len(si.fields))
		name, _ := si.tag.(Atom)
		if si.layout == layoutRecord {
			first = 1
			reason = fmt.Sprintf("want a record, a %d-tuple tagged %s", 1+len(si.fields), Format(name))
		}
		return func(d decodeState, term Term, v reflect.Value) error {
			tup, ok := term.(Tuple)
			if !ok || len(tup) != first+len(si.fields) {
				return unmarshalTypeErr(term, v, reason)
			}
			if first == 1 {
				if a, ok := tup[0].(Atom); !ok || a != name {
					return unmarshalTypeErr(term, v, reason)
				}
			}
			if d.depth > maxNesting {
				return nestingErr(term, v)
			}
			for i := range si.fields {
				if err := field(d.next(), i, tup[first+i], v); err != nil {
					return err
				}
			}
			return nil
		}
	case layoutProplist:
		return func(d decodeState, term Term, v reflect.Value) error {
			l, ok := term.(List)
			if !ok {
				return unmarshalTypeErr(term, v, "not a property list")
			}
			if d.depth > maxNesting {
				return nestingErr(term, v)
			}
			// proplists:get_value/2 takes the first entry of a key.
			var buf [64]bool
			var seen []bool
			if len(si.fields) <= len(buf) {
				seen = buf[:len(si.fields)]
			} else {
				seen = make([]bool, len(si.fields))
			}
			for _, e := range l {
				var key string
				var val Term
				switch x := e.(type) {
				case Atom:
					key, val = string(x), AtomTrue
				case Tuple:
					if len(x) != 2 {
						continue
					}
					switch k := x[0].(type) {
					case Atom:
						key = string(k)
					case []byte:
						key = string(k)
					default:
						continue
					}
					val = x[1]
				default:
					continue
				}
				i, ok := si.byKey[key]
				if !ok || seen[i] {
					continue
				}
				seen[i] = true
				if err := field(d.next(), i, val, v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return func(d decodeState, term Term, v reflect.Value) error {
		m, ok := term.(Map)
		if !ok {
			return unmarshalTypeErr(term, v, "")
		}
		if d.depth > maxNesting {
			return nestingErr(term, v)
		}
		for _, p := range m {
			var i int
			switch k := p.Key.(type) {
			case Atom:
				i, ok = si.byKey[string(k)]
			case []byte:
				i, ok = si.byKey[string(k)]
			default:
				ok = false
			}
			if !ok {
				continue
			}
			if err := field(d.next(), i, p.Value, v); err != nil {
				return err
			}
		}
		return nil
	}
}

// describeTerm names the kind of a term and sketches it, for error messages.
func describeTerm(t Term) string {
	var kind string
	switch t.(type) {
	case nil:
		return "nil"
	case Atom, bool:
		kind = "atom"
	case int64, *big.Int, int, int8, int16, int32, uint, uint8, uint16, uint32, uint64:
		kind = "integer"
	case float64, float32:
		kind = "float"
	case []byte, string:
		kind = "binary"
	case BitString:
		kind = "bitstring"
	case List, ByteList, CharList:
		kind = "list"
	case ImproperList:
		kind = "improper list"
	case Tuple:
		kind = "tuple"
	case Map:
		kind = "map"
	case Pid:
		kind = "pid"
	case Port:
		kind = "port"
	case Ref:
		kind = "reference"
	case ExportFun, LocalFun:
		kind = "fun"
	default:
		return fmt.Sprintf("Go value of type %T", t)
	}
	return kind + " " + sketchTerm(t, 60)
}

// sketchTerm writes a term in Erlang syntax, cut after about n bytes.
func sketchTerm(t Term, n int) string {
	s := termSketcher{left: n}
	s.term(t)
	return s.b.String()
}

type termSketcher struct {
	b    strings.Builder
	left int
}

// put writes str, or as much as fits followed by "...", and reports whether
// there is room left.
func (s *termSketcher) put(str string) bool {
	if s.left <= 0 {
		return false
	}
	if len(str) > s.left {
		cut := s.left
		for cut > 0 && !utf8.RuneStart(str[cut]) {
			cut--
		}
		s.b.WriteString(str[:cut])
		s.b.WriteString("...")
		s.left = 0
		return false
	}
	s.b.WriteString(str)
	s.left -= len(str)
	return true
}

func (s *termSketcher) terms(open string, ts []Term, close string) {
	if !s.put(open) {
		return
	}
	for i, e := range ts {
		if i > 0 && !s.put(",") {
			return
		}
		s.term(e)
	}
	s.put(close)
}

func (s *termSketcher) term(t Term) {
	if s.left <= 0 {
		return
	}
	switch x := t.(type) {
	case nil:
		s.put("[]")
	case Atom, Pid, Port, Ref, ExportFun, LocalFun, float64:
		// Bounded in size, so Format cannot run away.
		s.put(Format(x))
	case bool:
		s.put(strconv.FormatBool(x))
	case *big.Int:
		if x == nil {
			s.put("<nil>")
		} else if x.BitLen() > 256 {
			s.put(fmt.Sprintf("<%d-bit integer>", x.BitLen()))
		} else {
			s.put(x.String())
		}
	case float32:
		s.put(Format(float64(x)))
	case []byte:
		s.binary(x, "")
	case string:
		s.binary([]byte(x[:min(len(x), s.left+1)]), "")
	case BitString:
		if len(x.Bytes) == 0 {
			s.put("<<>>")
			return
		}
		last := x.Bytes[len(x.Bytes)-1] >> (8 - x.Bits)
		s.binary(x.Bytes[:len(x.Bytes)-1], strconv.Itoa(int(last))+":"+strconv.Itoa(int(x.Bits)))
	case ByteList:
		// Only what fits the budget is looked at: a term may be megabytes.
		x = x[:min(len(x), s.left+1)]
		if isPrintableASCII(x) {
			s.put(strconv.Quote(string(x)))
			return
		}
		l := make([]Term, len(x))
		for i, c := range x {
			l[i] = int64(c)
		}
		s.terms("[", l, "]")
	case CharList:
		s.put(strconv.Quote(string(x[:min(len(x), s.left+1)])))
	case List:
		s.terms("[", x, "]")
	case ImproperList:
		s.terms("[", x.Elems, "|")
		s.term(x.Tail)
		s.put("]")
	case Tuple:
		s.terms("{", x, "}")
	case Map:
		if !s.put("#{") {
			return
		}
		for i, p := range x {
			if i > 0 && !s.put(",") {
				return
			}
			s.term(p.Key)
			if !s.put(" => ") {
				return
			}
			s.term(p.Value)
		}
		s.put("}")
	default:
		if n, b, ok := integerTerm(t); ok && b == nil {
			s.put(strconv.FormatInt(n, 10))
			return
		}
		s.put(fmt.Sprintf("%v", x))
	}
}

func (s *termSketcher) binary(b []byte, tail string) {
	if len(b) > s.left {
		b, tail = b[:s.left+1], ""
	}
	if tail == "" && isPrintableASCII(b) {
		s.put(`<<` + strconv.Quote(string(b)) + `>>`)
		return
	}
	if !s.put("<<") {
		return
	}
	for i, c := range b {
		if i > 0 && !s.put(",") {
			return
		}
		if !s.put(strconv.Itoa(int(c))) {
			return
		}
	}
	if tail != "" {
		if len(b) > 0 && !s.put(",") {
			return
		}
		s.put(tail)
	}
	s.put(">>")
}

func isPrintableASCII(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
