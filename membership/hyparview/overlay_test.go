package hyparview

import (
	"maps"
	"slices"
	"testing"

	"github.com/barrelgo/barrelgo/etf"
)

func TestReachable(t *testing.T) {
	views := map[etf.Atom][]etf.Atom{
		"a": {"b"},
		"b": {"a", "c"},
		"c": {},         // held by b only: still reachable
		"d": {"e"},      // another component
		"e": {"d", "f"}, // f has no view of its own
	}
	for from, want := range map[etf.Atom][]etf.Atom{
		"a": {"a", "b", "c"},
		"c": {"a", "b", "c"},
		"d": {"d", "e", "f"},
		"f": {"d", "e", "f"},
		"x": {"x"},
	} {
		got := slices.Sorted(maps.Keys(Reachable(views, from)))
		if !slices.Equal(got, want) {
			t.Errorf("Reachable from %s = %v, want %v", from, got, want)
		}
	}
}
