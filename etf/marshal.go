package etf

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Marshaler is implemented by types that convert themselves to a term.
// Marshal calls MarshalETF instead of applying its own rules, then converts
// the result as it converts any other value, so the method may return Go
// values as well as terms.
type Marshaler interface {
	MarshalETF() (Term, error)
}

// Unmarshaler is implemented by types that convert a term to themselves.
// Unmarshal passes the term as it is; the method must copy any slice it
// keeps if the caller may reuse the term.
type Unmarshaler interface {
	UnmarshalETF(Term) error
}

// Layout selects how a struct is laid out as a term. It has no size; declare
// it as a blank field (by convention the first) and describe the layout in
// its tag:
//
//	type Peer struct {
//		_    etf.Layout `etf:"peer,record"`   // {peer, Id, Port}
//		ID   etf.Atom
//		Port int
//	}
//
// The tag options are
//
//	record    a tagged tuple {Name, Field1, Field2, ...} in field order, as an
//	          Erlang record; the name before the comma is the record tag and
//	          is required. Unmarshal checks the tag and the arity.
//	tuple     a plain tuple {Field1, Field2, ...} in field order, for
//	          fixed-shape tuples such as a gen_server From {Pid, Tag}.
//	          Unmarshal checks the arity.
//	proplist  a property list [{key, Value}, ...]; a field whose value is the
//	          atom true is written as the bare atom key, as
//	          proplists:property/2 does, and Unmarshal reads both forms and
//	          keeps the first occurrence of a key, as proplists:get_value/2.
//	map       a map with atom keys (the default, the same as no Layout field).
type Layout struct{}

// Property is one entry of a Proplist.
type Property struct {
	Key   Term
	Value Term
}

// Proplist is an Erlang property list kept in order, for lists whose keys are
// not known in advance (a struct with a proplist Layout suits fixed keys).
// It marshals to [{Key, Value}, ...], writing an atom key whose value is true
// as the bare atom; it unmarshals from a list, reading a bare atom K as
// {K, true} and skipping elements that are neither atoms nor pairs, as the
// proplists module ignores them.
type Proplist []Property

// Get returns the value of the first property whose key equals key (by
// Equal), as proplists:get_value/2.
func (p Proplist) Get(key Term) (Term, bool) {
	for _, prop := range p {
		if Equal(prop.Key, key) {
			return prop.Value, true
		}
	}
	return nil, false
}

// MarshalETF implements Marshaler.
func (p Proplist) MarshalETF() (Term, error) {
	if len(p) == 0 {
		return List(nil), nil
	}
	out := make(List, len(p))
	for i, prop := range p {
		k, err := Marshal(prop.Key)
		if err != nil {
			return nil, fmt.Errorf("property %d key: %w", i, err)
		}
		v, err := Marshal(prop.Value)
		if err != nil {
			return nil, fmt.Errorf("property %d value: %w", i, err)
		}
		out[i] = propEntry(k, v)
	}
	return out, nil
}

// UnmarshalETF implements Unmarshaler.
func (p *Proplist) UnmarshalETF(t Term) error {
	l, ok := t.(List)
	if !ok {
		return errors.New("not a proper list")
	}
	if len(l) == 0 {
		*p = nil
		return nil
	}
	out := make(Proplist, 0, len(l))
	for _, e := range l {
		switch x := e.(type) {
		case Atom:
			out = append(out, Property{Key: x, Value: AtomTrue})
		case Tuple:
			if len(x) == 2 {
				out = append(out, Property{Key: x[0], Value: x[1]})
			}
		}
	}
	*p = out
	return nil
}

// propEntry builds a proplist entry in the normal form of proplists:property/2.
func propEntry(k, v Term) Term {
	if a, ok := k.(Atom); ok {
		if b, ok := v.(Atom); ok && b == AtomTrue {
			return a
		}
	}
	return Tuple{k, v}
}

// MarshalError reports a Go value that Marshal cannot convert.
type MarshalError struct {
	Type   reflect.Type // Go type of the offending value
	Path   string       // where it sits in the value given to Marshal, e.g. ".Peers[3].Port"
	Reason string
	Err    error // from a MarshalETF method, if that is what failed

	rev []string // path segments, innermost first, until Marshal returns
}

func (e *MarshalError) Error() string {
	return conversionError("etf: cannot marshal Go value of type ", e.Type, e.Path, e.Reason, e.Err)
}

// conversionError formats Marshal's and Unmarshal's errors:
// "<head><type>[ at <path>][: <reason>][: <err>]".
func conversionError(head string, t reflect.Type, path, reason string, err error) string {
	var b strings.Builder
	b.WriteString(head)
	if t != nil {
		b.WriteString(t.String())
	} else {
		b.WriteString("nil")
	}
	if path != "" {
		b.WriteString(" at ")
		b.WriteString(path)
	}
	if reason != "" {
		b.WriteString(": ")
		b.WriteString(reason)
	}
	if err != nil {
		b.WriteString(": ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *MarshalError) Unwrap() error { return e.Err }

// maxNesting bounds the nesting Marshal and Unmarshal follow, so that a cyclic
// Go value (a pointer loop, a List containing itself) fails instead of
// exhausting the stack.
const maxNesting = 10000

const nestingReason = "nested more than 10000 levels deep (cyclic value?)"

// Marshal converts a Go value to a term, which Encode can then write. It is
// the inverse of Unmarshal and follows the conventions of encoding/json,
// with struct tags `etf:"name,option,..."`.
//
//	Go value                     Term (Marshal)                       Unmarshal also accepts
//	bool                         atom true | false
//	int, int8..int64,            integer (int64, or *big.Int above    (range-checked)
//	  uint..uint64, uintptr        math.MaxInt64)
//	big.Int, *big.Int            integer (int64 when it fits)
//	float32, float64             float (float64)                      integer
//	string                       binary ([]byte)                      atom; a charlist with
//	                                                                    CharlistAsString or ,charlist
//	string with ,atom            atom                                 binary
//	string with ,charlist        charlist (CharList)                  binary, atom
//	[]byte                       binary (shared, not copied)          string (ByteList)
//	[]T, [N]T                    proper list (nil slice: [])          string (ByteList); [N]byte: binary
//	[]T, [N]T with ,tuple        tuple
//	map[K]V                      map, pairs sorted by Compare
//	struct                       map with atom keys                   binary keys
//	struct, Layout ",record"     {Name, Field1, ...}
//	struct, Layout ",tuple"      {Field1, ...}
//	struct, Layout ",proplist"   [{key, Value} | key, ...]
//	Proplist                     [{Key, Value} | Key, ...]
//	netip.Addr                   {A,B,C,D} | {A,...,H}; zero: undefined
//	*T                           as T; nil: undefined                 undefined sets nil
//	interface                    as its dynamic value; nil: []        any: the term as it is
//	Marshaler, Unmarshaler       MarshalETF()                         UnmarshalETF(t)
//	Term types (Atom, Pid,       unchanged; elements of List, Tuple,  the same type; List also
//	  Tuple, Map, List, ...)       Map, ImproperList are converted      from ByteList
//
// Struct fields: the key is the tag name, or the Go field name as it is when
// the tag has none; `etf:"-"` skips a field, unexported fields are skipped,
// and the fields of an embedded struct are promoted as in encoding/json.
// Field options:
//
//	omitempty  leave the field out (map and proplist layouts) when it holds
//	           its zero value or is an empty slice, map or string
//	atom       a string (or the strings in a slice or pointer) as atoms
//	charlist   a string as a charlist, and accept charlists on Unmarshal
//	tuple      a slice or array as a tuple instead of a list
//
// A nil interface marshals to [] because the encoder writes Go nil as [];
// a nil pointer marshals to undefined, the usual "no value" of Erlang
// records, and Unmarshal turns undefined back into nil. Go maps and structs
// come out with their pairs sorted, so Marshal is deterministic.
func Marshal(v any) (Term, error) {
	t, _, err := marshalTerm(v, 0)
	if e, ok := err.(*MarshalError); ok {
		e.Path, e.rev = joinPath(e.rev, e.Path), nil
	}
	return t, err
}

// marshalTerm converts v and reports whether the result differs from v, so
// that containers of terms that hold only terms are returned without a copy.
func marshalTerm(v any, depth int) (Term, bool, error) {
	switch x := v.(type) {
	case nil:
		return List(nil), true, nil
	case Atom, int64, float64, []byte, BitString, ByteList, CharList, Pid, Port, Ref, ExportFun, LocalFun:
		return x, false, nil
	case *big.Int:
		if x == nil {
			return AtomUndefined, true, nil
		}
		if x.IsInt64() {
			return x.Int64(), true, nil
		}
		return x, false, nil
	case List, Tuple, Map, ImproperList:
		if depth > maxNesting {
			return nil, false, &MarshalError{Type: reflect.TypeOf(v), Reason: nestingReason}
		}
		return marshalContainer(x, depth)
	case bool:
		return boolTerm(x), true, nil
	case int:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case uint8:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case uint:
		return uintTerm(uint64(x)), true, nil
	case uint64:
		return uintTerm(x), true, nil
	case float32:
		return float64(x), true, nil
	case string:
		return []byte(x), true, nil
	}
	if depth > maxNesting {
		return nil, false, &MarshalError{Type: reflect.TypeOf(v), Reason: nestingReason}
	}
	rv := reflect.ValueOf(v)
	t, err := cachedValueEncoder(rv.Type(), 0)(rv, depth)
	return t, true, err
}

func marshalContainer(v Term, depth int) (Term, bool, error) {
	switch x := v.(type) {
	case List:
		out, changed, err := marshalTerms(x, depth)
		if !changed || err != nil {
			return x, false, err
		}
		return List(out), true, nil
	case Tuple:
		out, changed, err := marshalTerms(x, depth)
		if !changed || err != nil {
			return x, false, err
		}
		return Tuple(out), true, nil
	case ImproperList:
		elems, changed, err := marshalTerms(x.Elems, depth)
		if err != nil {
			return nil, false, err
		}
		tail, tch, err := marshalTerm(x.Tail, depth+1)
		if err != nil {
			return nil, false, prefixMarshal(err, "|tail")
		}
		if !changed && !tch {
			return x, false, nil
		}
		return ImproperList{Elems: elems, Tail: tail}, true, nil
	case Map:
		var out Map
		for i, p := range x {
			k, kch, err := marshalTerm(p.Key, depth+1)
			if err != nil {
				return nil, false, prefixMarshal(err, "[key "+strconv.Itoa(i)+"]")
			}
			val, vch, err := marshalTerm(p.Value, depth+1)
			if err != nil {
				return nil, false, prefixMarshal(err, "["+sketchTerm(k, 40)+"]")
			}
			if (kch || vch) && out == nil {
				out = make(Map, len(x))
				copy(out, x[:i])
			}
			if out != nil {
				out[i] = MapPair{Key: k, Value: val}
			}
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

// marshalTerms converts the elements of a term container, copying the slice
// only once an element changes.
func marshalTerms(s []Term, depth int) ([]Term, bool, error) {
	var out []Term
	for i, e := range s {
		t, changed, err := marshalTerm(e, depth+1)
		if err != nil {
			return nil, false, prefixMarshal(err, "["+strconv.Itoa(i)+"]")
		}
		if changed && out == nil {
			out = make([]Term, len(s))
			copy(out, s[:i])
		}
		if out != nil {
			out[i] = t
		}
	}
	if out == nil {
		return s, false, nil
	}
	return out, true, nil
}

// prefixMarshal records one more path segment as an error travels up. The
// segments are joined once, at the top, so a deep error costs linear time.
func prefixMarshal(err error, seg string) error {
	if e, ok := err.(*MarshalError); ok {
		e.rev = append(e.rev, seg)
	}
	return err
}

// joinPath turns innermost-first segments into a path in front of tail,
// eliding the middle of very deep paths.
func joinPath(rev []string, tail string) string {
	const keep = 20
	var b strings.Builder
	for i := len(rev) - 1; i >= 0; i-- {
		if i == len(rev)-1-keep && i >= keep {
			b.WriteString("...")
			i = keep - 1
		}
		b.WriteString(rev[i])
	}
	b.WriteString(tail)
	return b.String()
}

func boolTerm(b bool) Term {
	if b {
		return AtomTrue
	}
	return AtomFalse
}

func uintTerm(u uint64) Term {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}

// tagFlags are the field options that change how a value is converted.
// They reach through pointers, and atom and charlist through slice and array
// elements as well, so `etf:"nodes,atom"` works on a []string.
type tagFlags uint8

const (
	tagOptAtom tagFlags = 1 << iota
	tagOptCharlist
	tagOptTuple
)

type valueCodecKey struct {
	t reflect.Type
	f tagFlags
}

type valueEncoder func(v reflect.Value, depth int) (Term, error)

var valueEncoderCache sync.Map // valueCodecKey -> valueEncoder

// cachedValueEncoder returns the cached encoder of a type. A recursive type
// sees a placeholder that waits for the real encoder, as in encoding/json.
func cachedValueEncoder(t reflect.Type, f tagFlags) valueEncoder {
	k := valueCodecKey{t, f}
	if fi, ok := valueEncoderCache.Load(k); ok {
		return fi.(valueEncoder)
	}
	var (
		wg sync.WaitGroup
		fn valueEncoder
	)
	wg.Add(1)
	fi, loaded := valueEncoderCache.LoadOrStore(k, valueEncoder(func(v reflect.Value, depth int) (Term, error) {
		wg.Wait()
		return fn(v, depth)
	}))
	if loaded {
		return fi.(valueEncoder)
	}
	fn = newValueEncoder(t, f)
	wg.Done()
	valueEncoderCache.Store(k, fn)
	return fn
}

var (
	rtMarshaler    = reflect.TypeFor[Marshaler]()
	rtUnmarshaler  = reflect.TypeFor[Unmarshaler]()
	rtAtom         = reflect.TypeFor[Atom]()
	rtBitString    = reflect.TypeFor[BitString]()
	rtList         = reflect.TypeFor[List]()
	rtByteList     = reflect.TypeFor[ByteList]()
	rtCharList     = reflect.TypeFor[CharList]()
	rtImproperList = reflect.TypeFor[ImproperList]()
	rtTuple        = reflect.TypeFor[Tuple]()
	rtMap          = reflect.TypeFor[Map]()
	rtPid          = reflect.TypeFor[Pid]()
	rtPort         = reflect.TypeFor[Port]()
	rtRef          = reflect.TypeFor[Ref]()
	rtExportFun    = reflect.TypeFor[ExportFun]()
	rtLocalFun     = reflect.TypeFor[LocalFun]()
	rtBigInt       = reflect.TypeFor[big.Int]()
	rtAddr         = reflect.TypeFor[netip.Addr]()
	rtLayout       = reflect.TypeFor[Layout]()
)

// convertsWhole reports struct types that convert as a whole, which are
// therefore never flattened when embedded.
func convertsWhole(t reflect.Type) bool {
	switch t {
	case rtBitString, rtImproperList, rtPid, rtPort, rtRef, rtExportFun, rtLocalFun, rtBigInt, rtAddr, rtLayout:
		return true
	}
	return t.Implements(rtMarshaler) || reflect.PointerTo(t).Implements(rtMarshaler) ||
		reflect.PointerTo(t).Implements(rtUnmarshaler)
}

func newValueEncoder(t reflect.Type, f tagFlags) valueEncoder {
	if t.Implements(rtMarshaler) {
		return marshalWithMethod
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(rtMarshaler) {
		return marshalWithPtrMethod
	}
	switch t {
	case rtAtom, rtBitString, rtByteList, rtCharList, rtPid, rtPort, rtRef, rtExportFun, rtLocalFun:
		return func(v reflect.Value, _ int) (Term, error) { return v.Interface(), nil }
	case rtList, rtTuple, rtMap, rtImproperList:
		return func(v reflect.Value, depth int) (Term, error) {
			t, _, err := marshalContainer(v.Interface(), depth)
			return t, err
		}
	case rtBigInt:
		return marshalBigInt
	case rtAddr:
		return marshalAddr
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(v reflect.Value, _ int) (Term, error) { return boolTerm(v.Bool()), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value, _ int) (Term, error) { return v.Int(), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value, _ int) (Term, error) { return uintTerm(v.Uint()), nil }
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value, _ int) (Term, error) { return v.Float(), nil }
	case reflect.String:
		switch {
		case f&tagOptAtom != 0:
			return func(v reflect.Value, _ int) (Term, error) { return Atom(v.String()), nil }
		case f&tagOptCharlist != 0:
			return func(v reflect.Value, _ int) (Term, error) { return CharList(v.String()), nil }
		}
		return func(v reflect.Value, _ int) (Term, error) { return []byte(v.String()), nil }
	case reflect.Interface:
		return func(v reflect.Value, depth int) (Term, error) {
			if v.IsNil() {
				return List(nil), nil
			}
			t, _, err := marshalTerm(v.Elem().Interface(), depth+1)
			return t, err
		}
	case reflect.Pointer:
		elem := cachedValueEncoder(t.Elem(), f)
		return func(v reflect.Value, depth int) (Term, error) {
			if v.IsNil() {
				return AtomUndefined, nil
			}
			if depth > maxNesting {
				return nil, &MarshalError{Type: v.Type(), Reason: nestingReason}
			}
			return elem(v.Elem(), depth+1)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && f&tagOptTuple == 0 && !t.Elem().Implements(rtMarshaler) &&
			!reflect.PointerTo(t.Elem()).Implements(rtMarshaler) {
			return func(v reflect.Value, _ int) (Term, error) {
				if v.IsNil() {
					return []byte{}, nil
				}
				return v.Bytes(), nil
			}
		}
		return marshalSeqFunc(t, f)
	case reflect.Array:
		return marshalSeqFunc(t, f)
	case reflect.Map:
		return marshalMapFunc(t)
	case reflect.Struct:
		return marshalStructFunc(t)
	}
	return func(v reflect.Value, _ int) (Term, error) {
		return nil, &MarshalError{Type: t, Reason: "unsupported type"}
	}
}

func marshalWithMethod(v reflect.Value, depth int) (Term, error) {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return AtomUndefined, nil
	}
	return callMarshalETF(v.Interface().(Marshaler), v.Type(), depth)
}

func marshalWithPtrMethod(v reflect.Value, depth int) (Term, error) {
	if !v.CanAddr() {
		// A copy is addressable; the method still sees the same value.
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p.Elem()
	}
	return callMarshalETF(v.Addr().Interface().(Marshaler), v.Type(), depth)
}

func callMarshalETF(m Marshaler, t reflect.Type, depth int) (Term, error) {
	r, err := m.MarshalETF()
	if err != nil {
		return nil, &MarshalError{Type: t, Reason: "MarshalETF", Err: err}
	}
	if depth > maxNesting {
		return nil, &MarshalError{Type: t, Reason: nestingReason}
	}
	r, _, err = marshalTerm(r, depth+1)
	return r, err
}

func marshalBigInt(v reflect.Value, _ int) (Term, error) {
	var b *big.Int
	if v.CanAddr() {
		b = v.Addr().Interface().(*big.Int)
	} else {
		c := v.Interface().(big.Int)
		b = &c
	}
	if b.IsInt64() {
		return b.Int64(), nil
	}
	return new(big.Int).Set(b), nil
}

func marshalAddr(v reflect.Value, _ int) (Term, error) {
	a := v.Interface().(netip.Addr)
	switch {
	case !a.IsValid():
		return AtomUndefined, nil
	case a.Is4():
		b := a.As4()
		return Tuple{int64(b[0]), int64(b[1]), int64(b[2]), int64(b[3])}, nil
	case a.Zone() != "":
		return nil, &MarshalError{Type: rtAddr, Reason: "an IPv6 zone has no Erlang form: " + a.String()}
	}
	b := a.As16()
	t := make(Tuple, 8)
	for i := range t {
		t[i] = int64(b[2*i])<<8 | int64(b[2*i+1])
	}
	return t, nil
}

func marshalSeqFunc(t reflect.Type, f tagFlags) valueEncoder {
	tuple := f&tagOptTuple != 0
	elem := cachedValueEncoder(t.Elem(), f&^tagOptTuple)
	return func(v reflect.Value, depth int) (Term, error) {
		n := v.Len()
		if n == 0 {
			if tuple {
				return Tuple{}, nil
			}
			return List(nil), nil
		}
		if depth > maxNesting {
			return nil, &MarshalError{Type: v.Type(), Reason: nestingReason}
		}
		out := make([]Term, n)
		for i := range n {
			e, err := elem(v.Index(i), depth+1)
			if err != nil {
				return nil, prefixMarshal(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = e
		}
		if tuple {
			return Tuple(out), nil
		}
		return List(out), nil
	}
}

func marshalMapFunc(t reflect.Type) valueEncoder {
	keyEnc := cachedValueEncoder(t.Key(), 0)
	valEnc := cachedValueEncoder(t.Elem(), 0)
	// Only interface keys can turn two Go keys into one term (int(1) and
	// int64(1)); other key types map distinct keys to distinct terms.
	checkDup := t.Key().Kind() == reflect.Interface
	return func(v reflect.Value, depth int) (Term, error) {
		n := v.Len()
		if n == 0 {
			return Map{}, nil
		}
		if depth > maxNesting {
			return nil, &MarshalError{Type: v.Type(), Reason: nestingReason}
		}
		out := make(Map, 0, n)
		it := v.MapRange()
		for it.Next() {
			k, err := keyEnc(it.Key(), depth+1)
			if err != nil {
				return nil, prefixMarshal(err, fmt.Sprintf("[key %v]", it.Key()))
			}
			val, err := valEnc(it.Value(), depth+1)
			if err != nil {
				return nil, prefixMarshal(err, fmt.Sprintf("[%v]", it.Key()))
			}
			out = append(out, MapPair{Key: k, Value: val})
		}
		slices.SortFunc(out, func(a, b MapPair) int { return Compare(a.Key, b.Key) })
		if checkDup {
			for i := 1; i < len(out); i++ {
				if Compare(out[i-1].Key, out[i].Key) == 0 && Equal(out[i-1].Key, out[i].Key) {
					return nil, &MarshalError{Type: v.Type(), Reason: "two keys marshal to the same term " + sketchTerm(out[i].Key, 40)}
				}
			}
		}
		return out, nil
	}
}

type layoutKind uint8

const (
	layoutMap layoutKind = iota
	layoutRecord
	layoutTuple
	layoutProplist
)

type fieldInfo struct {
	goName    string // for error paths
	key       string
	keyTerm   Term // Atom(key), boxed once
	index     []int
	typ       reflect.Type
	flags     tagFlags
	omitEmpty bool
}

type structInfo struct {
	layout layoutKind
	tag    Term // the record tag atom
	fields []fieldInfo
	byKey  map[string]int
	err    string // why the struct's tags are invalid
}

var structCache sync.Map // reflect.Type -> *structInfo

func cachedStructInfo(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si, _ := structCache.LoadOrStore(t, newStructInfo(t))
	return si.(*structInfo)
}

func newStructInfo(t reflect.Type) *structInfo {
	si := &structInfo{}
	var fields []fieldInfo
	var depths []int
	seenLayout := false
	var walk func(t reflect.Type, index []int, depth int) string
	walk = func(t reflect.Type, index []int, depth int) string {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("etf")
			if sf.Type == rtLayout {
				if depth > 0 {
					continue
				}
				if seenLayout {
					return "more than one etf.Layout field"
				}
				seenLayout = true
				if msg := si.parseLayout(tag); msg != "" {
					return msg
				}
				continue
			}
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clip(index), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct && !convertsWhole(sf.Type) {
				if msg := walk(sf.Type, idx, depth+1); msg != "" {
					return msg
				}
				continue
			}
			if !sf.IsExported() {
				continue
			}
			fi := fieldInfo{goName: sf.Name, key: name, index: idx, typ: sf.Type}
			if fi.key == "" {
				fi.key = sf.Name
			}
			for o := range strings.SplitSeq(opts, ",") {
				switch o {
				case "":
				case "omitempty":
					fi.omitEmpty = true
				case "atom":
					fi.flags |= tagOptAtom
				case "charlist":
					fi.flags |= tagOptCharlist
				case "tuple":
					fi.flags |= tagOptTuple
				default:
					return "field " + sf.Name + ": unknown tag option " + strconv.Quote(o)
				}
			}
			if msg := checkTagOpts(sf.Type, fi.flags); msg != "" {
				return "field " + sf.Name + ": " + msg
			}
			fi.keyTerm = Atom(fi.key)
			fields = append(fields, fi)
			depths = append(depths, depth)
		}
		return ""
	}
	if msg := walk(t, nil, 0); msg != "" {
		si.err = msg
		return si
	}
	if si.layout == layoutRecord || si.layout == layoutTuple {
		// Positions, not names, identify the fields.
		for _, f := range fields {
			if f.omitEmpty {
				return &structInfo{err: "field " + f.goName + ": omitempty cannot apply to a positional field"}
			}
		}
		si.fields = fields
		return si
	}
	// A shallower field hides a deeper one of the same key, as in
	// encoding/json; two at the same depth are ambiguous.
	best := map[string]int{}
	for i, f := range fields {
		j, ok := best[f.key]
		switch {
		case !ok || depths[i] < depths[j]:
			best[f.key] = i
		case depths[i] == depths[j]:
			return &structInfo{err: "two fields have the key " + strconv.Quote(f.key)}
		}
	}
	si.byKey = make(map[string]int, len(best))
	for i, f := range fields {
		if best[f.key] == i {
			si.byKey[f.key] = len(si.fields)
			si.fields = append(si.fields, f)
		}
	}
	return si
}

func (si *structInfo) parseLayout(tag string) string {
	name, opts, _ := strings.Cut(tag, ",")
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "":
		case "record":
			si.layout = layoutRecord
		case "tuple":
			si.layout = layoutTuple
		case "proplist":
			si.layout = layoutProplist
		case "map":
			si.layout = layoutMap
		default:
			return "etf.Layout: unknown option " + strconv.Quote(o)
		}
	}
	switch {
	case si.layout == layoutRecord && name == "":
		return `etf.Layout: a record needs a tag name, as in etf:"peer,record"`
	case si.layout != layoutRecord && name != "":
		return "etf.Layout: a name is only meaningful with the record option"
	}
	si.tag = Atom(name)
	return ""
}

// checkTagOpts tells why a field's options do not fit its type.
func checkTagOpts(t reflect.Type, f tagFlags) string {
	if f&tagOptAtom != 0 && f&tagOptCharlist != 0 {
		return "options atom and charlist exclude each other"
	}
	if f&tagOptTuple != 0 {
		b := t
		for b.Kind() == reflect.Pointer {
			b = b.Elem()
		}
		if b.Kind() != reflect.Slice && b.Kind() != reflect.Array {
			return "option tuple needs a slice or array, not " + t.String()
		}
	}
	if f&(tagOptAtom|tagOptCharlist) != 0 {
		b := t
		for b.Kind() == reflect.Pointer || b.Kind() == reflect.Slice || b.Kind() == reflect.Array {
			b = b.Elem()
		}
		if b.Kind() != reflect.String {
			return "options atom and charlist need a string type, not " + t.String()
		}
	}
	return ""
}

func (f *fieldInfo) value(v reflect.Value) reflect.Value {
	if len(f.index) == 1 {
		return v.Field(f.index[0])
	}
	return v.FieldByIndex(f.index)
}

func isEmptyField(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Array:
		return v.Len() == 0
	}
	return v.IsZero()
}

func marshalStructFunc(t reflect.Type) valueEncoder {
	si := cachedStructInfo(t)
	if si.err != "" {
		return func(v reflect.Value, _ int) (Term, error) {
			return nil, &MarshalError{Type: t, Reason: si.err}
		}
	}
	encs := make([]valueEncoder, len(si.fields))
	for i := range si.fields {
		encs[i] = cachedValueEncoder(si.fields[i].typ, si.fields[i].flags)
	}
	fieldErr := func(err error, i int) error { return prefixMarshal(err, "."+si.fields[i].goName) }
	switch si.layout {
	case layoutRecord, layoutTuple:
		first := 0
		if si.layout == layoutRecord {
			first = 1
		}
		return func(v reflect.Value, depth int) (Term, error) {
			if depth > maxNesting {
				return nil, &MarshalError{Type: t, Reason: nestingReason}
			}
			out := make(Tuple, first+len(si.fields))
			if first == 1 {
				out[0] = si.tag
			}
			for i := range si.fields {
				e, err := encs[i](si.fields[i].value(v), depth+1)
				if err != nil {
					return nil, fieldErr(err, i)
				}
				out[first+i] = e
			}
			return out, nil
		}
	case layoutProplist:
		return func(v reflect.Value, depth int) (Term, error) {
			if depth > maxNesting {
				return nil, &MarshalError{Type: t, Reason: nestingReason}
			}
			out := make(List, 0, len(si.fields))
			for i := range si.fields {
				f := &si.fields[i]
				fv := f.value(v)
				if f.omitEmpty && isEmptyField(fv) {
					continue
				}
				e, err := encs[i](fv, depth+1)
				if err != nil {
					return nil, fieldErr(err, i)
				}
				out = append(out, propEntry(f.keyTerm, e))
			}
			if len(out) == 0 {
				return List(nil), nil
			}
			return out, nil
		}
	}
	// The keys are fixed, so the term order of the pairs is computed once.
	order := make([]int, len(si.fields))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return Compare(si.fields[a].keyTerm, si.fields[b].keyTerm) })
	return func(v reflect.Value, depth int) (Term, error) {
		if depth > maxNesting {
			return nil, &MarshalError{Type: t, Reason: nestingReason}
		}
		out := make(Map, 0, len(si.fields))
		for _, i := range order {
			f := &si.fields[i]
			fv := f.value(v)
			if f.omitEmpty && isEmptyField(fv) {
				continue
			}
			e, err := encs[i](fv, depth+1)
			if err != nil {
				return nil, fieldErr(err, i)
			}
			out = append(out, MapPair{Key: f.keyTerm, Value: e})
		}
		return out, nil
	}
}
