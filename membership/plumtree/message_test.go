package plumtree_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

func TestDecodeRejects(t *testing.T) {
	id := make([]byte, 32)
	env := func(m etf.Term) etf.Term { return etf.Tuple{plumtree.EnvelopeTag, m} }
	cases := map[string]etf.Term{
		"not a tuple":        etf.List{plumtree.EnvelopeTag},
		"wrong envelope":     etf.Tuple{etf.Atom("$barrel_p2p_replica"), etf.Tuple{etf.Atom("prune"), etf.Atom("a@h")}},
		"envelope arity 3":   etf.Tuple{plumtree.EnvelopeTag, etf.Tuple{etf.Atom("prune"), etf.Atom("a@h")}, 1},
		"empty inner tuple":  env(etf.Tuple{}),
		"unknown kind":       env(etf.Tuple{etf.Atom("round"), id, etf.Atom("a@h")}),
		"kind not atom":      env(etf.Tuple{"gossip", id, etf.Atom("t"), 1, etf.Atom("a@h")}),
		"gossip arity 4":     env(etf.Tuple{etf.Atom("gossip"), id, etf.Atom("t"), etf.Atom("a@h")}),
		"gossip arity 6":     env(etf.Tuple{etf.Atom("gossip"), id, etf.Atom("t"), 1, etf.Atom("a@h"), 0}),
		"gossip sender pid":  env(etf.Tuple{etf.Atom("gossip"), id, etf.Atom("t"), 1, etf.Pid{Node: "a@h"}}),
		"gossip sender ''":   env(etf.Tuple{etf.Atom("gossip"), id, etf.Atom("t"), 1, etf.Atom("")}),
		"ihave arity 2":      env(etf.Tuple{etf.Atom("ihave"), id}),
		"ihave sender int":   env(etf.Tuple{etf.Atom("ihave"), id, 7}),
		"graft arity 4":      env(etf.Tuple{etf.Atom("graft"), id, etf.Atom("a@h"), 1}),
		"prune arity 3":      env(etf.Tuple{etf.Atom("prune"), etf.Atom("a@h"), 1}),
		"prune sender list":  env(etf.Tuple{etf.Atom("prune"), etf.List{etf.Atom("a@h")}}),
		"huge binary id":     env(etf.Tuple{etf.Atom("ihave"), make([]byte, plumtree.MaxIDSize), etf.Atom("a@h")}),
		"huge term id":       env(etf.Tuple{etf.Atom("ihave"), etf.CharList(strings.Repeat("x", 2000)), etf.Atom("a@h")}),
		"unencodable id fun": env(etf.Tuple{etf.Atom("ihave"), etf.LocalFun{}, etf.Atom("a@h")}),
	}
	for name, term := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := plumtree.DecodeEnvelope(term)
			if err == nil {
				t.Fatalf("accepted as %#v", m)
			}
			if !errors.Is(err, plumtree.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// Ids are opaque terms: non-binary ids must be accepted, compared by
// exact equality and written back unchanged.
func TestOpaqueIDs(t *testing.T) {
	terms := []etf.Term{
		[]byte{},
		[]byte("short"),
		etf.Atom("an_atom_id"),
		etf.Tuple{etf.Atom("id"), int64(1), big.NewInt(0).Lsh(big.NewInt(1), 70)},
		etf.Map{{Key: etf.Atom("b"), Value: int64(2)}, {Key: etf.Atom("a"), Value: int64(1)}},
		etf.List{int64(1), int64(2), int64(300)},
		3.5,
	}
	for _, term := range terms {
		id, err := plumtree.IDFromTerm(term)
		if err != nil {
			t.Fatalf("%s: %v", etf.Format(term), err)
		}
		if !etf.Equal(id.Term(), term) {
			t.Errorf("%s came back as %s", etf.Format(term), etf.Format(id.Term()))
		}
		msg, err := plumtree.DecodeEnvelope(etf.Tuple{plumtree.EnvelopeTag, etf.Tuple{etf.Atom("ihave"), term, etf.Atom("a@h")}})
		if err != nil {
			t.Fatal(err)
		}
		if msg.(plumtree.IHave).ID != id {
			t.Errorf("%s: decoded id differs from IDFromTerm", etf.Format(term))
		}
	}
	// Map pair order does not change the id; 1 and 1.0 are different ids.
	a, _ := plumtree.IDFromTerm(etf.Map{{Key: etf.Atom("a"), Value: int64(1)}, {Key: etf.Atom("b"), Value: int64(2)}})
	b, _ := plumtree.IDFromTerm(etf.Map{{Key: etf.Atom("b"), Value: int64(2)}, {Key: etf.Atom("a"), Value: int64(1)}})
	if a != b {
		t.Error("equal maps gave different ids")
	}
	one, _ := plumtree.IDFromTerm(int64(1))
	onef, _ := plumtree.IDFromTerm(1.0)
	if one == onef {
		t.Error("1 and 1.0 gave the same id")
	}
	if bin, _ := plumtree.IDFromTerm([]byte("x")); bin == (plumtree.ID{}) || bin.IsZero() {
		t.Error("binary id is zero")
	}
}

func TestNewIDMatchesErlang(t *testing.T) {
	// crypto:hash(sha256, term_to_binary({'go1@127.0.0.1', 1767225600000, 3, 42},
	// [{minor_version, 2}])) computed with erl (OTP 25); minor version 2 is the
	// default of OTP 26+, which barrel_p2p runs on.
	const want = "b4c650290fb3f211cf5d0f6b6e5b8ce177b291706dccdd4d40a25a188cbea793"
	id := plumtree.NewID("go1@127.0.0.1", 1767225600000, 3, 42)
	if b, ok := id.Bytes(); !ok || len(b) != 32 {
		t.Fatalf("id %v is not 32 bytes", id)
	}
	if got := id.String(); got != want {
		t.Errorf("NewID = %s, want %s", got, want)
	}
}
