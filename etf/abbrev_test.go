package etf

import (
	"strings"
	"testing"
)

func TestAbbrev(t *testing.T) {
	if got := Abbrev(Tuple{Atom("ok"), int64(1)}); got != "{ok,1}" {
		t.Fatalf("small term: %q", got)
	}
	huge := make(List, 100000)
	for i := range huge {
		huge[i] = int64(i)
	}
	got := Abbrev(Tuple{Atom("x"), huge})
	if len(got) > 200 || strings.Contains(got, "99999") {
		t.Fatalf("a 100k-element list was formatted whole: %d bytes", len(got))
	}
	long := Abbrev([]byte(strings.Repeat("a", 1000)))
	if len(long) > 120 {
		t.Fatalf("long binary not clipped: %q", long)
	}
}
