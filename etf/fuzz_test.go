package etf

import (
	"bytes"
	"errors"
	"testing"
)

// addVectorSeeds seeds f with every recorded OTP encoding, valid or not.
func addVectorSeeds(f *testing.F) {
	for _, name := range []string{"etf_corpus.json", "etf_invalid.json"} {
		for _, e := range loadCorpus(f, name) {
			f.Add(mustHex(f, e.Hex))
		}
	}
}

// fuzzAtomRefs lets ATOM_CACHE_REF inputs get past the atom.
var fuzzAtomRefs = []Atom{"a", "b@h", "ok", "", "日本"}

// FuzzDecode: any input either fails with a *DecodeError or decodes to a
// term that encodes and decodes back to an equal term.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		// DecodeNext with a cache must not panic either.
		if v, n, err := DecodeNext(in, &DecodeOptions{AtomRefs: fuzzAtomRefs, MaxDepth: 64}); err == nil {
			if n <= 0 || n > len(in) {
				t.Fatalf("DecodeNext consumed %d of %d bytes", n, len(in))
			}
			if _, err := AppendTerm(nil, v, nil); err != nil {
				t.Fatalf("DecodeNext result does not encode: %v", err)
			}
		}
		term, err := Decode(in)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *DecodeError", err, err)
			}
			return
		}
		if !Equal(term, term) || Compare(term, term) != 0 {
			t.Fatalf("term not equal to itself: %#v", term)
		}
		out, err := Encode(term)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", term, err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("own encoding %x rejected: %v", out, err)
		}
		if !Equal(back, term) {
			t.Fatalf("round trip differs\n  in %x\n out %x\n got %#v\nwant %#v", in, out, back, term)
		}
	})
}

// FuzzRoundTrip: after one decode/encode pass the bytes are canonical, so a
// second pass reproduces them exactly, with and without Deterministic.
func FuzzRoundTrip(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		t1, err := Decode(in)
		if err != nil {
			return
		}
		for _, opts := range []*EncodeOptions{nil, {Deterministic: true}, {Minor: Minor1}} {
			e1, err := EncodeWith(t1, opts)
			if err != nil {
				t.Fatalf("encode (%+v): %v", opts, err)
			}
			t2, err := Decode(e1)
			if err != nil {
				t.Fatalf("decode of own encoding %x: %v", e1, err)
			}
			e2, err := EncodeWith(t2, opts)
			if err != nil {
				t.Fatalf("second encode: %v", err)
			}
			if !bytes.Equal(e1, e2) {
				t.Fatalf("not a fixed point (%+v)\n  in %x\n e1 %x\n e2 %x", opts, in, e1, e2)
			}
		}
	})
}
