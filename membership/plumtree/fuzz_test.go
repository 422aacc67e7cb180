package plumtree_test

import (
	"encoding/hex"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

var fuzzSeeds = []string{
	// IHAVE, GRAFT, PRUNE and the registry GOSSIP of membership-terms-otp25.txt.
	"83680277142462617272656C5F7032705F706C756D747265656803770569686176656D00000020ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB770D676F31403132372E302E302E31",
	"83680277142462617272656C5F7032705F706C756D747265656803770567726166746D00000020ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB770D676F31403132372E302E302E31",
	"83680277142462617272656C5F7032705F706C756D74726565680277057072756E65770D676F31403132372E302E302E31",
	"83680277142462617272656C5F7032705F706C756D7472656568057706676F737369706D00000020ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB771B62617272656C5F7032705F72656769737472795F7265706C6963616803770564656C7461770D676F31403132372E302E302E317400000001680277096D795F676F5F737663770D676F31403132372E302E302E316803770576616C75656805770D736572766963655F656E74727977096D795F676F5F73766358770D676F31403132372E302E302E31000000010000000000000001770D676F31403132372E302E302E31740000000074000000016802770D676F31403132372E302E302E316803770974696D657374616D706E060000A8DA769B016100770474727565770D676F31403132372E302E302E31",
}

// FuzzDecodeEnvelope checks that no input panics the decoder or the State,
// and that whatever decodes re-encodes to an equal term.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		term, err := etf.Decode(data)
		if err != nil {
			return
		}
		m, err := plumtree.DecodeEnvelope(term)
		if err != nil {
			return
		}
		back := plumtree.Envelope(m)
		if !etf.Equal(term, back) {
			t.Fatalf("round trip changed %s into %s", etf.Format(term), etf.Format(back))
		}
		enc, err := etf.Encode(back)
		if err != nil {
			t.Fatalf("re-encoding failed: %v", err)
		}
		if again, err := etf.Decode(enc); err != nil || !etf.Equal(again, term) {
			t.Fatalf("re-encoded bytes decode to %v (%v)", again, err)
		}
		s := plumtree.New(plumtree.Config{Self: "me@h"}, []etf.Atom{"a@h", "b@h"})
		for _, a := range s.Receive(t0, m) {
			if snd, ok := a.(plumtree.Send); ok {
				if _, err := etf.Encode(plumtree.Envelope(snd.Msg)); err != nil {
					t.Fatalf("state produced an unencodable message: %v", err)
				}
			}
		}
	})
}
