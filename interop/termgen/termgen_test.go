package termgen

import (
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func TestDeterministic(t *testing.T) {
	a, b := New(7), New(7)
	for i := range 500 {
		x, y := a.Term(), b.Term()
		if !etf.Equal(x, y) {
			t.Fatalf("term %d differs between two generators with the same seed:\n%#v\n%#v", i, x, y)
		}
	}
}

func TestEveryKindEncodes(t *testing.T) {
	g := New(1)
	for _, k := range Kinds {
		for range 50 {
			term := g.Kind(k)
			if _, err := etf.Encode(term); err != nil {
				t.Fatalf("kind %s: Encode(%#v): %v", k, term, err)
			}
		}
	}
	for _, c := range Boundaries() {
		if _, err := etf.Encode(c.Term); err != nil {
			t.Errorf("boundary %s: %v", c.Name, err)
		}
	}
}

func TestMapKeysUnique(t *testing.T) {
	g := New(3)
	for range 200 {
		m := g.Map(8, 0)
		for i := range m {
			for j := range i {
				if etf.Equal(m[i].Key, m[j].Key) {
					t.Fatalf("duplicate key %#v", m[i].Key)
				}
			}
		}
	}
}
