package registry

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

const atomTimestamp etf.Atom = "timestamp"

// LogicalLimit bounds the logical part of every timestamp this package
// accepts or produces. The hlc library raises logical_overflow (crashing
// the Erlang clock process) when asked to increment near 2^31-1, and every
// Erlang node that absorbs a timestamp increments it, so the Go node keeps
// far below that: remote timestamps at or above the limit are rejected as
// malformed, and a local clock that would reach it moves its wall time
// forward by one millisecond instead.
const LogicalLimit = 1 << 30

// ErrClockDrift is returned by Clock.Update when a remote wall time is more
// than the configured maximum offset ahead of the physical clock; the clock
// is then left unchanged (hlc's {time_ahead, _} rule).
var ErrClockDrift = errors.New("registry: remote HLC too far ahead of the physical clock")

// Timestamp is an HLC timestamp, on the wire {timestamp, WallMs, Logical}
// (the #timestamp{} record of the hlc library).
type Timestamp struct {
	// WallMs is milliseconds since the Unix epoch.
	WallMs int64
	// Logical orders events within one WallMs.
	Logical int64
}

// Compare orders timestamps by WallMs, then Logical (barrel_p2p_hlc:compare/2).
func (t Timestamp) Compare(u Timestamp) int {
	if c := cmp.Compare(t.WallMs, u.WallMs); c != 0 {
		return c
	}
	return cmp.Compare(t.Logical, u.Logical)
}

// Term returns {timestamp, WallMs, Logical}.
func (t Timestamp) Term() etf.Tuple { return etf.Tuple{atomTimestamp, t.WallMs, t.Logical} }

// String renders the timestamp as Erlang would print it.
func (t Timestamp) String() string {
	return fmt.Sprintf("{timestamp,%d,%d}", t.WallMs, t.Logical)
}

// Pack returns (WallMs bsl 32) bor (Logical band 16#FFFFFFFF), the
// comparable integer of barrel_p2p_hlc:pack/1. It exceeds 64 bits for
// current wall times, hence the big.Int.
func (t Timestamp) Pack() *big.Int {
	v := new(big.Int).Lsh(big.NewInt(t.WallMs), 32)
	return v.Or(v, big.NewInt(t.Logical&0xFFFFFFFF))
}

// MarshalBinary returns <<Wall:64/big, Logical:32/big>>
// (barrel_p2p_hlc:to_binary/1).
func (t Timestamp) MarshalBinary() ([]byte, error) {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(t.WallMs))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Logical))
	return b, nil
}

// UnmarshalBinary reads the 12-byte form of MarshalBinary.
func (t *Timestamp) UnmarshalBinary(b []byte) error {
	if len(b) != 12 {
		return fmt.Errorf("registry: HLC binary of %d bytes, want 12: %w", len(b), ErrMalformed)
	}
	t.WallMs = int64(binary.BigEndian.Uint64(b))
	t.Logical = int64(binary.BigEndian.Uint32(b[8:]))
	return nil
}

// ParseTimestamp decodes {timestamp, WallMs, Logical}. It is stricter than
// barrel_p2p (which checks only the tag): both fields must be integers,
// WallMs non-negative and Logical in [0, LogicalLimit), because any other
// value would crash the HLC server of every Erlang node it reaches.
func ParseTimestamp(t etf.Term) (Timestamp, error) {
	tup, ok := t.(etf.Tuple)
	if !ok || len(tup) != 3 || tup[0] != atomTimestamp {
		return Timestamp{}, fmt.Errorf("registry: %s is not {timestamp, Wall, Logical}: %w", etf.Abbrev(t), ErrMalformed)
	}
	w, ok1 := tup[1].(int64)
	l, ok2 := tup[2].(int64)
	if !ok1 || !ok2 || w < 0 || l < 0 || l >= LogicalLimit {
		return Timestamp{}, fmt.Errorf("registry: HLC fields out of range in %s: %w", etf.Abbrev(t), ErrMalformed)
	}
	return Timestamp{WallMs: w, Logical: l}, nil
}

// Clock is a hybrid logical clock with the rules of the hlc library as
// barrel_p2p uses it. The physical clock is the now argument of each call
// (epoch milliseconds are taken from it), so the clock is deterministic
// under virtual time. A Clock is not safe for concurrent use.
type Clock struct {
	last      Timestamp
	maxOffset time.Duration
}

// NewClock returns a clock at zero. maxOffset > 0 makes Update reject
// remote wall times more than maxOffset ahead of the physical clock;
// barrel_p2p uses 0 (no limit), under which a peer's future timestamp drags
// the clock forward.
func NewClock(maxOffset time.Duration) *Clock {
	return &Clock{maxOffset: maxOffset}
}

// Last returns the latest timestamp issued or absorbed, without advancing.
func (c *Clock) Last() Timestamp { return c.last }

// Now returns a timestamp for a local event (hlc now): the physical time
// with logical 0 if it is ahead of the clock, else the clock's wall time
// with logical + 1.
func (c *Clock) Now(now time.Time) Timestamp {
	pt := now.UnixMilli()
	if c.last.WallMs >= pt {
		c.last = bump(c.last.WallMs, c.last.Logical+1)
	} else {
		c.last = Timestamp{WallMs: pt}
	}
	return c.last
}

// Update absorbs a remote timestamp (hlc update with barrel_p2p's rules):
// physical time ahead of both -> (physical, 0); remote wall ahead -> (remote
// wall, remote logical + 1); local wall ahead -> (local wall, local logical
// + 1); equal walls -> (wall, max logical + 1).
func (c *Clock) Update(now time.Time, remote Timestamp) (Timestamp, error) {
	pt := now.UnixMilli()
	l := c.last
	switch {
	case pt > l.WallMs && pt > remote.WallMs:
		c.last = Timestamp{WallMs: pt}
	case remote.WallMs > l.WallMs:
		if c.maxOffset > 0 && remote.WallMs-pt > c.maxOffset.Milliseconds() {
			return l, fmt.Errorf("%w: remote %s, physical %d ms", ErrClockDrift, remote, pt)
		}
		c.last = bump(remote.WallMs, remote.Logical+1)
	case l.WallMs > remote.WallMs:
		c.last = bump(l.WallMs, l.Logical+1)
	default:
		c.last = bump(l.WallMs, max(l.Logical, remote.Logical)+1)
	}
	return c.last, nil
}

// bump keeps the logical part below LogicalLimit by spending a millisecond.
func bump(wall, logical int64) Timestamp {
	if logical >= LogicalLimit {
		return Timestamp{WallMs: wall + 1}
	}
	return Timestamp{WallMs: wall, Logical: logical}
}
