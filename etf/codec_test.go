package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
)

// h decodes hex written with optional spaces.
func h(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func bigPow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func bigNeg(v *big.Int) *big.Int { return new(big.Int).Neg(v) }

func bigSub1(v *big.Int) *big.Int { return new(big.Int).Sub(v, big.NewInt(1)) }

// Expected bytes come from OTP's term_to_binary (with minor_version 2, the
// default since OTP 26, for atoms).
func TestCodecBothDirections(t *testing.T) {
	ff255 := strings.Repeat("ff", 255)
	tests := []struct {
		name string
		term Term
		hex  string // after the version byte
	}{
		{"small int 0", int64(0), "6100"},
		{"small int 255", int64(255), "61ff"},
		{"int 256", int64(256), "6200000100"},
		{"int -1", int64(-1), "62ffffffff"},
		{"int32 max", int64(math.MaxInt32), "627fffffff"},
		{"int32 min", int64(math.MinInt32), "6280000000"},
		{"int32 max+1", int64(math.MaxInt32 + 1), "6e040000000080"},
		{"int32 min-1", int64(math.MinInt32 - 1), "6e040101000080"},
		{"int64 max", int64(math.MaxInt64), "6e0800ffffffffffffff7f"},
		{"int64 min", int64(math.MinInt64), "6e08010000000000000080"},
		{"uint64 max", new(big.Int).SetUint64(math.MaxUint64), "6e0800ffffffffffffffff"},
		{"2^64", bigPow2(64), "6e0900000000000000000001"},
		{"-2^64", bigNeg(bigPow2(64)), "6e0901000000000000000001"},
		{"2^2040-1 (largest SMALL_BIG)", bigSub1(bigPow2(2040)), "6eff00" + ff255},
		{"2^2040 (LARGE_BIG)", bigPow2(2040), "6f0000010000" + strings.Repeat("00", 255) + "01"},
		{"-2^2040 (LARGE_BIG)", bigNeg(bigPow2(2040)), "6f0000010001" + strings.Repeat("00", 255) + "01"},
		{"float 1.5", 1.5, "463ff8000000000000"},
		{"float -0.0", math.Copysign(0, -1), "468000000000000000"},
		{"float subnormal", 5e-324, "460000000000000001"},
		{"float max", math.MaxFloat64, "467fefffffffffffff"},
		{"atom ok", Atom("ok"), "77026f6b"},
		{"atom empty", Atom(""), "7700"},
		{"atom 255 ascii", Atom(strings.Repeat("x", 255)), "77ff" + strings.Repeat("78", 255)},
		{"atom 255 three-byte chars", Atom(strings.Repeat("日", 255)), "7602fd" + strings.Repeat("e697a5", 255)},
		{"atom latin1 as utf8", Atom("Ätom"), "7705c384746f6d"},
		{"binary empty", []byte{}, "6d00000000"},
		{"binary", []byte{1, 2, 3}, "6d00000003010203"},
		{"bitstring <<5:3>>", BitString{Bytes: []byte{0xa0}, Bits: 3}, "4d0000000103a0"},
		{"bitstring <<97,98,3:2>>", BitString{Bytes: []byte{'a', 'b', 0xc0}, Bits: 2}, "4d00000003026162c0"},
		{"nil", List(nil), "6a"},
		{"string", ByteList("h\xe9llo\x00"), "6b000668e96c6c6f00"},
		{"charlist [1000,97]", List{int64(1000), int64(97)}, "6c0000000262000003e861616a"},
		{"improper [1,2|3]", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: int64(3)}, "6c00000002610161026103"},
		{"improper [[97]|<<98>>]", ImproperList{Elems: []Term{ByteList("a")}, Tail: []byte("b")}, "6c000000016b0001616d0000000162"},
		{"tuple empty", Tuple{}, "6800"},
		{"tuple {a,1}", Tuple{Atom("a"), int64(1)}, "6802770161" + "6101"},
		{"map #{a => 1}", Map{{Atom("a"), int64(1)}}, "74000000017701616101"},
		{"map empty", Map{}, "7400000000"},
		{"pid", Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}, "5877036140680000000100000002" + "00000003"},
		{"port", Port{Node: "a@h", ID: 1 << 40, Creation: 3}, "78" + "7703614068" + "0000010000000000" + "00000003"},
		{"ref 3 words", Ref{Node: "a@h", Creation: 3, Len: 3, ID: [5]uint32{1, 2, 3}}, "5a0003770361406800000003000000010000000200000003"},
		{"ref 5 words", Ref{Node: "a@h", Creation: 3, Len: 5, ID: [5]uint32{1, 2, 3, 4, 5}},
			"5a000577036140680000000300000001000000020000000300000004" + "00000005"},
		{"export fun", ExportFun{Module: "lists", Function: "map", Arity: 2}, "7177056c697374737703" + "6d61706102"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := append([]byte{Version}, h(t, tc.hex)...)
			got, err := Encode(tc.term)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode\n got %x\nwant %x", got, want)
			}
			back, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !Equal(back, tc.term) {
				t.Fatalf("Decode = %#v, want %#v", back, tc.term)
			}
		})
	}
}

// The decoder returns one Go type per Erlang type, whatever the wire form.
func TestDecodeCanonicalTypes(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want Term
	}{
		{"INTEGER_EXT in SMALL range", "6200000005", int64(5)},
		{"SMALL_BIG fitting int64", "6e0401ffffffff", int64(-math.MaxUint32)},
		{"SMALL_BIG zero digits", "6e0000", int64(0)},
		{"SMALL_BIG -2^63", "6e08010000000000000080", int64(math.MinInt64)},
		{"LARGE_BIG small value", "6f000000010007", int64(7)},
		{"SMALL_BIG 2^63", "6e08000000000000000080", bigPow2(63)},
		{"FLOAT_EXT (minor 0) text", "63" + floatExt("1.50000000000000000000e+00", 0), 1.5},
		{"FLOAT_EXT short text", "63" + floatExt("-2.5e-3", 0), -2.5e-3},
		{"FLOAT_EXT comma radix", "63" + floatExt("+1,5E3", 0), 1500.0},
		{"FLOAT_EXT garbage after NUL", "63" + floatExt("2.0\x00junk", 'x'), 2.0},
		{"ATOM_EXT Latin-1 to UTF-8", "640004c4746f6d", Atom("Ätom")},
		{"SMALL_ATOM_EXT Latin-1", "7301ff", Atom("ÿ")},
		{"ATOM_UTF8_EXT short", "760002" + "6f6b", Atom("ok")},
		{"BIT_BINARY_EXT bits 8 is a binary", "4d0000000208abcd", []byte{0xab, 0xcd}},
		{"BIT_BINARY_EXT masks unused bits", "4d0000000103ff", BitString{Bytes: []byte{0xe0}, Bits: 3}},
		{"PID_EXT (legacy)", "67" + "77036140680000000100000002" + "03", Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}},
		{"NEW_PID_EXT with ATOM_EXT node", "58" + "6400036140680000000100000002" + "00000003", Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}},
		{"PORT_EXT (legacy)", "66" + "770361406800000007" + "03", Port{Node: "a@h", ID: 7, Creation: 3}},
		{"NEW_PORT_EXT", "59" + "770361406800000007" + "00000003", Port{Node: "a@h", ID: 7, Creation: 3}},
		{"V4_PORT_EXT", "78" + "7703614068" + "0000000000000007" + "00000003", Port{Node: "a@h", ID: 7, Creation: 3}},
		{"REFERENCE_EXT (legacy)", "65" + "7703614068" + "00000009" + "03", Ref{Node: "a@h", Creation: 3, Len: 1, ID: [5]uint32{9}}},
		{"NEW_REFERENCE_EXT", "720003" + "7703614068" + "03" + "000000010000000200000003",
			Ref{Node: "a@h", Creation: 3, Len: 3, ID: [5]uint32{1, 2, 3}}},
		{"list-tail chain [1|[2|[3]]]", "6c000000016101" + "6c000000016102" + "6c000000016103" + "6a", List{int64(1), int64(2), int64(3)}},
		{"list-tail chain ending improper", "6c000000016101" + "6c000000016102" + "6104", ImproperList{Elems: []Term{int64(1), int64(2)}, Tail: int64(4)}},
		{"STRING_EXT tail [1000|\"ab\"]", "6c0000000162000003e8" + "6b00026162", List{int64(1000), int64(97), int64(98)}},
		{"empty LIST_EXT then NIL", "6c000000006a", List(nil)},
		{"EXPORT_EXT with ATOM_EXT", "71" + "6400056c69737473" + "6400036d6170" + "6102", ExportFun{Module: "lists", Function: "map", Arity: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(append([]byte{Version}, h(t, tc.hex)...))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !Equal(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if gt, wt := typeName(got), typeName(tc.want); gt != wt {
				t.Fatalf("decoded as %s, want %s", gt, wt)
			}
		})
	}
}

func typeName(t Term) string {
	switch t.(type) {
	case List, ByteList:
		return "list" // both are lists; which one depends on the wire form
	}
	return fmt.Sprintf("%T", t)
}

// floatExt returns the 31 bytes of a FLOAT_EXT text, padded with pad.
func floatExt(s string, pad byte) string {
	b := append([]byte(s), bytes.Repeat([]byte{pad}, 31-len(s))...)
	return hex.EncodeToString(b)
}

func TestEncodeOptions(t *testing.T) {
	t.Run("Minor0 writes FLOAT_EXT text", func(t *testing.T) {
		got, err := EncodeWith(1.5, &EncodeOptions{Minor: Minor0})
		if err != nil {
			t.Fatal(err)
		}
		want := h(t, "8363312e3530303030303030303030303030303030303030652b30300000000000")
		if !bytes.Equal(got, want) {
			t.Fatalf("got %x\nwant %x", got, want)
		}
		if back, err := Decode(got); err != nil || back != 1.5 {
			t.Fatalf("Decode = %v, %v", back, err)
		}
	})
	t.Run("Minor1 writes Latin-1 atoms as ATOM_EXT", func(t *testing.T) {
		for _, tc := range []struct {
			atom Atom
			hex  string
		}{
			{"hello", "8364000568656c6c6f"},
			{"Ätom", "83640004c4746f6d"},
			{"日本語", "837709e697a5e69cace8aa9e"}, // not Latin-1: stays UTF-8
		} {
			got, err := EncodeWith(tc.atom, &EncodeOptions{Minor: Minor1})
			if err != nil {
				t.Fatal(err)
			}
			want := h(t, tc.hex)
			if want[0] != Version {
				want = append([]byte{Version}, want...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: got %x, want %x", tc.atom, got, want)
			}
		}
	})
	t.Run("Deterministic sorts keys in term order", func(t *testing.T) {
		m := Map{{Atom("b"), int64(2)}, {int64(1), Atom("x")}, {Atom("a"), int64(1)}, {1.0, Atom("f")}}
		got, err := EncodeWith(m, &EncodeOptions{Deterministic: true})
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(got)
		if err != nil {
			t.Fatal(err)
		}
		keys := []Term{int64(1), 1.0, Atom("a"), Atom("b")}
		for i, p := range back.(Map) {
			if !Equal(p.Key, keys[i]) {
				t.Fatalf("key %d = %#v, want %#v", i, p.Key, keys[i])
			}
		}
		if len(m) != 4 || m[0].Key != Atom("b") {
			t.Fatal("Deterministic reordered the caller's map")
		}
	})
}

func TestEncodeConveniences(t *testing.T) {
	tests := []struct {
		name string
		in   Term
		want Term
	}{
		{"int", int(-7), int64(-7)},
		{"uint8", uint8(200), int64(200)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64 max", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
		{"int32", int32(math.MinInt32), int64(math.MinInt32)},
		{"float32", float32(0.5), 0.5},
		{"bool", true, Atom("true")},
		{"nil", nil, List(nil)},
		{"string is a binary", "abc", []byte("abc")},
		{"CharList Latin-1", CharList("hé"), ByteList("h\xe9")},
		{"CharList unicode", CharList("日"), List{int64(0x65e5)}},
		{"[]Term", []Term{int64(1), Atom("a")}, List{int64(1), Atom("a")}},
		{"big.Int in int64 range", big.NewInt(-5), int64(-5)},
		{"ByteList over 65535", ByteList(bytes.Repeat([]byte{1}, 70000)), List(bytesToInts(bytes.Repeat([]byte{1}, 70000)))},
		{"improper with list tail", ImproperList{Elems: []Term{int64(1)}, Tail: List{int64(2)}}, List{int64(1), int64(2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func bytesToInts(b []byte) []Term {
	out := make([]Term, len(b))
	for i, c := range b {
		out[i] = int64(c)
	}
	return out
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Term
		opts *EncodeOptions
	}{
		{"NaN", math.NaN(), nil},
		{"+Inf", math.Inf(1), nil},
		{"-Inf in a tuple", Tuple{math.Inf(-1)}, nil},
		{"atom of 256 characters", Atom(strings.Repeat("x", 256)), nil},
		{"atom of 256 multi-byte characters", Atom(strings.Repeat("é", 256)), nil},
		{"atom not UTF-8", Atom("a\xffb"), nil},
		{"pid node not UTF-8", Pid{Node: "\xc3"}, nil},
		{"reference with 6 words", Ref{Node: "a@h", Len: 6}, nil},
		{"local fun without raw bytes", LocalFun{Module: "m"}, nil},
		{"bitstring with 0 bits", BitString{Bytes: []byte{1}, Bits: 0}, nil},
		{"nil *big.Int", (*big.Int)(nil), nil},
		{"Go struct", struct{ A int }{1}, nil},
		{"compression level 10", int64(1), &EncodeOptions{Compress: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeWith(tc.in, tc.opts)
			if err == nil {
				t.Fatalf("encoded as %x, want an error", b)
			}
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is %T, want *EncodeError", err, err)
			}
		})
	}
}

func TestMapDuplicateKeys(t *testing.T) {
	// encodeMap builds MAP_EXT by hand, since the encoder writes what it is given.
	encodeMap := func(keys []Term) []byte {
		b := []byte{Version, tagMap}
		b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
		for i, k := range keys {
			var err error
			if b, err = AppendTerm(b, k, nil); err != nil {
				t.Fatal(err)
			}
			b = appendInt(b, int64(i))
		}
		return b
	}
	many := func(n int) []Term {
		keys := make([]Term, n)
		for i := range keys {
			keys[i] = Tuple{Atom("svc"), int64(i)}
		}
		return keys
	}
	for _, n := range []int{2, 16, 17, 33, 40, 1000} {
		keys := many(n)
		if _, err := Decode(encodeMap(keys)); err != nil {
			t.Fatalf("%d distinct keys: %v", n, err)
		}
		keys[n-1] = Tuple{Atom("svc"), int64(0)}
		_, err := Decode(encodeMap(keys))
		if err == nil || !strings.Contains(err.Error(), "repeats a key") {
			t.Fatalf("%d keys with the last repeating the first: err = %v", n, err)
		}
	}
	t.Run("equal across representations", func(t *testing.T) {
		// "ab" as STRING_EXT and [97,98] as LIST_EXT are the same key.
		keys := append(many(40), ByteList("ab"), List{int64(97), int64(1000)})
		b := encodeMap(keys)
		if _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
		keys[41] = ImproperList{Elems: []Term{int64(97)}, Tail: ByteList("b")}
		if _, err := Decode(encodeMap(keys)); err == nil {
			t.Fatal("[97|\"b\"] and \"ab\" accepted as distinct keys")
		}
	})
	t.Run("numbers of different types are distinct keys", func(t *testing.T) {
		keys := append(many(40), int64(1), 1.0, 0.0, math.Copysign(0, -1), bigPow2(70), 0x1p70)
		if _, err := Decode(encodeMap(keys)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, bigPow2(70))
		if _, err := Decode(encodeMap(keys)); err == nil {
			t.Fatal("2^70 twice accepted")
		}
	})
	t.Run("maps as keys, in any pair order", func(t *testing.T) {
		keys := append(many(40), Map{{Atom("a"), int64(1)}, {Atom("b"), int64(2)}}, Map{{Atom("b"), int64(2)}, {Atom("a"), int64(1)}})
		if _, err := Decode(encodeMap(keys)); err == nil {
			t.Fatal("the same map twice accepted")
		}
	})
}

func TestAtomCacheRef(t *testing.T) {
	in := h(t, "6802"+"5201"+"5200")
	refs := []Atom{"ok", "$gen_call"}
	got, _, err := DecodeNext(in, &DecodeOptions{AtomRefs: refs})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got, Tuple{refs[1], refs[0]}) {
		t.Fatalf("got %#v", got)
	}
	if _, _, err := DecodeNext(in, nil); err == nil || !strings.Contains(err.Error(), "ATOM_CACHE_REF") {
		t.Fatalf("without AtomRefs: err = %v", err)
	}
	if _, _, err := DecodeNext(in, &DecodeOptions{AtomRefs: refs[:1]}); err == nil {
		t.Fatal("index 1 with one cached atom accepted")
	}
	// The node of a pid may be a cache reference too.
	pid := h(t, "58"+"5200"+"000000010000000200000003")
	p, _, err := DecodeNext(pid, &DecodeOptions{AtomRefs: []Atom{"n@h"}})
	if err != nil || p != (Pid{Node: "n@h", ID: 1, Serial: 2, Creation: 3}) {
		t.Fatalf("pid = %#v, %v", p, err)
	}
}

func TestRejectedInputs(t *testing.T) {
	tests := []struct {
		name, hex, msg string
	}{
		{"LOCAL_EXT", "79" + "6100", "LOCAL_EXT"},
		{"FUN_EXT", "75", "FUN_EXT"},
		{"COMPRESSED inside a tuple", "6801" + "50000000017801", "COMPRESSED"},
		{"unknown tag", "01", "unknown tag"},
		{"invalid UTF-8 atom", "7701ff", "UTF-8"},
		{"atom of 256 chars", "7601" + "00" + strings.Repeat("61", 256), "255"},
		{"bignum sign 2", "6e010201", "sign"},
		{"reference with 6 words", "5a0006" + "7703614068" + "00000000" + strings.Repeat("00000001", 6), "words"},
		{"EXPORT_EXT arity not SMALL_INTEGER", "71" + "7701" + "6d" + "7701" + "66" + "6200000001", "arity"},
		{"NaN", "467ff8000000000001", "finite"},
		{"FLOAT_EXT inf", "63" + floatExt("inf", 0), "not a float"},
		{"FLOAT_EXT hex float", "63" + floatExt("0x1p-2", 0), "not a float"},
		{"FLOAT_EXT no fraction", "63" + floatExt("1e5", 0), "not a float"},
		{"FLOAT_EXT leading space", "63" + floatExt(" 1.5", 0), "not a float"},
		{"FLOAT_EXT trailing space", "63" + floatExt("1.5", ' '), "not a float"},
		{"FLOAT_EXT overflow", "63" + floatExt("1.0e999", 0), "not a float"},
		{"list truncated before tail", "6c000000016101", "tail"},
		{"pid node not an atom", "58" + "6101" + "000000010000000200000003", "atom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(append([]byte{Version}, h(t, tc.hex)...))
			if err == nil {
				t.Fatalf("decoded to %#v", got)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T", err, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func zlibBytes(t testing.TB, b []byte) []byte {
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return zb.Bytes()
}

func compressed(t testing.TB, size uint32, plain []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{Version, tagCompressed}, size)
	return append(b, zlibBytes(t, plain)...)
}

func TestCompressed(t *testing.T) {
	term := List{}
	for i := range 200 {
		term = append(term, Tuple{Atom("key"), int64(i % 3), []byte("valuevaluevalue")})
	}
	plain, err := Encode(term)
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; level <= 9; level++ {
		z, err := EncodeWith(term, &EncodeOptions{Compress: level})
		if err != nil {
			t.Fatal(err)
		}
		if z[1] != tagCompressed || len(z) >= len(plain) {
			t.Fatalf("level %d: %d bytes starting %x, plain is %d", level, len(z), z[:2], len(plain))
		}
		if got := binary.BigEndian.Uint32(z[2:]); int(got) != len(plain)-1 {
			t.Fatalf("declared size %d, want %d", got, len(plain)-1)
		}
		back, err := Decode(z)
		if err != nil {
			t.Fatal(err)
		}
		if !Equal(back, term) {
			t.Fatal("compressed round trip differs")
		}
	}
	t.Run("kept plain when not smaller", func(t *testing.T) {
		z, err := EncodeWith(Tuple{Atom("a"), int64(1)}, &EncodeOptions{Compress: 6})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(z, h(t, "83680277016161"+"01")) {
			t.Fatalf("got %x", z)
		}
	})
	t.Run("nested COMPRESSED refused", func(t *testing.T) {
		inner := compressed(t, 2, []byte{tagSmallInteger, 1})[1:]
		outer := compressed(t, uint32(len(inner)), inner)
		if _, err := Decode(outer); err == nil || !strings.Contains(err.Error(), "COMPRESSED") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("declared size must match", func(t *testing.T) {
		for _, size := range []uint32{1, 3, 1000} {
			if _, err := Decode(compressed(t, size, []byte{tagSmallInteger, 1})); err == nil {
				t.Fatalf("declared %d for 2 bytes accepted", size)
			}
		}
	})
	t.Run("MaxUncompressed", func(t *testing.T) {
		z := compressed(t, uint32(len(plain)-1), plain[1:])
		if _, err := DecodeWith(z, &DecodeOptions{MaxUncompressed: len(plain) - 2}); err == nil {
			t.Fatal("limit below the size accepted")
		}
		if _, err := DecodeWith(z, &DecodeOptions{MaxUncompressed: len(plain) - 1}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("garbage zlib", func(t *testing.T) {
		if _, err := Decode(h(t, "8350000000027801020304")); err == nil {
			t.Fatal("accepted")
		}
	})
}

func nestTuples(n int) []byte {
	b := []byte{Version}
	for range n {
		b = append(b, tagSmallTuple, 1)
	}
	return append(b, tagNil)
}

func nestLists(n int) []byte {
	// [[[...]]]: each list's first element is the next list.
	b := []byte{Version}
	for range n {
		b = append(b, tagList, 0, 0, 0, 1)
	}
	b = append(b, tagNil)
	for range n {
		b = append(b, tagNil)
	}
	return b
}

func nestMaps(n int) []byte {
	b := []byte{Version}
	for range n {
		b = append(b, tagMap, 0, 0, 0, 1, tagNil)
	}
	b = append(b, tagNil)
	return b
}

func TestMaxDepth(t *testing.T) {
	for name, nest := range map[string]func(int) []byte{"tuples": nestTuples, "lists": nestLists, "maps": nestMaps} {
		t.Run(name, func(t *testing.T) {
			opts := &DecodeOptions{MaxDepth: 5}
			if _, err := DecodeWith(nest(5), opts); err != nil {
				t.Fatalf("depth 5: %v", err)
			}
			_, err := DecodeWith(nest(6), opts)
			if err == nil || !strings.Contains(err.Error(), "nesting deeper than 5") {
				t.Fatalf("depth 6: err = %v", err)
			}
			// The default limit stops a hostile depth long before the stack.
			_, err = Decode(nest(DefaultMaxDepth + 1))
			if err == nil || !strings.Contains(err.Error(), "nesting") {
				t.Fatalf("default limit: err = %v", err)
			}
			if _, err := Decode(nest(DefaultMaxDepth)); err != nil {
				t.Fatalf("depth %d: %v", DefaultMaxDepth, err)
			}
		})
	}
	t.Run("long list-tail chain is not nesting", func(t *testing.T) {
		const n = 200000
		b := []byte{Version}
		for i := range n {
			b = append(b, tagList, 0, 0, 0, 1, tagSmallInteger, byte(i))
		}
		b = append(b, tagNil)
		got, err := DecodeWith(b, &DecodeOptions{MaxDepth: 2})
		if err != nil {
			t.Fatal(err)
		}
		if l, ok := got.(List); !ok || len(l) != n {
			t.Fatalf("got %T of %d", got, len(l))
		}
	})
}

// allocBytes returns the bytes allocated per call of f.
func allocBytes(f func()) uint64 {
	const runs = 50
	f()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

// A few bytes claiming a huge length must fail before anything of that size
// is allocated.
func TestHostileLengthsDoNotAllocate(t *testing.T) {
	tests := []struct {
		name, hex string
		limit     uint64
	}{
		{"4 GiB list", "836cffffffff61016102", 0},
		{"2^32-1 arity tuple", "8369ffffffff61016101", 0},
		{"2^32-1 pair map", "8374ffffffff61016101", 0},
		{"4 GiB binary", "836dffffffff000000", 0},
		{"4 GiB bitstring", "834dffffffff070000", 0},
		{"4 GiB LARGE_BIG", "836fffffffff000000", 0},
		{"64 KiB string", "836bffff0000000000", 0},
		{"64 KiB atom", "8376ffff6161616161", 0},
		{"NEW_FUN_EXT 4 GiB", "8370ffffffff000000", 0},
		{"compressed 4 GiB bomb", "8350ffffffff789c0300", 0},
		// Under the limit, so zlib runs: its state (~45 KiB) is the cost, not
		// the 200 MiB claimed.
		{"compressed 200 MiB claim", "83500c800000789c0300", 64 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := h(t, tc.hex)
			if len(in) != 10 && len(in) != 9 {
				t.Fatalf("test input is %d bytes", len(in))
			}
			if _, err := Decode(in); err == nil {
				t.Fatal("accepted")
			}
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 10
			}
			n := allocBytes(func() { _, _ = Decode(in) })
			t.Logf("%d bytes allocated per decode", n)
			if n > limit {
				t.Fatalf("%d bytes allocated per decode, want < %d", n, limit)
			}
		})
	}
}

func TestCompareAndEqual(t *testing.T) {
	pid := Pid{Node: "a@h", ID: 1}
	// One term of each class, in Erlang term order.
	ordered := []Term{
		int64(-5), 2.5, bigPow2(80),
		Atom("a"), Atom("b"),
		Ref{Node: "a@h", Len: 3},
		ExportFun{Module: "m", Function: "f"},
		Port{Node: "a@h"},
		pid,
		Tuple{}, Tuple{int64(1)}, Tuple{int64(1), int64(2)},
		Map{}, Map{{Atom("a"), int64(1)}},
		List(nil),
		List{int64(1)}, ByteList("a"),
		ImproperList{Elems: []Term{Atom("a")}, Tail: Atom("b")}, // [a|b] < [a|[]]: atom < nil
		List{Atom("a")},
		[]byte{}, BitString{Bytes: []byte{0}, Bits: 1}, []byte{0}, []byte{0, 0}, BitString{Bytes: []byte{0x80}, Bits: 1},
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(ordered[i], ordered[j]); got != want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	negZero := math.Copysign(0, -1)
	cases := []struct {
		name    string
		a, b    Term
		compare int
		equal   bool
	}{
		{"1 == 1.0 but not =:=", int64(1), 1.0, 0, false},
		{"2^53+1 > 2^53 float", int64(1<<53 + 1), float64(1 << 53), 1, false},
		{"bignum vs float", bigPow2(70), 0x1p70, 0, false},
		{"-0.0 == 0.0 but not =:= (OTP 27)", negZero, 0.0, 0, false},
		{"ByteList is a List", ByteList("ab"), List{int64(97), int64(98)}, 0, true},
		{"ByteList vs List with a float", ByteList("a"), List{97.0}, 0, false},
		{"empty ByteList is nil", ByteList{}, List(nil), 0, true},
		{"[1|[2]] is [1,2]", ImproperList{Elems: []Term{int64(1)}, Tail: List{int64(2)}}, List{int64(1), int64(2)}, 0, true},
		{"maps in any order", Map{{Atom("a"), int64(1)}, {Atom("b"), int64(2)}}, Map{{Atom("b"), int64(2)}, {Atom("a"), int64(1)}}, 0, true},
		{"maps order by keys first", Map{{Atom("a"), int64(9)}}, Map{{Atom("b"), int64(0)}}, -1, false},
		{"map keys: integer before float", Map{{int64(1), int64(0)}}, Map{{1.0, int64(0)}}, -1, false},
		{"map values compare ==", Map{{Atom("a"), int64(1)}}, Map{{Atom("a"), 1.0}}, 0, false},
		{"tuples by size first", Tuple{Atom("z")}, Tuple{Atom("a"), Atom("a")}, -1, false},
		{"lists lexicographic", List{int64(1), int64(2)}, List{int64(1), int64(3)}, -1, false},
		{"shorter list first", List{int64(1)}, List{int64(1), int64(0)}, -1, false},
		{"bool is an atom", true, Atom("true"), 0, true},
		{"string is a binary", "ab", []byte("ab"), 0, true},
		{"int types", int(7), int64(7), 0, true},
		{"uint64 max vs bignum", uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64), 0, true},
		{"refs compare high word first", Ref{Node: "a", Len: 2, ID: [5]uint32{2, 1}}, Ref{Node: "a", Len: 2, ID: [5]uint32{1, 2}}, -1, false},
	}
	for _, tc := range cases {
		if got := Compare(tc.a, tc.b); got != tc.compare {
			t.Errorf("%s: Compare = %d, want %d", tc.name, got, tc.compare)
		}
		if got := Compare(tc.b, tc.a); got != -tc.compare {
			t.Errorf("%s: reversed Compare = %d, want %d", tc.name, got, -tc.compare)
		}
		if got := Equal(tc.a, tc.b); got != tc.equal {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.equal)
		}
	}
}

// Generated terms survive encode/decode, and re-encoding the decoded term
// gives the same bytes.
func TestGeneratedRoundTrip(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		term := newTermGen(seed, false).term()
		b, err := Encode(term)
		if err != nil {
			t.Fatalf("seed %d: Encode(%#v): %v", seed, term, err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("seed %d: Decode(%x): %v", seed, b, err)
		}
		if !Equal(back, term) {
			t.Fatalf("seed %d: round trip differs\n got %#v\nwant %#v", seed, back, term)
		}
		if Compare(back, term) != 0 {
			t.Fatalf("seed %d: Equal but Compare != 0", seed)
		}
		again, err := Encode(back)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("seed %d: re-encoding differs (%v)\n got %x\nwant %x", seed, err, again, b)
		}
		// The same bytes read through DecodeNext and AppendTerm.
		v, k, err := DecodeNext(b[1:], nil)
		if err != nil || k != len(b)-1 || !Equal(v, term) {
			t.Fatalf("seed %d: DecodeNext = %d, %v", seed, k, err)
		}
	}
}

// Decoded tuples, lists, maps and binaries share chunks of memory; each must
// still behave as its own value.
func TestDecodedValuesAreIndependent(t *testing.T) {
	in, err := Encode(List{
		Tuple{Atom("a"), int64(1)}, Tuple{Atom("b"), int64(2)},
		[]byte("xy"), []byte("zw"), ByteList("s1"), ByteList("s2"),
		Map{{Atom("k"), int64(1)}}, Map{{Atom("k"), int64(2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	l := v.(List)
	grown := []Term{
		append(l[0].(Tuple), Atom("extra")),
		append(l[2].([]byte), 'Q'),
		append(l[6].(Map), MapPair{Atom("x"), int64(0)}),
	}
	l[4].(ByteList)[0] = 'S'
	want := List{
		Tuple{Atom("a"), int64(1)}, Tuple{Atom("b"), int64(2)},
		[]byte("xy"), []byte("zw"), ByteList("S1"), ByteList("s2"),
		Map{{Atom("k"), int64(1)}}, Map{{Atom("k"), int64(2)}},
	}
	if !Equal(l, want) {
		t.Fatalf("appending to one decoded value changed another:\n got %#v\nwant %#v", l, want)
	}
	if len(grown[0].(Tuple)) != 3 || len(grown[1].([]byte)) != 3 || len(grown[2].(Map)) != 2 {
		t.Fatalf("appends lost: %#v", grown)
	}
	// The input can be reused once Decode returns.
	for i := range in {
		in[i] = 0
	}
	if !Equal(l, want) {
		t.Fatal("decoded value aliases the input")
	}
}

func TestAliasBinaries(t *testing.T) {
	in, _ := Encode(Tuple{[]byte("abc")})
	v, err := DecodeWith(in, &DecodeOptions{AliasBinaries: true})
	if err != nil {
		t.Fatal(err)
	}
	b := v.(Tuple)[0].([]byte)
	in[len(in)-1] = 'Z'
	if string(b) != "abZ" {
		t.Fatalf("AliasBinaries: %q does not share the input", b)
	}
	if cap(b) != len(b) {
		t.Fatal("an aliased binary can be appended over the input")
	}
}

// Many goroutines decoding new and known atoms at once (run with -race).
func TestInternConcurrent(t *testing.T) {
	const workers, atoms = 8, 3000
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range atoms {
				name := Atom(fmt.Sprintf("conc_%d_%d", i, w%2)) // pairs of workers share atoms
				in, _ := Encode(Tuple{name, Atom("ok")})
				v, err := Decode(in)
				if err != nil || !Equal(v, Tuple{name, Atom("ok")}) {
					errs <- fmt.Errorf("worker %d: %v, %v", w, v, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	atomTable.mu.Lock()
	total := atomTable.total
	atomTable.mu.Unlock()
	if total > maxInterned {
		t.Fatalf("intern table holds %d atoms, limit %d", total, maxInterned)
	}
}

func TestInternBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 70000 atoms")
	}
	for i := range maxInterned + 5000 {
		raw := []byte(fmt.Sprintf("bound_%d", i))
		if a := internAtom(raw); string(a) != string(raw) {
			t.Fatalf("intern(%s) = %s", raw, a)
		}
	}
	atomTable.mu.Lock()
	defer atomTable.mu.Unlock()
	if atomTable.total > maxInterned {
		t.Fatalf("intern table holds %d atoms, limit %d", atomTable.total, maxInterned)
	}
	n := len(atomTable.pending)
	if m := atomTable.snap.Load(); m != nil {
		n += len(*m)
	}
	if n > maxInterned {
		t.Fatalf("intern maps hold %d atoms, limit %d", n, maxInterned)
	}
}

// AppendTuple writes what AppendTerm writes for the Tuple of the same
// elements, in both tuple forms, and a warm call allocates nothing.
func TestAppendTuple(t *testing.T) {
	pid := Term(Pid{Node: "a@127.0.0.1", ID: 80, Serial: 1, Creation: 4})
	big := make([]Term, 300)
	for i := range big {
		big[i] = int64(i)
	}
	for _, elems := range [][]Term{{}, {int64(6), pid, Atom("x")}, big} {
		want, err := AppendTerm(nil, Tuple(elems), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendTuple([]byte{0xff}, elems, nil)
		if err != nil || !bytes.Equal(got[1:], want) || got[0] != 0xff {
			t.Errorf("%d elements: AppendTuple = %x, %v; want %x after the prefix", len(elems), got, err, want)
		}
	}
	elems := []Term{int64(6), pid, pid}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendTuple(buf[:0], elems, nil) }); n != 0 {
		t.Errorf("AppendTuple allocates %v times", n)
	}
	if _, err := AppendTuple(nil, []Term{int64(1), make(chan int)}, nil); err == nil {
		t.Error("a channel element encoded")
	}
}
