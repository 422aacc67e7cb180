package etf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorsDir is the shared/vectors directory beside the project root.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

type corpusEntry struct {
	ID              string          `json:"id"`
	Group           string          `json:"group"`
	Opts            string          `json:"opts"`
	Hex             string          `json:"hex"`
	Desc            string          `json:"desc"`
	DecodeOnly      bool            `json:"decode_only"`
	UncompressedHex string          `json:"uncompressed_hex"`
	Rejected        bool            `json:"rejected"`
	What            string          `json:"what"`
	DecodedDesc     json.RawMessage `json:"decoded_desc"`
}

func loadCorpus(t testing.TB, name string) []corpusEntry {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("shared vectors missing (want ../shared/vectors beside the project root): %v", err)
	}
	var f struct {
		Entries []corpusEntry `json:"entries"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Entries) == 0 {
		t.Fatalf("%s: no entries", name)
	}
	return f.Entries
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// optsFor maps the recorded term_to_binary options to EncodeOptions.
func optsFor(t *testing.T, opts string) *EncodeOptions {
	switch opts {
	case "[]", "":
		return nil
	case "[deterministic]":
		return &EncodeOptions{Deterministic: true}
	case "[{minor_version,0}]":
		return &EncodeOptions{Minor: Minor0}
	case "[{minor_version,1}]":
		return &EncodeOptions{Minor: Minor1}
	case "[{minor_version,2}]":
		return &EncodeOptions{Minor: Minor2}
	}
	t.Fatalf("unknown options %s", opts)
	return nil
}

func TestVectorsCorpus(t *testing.T) {
	entries := append(loadCorpus(t, "etf_corpus.json"), loadCorpus(t, "etf_corpus_large.json")...)
	var exact, decodeOnly int
	for _, e := range entries {
		t.Run(e.ID, func(t *testing.T) {
			in := mustHex(t, e.Hex)
			term, err := Decode(in)
			if err != nil {
				t.Fatalf("decode %s: %v", e.Desc, err)
			}
			if e.DecodeOnly {
				decodeOnly++
				if e.UncompressedHex != "" {
					plain, err := Decode(mustHex(t, e.UncompressedHex))
					if err != nil {
						t.Fatalf("decode uncompressed: %v", err)
					}
					if !Equal(term, plain) {
						t.Fatalf("compressed and plain forms decode differently")
					}
				}
				return
			}
			out, err := EncodeWith(term, optsFor(t, e.Opts))
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("re-encoding differs\n got %x\nwant %x", out, in)
			}
			exact++
			if e.Opts == "[deterministic]" {
				// Any pair order must give OTP's deterministic bytes.
				m := deepReverseMaps(term)
				out, err := EncodeWith(m, &EncodeOptions{Deterministic: true})
				if err != nil || !bytes.Equal(out, in) {
					t.Fatalf("deterministic encoding of reordered map differs (%v)\n got %x\nwant %x", err, out, in)
				}
			}
		})
	}
	t.Logf("%d entries: %d re-encoded byte for byte, %d decode-only", len(entries), exact, decodeOnly)
}

func deepReverseMaps(t Term) Term {
	switch v := t.(type) {
	case Map:
		out := make(Map, len(v))
		for i, p := range v {
			out[len(v)-1-i] = MapPair{deepReverseMaps(p.Key), deepReverseMaps(p.Value)}
		}
		return out
	case Tuple:
		out := make(Tuple, len(v))
		for i, e := range v {
			out[i] = deepReverseMaps(e)
		}
		return out
	case List:
		out := make(List, len(v))
		for i, e := range v {
			out[i] = deepReverseMaps(e)
		}
		return out
	}
	return t
}

func TestVectorsInvalid(t *testing.T) {
	for _, e := range loadCorpus(t, "etf_invalid.json") {
		t.Run(e.ID, func(t *testing.T) {
			in := mustHex(t, e.Hex)
			term, err := Decode(in)
			switch {
			case strings.Contains(e.Opts, "safe"):
				// [safe] refuses atoms unknown to the VM's atom table; a Go node
				// has no atom table, so these valid encodings decode.
				if err != nil {
					t.Fatalf("%s: valid encoding refused: %v", e.What, err)
				}
			case e.Rejected:
				if err == nil {
					t.Fatalf("%s: accepted, decoded to %#v", e.What, term)
				}
				var de *DecodeError
				if !asDecodeError(err, &de) {
					t.Fatalf("error is %T, want *DecodeError", err)
				}
				t.Logf("%s: %v", e.What, err)
			case e.ID == "trailing_bytes":
				// binary_to_term/1 ignores trailing bytes; Decode refuses them
				// deliberately, DecodeVersioned reads the prefix.
				if err == nil {
					t.Fatal("Decode accepted trailing bytes")
				}
				v, n, err := DecodeVersioned(in, nil)
				if err != nil || n != 3 || v != int64(1) {
					t.Fatalf("DecodeVersioned = %v, %d, %v; want 1, 3, nil", v, n, err)
				}
			case e.ID == "ref_zero_words":
				if err != nil {
					t.Fatal(err)
				}
				r, ok := term.(Ref)
				if !ok || r.Len != 0 {
					t.Fatalf("got %#v, want a zero-word reference", term)
				}
			default:
				if err != nil {
					t.Fatalf("%s: OTP accepts this, Decode says %v", e.What, err)
				}
			}
		})
	}
}

func asDecodeError(err error, target **DecodeError) bool {
	de, ok := err.(*DecodeError)
	if ok {
		*target = de
	}
	return ok
}
