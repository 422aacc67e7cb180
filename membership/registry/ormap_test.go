package registry_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

func val(pidID uint32, dots ...registry.Dot) registry.Entry {
	return registry.Entry{
		Service: registry.ServiceEntry{Name: registry.AtomName("s"), Pid: etf.Pid{Node: "a@h", ID: pidID}, Node: "a@h", Meta: etf.Map{}},
		Dots:    dots,
	}
}

func tomb(w, l int64) registry.Entry { return registry.Entry{Tombstone: true, Time: ts{w, l}} }

func dot(node string, w, l int64) registry.Dot {
	return registry.Dot{Node: etf.Atom(node), Time: ts{w, l}}
}

func sameEntry(a, b registry.Entry) bool {
	if a.Tombstone != b.Tombstone {
		return false
	}
	if a.Tombstone {
		return a.Time == b.Time
	}
	da, db := slices.Clone(a.Dots), slices.Clone(b.Dots)
	slices.SortFunc(da, registry.Dot.Compare)
	slices.SortFunc(db, registry.Dot.Compare)
	return etf.Equal(a.Service.Term(), b.Service.Term()) && slices.Equal(da, db)
}

func TestMergeTable(t *testing.T) {
	cases := []struct {
		name            string
		local, incoming registry.Entry
		want            registry.Entry
	}{
		{"newer incoming value wins, dots united",
			val(1, dot("a@h", 10, 0)), val(2, dot("a@h", 20, 0)),
			val(2, dot("a@h", 10, 0), dot("a@h", 20, 0))},
		{"newer local value wins",
			val(1, dot("a@h", 30, 0)), val(2, dot("a@h", 20, 0)),
			val(1, dot("a@h", 30, 0), dot("a@h", 20, 0))},
		{"equal HLC: node atom breaks the tie ('B@h' < 'a@h')",
			val(1, dot("B@h", 10, 0)), val(2, dot("a@h", 10, 0)),
			val(2, dot("B@h", 10, 0), dot("a@h", 10, 0))},
		{"logical breaks a wall tie",
			val(1, dot("a@h", 10, 2)), val(2, dot("z@h", 10, 1)),
			val(1, dot("a@h", 10, 2), dot("z@h", 10, 1))},
		{"later tombstone wins over tombstone", tomb(10, 0), tomb(10, 1), tomb(10, 1)},
		{"tombstone newer than every dot wins", val(1, dot("a@h", 10, 0)), tomb(10, 1), tomb(10, 1)},
		{"tombstone equal to max dot loses", val(1, dot("a@h", 10, 1)), tomb(10, 1), val(1, dot("a@h", 10, 1))},
		{"value newer than tombstone wins (either side)", tomb(10, 0), val(1, dot("a@h", 11, 0)), val(1, dot("a@h", 11, 0))},
		{"max HLC over all dots counts", tomb(15, 0), val(1, dot("a@h", 10, 0), dot("b@h", 20, 0)), val(1, dot("a@h", 10, 0), dot("b@h", 20, 0))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := registry.Merge(tc.local, tc.incoming); !sameEntry(got, tc.want) {
				t.Errorf("Merge(local, incoming) = %s, want %s", etf.Format(got.Term()), etf.Format(tc.want.Term()))
			}
			if got := registry.Merge(tc.incoming, tc.local); !sameEntry(got, tc.want) {
				t.Errorf("Merge(incoming, local) = %s, want %s", etf.Format(got.Term()), etf.Format(tc.want.Term()))
			}
		})
	}
}

// randomEntry draws entries whose values are a function of their max dot,
// as in barrel_p2p (one write = one dot), so ties between different values
// cannot occur.
func randomEntry(r *rand.Rand) registry.Entry {
	if r.IntN(3) == 0 {
		return tomb(int64(r.IntN(5)), int64(r.IntN(3)))
	}
	var dots []registry.Dot
	for range 1 + r.IntN(3) {
		d := dot([]string{"a@h", "b@h", "B@h"}[r.IntN(3)], int64(r.IntN(5)), int64(r.IntN(3)))
		if !slices.Contains(dots, d) {
			dots = append(dots, d)
		}
	}
	e := val(0, dots...)
	m := e.MaxDot()
	e.Service.Pid.ID = uint32(m.Time.WallMs*100 + m.Time.Logical*10 + int64(len(m.Node)) + int64(m.Node[0]))
	return e
}

func sameVisible(a, b registry.Entry) bool {
	if a.Tombstone || b.Tombstone {
		return sameEntry(a, b)
	}
	return etf.Equal(a.Service.Term(), b.Service.Term()) && a.MaxDot() == b.MaxDot()
}

func TestMergeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		a, b, c := randomEntry(r), randomEntry(r), randomEntry(r)
		if !sameEntry(registry.Merge(a, b), registry.Merge(b, a)) {
			t.Fatalf("#%d not commutative: %s %s", i, etf.Format(a.Term()), etf.Format(b.Term()))
		}
		// Grouping can change which dominated dots survive (a tombstone
		// swallows the dots it beats), never what is visible: liveness,
		// value and maximum dot, which is all later merges look at.
		if !sameVisible(registry.Merge(registry.Merge(a, b), c), registry.Merge(a, registry.Merge(b, c))) {
			t.Fatalf("#%d not associative: %s %s %s", i, etf.Format(a.Term()), etf.Format(b.Term()), etf.Format(c.Term()))
		}
		if !sameEntry(registry.Merge(a, a), a) {
			t.Fatalf("#%d not idempotent: %s", i, etf.Format(a.Term()))
		}
	}
}
