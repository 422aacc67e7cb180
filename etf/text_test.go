package etf

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func bigFromString(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad big int %q", s)
	}
	return v
}

func TestFormat(t *testing.T) {
	// Expected strings are what OTP 25 prints with io_lib:format("~tp", [T]),
	// except where a comment says otherwise.
	tests := []struct {
		in   Term
		want string
	}{
		{Atom("a"), "a"},
		{Atom("ok"), "ok"},
		{Atom(""), "''"},
		{Atom("Ätom"), "'Ätom'"},
		{Atom("ÿ"), "ÿ"},
		{Atom("ßx"), "ßx"},
		{Atom("aÀ"), "aÀ"},
		{Atom("a÷"), "'a÷'"},
		{Atom("a×"), "'a×'"},
		{Atom("日本語"), "'日本語'"},
		{Atom("hello world"), "'hello world'"},
		{Atom("v1@127.0.0.1"), "'v1@127.0.0.1'"},
		{Atom("a@b"), "a@b"},
		{Atom("A"), "'A'"},
		{Atom("_a"), "'_a'"},
		{Atom("and"), "'and'"},
		{Atom("end"), "'end'"},
		{Atom("query"), "query"},
		{Atom("maybe"), "'maybe'"}, // OTP 27 (maybe_expr on by default); OTP 25 prints maybe
		{Atom("a\nb"), `'a\nb'`},
		{Atom("a'b"), `'a\'b'`},
		{Atom(`a\b`), `'a\\b'`},
		{Atom(`a"b`), `'a"b'`},
		{Atom("a\x80b"), `'a\x{80}b'`}, // not UTF-8: the byte is kept visible
		{Atom("a\u0080b"), `'a\200b'`},
		{Atom("a\u009f\u00a0b"), "'a\\237\u00a0b'"},
		{Atom("\x00\x1f\x7f\x1b"), `'\000\037\d\e'`},
		{int64(0), "0"},
		{int64(-128), "-128"},
		{int64(math.MinInt64), "-9223372036854775808"},
		{int(42), "42"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{uint8(7), "7"},
		{bigFromString(t, "-123456789012345678901234567890"), "-123456789012345678901234567890"},
		{0.0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1.0, "1.0"},
		{-1.5, "-1.5"},
		{100.0, "100.0"},
		{1000.0, "1.0e3"},
		{1.0e15, "1.0e15"},
		{123456.789, "123456.789"},
		{0.1, "0.1"},
		{0.0001, "0.0001"},
		{0.002, "0.002"},
		{1.0e-5, "1.0e-5"},
		{1.0e-300, "1.0e-300"},
		{5.0e-324, "5.0e-324"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{1.7976931348623157e308, "1.7976931348623157e308"},
		{1.23e20, "1.23e20"},
		{12345678901234567.0, "1.2345678901234568e16"},
		{9007199254740992.0, "9.007199254740992e15"},
		{9007199254740991.0, "9007199254740991.0"},
		{6.9300000000000006e-6, "6.9300000000000006e-6"},
		{float32(0.5), "0.5"},
		{true, "true"},
		{false, "false"},
		{nil, "[]"},
		{[]byte{}, "<<>>"},
		{[]byte("hi"), `<<"hi">>`},
		{[]byte("a\nb\"c\\"), `<<"a\nb\"c\\">>`},
		{[]byte{1, 2, 3}, "<<1,2,3>>"},
		{[]byte{233}, `<<"é">>`},
		{[]byte("é"), `<<"é"/utf8>>`},
		{[]byte("hé"), `<<"hé"/utf8>>`},
		{[]byte("日本"), "<<230,151,165,230,156,172>>"},
		{[]byte{239, 191, 189}, "<<239,191,189>>"},
		{[]byte{97, 128}, "<<97,128>>"},
		{[]byte{27, 127}, "<<27,127>>"},
		{[]byte{27}, `<<"\e">>`},
		{[]byte{97, 0}, "<<97,0>>"},
		{"hi", `<<"hi">>`},
		{BitString{Bytes: []byte{0x80}, Bits: 1}, "<<1:1>>"},
		{BitString{Bytes: []byte{0xa0}, Bits: 3}, "<<5:3>>"},
		{BitString{Bytes: []byte{97, 98, 0xc0}, Bits: 2}, "<<97,98,3:2>>"},
		{BitString{Bytes: []byte{97, 98, 0xff}, Bits: 2}, "<<97,98,3:2>>"}, // unused bits ignored
		{BitString{Bytes: []byte{97, 98}, Bits: 8}, `<<"ab">>`},
		{BitString{}, "<<>>"},
		{List(nil), "[]"},
		{List{}, "[]"},
		{List{int64(1), int64(2), Atom("x")}, "[1,2,x]"},
		{List{int64(104), int64(105)}, `"hi"`},
		{List{int64(26085), int64(26412)}, "[26085,26412]"},
		{List{int64(97), int64(256)}, "[97,256]"},
		{[]Term{int64(1), Atom("a")}, "[1,a]"},
		{ByteList("hello"), `"hello"`},
		{ByteList{104, 233}, `"hé"`},
		{ByteList{1, 2, 3}, "[1,2,3]"},
		{ByteList{97, 127}, "[97,127]"},
		{ByteList{97, 160}, "\"a\u00a0\""},
		{ByteList("\t\n\r\v\b\f\x1b"), `"\t\n\r\v\b\f\e"`},
		{ByteList{}, "[]"},
		{CharList("hello"), `"hello"`},
		{CharList("日本"), `"日本"`},
		{CharList("a\x01"), `"a\001"`},
		{CharList(""), "[]"},
		{ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: Atom("x")}, "[1,2|x]"},
		{ImproperList{Elems: []Term{ByteList("a")}, Tail: []byte("b")}, `["a"|<<"b">>]`},
		{ImproperList{Elems: []Term{int64(1)}, Tail: List{int64(2)}}, "[1,2]"},
		{ImproperList{Elems: []Term{int64(104)}, Tail: ByteList("i")}, `"hi"`},
		{ImproperList{Elems: []Term{int64(1)}, Tail: ImproperList{Elems: []Term{int64(2)}, Tail: int64(3)}}, "[1,2|3]"},
		{ImproperList{Elems: []Term{int64(1)}, Tail: List(nil)}, "[1]"},
		{Tuple{}, "{}"},
		{Tuple{Atom("ok"), []byte("hi"), ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: Atom("x")}}, `{ok,<<"hi">>,[1,2|x]}`},
		{Map{}, "#{}"},
		{Map{{Atom("a"), int64(1)}}, "#{a => 1}"},
		{Map{{Atom("b"), int64(2)}, {Atom("a"), List(nil)}}, "#{b => 2,a => []}"},
		{Pid{Node: "v2@127.0.0.1", ID: 192, Serial: 0, Creation: 4}, "<v2@127.0.0.1.192.0>"},
		{Pid{Node: "a@host.example.com", ID: 1, Serial: 2}, "<a@host.example.com.1.2>"},
		{Pid{Node: "nonode@nohost", ID: 1, Serial: 2}, "<nonode@nohost.1.2>"},
		{Pid{Node: "a@host.7", ID: 1, Serial: 2}, "<'a@host.7'.1.2>"},
		{Pid{Node: "a@1.2.3", ID: 1, Serial: 2}, "<'a@1.2.3'.1.2>"},
		{Pid{Node: "0", ID: 1, Serial: 2}, "<'0'.1.2>"},
		{Pid{Node: "", ID: 1, Serial: 2}, "<''.1.2>"},
		{Port{Node: "v1@127.0.0.1", ID: 0}, "#Port<v1@127.0.0.1.0>"},
		{Ref{Node: "v1@127.0.0.1", Len: 3, ID: [5]uint32{28690, 4284219393, 2471329701}}, "#Ref<v1@127.0.0.1.2471329701.4284219393.28690>"},
		{Ref{Node: "v2@127.0.0.1", Len: 5, ID: [5]uint32{32244, 4284284930, 1410471881, 7683, 0}}, "#Ref<v2@127.0.0.1.0.7683.1410471881.4284284930.32244>"},
		{Ref{Node: "n@h", Len: 0}, "#Ref<n@h>"},
		{ExportFun{Module: "erlang", Function: "self", Arity: 0}, "fun erlang:self/0"},
		{ExportFun{Module: "Elixir.Foo", Function: "bar baz", Arity: 2}, "fun 'Elixir.Foo':'bar baz'/2"},
		{LocalFun{Module: "vec_etf", OldIndex: 1, OldUniq: 24792127}, "#Fun<vec_etf.1.24792127>"},
		{struct{}{}, "#Go<struct {}>"},
		{math.NaN(), "#Go<NaN>"},
	}
	for _, tc := range tests {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%#v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := string(AppendFormat([]byte("x="), Atom("y"))); got != "x=y" {
		t.Errorf("AppendFormat = %q", got)
	}
}

func TestFormatDoesNotModifyInput(t *testing.T) {
	elems := make([]Term, 1, 4)
	elems[0] = int64(1)
	l := ImproperList{Elems: elems, Tail: List{int64(2)}}
	_ = Format(l)
	if got := elems[:cap(elems)][1]; got != nil {
		t.Fatalf("Format wrote into the spare capacity of Elems: %v", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Term
	}{
		{"a", Atom("a")},
		{"  ok .  ", Atom("ok")},
		{"ok.", Atom("ok")},
		{"'hello world'", Atom("hello world")},
		{`'a\'b\\c\n\x41\x{65E5}\101\^A\s\z'`, Atom("a'b\\c\nA日A\x01 z")},
		{"'Ätom'", Atom("Ätom")},
		{"ÿ", Atom("ÿ")},
		{"a@b.c", nil}, // not a term: see TestParseErrors
		{"maybe", Atom("maybe")},
		{"'and'", Atom("and")},
		{"0", int64(0)},
		{"-1", int64(-1)},
		{"- 1", int64(-1)},
		{"+7", int64(7)},
		{"1_000_000", int64(1000000)},
		{"16#FF", int64(255)},
		{"16#ff", int64(255)},
		{"-16#FF", int64(-255)},
		{"2#1010", int64(10)},
		{"36#Zz", int64(35*36 + 35)},
		{"$a", int64(97)},
		{"$\\n", int64(10)},
		{"$ ", int64(32)},
		{"$日", int64(26085)},
		{"-$a", int64(-97)},
		{"$\\x{10FFFF}", int64(0x10FFFF)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"9223372036854775808", bigFromString(t, "9223372036854775808")},
		{"-9223372036854775809", bigFromString(t, "-9223372036854775809")},
		{"16#FFFFFFFFFFFFFFFFFF", bigFromString(t, "4722366482869645213695")},
		{"1.0", 1.0},
		{"-2.5e-3", -2.5e-3},
		{"1.0e15", 1.0e15},
		{"1.0E+3", 1000.0},
		{"5.0e-324", 5.0e-324},
		{"1.0e-400", 0.0},
		{"-0.0", math.Copysign(0, -1)},
		{"1_0.2_5", 10.25},
		{`""`, List(nil)},
		{`"hello"`, ByteList("hello")},
		{`"hé"`, ByteList{104, 233}},
		{`"a" "b"  "c"`, ByteList("abc")},
		{`"日本"`, List{int64(26085), int64(26412)}},
		{`"\e\d\s"`, ByteList{27, 127, 32}},
		{"[]", List(nil)},
		{"[ ]", List(nil)},
		{"[1,2,3]", ByteList{1, 2, 3}},
		{"[1,256]", List{int64(1), int64(256)}},
		{"[-1]", List{int64(-1)}},
		{"[a,b]", List{Atom("a"), Atom("b")}},
		{"[1,2|x]", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: Atom("x")}},
		{"[1|[2]]", ByteList{1, 2}},
		{"[1|[]]", ByteList{1}},
		{`[104|"i"]`, ByteList("hi")},
		{"[1|[2|3]]", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: int64(3)}},
		{"[a|<<1>>]", ImproperList{Elems: []Term{Atom("a")}, Tail: []byte{1}}},
		{"{}", Tuple{}},
		{"{a}", Tuple{Atom("a")}},
		{"{ok,<<\"hi\">>,[1,2|x]}", Tuple{Atom("ok"), []byte("hi"), ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: Atom("x")}}},
		{"#{}", Map{}},
		{"#{a => 1}", Map{{Atom("a"), int64(1)}}},
		{"#{ b=>2 , a => [] }", Map{{Atom("b"), int64(2)}, {Atom("a"), List(nil)}}},
		{"#{1 => a, 1.0 => b}", Map{{int64(1), Atom("a")}, {1.0, Atom("b")}}},
		{"<<>>", []byte{}},
		{`<<"text">>`, []byte("text")},
		{"<<1,2,3>>", []byte{1, 2, 3}},
		{`<<"a",1,2>>`, []byte{97, 1, 2}},
		{`<<"é">>`, []byte{233}},
		{`<<"é"/utf8>>`, []byte{0xc3, 0xa9}},
		{`<<"日本"/utf8>>`, []byte("日本")},
		{"<<228/utf8>>", []byte("ä")},
		{"<<1:3>>", BitString{Bytes: []byte{0x20}, Bits: 3}},
		{"<<97,98,3:2>>", BitString{Bytes: []byte{97, 98, 0xc0}, Bits: 2}},
		{"<<1:4,1:4>>", []byte{0x11}},
		{"<<-1:12>>", BitString{Bytes: []byte{0xff, 0xf0}, Bits: 4}},
		{"<<256>>", []byte{0}},
		{"<<1:16>>", []byte{0, 1}},
		{"<<1:16/big-unsigned-integer-unit:1>>", []byte{0, 1}},
		{"<<16#0102030405060708090A:80>>", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"<<-1:72>>", []byte{255, 255, 255, 255, 255, 255, 255, 255, 255}},
		{`<<"ab":16>>`, []byte{0, 97, 0, 98}},
		{"<<0:0>>", []byte{}},
		{"<v2@127.0.0.1.192.0>", Pid{Node: "v2@127.0.0.1", ID: 192}},
		{"<a@host.example.com.1.2>", Pid{Node: "a@host.example.com", ID: 1, Serial: 2}},
		{"<'a@host.7'.1.2>", Pid{Node: "a@host.7", ID: 1, Serial: 2}},
		{"#Port<v1@127.0.0.1.0>", Port{Node: "v1@127.0.0.1"}},
		{"#Port<n@h.18446744073709551615>", Port{Node: "n@h", ID: math.MaxUint64}},
		{"#Ref<v1@127.0.0.1.2471329701.4284219393.28690>", Ref{Node: "v1@127.0.0.1", Len: 3, ID: [5]uint32{28690, 4284219393, 2471329701}}},
		{"#Ref<n@h>", Ref{Node: "n@h"}},
		{"fun erlang:self/0", ExportFun{Module: "erlang", Function: "self", Arity: 0}},
		{"fun 'Elixir.Foo' : 'bar baz' / 2", ExportFun{Module: "Elixir.Foo", Function: "bar baz", Arity: 2}},
		{"% a comment\n{a, % another\n b}", Tuple{Atom("a"), Atom("b")}},
	}
	for _, tc := range tests {
		if tc.want == nil {
			continue
		}
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if f, ok := got.(float64); ok && math.Signbit(f) != math.Signbit(tc.want.(float64)) {
			t.Errorf("Parse(%q): sign of zero lost", tc.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
		msg       string
	}{
		{"", 1, 1, "expected a term, found end of input"},
		{"{a,", 1, 4, "expected a term, found end of input"},
		{"{a b}", 1, 4, "expected ',' or '}' in tuple, found 'b'"},
		{"[1,2", 1, 5, "expected ',', '|' or ']' in list"},
		{"[1|2,3]", 1, 5, "expected ']' after the tail of a list, found ','"},
		{"{a,\n  X}", 2, 3, "variables are not terms"},
		{"_", 1, 1, "variables are not terms"},
		{"and", 1, 1, "and is a reserved word"},
		{"'abc", 1, 1, "quoted atom not terminated"},
		{"\"abc", 1, 1, "string not terminated"},
		{"a b", 1, 3, "unexpected 'b' after the term"},
		{"a..", 1, 3, "unexpected '.' after the term"},
		{"a@b.c", 1, 5, "unexpected 'c' after the term"},
		{"1.e5", 1, 3, "unexpected 'e' after the term"},
		{"1.0e", 1, 5, "expected a base 10 digit"},
		{"1.0e999", 1, 1, "float 1.0e999 is out of range"},
		{"37#1", 1, 1, "integer base must be 2..36"},
		{"2#102", 1, 5, "unexpected '2' after the term"},
		{"16#", 1, 4, "expected a base 16 digit"},
		{"-a", 1, 2, "expected a number after the sign"},
		{"$", 1, 2, "expected a character after '$'"},
		{`'\x{110000}'`, 1, 2, "beyond U+10FFFF"},
		{`'\x{D800}'`, 1, 1, "not a Unicode character"},
		{`'\xZ1'`, 1, 4, "expected a hex digit after \\x"},
		{"'" + strings.Repeat("a", 256) + "'", 1, 1, "atom longer than 255 characters"},
		{strings.Repeat("a", 256), 1, 1, "atom longer than 255 characters"},
		{"#{a => 1, a => 2}", 1, 11, "duplicate map key a"},
		{"#{a, b}", 1, 4, "expected '=>' after map key, found ','"},
		{"#[]", 1, 1, "expected #{, #Ref<, or #Port< after '#'"},
		{"<<1,2", 1, 6, "expected ',' or '>>' in binary"},
		{"<<a>>", 1, 3, "expected an integer or a string in binary"},
		{"<<1.5>>", 1, 3, "float segments are not supported"},
		{"<<1/float>>", 1, 5, `unsupported binary type specifier "float"`},
		{`<<"日本">>`, 1, 3, "does not fit in a byte: add /utf8"},
		{"<<1:8/utf8>>", 1, 3, "a utf8 segment cannot have a size"},
		{"<<1:2000000>>", 1, 5, "segment size 2000000 is larger"},
		{"<<16#D800/utf8>>", 1, 3, "not a Unicode code point"},
		{"<0.1.2>", 1, 2, "local notation like <0.1.2> has no node"},
		{"<n@h.1>", 1, 1, "a pid needs two numbers"},
		{"<n@h.1.2.3>", 1, 9, "too many numbers in pid"},
		{"<n@h.1.4294967296>", 1, 8, "does not fit in 32 bits"},
		{"#Ref<0.1.2.3>", 1, 6, "expected a node name"},
		{"#Ref<n@h.1.2.3.4.5.6>", 1, 19, "too many numbers in reference (at most 5)"},
		{"#Port<n@h>", 1, 7, "a port needs one number"},
		{"#Fun<vec_etf.1.24792127>", 1, 1, "local funs (#Fun<...>) cannot be parsed"},
		{"fun (X) -> X end", 1, 5, "expected an atom as module name after 'fun'"},
		{"fun m/1", 1, 6, "expected ':' after the module of fun M:F/A"},
		{"fun m:f/256", 1, 9, "fun arity must be 0..255"},
		{"\xff", 1, 1, "expected a term, found invalid UTF-8 byte 0xff"},
		{"\"a\xffb\"", 1, 3, "invalid UTF-8 byte 0xff"},
		{"[\n\n  日]", 3, 3, "expected a term, found '日'"},
		{strings.Repeat("9", maxIntDigits+1), 1, 1, "number longer than"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %#v, %v; want a *ParseError", tc.in, got, err)
			continue
		}
		if pe.Line != tc.line || pe.Column != tc.col || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("Parse(%q): error %q at %d:%d, want %q at %d:%d", tc.in, pe.Msg, pe.Line, pe.Column, tc.msg, tc.line, tc.col)
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("etf: parse %d:%d: ", pe.Line, pe.Column)) {
			t.Errorf("Error() = %q", err.Error())
		}
	}
}

func TestParseDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxParseDepth) + strings.Repeat("]", MaxParseDepth)
	if _, err := Parse(ok); err != nil {
		t.Fatalf("depth %d: %v", MaxParseDepth, err)
	}
	for _, open := range []string{"[", "{", "#{a=>", "[1|"} {
		deep := strings.Repeat(open, MaxParseDepth+1)
		_, err := Parse(deep)
		if err == nil || !strings.Contains(err.Error(), "nesting deeper than") {
			t.Errorf("%q x %d: err = %v, want nesting error", open, MaxParseDepth+1, err)
		}
	}
}

func TestParseBinaryBudget(t *testing.T) {
	// Each segment is allowed, but together they would amplify a small input
	// into a huge allocation.
	in := "<<" + strings.Repeat("0:1048576,", 64) + "0>>"
	if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v, want the size budget to stop it", err)
	}
	if v, err := Parse("<<0:1048576>>"); err != nil || len(v.([]byte)) != 1<<17 {
		t.Fatalf("one large segment: %v", err)
	}
}

// textCorpusEntry is the part of the shared ETF corpus these tests use.
type textCorpusEntry struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	Hex   string `json:"hex"`
	Desc  string `json:"desc"`
}

func textLoadCorpus(t testing.TB) []textCorpusEntry {
	t.Helper()
	var all []textCorpusEntry
	for _, name := range []string{"etf_corpus.json", "etf_corpus_large.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "shared", "vectors", name))
		if err != nil {
			t.Fatalf("shared vectors missing: %v", err)
		}
		var f struct {
			Entries []textCorpusEntry `json:"entries"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all = append(all, f.Entries...)
	}
	if len(all) < 100 {
		t.Fatalf("only %d corpus entries", len(all))
	}
	return all
}

// localIdentity matches what ~w prints for pids, ports, refs and funs of the
// printing node: their node is a number, so the text cannot be parsed back.
var localIdentity = regexp.MustCompile(`(^|[^<])<\d+\.\d+\.\d+>|#Ref<|#Port<|#Fun<`)

func TestParseCorpusDescs(t *testing.T) {
	var parsed int
	for _, e := range textLoadCorpus(t) {
		got, err := Parse(e.Desc)
		if localIdentity.MatchString(e.Desc) {
			if err == nil {
				t.Errorf("%s: Parse(%.60q) succeeded on text without nodes", e.ID, e.Desc)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Parse(%.80q): %v", e.ID, e.Desc, err)
			continue
		}
		parsed++
		// The desc is ~tw of the very term whose bytes are recorded.
		raw, err := hex.DecodeString(e.Hex)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Decode(raw)
		if err != nil {
			t.Errorf("%s: Decode: %v", e.ID, err)
		} else if !Equal(got, want) {
			t.Errorf("%s: Parse(desc) = %.100s, decoded bytes = %.100s", e.ID, Format(got), Format(want))
		}
		again, err := Parse(Format(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%s: Parse(Format(t)) = %#v, %v", e.ID, again, err)
		}
		// ~w and ~tp agree on numbers and atoms, so these print back exactly.
		switch e.Group {
		case "int", "float", "atom":
			if f := Format(got); f != e.Desc {
				t.Errorf("%s: Format = %.80s, want %.80s", e.ID, f, e.Desc)
			}
		}
	}
	if parsed < 100 {
		t.Errorf("only %d descs parsed", parsed)
	}
}

func TestParseCorpusSpotChecks(t *testing.T) {
	want := map[string]Term{
		"atom_latin1":           Atom("Ätom"),
		"atom_cjk":              Atom("日本語"),
		"minor1_tuple_atoms":    Tuple{Atom("ok"), Atom("ÿ"), 1.5},
		"big_neg_2pow31_minus1": int64(-2147483649),
		"big_2pow64":            bigFromString(t, "18446744073709551616"),
		"float_min_subnormal":   5.0e-324,
		"bits_ab_3_2":           BitString{Bytes: []byte{97, 98, 0xc0}, Bits: 2},
		"str_latin1":            ByteList{104, 233, 108, 108, 111},
		"list_cjk":              List{int64(26085), int64(26412)},
		"list_improper_bin":     ImproperList{Elems: []Term{ByteList("a")}, Tail: []byte("b")},
		"map_2":                 Map{{Atom("b"), int64(2)}, {Atom("a"), int64(1)}},
		"map_int_float_keys":    Map{{int64(1), Atom("int")}, {1.0, Atom("float")}},
		"fun_export_vec":        ExportFun{Module: "vec_etf", Function: "local_fun", Arity: 0},
		"tuple_empty":           Tuple{},
		"nil":                   List(nil),
	}
	for _, e := range textLoadCorpus(t) {
		w, ok := want[e.ID]
		if !ok {
			continue
		}
		delete(want, e.ID)
		got, err := Parse(e.Desc)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("%s: Parse(%q) = %#v, %v; want %#v", e.ID, e.Desc, got, err, w)
		}
	}
	for id := range want {
		t.Errorf("corpus entry %s not found", id)
	}
}

// textGen makes random terms in the canonical form Parse returns.
type textGen struct {
	r *rand.Rand
	// forErlang leaves out what OTP 25's ~tp prints differently on purpose:
	// node-qualified identities, multi-key maps (printed in key order) and
	// the maybe/else atoms.
	forErlang bool
}

var textGenAtoms = []string{"a", "ok", "error", "undefined", "true", "false", "Ätom", "ÿ", "日本語",
	"hello world", "v1@127.0.0.1", "", "and", "query", "a'b", `a\b`, "a\nb", "A", "_x", "a@b", "\x7f", "\u0080", "ß"}

func (g textGen) str(maxLen int) []rune {
	n := g.r.IntN(maxLen + 1)
	rs := make([]rune, n)
	mode := g.r.IntN(4)
	for i := range rs {
		switch mode {
		case 0: // printable ASCII
			rs[i] = rune(' ' + g.r.IntN(95))
		case 1: // Latin-1
			rs[i] = rune(g.r.IntN(256))
		case 2: // mixed with controls and escapes
			rs[i] = []rune{'a', '"', '\'', '\\', '\n', '\t', 0, 0x1b, 0x7f, 0xa0, 0xe9, 0x9f}[g.r.IntN(12)]
		default: // Unicode
			for {
				rs[i] = rune(g.r.IntN(0x11000))
				if rs[i] < 0xD800 || rs[i] > 0xDFFF {
					break
				}
			}
		}
	}
	return rs
}

func (g textGen) bytes(maxLen int) []byte {
	if g.r.IntN(3) == 0 {
		return []byte(string(g.str(maxLen))) // UTF-8
	}
	b := make([]byte, g.r.IntN(maxLen+1))
	for i := range b {
		if g.r.IntN(2) == 0 {
			b[i] = byte(' ' + g.r.IntN(95))
		} else {
			b[i] = byte(g.r.IntN(256))
		}
	}
	return b
}

func (g textGen) atom() Atom {
	for {
		var a string
		if g.r.IntN(2) == 0 {
			a = textGenAtoms[g.r.IntN(len(textGenAtoms))]
		} else {
			a = string(g.str(12))
		}
		if g.forErlang && (a == "maybe" || a == "else") {
			continue
		}
		return Atom(a)
	}
}

func (g textGen) node() Atom {
	nodes := []Atom{"v1@127.0.0.1", "a@host.example.com", "n@h", "nonode@nohost", "a@host.7", "0", "", "x y@z", "a@1.2.3"}
	return nodes[g.r.IntN(len(nodes))]
}

func (g textGen) term(depth int) Term {
	kinds := 16
	if depth <= 0 {
		kinds = 9 // leaves only
	}
	switch g.r.IntN(kinds) {
	case 0:
		return g.atom()
	case 1:
		switch g.r.IntN(3) {
		case 0:
			return int64(g.r.IntN(512) - 256)
		case 1:
			return int64(g.r.Uint64())
		}
		v := new(big.Int).Lsh(big.NewInt(1), uint(64+g.r.IntN(200)))
		v.Add(v, big.NewInt(g.r.Int64()))
		if g.r.IntN(2) == 0 {
			v.Neg(v)
		}
		return v
	case 2:
		for {
			f := math.Float64frombits(g.r.Uint64())
			if g.r.IntN(2) == 0 {
				f = float64(g.r.IntN(100000)) * math.Pow(10, float64(g.r.IntN(40)-20))
			}
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 3:
		return g.bytes(12)
	case 4:
		b := g.bytes(4)
		if len(b) == 0 {
			b = []byte{0}
		}
		bits := uint8(1 + g.r.IntN(7))
		b[len(b)-1] &= 0xff << (8 - bits)
		return BitString{Bytes: b, Bits: bits}
	case 5:
		rs := g.str(12)
		elems := make([]Term, len(rs))
		for i, r := range rs {
			elems[i] = int64(r)
		}
		return textCanonicalList(elems)
	case 6:
		if g.forErlang {
			// erlang:fun_to_list/1 quotes atoms its own way (not io_lib's,
			// and not always valid syntax), so only plain names are compared.
			names := []Atom{"erlang", "self", "lists", "map", "vec_etf", "f_1", "a2"}
			return ExportFun{Module: names[g.r.IntN(len(names))], Function: names[g.r.IntN(len(names))], Arity: uint8(g.r.IntN(256))}
		}
		switch g.r.IntN(4) {
		case 0:
			return Pid{Node: g.node(), ID: g.r.Uint32(), Serial: g.r.Uint32()}
		case 1:
			return Port{Node: g.node(), ID: g.r.Uint64()}
		case 2:
			r := Ref{Node: g.node(), Len: uint8(g.r.IntN(MaxRefWords + 1))}
			for i := range int(r.Len) {
				r.ID[i] = g.r.Uint32()
			}
			return r
		}
		return ExportFun{Module: g.atom(), Function: g.atom(), Arity: uint8(g.r.IntN(256))}
	case 7:
		return List(nil)
	case 8:
		return Tuple{}
	case 9, 10:
		elems := make([]Term, 1+g.r.IntN(4))
		for i := range elems {
			elems[i] = g.term(depth - 1)
		}
		return textCanonicalList(elems)
	case 11:
		elems := make([]Term, 1+g.r.IntN(3))
		for i := range elems {
			elems[i] = g.term(depth - 1)
		}
		for {
			tail := g.term(depth - 1)
			switch tail.(type) {
			case List, ByteList, ImproperList:
				continue
			}
			return ImproperList{Elems: elems, Tail: tail}
		}
	case 12, 13:
		t := make(Tuple, g.r.IntN(5))
		for i := range t {
			t[i] = g.term(depth - 1)
		}
		return t
	default:
		n := g.r.IntN(4)
		if g.forErlang {
			n = g.r.IntN(2)
		}
		m := Map{}
		seen := map[string]bool{}
		for range n {
			k := g.term(depth - 1)
			if seen[Format(k)] {
				continue
			}
			seen[Format(k)] = true
			m = append(m, MapPair{Key: k, Value: g.term(depth - 1)})
		}
		return m
	}
}

func TestParseFormatRoundTrip(t *testing.T) {
	g := textGen{r: rand.New(rand.NewPCG(7, 11))}
	for i := range 5000 {
		want := g.term(4)
		text := Format(want)
		got, err := Parse(text)
		if err != nil {
			t.Fatalf("#%d: Parse(%s): %v", i, text, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("#%d: Parse(%s)\n got %#v\nwant %#v", i, text, got, want)
		}
		if again := Format(got); again != text {
			t.Fatalf("#%d: Format changed on round trip: %s -> %s", i, text, again)
		}
	}
}

// TestFormatMatchesErlang has a real OTP node print random terms with ~tp
// and compares. The terms travel as external term format, so nothing here
// depends on Format.
func TestFormatMatchesErlang(t *testing.T) {
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("erl not on PATH: install erlang-nox")
	}
	g := textGen{r: rand.New(rand.NewPCG(3, 5)), forErlang: true}
	var terms []Term
	for range 1500 {
		terms = append(terms, g.term(3))
	}
	for range 1500 {
		terms = append(terms, math.Float64frombits(g.r.Uint64()))
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var sb strings.Builder
	var kept []Term
	for _, term := range terms {
		if f, ok := term.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		b, err := Encode(term)
		if err != nil {
			t.Fatalf("Encode(%s): %v", Format(term), err)
		}
		sb.WriteString(hex.EncodeToString(b))
		sb.WriteByte('\n')
		kept = append(kept, term)
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := fmt.Sprintf(`{ok, Bin} = file:read_file(%q),
{ok, F} = file:open(%q, [write, {encoding, utf8}]),
[io:format(F, "~*tp~n", [100000000, binary_to_term(binary:decode_hex(L))]) || L <- binary:split(Bin, <<"\n">>, [global, trim_all])],
ok = file:close(F),
halt().`, in, out)
	cmd := exec.CommandContext(ctx, erl, "-noshell", "-noinput", "-eval", script)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("erl: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	i, bad := 0, 0
	for ; sc.Scan(); i++ {
		if i >= len(kept) {
			t.Fatalf("erl printed more lines than terms")
		}
		if got := Format(kept[i]); got != sc.Text() {
			bad++
			if bad <= 10 {
				t.Errorf("Format = %s\n   erl ~tp = %s", got, sc.Text())
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(kept) {
		t.Fatalf("erl printed %d lines for %d terms", i, len(kept))
	}
	if bad > 0 {
		t.Fatalf("%d of %d terms print differently", bad, len(kept))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a", "'a b'", "{ok,<<\"hi\">>,[1,2|x]}", "#{a => 1,b => [1.5,-0.0]}", "16#FF", "$\\x{41}",
		"<<97,3:2>>", "<<\"é\"/utf8>>", "<<-1:12,\"ab\":16>>", "\"a\\n\\001\"", "[1|[2|3]]",
		"<v2@127.0.0.1.192.0>", "#Ref<v1@127.0.0.1.1.2.3>", "#Port<'x y'.1>", "fun m:f/2",
		"1.0e15", "-9223372036854775809", "% c\n[].", "<<1/utf8>>", "'\\^A'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		t1, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Column < 1 || pe.Offset > len(s) {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		text := Format(t1)
		t2, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, but Parse(Format) = Parse(%q): %v", s, t1, text, err)
		}
		if !reflect.DeepEqual(t1, t2) {
			t.Fatalf("Parse(%q) = %#v, Parse(%q) = %#v", s, t1, text, t2)
		}
		if !Equal(t1, t2) {
			t.Fatalf("DeepEqual but not Equal: %s", text)
		}
	})
}

func BenchmarkFormat(b *testing.B) {
	g := textGen{r: rand.New(rand.NewPCG(1, 1))}
	t := make(List, 100)
	for i := range t {
		t[i] = g.term(3)
	}
	var buf []byte
	for b.Loop() {
		buf = AppendFormat(buf[:0], t)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParse(b *testing.B) {
	g := textGen{r: rand.New(rand.NewPCG(1, 1))}
	t := make(List, 100)
	for i := range t {
		t[i] = g.term(3)
	}
	s := Format(t)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}
