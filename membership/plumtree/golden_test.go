package plumtree_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/internal/vectortest"
	"github.com/barrelgo/barrelgo/membership/plumtree"
)

var vectorsDir = filepath.Join("..", "..", "..", "shared", "vectors")

type recorded struct {
	Category string `json:"category"`
	Process  string `json:"process"`
	Print    string `json:"print"`
	Hex      string `json:"msg_etf_hex"`
}

func loadSequence(t *testing.T) []recorded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, "membership_sequence.json"))
	if os.IsNotExist(err) {
		t.Skip("shared vectors not present: ", vectorsDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var seq struct {
		Received []recorded `json:"received"`
		Sent     []recorded `json:"sent"`
	}
	if err := json.Unmarshal(b, &seq); err != nil {
		t.Fatal(err)
	}
	return append(seq.Received, seq.Sent...)
}

// TestGoldenSequence decodes every recorded Plumtree message into the
// structs and checks that re-encoding yields the same term and, because
// Tag/Payload keep their wire map order, the same bytes.
func TestGoldenSequence(t *testing.T) {
	kinds := map[string]int{}
	for i, r := range loadSequence(t) {
		if r.Category != "plumtree" {
			continue
		}
		raw, err := hex.DecodeString(r.Hex)
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		term, err := etf.Decode(raw)
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		m, err := plumtree.DecodeEnvelope(term)
		if err != nil {
			t.Fatalf("#%d %s: %v", i, r.Print, err)
		}
		switch m := m.(type) {
		case plumtree.Gossip:
			kinds["gossip"]++
			if b, ok := m.ID.Bytes(); !ok || len(b) != 32 {
				t.Errorf("#%d: id %v is not a 32-byte binary", i, m.ID)
			}
		case plumtree.IHave:
			kinds["ihave"]++
		case plumtree.Graft:
			kinds["graft"]++
		case plumtree.Prune:
			kinds["prune"]++
		}
		if !strings.HasSuffix(r.Print, "'"+string(m.From())+"'}}") {
			t.Errorf("#%d: sender %s not at the end of %s", i, m.From(), r.Print)
		}
		back := plumtree.Envelope(m)
		if !etf.Equal(term, back) {
			t.Fatalf("#%d: re-encoded term differs:\n got %s\nwant %s", i, etf.Format(back), r.Print)
		}
		enc, err := etf.Encode(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, raw) {
			t.Errorf("#%d: re-encoded bytes differ for %s", i, r.Print)
		}
	}
	t.Logf("recorded plumtree messages: %v", kinds)
	if kinds["gossip"] == 0 || kinds["ihave"] == 0 || kinds["prune"] == 0 {
		t.Fatalf("expected gossip, ihave and prune in the recording, got %v", kinds)
	}
}

func TestGoldenOTP25(t *testing.T) {
	vec := vectortest.MembershipTerms(t, vectorsDir)
	id := plumtree.BinaryID(bytes.Repeat([]byte{0xAB}, 32))
	want := map[string]plumtree.Message{
		"IHAVE": plumtree.IHave{ID: id, Sender: "go1@127.0.0.1"},
		"GRAFT": plumtree.Graft{ID: id, Sender: "go1@127.0.0.1"},
		"PRUNE": plumtree.Prune{Sender: "go1@127.0.0.1"},
	}
	for label, m := range want {
		raw, ok := vec[label]
		if !ok {
			t.Fatalf("vector %s missing", label)
		}
		enc, err := etf.Encode(plumtree.Envelope(m))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, raw) {
			t.Errorf("%s: encoded\n %X\nwant\n %X", label, enc, raw)
		}
		term, err := etf.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := plumtree.DecodeEnvelope(term)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if got != m {
			t.Errorf("%s: decoded %#v, want %#v", label, got, m)
		}
	}
	raw := vec["GOSSIP registry delta"]
	term, err := etf.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := plumtree.DecodeEnvelope(term)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.(plumtree.Gossip)
	if !ok || g.ID != id || g.Tag != etf.Atom("barrel_p2p_registry_replica") || g.Sender != "go1@127.0.0.1" {
		t.Fatalf("decoded %#v", m)
	}
	enc, err := etf.Encode(plumtree.Envelope(g))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, raw) {
		t.Errorf("gossip re-encoding differs")
	}
}
