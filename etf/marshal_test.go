package etf_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

// peer is the #peer{} record of barrel_p2p (shared/spec/membership.md 2.1).
type peer struct {
	_            etf.Layout `etf:"peer,record"`
	ID           etf.Atom
	Address      netip.Addr // {A,B,C,D}, 8-tuple or undefined
	Port         *int       // integer or undefined
	QuicPort     *int
	Connected    bool
	Priority     string `etf:",atom"` // high | low
	LastSeen     *int64
	FailCount    int
	BackoffUntil *int64
}

type simple struct {
	Name string
	Port int      `etf:"port"`
	Tags []string `etf:"tags,omitempty"`
	Skip int      `etf:"-"`
	//lint:ignore U1000 present to show that unexported fields are skipped
	hidden int
}

type sockOpts struct {
	_      etf.Layout `etf:",proplist"`
	Active bool       `etf:"active"`
	Mode   string     `etf:"mode,atom"`
	Packet int        `etf:"packet,omitempty"`
}

// version marshals itself as {Major, Minor}.
type version struct{ Major, Minor int }

func (v version) MarshalETF() (etf.Term, error) { return etf.Tuple{v.Major, v.Minor}, nil }

func (v *version) UnmarshalETF(t etf.Term) error {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 2 {
		return errors.New("want {Major, Minor}")
	}
	return etf.Unmarshal(tup, &struct {
		_     etf.Layout `etf:",tuple"`
		Major *int
		Minor *int
	}{Major: &v.Major, Minor: &v.Minor})
}

type color string

func intp(i int) *int         { return &i }
func i64p(i int64) *int64     { return &i }
func bigPow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

var (
	testPid = etf.Pid{Node: "v2@127.0.0.1", ID: 192, Serial: 0, Creation: 4}
	testRef = etf.Ref{Node: "v2@127.0.0.1", Creation: 4, Len: 3, ID: [5]uint32{1, 2, 3}}
)

// mappingRows has one row per line of the table in Marshal's documentation:
// Go value, the term Marshal must produce, and Unmarshal of that term into a
// fresh value of the same type must give the Go value back.
var mappingRows = []struct {
	name string
	v    any
	term etf.Term
}{
	{"bool true", true, etf.Atom("true")},
	{"bool false", false, etf.Atom("false")},
	{"int", 42, int64(42)},
	{"int8", int8(-128), int64(-128)},
	{"int16", int16(-30000), int64(-30000)},
	{"int32", int32(math.MaxInt32), int64(math.MaxInt32)},
	{"int64", int64(math.MinInt64), int64(math.MinInt64)},
	{"uint", uint(7), int64(7)},
	{"uint8", uint8(255), int64(255)},
	{"uint16", uint16(65535), int64(65535)},
	{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
	{"uint64 small", uint64(1 << 40), int64(1 << 40)},
	{"uint64 max", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
	{"uintptr", uintptr(9), int64(9)},
	{"*big.Int", bigPow2(100), bigPow2(100)},
	{"big.Int", *bigPow2(70), bigPow2(70)},
	{"float32", float32(1.5), 1.5},
	{"float64", -0.25, -0.25},
	{"string", "héllo", []byte("héllo")},
	{"named string", color("red"), []byte("red")},
	{"[]byte", []byte{1, 2, 3}, []byte{1, 2, 3}},
	{"atom", etf.Atom("ok"), etf.Atom("ok")},
	{"[]int", []int{1, 2, 3}, etf.List{int64(1), int64(2), int64(3)}},
	{"nil []int", []int(nil), etf.List(nil)},
	{"[3]uint16", [3]uint16{1, 2, 3}, etf.List{int64(1), int64(2), int64(3)}},
	{"[]string", []string{"a", "b"}, etf.List{[]byte("a"), []byte("b")}},
	{"[][]int", [][]int{{1}, {2, 3}}, etf.List{etf.List{int64(1)}, etf.List{int64(2), int64(3)}}},
	{"map[string]int", map[string]int{"b": 2, "a": 1, "ab": 3},
		etf.Map{{Key: []byte("a"), Value: int64(1)}, {Key: []byte("ab"), Value: int64(3)}, {Key: []byte("b"), Value: int64(2)}}},
	{"map[int]string", map[int]string{10: "x", -1: "y"},
		etf.Map{{Key: int64(-1), Value: []byte("y")}, {Key: int64(10), Value: []byte("x")}}},
	{"map[Atom]bool", map[etf.Atom]bool{"z": true, "a": false},
		etf.Map{{Key: etf.Atom("a"), Value: etf.Atom("false")}, {Key: etf.Atom("z"), Value: etf.Atom("true")}}},
	{"empty map", map[string]int{}, etf.Map{}},
	{"struct", simple{Name: "n", Port: 80, Tags: []string{"x"}},
		etf.Map{{Key: etf.Atom("Name"), Value: []byte("n")}, {Key: etf.Atom("port"), Value: int64(80)},
			{Key: etf.Atom("tags"), Value: etf.List{[]byte("x")}}}},
	{"struct omitempty", simple{Name: "n"},
		etf.Map{{Key: etf.Atom("Name"), Value: []byte("n")}, {Key: etf.Atom("port"), Value: int64(0)}}},
	{"record", peer{ID: "a@h", Address: netip.MustParseAddr("10.0.0.1"), Port: intp(1), Connected: true, Priority: "low", FailCount: 2},
		etf.Tuple{etf.Atom("peer"), etf.Atom("a@h"), etf.Tuple{int64(10), int64(0), int64(0), int64(1)}, int64(1),
			etf.Atom("undefined"), etf.Atom("true"), etf.Atom("low"), etf.Atom("undefined"), int64(2), etf.Atom("undefined")}},
	{"proplist struct", sockOpts{Active: true, Mode: "binary"},
		etf.List{etf.Atom("active"), etf.Tuple{etf.Atom("mode"), etf.Atom("binary")}}},
	{"proplist struct false", sockOpts{Mode: "list", Packet: 4},
		etf.List{etf.Tuple{etf.Atom("active"), etf.Atom("false")}, etf.Tuple{etf.Atom("mode"), etf.Atom("list")},
			etf.Tuple{etf.Atom("packet"), int64(4)}}},
	{"Proplist", etf.Proplist{{Key: etf.Atom("a"), Value: etf.Atom("true")}, {Key: etf.Atom("b"), Value: int64(1)}, {Key: []byte("c"), Value: etf.Atom("true")}},
		etf.List{etf.Atom("a"), etf.Tuple{etf.Atom("b"), int64(1)}, etf.Tuple{[]byte("c"), etf.Atom("true")}}},
	{"netip v4", netip.MustParseAddr("127.0.0.1"), etf.Tuple{int64(127), int64(0), int64(0), int64(1)}},
	{"netip v6", netip.MustParseAddr("fe80::1:2"),
		etf.Tuple{int64(0xfe80), int64(0), int64(0), int64(0), int64(0), int64(0), int64(1), int64(2)}},
	{"netip zero", netip.Addr{}, etf.Atom("undefined")},
	{"nil *int", (*int)(nil), etf.Atom("undefined")},
	{"*int", intp(5), int64(5)},
	{"**string", func() **string { s := "x"; p := &s; return &p }(), []byte("x")},
	{"interface field", struct{ V any }{V: etf.Tuple{etf.Atom("ok"), int64(1)}},
		etf.Map{{Key: etf.Atom("V"), Value: etf.Tuple{etf.Atom("ok"), int64(1)}}}},
	{"Marshaler", version{1, 2}, etf.Tuple{int64(1), int64(2)}},
	{"Marshaler field", struct{ V version }{version{3, 4}}, etf.Map{{Key: etf.Atom("V"), Value: etf.Tuple{int64(3), int64(4)}}}},
	{"pid", testPid, testPid},
	{"ref", testRef, testRef},
	{"port", etf.Port{Node: "n@h", ID: 7, Creation: 4}, etf.Port{Node: "n@h", ID: 7, Creation: 4}},
	{"export fun", etf.ExportFun{Module: "m", Function: "f", Arity: 2}, etf.ExportFun{Module: "m", Function: "f", Arity: 2}},
	{"tuple", etf.Tuple{etf.Atom("a"), testPid}, etf.Tuple{etf.Atom("a"), testPid}},
	{"term map", etf.Map{{Key: etf.Atom("k"), Value: etf.List(nil)}}, etf.Map{{Key: etf.Atom("k"), Value: etf.List(nil)}}},
	{"byte list", etf.ByteList("abc"), etf.ByteList("abc")},
	{"improper list", etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("t")},
		etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: etf.Atom("t")}},
	{"bitstring", etf.BitString{Bytes: []byte{1, 0xe0}, Bits: 3}, etf.BitString{Bytes: []byte{1, 0xe0}, Bits: 3}},
}

// encodeHex encodes a term with the codec, so that a mismatch shows as
// bytes and Marshal's output is known to be encodable.
func encodeHex(t *testing.T, term etf.Term) string {
	t.Helper()
	b, err := etf.Encode(term)
	if err != nil {
		t.Fatalf("Encode(%s): %v", etf.Format(term), err)
	}
	return hex.EncodeToString(b)
}

func equalGo(a, b any) bool {
	if x, ok := a.(*big.Int); ok {
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	}
	if x, ok := a.(big.Int); ok {
		y, ok := b.(big.Int)
		return ok && x.Cmp(&y) == 0
	}
	return reflect.DeepEqual(a, b)
}

func TestMarshalTable(t *testing.T) {
	for _, r := range mappingRows {
		t.Run(r.name, func(t *testing.T) {
			got, err := etf.Marshal(r.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(r.term) || !etf.Equal(got, r.term) {
				t.Fatalf("Marshal = %T %s, want %T %s", got, etf.Format(got), r.term, etf.Format(r.term))
			}
			// Same bytes, so maps came out in the order given in the table.
			if g, w := encodeHex(t, got), encodeHex(t, r.term); g != w {
				t.Fatalf("encoded Marshal = %s, want %s", g, w)
			}
		})
	}
}

func TestUnmarshalTable(t *testing.T) {
	for _, r := range mappingRows {
		t.Run(r.name, func(t *testing.T) {
			dst := reflect.New(reflect.TypeOf(r.v))
			if err := etf.Unmarshal(r.term, dst.Interface()); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := dst.Elem().Interface(); !equalGo(got, r.v) {
				t.Fatalf("Unmarshal = %#v, want %#v", got, r.v)
			}
		})
	}
}

// TestUnmarshalAccepts covers the "Unmarshal also accepts" column and the
// rules that have no Marshal counterpart.
func TestUnmarshalAccepts(t *testing.T) {
	type embedded struct {
		Port int `etf:"port"`
		Name string
	}
	type outer struct {
		embedded
		Name string // hides embedded.Name
	}
	type charlists struct {
		S string `etf:"s,charlist"`
	}
	type arr struct {
		B [4]byte
		T [2]int `etf:"t,tuple"`
		S []int  `etf:"s,tuple"`
	}
	cases := []struct {
		name string
		term etf.Term
		dst  any // pointer to a zero value
		want any // what dst must point to afterwards
		opts etf.UnmarshalOptions
	}{
		{"atom into string", etf.Atom("abc"), new(string), "abc", etf.UnmarshalOptions{}},
		{"Go string into string", "abc", new(string), "abc", etf.UnmarshalOptions{}},
		{"integer into float", int64(3), new(float64), 3.0, etf.UnmarshalOptions{}},
		{"bignum into float", bigPow2(80), new(float64), math.Pow(2, 80), etf.UnmarshalOptions{}},
		{"bignum into uint64", new(big.Int).SetUint64(math.MaxUint64), new(uint64), uint64(math.MaxUint64), etf.UnmarshalOptions{}},
		{"Go int into int8", 5, new(int8), int8(5), etf.UnmarshalOptions{}},
		{"byte list into []int", etf.ByteList{1, 2}, new([]int), []int{1, 2}, etf.UnmarshalOptions{}},
		{"byte list into []byte", etf.ByteList("hi"), new([]byte), []byte("hi"), etf.UnmarshalOptions{}},
		{"list into []byte", etf.List{int64(1), int64(2)}, new([]byte), []byte{1, 2}, etf.UnmarshalOptions{}},
		{"empty binary into []byte", []byte{}, new([]byte), []byte{}, etf.UnmarshalOptions{}},
		{"byte list into List", etf.ByteList{7}, new(etf.List), etf.List{int64(7)}, etf.UnmarshalOptions{}},
		{"list into ByteList", etf.List{int64(104), int64(105)}, new(etf.ByteList), etf.ByteList("hi"), etf.UnmarshalOptions{}},
		{"binary into [4]byte etc", etf.Map{
			{Key: etf.Atom("B"), Value: []byte{1, 2, 3, 4}},
			{Key: etf.Atom("t"), Value: etf.Tuple{int64(5), int64(6)}},
			{Key: etf.Atom("s"), Value: etf.Tuple{int64(7)}},
		}, new(arr), arr{B: [4]byte{1, 2, 3, 4}, T: [2]int{5, 6}, S: []int{7}}, etf.UnmarshalOptions{}},
		{"binary keys", etf.Map{{Key: []byte("port"), Value: int64(1)}, {Key: []byte("Name"), Value: []byte("x")}},
			new(simple), simple{Name: "x", Port: 1}, etf.UnmarshalOptions{}},
		{"unknown keys ignored", etf.Map{{Key: etf.Atom("nope"), Value: int64(1)}, {Key: int64(1), Value: int64(2)}, {Key: etf.Atom("port"), Value: int64(9)}},
			new(simple), simple{Port: 9}, etf.UnmarshalOptions{}},
		{"skipped field not set", etf.Map{{Key: etf.Atom("Skip"), Value: int64(1)}, {Key: etf.Atom("hidden"), Value: int64(1)}},
			new(simple), simple{}, etf.UnmarshalOptions{}},
		{"embedded promoted", etf.Map{{Key: etf.Atom("port"), Value: int64(5)}, {Key: etf.Atom("Name"), Value: []byte("o")}},
			new(outer), outer{embedded: embedded{Port: 5}, Name: "o"}, etf.UnmarshalOptions{}},
		{"proplist both forms, first wins", etf.List{
			etf.Tuple{etf.Atom("mode"), etf.Atom("list")}, etf.Tuple{etf.Atom("active"), etf.Atom("true")},
			etf.Atom("active"), etf.Tuple{etf.Atom("mode"), etf.Atom("binary")}, int64(42), etf.Tuple{etf.Atom("x"), int64(1), int64(2)},
		}, new(sockOpts), sockOpts{Active: true, Mode: "list"}, etf.UnmarshalOptions{}},
		{"empty Proplist", etf.List(nil), new(etf.Proplist), etf.Proplist(nil), etf.UnmarshalOptions{}},
		{"proplist bare atom", etf.List{etf.Atom("active")}, new(sockOpts), sockOpts{Active: true}, etf.UnmarshalOptions{}},
		{"Proplist skips non-properties", etf.List{int64(1), etf.Atom("a"), etf.Tuple{etf.Atom("b"), int64(2), int64(3)}},
			new(etf.Proplist), etf.Proplist{{Key: etf.Atom("a"), Value: etf.Atom("true")}}, etf.UnmarshalOptions{}},
		{"charlist option latin-1", etf.ByteList{'h', 0xe9}, new(string), "hé", etf.UnmarshalOptions{CharlistAsString: true}},
		{"charlist option code points", etf.List{int64(0x65e5), int64(0x672c)}, new(string), "日本", etf.UnmarshalOptions{CharlistAsString: true}},
		{"charlist option empty", etf.List(nil), new(string), "", etf.UnmarshalOptions{CharlistAsString: true}},
		{"charlist tag", etf.Map{{Key: etf.Atom("s"), Value: etf.ByteList("ok")}}, new(charlists), charlists{S: "ok"}, etf.UnmarshalOptions{}},
		{"charlist type", etf.ByteList("ok"), new(etf.CharList), etf.CharList("ok"), etf.UnmarshalOptions{}},
		{"any gets the term", etf.Tuple{etf.Atom("a")}, new(any), etf.Tuple{etf.Atom("a")}, etf.UnmarshalOptions{}},
		{"any gets nil", nil, new(any), nil, etf.UnmarshalOptions{}},
		{"map[any]any", etf.Map{{Key: etf.Atom("k"), Value: int64(1)}}, new(map[any]any), map[any]any{etf.Atom("k"): int64(1)}, etf.UnmarshalOptions{}},
		{"map[string] from atoms", etf.Map{{Key: etf.Atom("k"), Value: int64(1)}}, new(map[string]int), map[string]int{"k": 1}, etf.UnmarshalOptions{}},
		{"[]*int with undefined", etf.List{int64(1), etf.Atom("undefined")}, new([]*int), []*int{intp(1), nil}, etf.UnmarshalOptions{}},
		{"*big.Int small", int64(5), new(*big.Int), big.NewInt(5), etf.UnmarshalOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.opts.Unmarshal(c.term, c.dst); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := reflect.ValueOf(c.dst).Elem().Interface(); !equalGo(got, c.want) {
				t.Fatalf("Unmarshal = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestUnmarshalKeepsAndResets(t *testing.T) {
	// A key that is absent leaves the field as it was.
	s := simple{Name: "keep", Port: 1}
	if err := etf.Unmarshal(etf.Map{{Key: etf.Atom("port"), Value: int64(2)}}, &s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "keep" || s.Port != 2 {
		t.Fatalf("got %+v", s)
	}
	// undefined resets a pointer to nil.
	p := intp(3)
	if err := etf.Unmarshal(etf.Atom("undefined"), &p); err != nil || p != nil {
		t.Fatalf("p = %v, err = %v", p, err)
	}
	// An empty interface takes the term as it is, even over a pointer ...
	var n int
	var i any = &n
	if err := etf.Unmarshal(int64(9), &i); err != nil {
		t.Fatal(err)
	}
	if i != etf.Term(int64(9)) || n != 0 {
		t.Fatalf("i = %#v, n = %d", i, n)
	}
	// ... while a non-empty interface holding a pointer fills the pointee.
	var st interface{ String() string } = &strBox{}
	if err := etf.Unmarshal([]byte("v"), &st); err != nil {
		t.Fatal(err)
	}
	if st.(*strBox).S != "v" {
		t.Fatalf("st = %#v", st)
	}
	// Binaries are copied, so the term's bytes can be reused.
	src := []byte("abc")
	var dst []byte
	if err := etf.Unmarshal(src, &dst); err != nil {
		t.Fatal(err)
	}
	src[0] = 'X'
	if string(dst) != "abc" {
		t.Fatalf("dst aliases the term: %q", dst)
	}
}

type strBox struct{ S string }

func (b *strBox) String() string { return b.S }

func (b *strBox) UnmarshalETF(t etf.Term) error { return etf.Unmarshal(t, &b.S) }

func TestMarshalTermsInsideTerms(t *testing.T) {
	// Go values inside term containers are converted; a container of terms
	// only is returned as it is.
	in := etf.Tuple{etf.Atom("join"), peer{ID: "n@h", Priority: "high"}, 7, "s", nil}
	got, err := etf.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := etf.Tuple{etf.Atom("join"),
		etf.Tuple{etf.Atom("peer"), etf.Atom("n@h"), etf.Atom("undefined"), etf.Atom("undefined"), etf.Atom("undefined"),
			etf.Atom("false"), etf.Atom("high"), etf.Atom("undefined"), int64(0), etf.Atom("undefined")},
		int64(7), []byte("s"), etf.List(nil)}
	if !etf.Equal(got, want) {
		t.Fatalf("Marshal = %s, want %s", etf.Format(got), etf.Format(want))
	}
	if in[2] != 7 {
		t.Fatal("Marshal modified its argument")
	}
	pure := etf.List{etf.Atom("a"), etf.Tuple{int64(1), []byte("b")}, etf.Map{{Key: int64(1), Value: int64(2)}}}
	got, err = etf.Marshal(pure)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(etf.List); &g[0] != &pure[0] {
		t.Fatal("a list of terms only was copied")
	}
	m := etf.Map{{Key: "k", Value: int64(1)}}
	got, err = etf.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(got, etf.Map{{Key: []byte("k"), Value: int64(1)}}) {
		t.Fatalf("Marshal = %s", etf.Format(got))
	}
	il := etf.ImproperList{Elems: []etf.Term{1}, Tail: "t"}
	got, err = etf.Marshal(il)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(got, etf.ImproperList{Elems: []etf.Term{int64(1)}, Tail: []byte("t")}) {
		t.Fatalf("Marshal = %s", etf.Format(got))
	}
}

func TestMarshalSpecialCases(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want etf.Term
	}{
		{"nil", nil, etf.List(nil)},
		{"nil any field", struct{ V any }{}, etf.Map{{Key: etf.Atom("V"), Value: etf.List(nil)}}},
		{"nil []byte", []byte(nil), []byte{}},
		{"nil map", map[string]int(nil), etf.Map{}},
		{"nil *big.Int", (*big.Int)(nil), etf.Atom("undefined")},
		{"small *big.Int", big.NewInt(-5), int64(-5)},
		{"atom slice", struct {
			N []string `etf:"n,atom"`
		}{[]string{"a@h"}}, etf.Map{{Key: etf.Atom("n"), Value: etf.List{etf.Atom("a@h")}}}},
		{"charlist field", struct {
			S string `etf:"s,charlist"`
		}{"hé"}, etf.Map{{Key: etf.Atom("s"), Value: etf.List{int64('h'), int64(0xe9)}}}},
		{"tuple field", struct {
			T []int `etf:"t,tuple"`
		}{[]int{1, 2}}, etf.Map{{Key: etf.Atom("t"), Value: etf.Tuple{int64(1), int64(2)}}}},
		{"empty tuple field", struct {
			T *[]int `etf:"t,tuple"`
		}{&[]int{}}, etf.Map{{Key: etf.Atom("t"), Value: etf.Tuple{}}}},
		{"pointer-receiver Marshaler, not addressable", ptrMarshaler{N: 3}, etf.Atom("p3")},
		{"map[any]", map[any]int{etf.Atom("b"): 1, int64(2): 2, "s": 3},
			etf.Map{{Key: int64(2), Value: int64(2)}, {Key: etf.Atom("b"), Value: int64(1)}, {Key: []byte("s"), Value: int64(3)}}},
		{"Proplist of Go values", etf.Proplist{{Key: etf.Atom("on"), Value: true}, {Key: "k", Value: 1}},
			etf.List{etf.Atom("on"), etf.Tuple{[]byte("k"), int64(1)}}},
		{"embedded", struct {
			simple
			Extra int
		}{simple{Name: "n", Port: 1}, 2},
			etf.Map{{Key: etf.Atom("Extra"), Value: int64(2)}, {Key: etf.Atom("Name"), Value: []byte("n")}, {Key: etf.Atom("port"), Value: int64(1)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := etf.Marshal(c.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !etf.Equal(got, c.want) {
				t.Fatalf("Marshal = %s, want %s", etf.Format(got), etf.Format(c.want))
			}
			if g, w := encodeHex(t, got), encodeHex(t, c.want); g != w {
				t.Fatalf("encoded Marshal = %s, want %s", g, w)
			}
		})
	}
}

// tree is recursive and used nowhere else, so the goroutines below race to
// build its cached codecs.
type tree struct {
	Name string `etf:"name"`
	Kids []tree `etf:"kids,omitempty"`
	Up   *tree  `etf:"up,omitempty"`
}

func TestConcurrentFirstUse(t *testing.T) {
	v := tree{Name: "root", Kids: []tree{{Name: "a"}, {Name: "b", Kids: []tree{{Name: "c"}}}}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			term, err := etf.Marshal(v)
			if err != nil {
				errs <- err
				return
			}
			var back tree
			if err := etf.Unmarshal(term, &back); err != nil {
				errs <- err
				return
			}
			if !reflect.DeepEqual(back, v) {
				errs <- fmt.Errorf("round trip gave %+v", back)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type ptrMarshaler struct{ N int }

func (p *ptrMarshaler) MarshalETF() (etf.Term, error) {
	return etf.Atom("p" + string(rune('0'+p.N))), nil
}

type corpusEntry struct {
	ID   string `json:"id"`
	Hex  string `json:"hex"`
	Desc string `json:"desc"`
}

func corpusHex(t testing.TB, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "vectors", "etf_corpus.json"))
	if err != nil {
		t.Skipf("shared vectors not available: %v", err)
	}
	var c struct {
		Entries []corpusEntry `json:"entries"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Entries {
		if e.ID == id {
			b, err := hex.DecodeString(e.Hex)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("corpus entry %s not found", id)
	return nil
}

// TestRecordPeerVector unmarshals the #peer{} record recorded from OTP 27
// and marshals it back to the same bytes.
func TestRecordPeerVector(t *testing.T) {
	wire := corpusHex(t, "rec_peer")
	term, err := etf.Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	var p peer
	if err := etf.Unmarshal(term, &p); err != nil {
		t.Fatal(err)
	}
	want := peer{ID: "v2@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: intp(19452), QuicPort: intp(19452),
		Connected: true, Priority: "high", LastSeen: i64p(-576460751234567890), FailCount: 0}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Unmarshal = %+v, want %+v", p, want)
	}
	back, err := etf.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(back, term) {
		t.Fatalf("Marshal = %s, want %s", etf.Format(back), etf.Format(term))
	}
	if g, w := encodeHex(t, back), hex.EncodeToString(wire); g != w {
		t.Fatalf("encoded = %s, want %s", g, w)
	}

	// The Go node's own Self record (membership.md 2.1) with undefined fields.
	self := peer{ID: "v2@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: intp(19452), QuicPort: intp(19452),
		Connected: true, Priority: "high"}
	want2, err := etf.Parse("{peer,'v2@127.0.0.1',{127,0,0,1},19452,19452,true,high,undefined,0,undefined}")
	if err != nil {
		t.Fatal(err)
	}
	got2, err := etf.Marshal(self)
	if err != nil {
		t.Fatal(err)
	}
	if !etf.Equal(got2, want2) {
		t.Fatalf("Marshal = %s, want %s", etf.Format(got2), etf.Format(want2))
	}
	var self2 peer
	if err := etf.Unmarshal(want2, &self2); err != nil || !reflect.DeepEqual(self2, self) {
		t.Fatalf("Unmarshal = %+v, %v; want %+v", self2, err, self)
	}
}

// gen_server-shaped messages: nested records, plain tuples and map structs.
type genFrom struct {
	_   etf.Layout `etf:",tuple"`
	Pid etf.Pid
	Tag etf.Ref
}

type getView struct {
	_     etf.Layout `etf:"get_view,record"`
	Kind  string     `etf:",atom"`
	Limit int
}

type genCall struct {
	_    etf.Layout `etf:"$gen_call,record"`
	From genFrom
	Req  any
}

type viewState struct {
	Self    peer              `etf:"self"`
	Active  map[etf.Atom]peer `etf:"active_view"`
	Passive []peer            `etf:"passive_view"`
	Config  map[string]any    `etf:"config,omitempty"`
	Version version           `etf:"vsn"`
}

type viewReply struct {
	_     etf.Layout `etf:",tuple"`
	Tag   etf.Ref
	Reply struct {
		_     etf.Layout `etf:",tuple"`
		OK    etf.Atom
		State viewState
	}
}

func TestGenServerShapes(t *testing.T) {
	call := genCall{From: genFrom{Pid: testPid, Tag: testRef}, Req: getView{Kind: "active", Limit: 8}}
	term, err := etf.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	want, err := etf.Parse("{'$gen_call',{<v2@127.0.0.1.192.0>,#Ref<v2@127.0.0.1.3.2.1>},{get_view,active,8}}")
	if err != nil {
		t.Fatal(err)
	}
	// Parse gives creation 0; compare the shape through the text form.
	if etf.Format(term) != etf.Format(want) {
		t.Fatalf("Marshal = %s, want %s", etf.Format(term), etf.Format(want))
	}
	var back genCall
	if err := etf.Unmarshal(term, &back); err != nil {
		t.Fatal(err)
	}
	// Req is an interface, so it holds the term; a typed field decodes it.
	var req getView
	if err := etf.Unmarshal(back.Req, &req); err != nil || req != (getView{Kind: "active", Limit: 8}) {
		t.Fatalf("req = %+v, %v", req, err)
	}
	if back.From != call.From {
		t.Fatalf("From = %+v", back.From)
	}

	p1 := peer{ID: "v1@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: intp(19451), Connected: true, Priority: "high"}
	p3 := peer{ID: "v3@127.0.0.1", Connected: false, Priority: "low", FailCount: 3, BackoffUntil: i64p(1000)}
	var reply viewReply
	reply.Tag = testRef
	reply.Reply.OK = etf.AtomOK
	reply.Reply.State = viewState{
		Self:    p1,
		Active:  map[etf.Atom]peer{"v3@127.0.0.1": p3, "v2@127.0.0.1": p1},
		Passive: []peer{p3},
		Config:  map[string]any{"prwl": int64(6)},
		Version: version{1, 0},
	}
	term, err = etf.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := etf.Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := etf.Decode(wire)
	if err != nil {
		t.Fatal(err)
	}
	var got viewReply
	if err := etf.Unmarshal(decoded, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, reply) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, reply)
	}
	// Marshal is deterministic: the same value gives the same bytes.
	for range 5 {
		again, err := etf.Marshal(reply)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := etf.Encode(again); !bytes.Equal(b, wire) {
			t.Fatal("Marshal is not deterministic")
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	type withPort struct {
		Port int `etf:"port"`
	}
	type portOnly struct{ Port uint16 }
	type cluster struct{ Peers []portOnly }
	peers := etf.List{}
	for i := range 4 {
		port := int64(1000 + i)
		if i == 3 {
			port = 70000
		}
		peers = append(peers, etf.Map{{Key: etf.Atom("Port"), Value: port}})
	}
	type badTag struct {
		X int `etf:"x,omitemtpy"`
	}
	type badRecord struct {
		_ etf.Layout `etf:"r,record"`
		X int        `etf:"x,omitempty"`
	}
	type cl struct {
		S string `etf:"s"`
	}
	cases := []struct {
		name string
		term etf.Term
		dst  any
		want string
	}{
		{"atom into int", etf.Map{{Key: etf.Atom("port"), Value: etf.Atom("foo")}}, new(withPort),
			"etf: cannot unmarshal atom foo into Go value of type int at .Port"},
		{"range with path", etf.Map{{Key: etf.Atom("Peers"), Value: peers}}, new(cluster),
			"etf: cannot unmarshal integer 70000 into Go value of type uint16 at .Peers[3].Port: out of range"},
		{"negative into uint", int64(-1), new(uint), "etf: cannot unmarshal integer -1 into Go value of type uint: out of range"},
		{"bignum into int64", bigPow2(64), new(int64), "etf: cannot unmarshal integer 18446744073709551616 into Go value of type int64: out of range"},
		{"float into int", 1.5, new(int), "etf: cannot unmarshal float 1.5 into Go value of type int"},
		{"float32 overflow", 1e300, new(float32), "etf: cannot unmarshal float 1.0e300 into Go value of type float32: out of range"},
		{"not a bool", etf.Atom("yes"), new(bool), "etf: cannot unmarshal atom yes into Go value of type bool"},
		{"list into string", etf.ByteList("abc"), new(string),
			`etf: cannot unmarshal list "abc" into Go value of type string: a list fills a string only with the charlist option or UnmarshalOptions.CharlistAsString`},
		{"list into string field", etf.Map{{Key: etf.Atom("s"), Value: etf.List{int64(1), int64(2)}}}, new(cl),
			`etf: cannot unmarshal list [1,2] into Go value of type string at .S: a list fills a string only with the charlist option or UnmarshalOptions.CharlistAsString`},
		{"record tag", etf.Tuple{etf.Atom("node"), int64(1)}, new(peer),
			"etf: cannot unmarshal tuple {node,1} into Go value of type etf_test.peer: want a record, a 10-tuple tagged peer"},
		{"record arity", etf.Tuple{etf.Atom("peer"), etf.Atom("a")}, new(peer),
			"etf: cannot unmarshal tuple {peer,a} into Go value of type etf_test.peer: want a record, a 10-tuple tagged peer"},
		{"record field", etf.Tuple{etf.Atom("peer"), etf.Atom("a"), etf.Atom("undefined"), []byte("x"), etf.Atom("undefined"),
			etf.Atom("true"), etf.Atom("high"), etf.Atom("undefined"), int64(0), etf.Atom("undefined")}, new(peer),
			`etf: cannot unmarshal binary <<"x">> into Go value of type int at .Port`},
		{"plain tuple arity", etf.Tuple{testPid}, new(genFrom),
			"etf: cannot unmarshal tuple {<v2@127.0.0.1.192.0>} into Go value of type etf_test.genFrom: want a 2-tuple"},
		{"map into record", etf.Map{}, new(peer),
			"etf: cannot unmarshal map #{} into Go value of type etf_test.peer: want a record, a 10-tuple tagged peer"},
		{"tuple into slice", etf.Tuple{int64(1)}, new([]int), "etf: cannot unmarshal tuple {1} into Go value of type []int"},
		{"array length", etf.List{int64(1)}, new([2]int), "etf: cannot unmarshal list [1] into Go value of type [2]int: want 2 elements"},
		{"binary into atom", []byte("a"), new(etf.Atom), `etf: cannot unmarshal binary <<"a">> into Go value of type etf.Atom`},
		{"pid into ref", testPid, new(etf.Ref), "etf: cannot unmarshal pid <v2@127.0.0.1.192.0> into Go value of type etf.Ref"},
		{"bad address", etf.Tuple{int64(1), int64(2), int64(3), int64(256)}, new(netip.Addr),
			"etf: cannot unmarshal tuple {1,2,3,256} into Go value of type netip.Addr: not an inet:ip_address()"},
		{"unhashable key", etf.Map{{Key: []byte("k"), Value: int64(1)}}, new(map[any]int),
			`etf: cannot unmarshal binary <<"k">> into Go value of type interface {} at [key <<"k">>]: the key cannot be a Go map key`},
		{"map value path", etf.Map{{Key: etf.Atom("a"), Value: etf.Atom("x")}}, new(map[string]int),
			"etf: cannot unmarshal atom x into Go value of type int at [a]"},
		{"not a code point", etf.List{int64(0xD800)}, new(etf.CharList),
			"etf: cannot unmarshal list [55296] into Go value of type etf.CharList: element 0 is not a Unicode code point"},
		{"bad tag option", etf.Map{}, new(badTag),
			`etf: cannot unmarshal map #{} into Go value of type etf_test.badTag: field X: unknown tag option "omitemtpy"`},
		{"omitempty in record", etf.Tuple{etf.Atom("r"), int64(1)}, new(badRecord),
			"etf: cannot unmarshal tuple {r,1} into Go value of type etf_test.badRecord: field X: omitempty cannot apply to a positional field"},
		{"Unmarshaler error", etf.Atom("v1"), new(version),
			"etf: cannot unmarshal atom v1 into Go value of type etf_test.version: UnmarshalETF: want {Major, Minor}"},
		{"nested Unmarshal in Unmarshaler", etf.Tuple{int64(1), etf.Atom("x")}, new(version),
			"etf: cannot unmarshal atom x into Go value of type int at .Minor"},
		{"long term is cut", etf.List{[]byte(strings.Repeat("a", 200))}, new(int),
			`etf: cannot unmarshal list [<<"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... into Go value of type int`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := etf.Unmarshal(c.term, c.dst)
			if err == nil {
				t.Fatal("Unmarshal succeeded")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
			var ue *etf.UnmarshalError
			if !errors.As(err, &ue) {
				t.Fatalf("error is %T, not *UnmarshalError", err)
			}
		})
	}

	err := etf.Unmarshal(etf.Map{{Key: etf.Atom("V"), Value: int64(1)}}, &struct{ V failing }{})
	if !errors.Is(err, errFailing) {
		t.Fatalf("UnmarshalETF error not wrapped: %v", err)
	}
	if !strings.Contains(err.Error(), " at .V: UnmarshalETF: failing") {
		t.Fatalf("error = %v", err)
	}

	for _, v := range []any{nil, 1, (*int)(nil)} {
		var ie *etf.InvalidUnmarshalError
		if err := etf.Unmarshal(int64(1), v); !errors.As(err, &ie) {
			t.Fatalf("Unmarshal(%T) error = %v", v, err)
		}
	}
}

var errFailing = errors.New("failing")

type failing struct{}

func (*failing) UnmarshalETF(etf.Term) error { return errFailing }

func (failing) MarshalETF() (etf.Term, error) { return nil, errFailing }

type nested []nested

type node struct {
	Next *node
}

func TestMarshalErrors(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"chan", struct{ C chan int }{}, "etf: cannot marshal Go value of type chan int at .C: unsupported type"},
		{"nested path", struct{ L []map[string]func() }{[]map[string]func(){{"k": nil}}},
			"etf: cannot marshal Go value of type func() at .L[0][k]: unsupported type"},
		{"in term", etf.Tuple{etf.Atom("a"), etf.List{complex(1, 2)}}, "etf: cannot marshal Go value of type complex128 at [1][0]: unsupported type"},
		{"MarshalETF", struct{ F failing }{}, "etf: cannot marshal Go value of type etf_test.failing at .F: MarshalETF: failing"},
		{"duplicate keys", map[any]int{1: 1, int64(1): 2}, "etf: cannot marshal Go value of type map[interface {}]int: two keys marshal to the same term 1"},
		{"atom on int", struct {
			N int `etf:"n,atom"`
		}{}, "etf: cannot marshal Go value of type struct { N int \"etf:\\\"n,atom\\\"\" }: field N: options atom and charlist need a string type, not int"},
		{"tuple on string", struct {
			S string `etf:"s,tuple"`
		}{}, "etf: cannot marshal Go value of type struct { S string \"etf:\\\"s,tuple\\\"\" }: field S: option tuple needs a slice or array, not string"},
		{"record without name", struct {
			_ etf.Layout `etf:",record"`
		}{}, "etf: cannot marshal Go value of type struct { _ etf.Layout \"etf:\\\",record\\\"\" }: etf.Layout: a record needs a tag name, as in etf:\"peer,record\""},
		{"duplicate field key", struct {
			A int `etf:"k"`
			B int `etf:"k"`
		}{}, "etf: cannot marshal Go value of type struct { A int \"etf:\\\"k\\\"\"; B int \"etf:\\\"k\\\"\" }: two fields have the key \"k\""},
		{"ipv6 zone", netip.MustParseAddr("fe80::1%eth0"), "etf: cannot marshal Go value of type netip.Addr: an IPv6 zone has no Erlang form: fe80::1%eth0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := etf.Marshal(c.v)
			if err == nil {
				t.Fatal("Marshal succeeded")
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got %s\nwant %s", err, c.want)
			}
			var me *etf.MarshalError
			if !errors.As(err, &me) {
				t.Fatalf("error is %T, not *MarshalError", err)
			}
		})
	}
	_, err := etf.Marshal(struct{ F failing }{})
	if !errors.Is(err, errFailing) {
		t.Fatalf("MarshalETF error not wrapped: %v", err)
	}

	// A pointer cycle fails instead of overflowing the stack.
	n := &node{}
	n.Next = n
	if _, err := etf.Marshal(n); err == nil || !strings.Contains(err.Error(), "cyclic value?") {
		t.Fatalf("cyclic Marshal error = %v", err)
	}
	l := etf.List{nil}
	l[0] = l
	if _, err := etf.Marshal(l); err == nil || !strings.Contains(err.Error(), "cyclic value?") {
		t.Fatalf("cyclic List Marshal error = %v", err)
	}
	var deep nested
	err = etf.Unmarshal(l, &deep)
	if err == nil || !strings.Contains(err.Error(), "cyclic value?") {
		t.Fatalf("cyclic Unmarshal error = %v", err)
	}
	// The path of a deep error is cut in the middle.
	if want := strings.Repeat("[0]", 20) + "..." + strings.Repeat("[0]", 20) + ":"; !strings.Contains(err.Error(), " at "+want) {
		t.Fatalf("deep path not cut: %.300s", err)
	}
}

// FuzzUnmarshal feeds decoded wire terms to Unmarshal for several Go types:
// it must never panic, and what it accepts must survive Marshal again.
func FuzzUnmarshal(f *testing.F) {
	for _, id := range []string{"rec_peer", "int_1", "int_256"} {
		f.Add(corpusHex(f, id))
	}
	seeds := []any{
		peer{ID: "a@h", Port: intp(1), Priority: "low"},
		viewState{Active: map[etf.Atom]peer{"x": {}}, Passive: []peer{{}}, Config: map[string]any{"k": 1}},
		sockOpts{Active: true, Mode: "binary"},
		[]string{"a"},
	}
	for _, s := range seeds {
		term, err := etf.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		b, err := etf.Encode(term)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		term, err := etf.Decode(b)
		if err != nil {
			return
		}
		targets := []func() any{
			func() any { return new(peer) },
			func() any { return new(viewState) },
			func() any { return new(sockOpts) },
			func() any { return new(etf.Proplist) },
			func() any { return new(map[string]any) },
			func() any { return new(map[any]any) },
			func() any { return new([]string) },
			func() any { return new([4]byte) },
			func() any { return new(netip.Addr) },
			func() any { return new(*big.Int) },
		}
		for _, mk := range targets {
			dst := mk()
			if etf.Unmarshal(term, dst) != nil {
				_ = etf.UnmarshalOptions{CharlistAsString: true}.Unmarshal(term, mk())
				continue
			}
			again, err := etf.Marshal(reflect.ValueOf(dst).Elem().Interface())
			if err != nil {
				t.Fatalf("Marshal after Unmarshal into %T: %v", dst, err)
			}
			dst2 := mk()
			if err := etf.Unmarshal(again, dst2); err != nil {
				t.Fatalf("Unmarshal of re-marshalled %T: %v", dst, err)
			}
			if !equalGo(reflect.ValueOf(dst).Elem().Interface(), reflect.ValueOf(dst2).Elem().Interface()) &&
				!etf.Equal(again, mustMarshal(t, reflect.ValueOf(dst2).Elem().Interface())) {
				t.Fatalf("%T does not round-trip", dst)
			}
		}
	})
}

func mustMarshal(t *testing.T, v any) etf.Term {
	t.Helper()
	term, err := etf.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return term
}

var benchState = viewState{
	Self:    peer{ID: "v1@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: intp(19451), Connected: true, Priority: "high"},
	Active:  map[etf.Atom]peer{"v2@127.0.0.1": {ID: "v2@127.0.0.1", Priority: "low"}, "v3@127.0.0.1": {ID: "v3@127.0.0.1", Priority: "low"}},
	Passive: []peer{{ID: "v4@127.0.0.1", Priority: "low", FailCount: 1}},
	Config:  map[string]any{"active_size": 5, "passive_size": 30},
	Version: version{1, 0},
}

type benchStruct struct {
	Name     string            `etf:"name"`
	Node     string            `etf:"node,atom"`
	Port     int               `etf:"port"`
	Up       bool              `etf:"up"`
	Weight   float64           `etf:"weight"`
	Tags     []string          `etf:"tags"`
	Peer     *peer             `etf:"peer"`
	Labels   map[string]string `etf:"labels,omitempty"`
	Sequence uint64            `etf:"seq"`
}

var benchValue = benchStruct{
	Name: "svc", Node: "v1@127.0.0.1", Port: 19451, Up: true, Weight: 0.5, Tags: []string{"a", "b"},
	Peer: &peer{ID: "v2@127.0.0.1", Priority: "low"}, Sequence: 1 << 40,
}

func BenchmarkMarshalStruct(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := etf.Marshal(benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalRecord(b *testing.B) {
	p := peer{ID: "v2@127.0.0.1", Address: netip.MustParseAddr("127.0.0.1"), Port: intp(19452), Connected: true, Priority: "high"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := etf.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalNested(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := etf.Marshal(benchState); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalStruct(b *testing.B) {
	term, err := etf.Marshal(benchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var v benchStruct
		if err := etf.Unmarshal(term, &v); err != nil {
			b.Fatal(err)
		}
	}
}
