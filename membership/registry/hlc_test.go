package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

func ms(v int64) time.Time { return time.UnixMilli(v) }

type ts = registry.Timestamp

func TestClockNow(t *testing.T) {
	c := registry.NewClock(0)
	steps := []struct {
		phys int64
		want ts
	}{
		{1000, ts{1000, 0}}, // physical ahead: (now, 0)
		{1000, ts{1000, 1}}, // same ms: logical + 1
		{999, ts{1000, 2}},  // physical behind: wall kept, logical + 1
		{1001, ts{1001, 0}},
	}
	for i, s := range steps {
		if got := c.Now(ms(s.phys)); got != s.want {
			t.Fatalf("step %d: Now = %v, want %v", i, got, s.want)
		}
	}
}

func TestClockUpdate(t *testing.T) {
	cases := []struct {
		name   string
		last   ts // reached through Now/Update first
		phys   int64
		remote ts
		want   ts
	}{
		{"physical ahead of both", ts{1000, 5}, 2000, ts{1500, 9}, ts{2000, 0}},
		{"remote wall ahead", ts{1000, 5}, 1000, ts{1500, 9}, ts{1500, 10}},
		{"local wall ahead", ts{1500, 5}, 1000, ts{1200, 9}, ts{1500, 6}},
		{"equal walls: max logical + 1", ts{1500, 5}, 1000, ts{1500, 9}, ts{1500, 10}},
		{"equal walls, local larger", ts{1500, 12}, 1000, ts{1500, 9}, ts{1500, 13}},
		{"physical equal to remote, not ahead", ts{1000, 5}, 1500, ts{1500, 2}, ts{1500, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Absorbing (wall, l-1) into a zero clock leaves it at (wall, l).
			c := registry.NewClock(0)
			c.Update(ms(0), ts{tc.last.WallMs, tc.last.Logical - 1})
			if c.Last() != tc.last {
				t.Fatalf("setup: %v", c.Last())
			}
			got, err := c.Update(ms(tc.phys), tc.remote)
			if err != nil || got != tc.want || c.Last() != tc.want {
				t.Fatalf("Update = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestClockMaxOffset(t *testing.T) {
	c := registry.NewClock(time.Second)
	c.Now(ms(1000))
	if _, err := c.Update(ms(1000), ts{5000, 0}); !errors.Is(err, registry.ErrClockDrift) {
		t.Fatalf("err = %v", err)
	}
	if c.Last() != (ts{1000, 0}) {
		t.Fatalf("clock moved to %v", c.Last())
	}
	if got, err := c.Update(ms(1000), ts{1900, 4}); err != nil || got != (ts{1900, 5}) {
		t.Fatalf("within offset: %v %v", got, err)
	}
	// Unlimited (barrel_p2p): the future drags the clock.
	u := registry.NewClock(0)
	if got, _ := u.Update(ms(1000), ts{1 << 50, 0}); got != (ts{1 << 50, 1}) {
		t.Fatalf("unlimited: %v", got)
	}
}

func TestClockLogicalLimit(t *testing.T) {
	c := registry.NewClock(0)
	c.Update(ms(0), ts{1000, registry.LogicalLimit - 1})
	if got := c.Last(); got != (ts{1001, 0}) {
		t.Fatalf("update at the limit = %v", got)
	}
	c = registry.NewClock(0)
	c.Update(ms(0), ts{1000, registry.LogicalLimit - 2})
	if got := c.Now(ms(0)); got != (ts{1001, 0}) {
		t.Fatalf("now at the limit = %v (last %v)", got, c.Last())
	}
}

func TestTimestampForms(t *testing.T) {
	x := ts{1767225600000, 3}
	if x.Compare(ts{1767225600000, 4}) >= 0 || x.Compare(ts{1767225599999, 9}) <= 0 || x.Compare(x) != 0 {
		t.Fatal("Compare")
	}
	// (1767225600000 bsl 32) bor 3 computed with erl.
	if got := x.Pack().String(); got != "7590176156653977600003" {
		t.Fatalf("Pack = %s", got)
	}
	b, _ := x.MarshalBinary()
	var y ts
	if err := y.UnmarshalBinary(b); err != nil || y != x || len(b) != 12 {
		t.Fatalf("binary round trip %x -> %v %v", b, y, err)
	}
	if err := y.UnmarshalBinary(b[:11]); !errors.Is(err, registry.ErrMalformed) {
		t.Fatal("short binary accepted")
	}
	got, err := registry.ParseTimestamp(x.Term())
	if err != nil || got != x {
		t.Fatalf("ParseTimestamp = %v %v", got, err)
	}
	for _, bad := range []etf.Term{
		etf.Tuple{etf.Atom("timestamp"), int64(1)},
		etf.Tuple{etf.Atom("ts"), int64(1), int64(0)},
		etf.Tuple{etf.Atom("timestamp"), 1.5, int64(0)},
		etf.Tuple{etf.Atom("timestamp"), int64(1), etf.Atom("x")},
		etf.Tuple{etf.Atom("timestamp"), int64(-1), int64(0)},
		etf.Tuple{etf.Atom("timestamp"), int64(1), int64(-1)},
		etf.Tuple{etf.Atom("timestamp"), int64(1), int64(registry.LogicalLimit)},
		etf.List{etf.Atom("timestamp"), int64(1), int64(0)},
	} {
		if _, err := registry.ParseTimestamp(bad); !errors.Is(err, registry.ErrMalformed) {
			t.Errorf("%s accepted", etf.Format(bad))
		}
	}
}
