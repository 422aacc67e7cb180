package interop

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/interop/termgen"
)

// distTermsRandom is how many termgen terms ride the distribution round
// trip on top of the boundary cases and the recorded corpus.
const distTermsRandom = 1500

// TestDistTermsRoundTrip sends every term Go -> Erlang -> Go over a real
// distribution connection: Go passes the term and its own term_to_binary
// bytes to dist_probe:roundtrip_check/2 through rpc, Erlang checks the
// term it received over distribution =:= binary_to_term(Go's bytes), and
// returns the term, which Go compares with the original.
func TestDistTermsRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := c.startErl()

	var cases []corpusCase
	for _, b := range termgen.Boundaries() {
		cases = append(cases, corpusCase{"boundary/" + b.Name, b.Term})
	}
	for _, v := range readVectors(t, "etf_corpus.json").Entries {
		if v.DecodeOnly {
			continue
		}
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatalf("etf_corpus.json %s: %v", v.ID, err)
		}
		term, err := etf.Decode(b)
		if err != nil {
			t.Errorf("etf_corpus.json %s: etf.Decode: %v", v.ID, err)
			continue
		}
		cases = append(cases, corpusCase{"vector/" + v.ID, term})
	}
	g := termgen.New(*seedFlag)
	for i := range distTermsRandom {
		cases = append(cases, corpusCase{fmt.Sprintf("random/%d", i), g.Term()})
	}

	failures := 0
	for _, tc := range cases {
		if failures > 10 {
			t.Fatal("too many failures, stopping")
		}
		enc, err := etf.Encode(tc.term)
		if err != nil {
			t.Errorf("%s: etf.Encode: %v", tc.name, err)
			failures++
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		res, err := c.go1.RPC(ctx, e.name, "dist_probe", "roundtrip_check", tc.term, enc)
		cancel()
		if err != nil {
			t.Fatalf("%s: rpc roundtrip_check: %v (term %s)", tc.name, err, show(tc.term))
		}
		tup, ok := res.(etf.Tuple)
		if !ok || len(tup) != 2 {
			t.Fatalf("%s: roundtrip_check returned %s", tc.name, show(res))
		}
		if tup[1] != etf.Atom("equal") {
			t.Errorf("%s: on Erlang, the term received over dist is not =:= binary_to_term(Go's bytes): %s\n  term %s", tc.name, show(tup[1]), show(tc.term))
			failures++
		}
		if !etf.Equal(tup[0], tc.term) {
			t.Errorf("%s: Go -> Erlang -> Go changed the term\n  sent %s\n  got  %s", tc.name, show(tc.term), show(tup[0]))
			failures++
		}
	}
	t.Logf("%d terms (boundary, recorded corpus, %d random with seed %d) round-tripped over distribution", len(cases), distTermsRandom, *seedFlag)
}
