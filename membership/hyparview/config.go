package hyparview

import (
	"errors"
	"fmt"
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// Constants hard-coded in barrel_p2p (membership.md §2.2).
const (
	// MaxBackoff caps the passive-entry backoff (record_peer_failure/2).
	MaxBackoff = 300 * time.Second
	// MinShufflePeriod and MaxShufflePeriod clamp the adaptive shuffle period.
	MinShufflePeriod = 2 * time.Second
	MaxShufflePeriod = 30 * time.Second
	// HighChurn and MediumChurn are the churn thresholds (joins + leaves in
	// the window) above which the shuffle period drops to MinShufflePeriod or
	// to half the base period.
	HighChurn   = 10
	MediumChurn = 5
	// BootstrapInitialDelay is the first contact-retry delay upper bound.
	BootstrapInitialDelay = time.Second
)

// Config holds the HyParView parameters. The field comments give the
// barrel_p2p application-env key and default; the Go node SHOULD use the same
// values as the Erlang nodes, because TTLs compared against PRWL travel
// between nodes (membership.md §8).
type Config struct {
	// ActiveSize caps the active view (active_size, 5). Unlike barrel_p2p,
	// the cap also holds on the join path (quirk Q4).
	ActiveSize int
	// PassiveSize caps the passive view (passive_size, 30).
	PassiveSize int
	// ARWL is the TTL a contact puts in FORWARD_JOIN (arwl, 6).
	ARWL int
	// PRWL is the FORWARD_JOIN TTL at which the joiner is also stored in the
	// passive view, and the initial SHUFFLE TTL (prwl, 3).
	PRWL int
	// ShuffleLength is the number of records sampled per SHUFFLE from
	// Self ∪ active ∪ passive (shuffle_length, 8).
	ShuffleLength int
	// ShufflePeriod is the base shuffle period, adapted to churn
	// (shuffle_period, 10 s).
	ShufflePeriod time.Duration
	// MaxFailCount removes a passive entry when its failure count reaches it
	// (max_fail_count, 5).
	MaxFailCount int
	// BaseBackoff is the backoff unit: BaseBackoff × 2^failures, capped at
	// MaxBackoff (base_backoff_ms, 1 s).
	BaseBackoff time.Duration
	// PassiveMaxAge drops passive entries last seen longer ago
	// (passive_max_age_ms, 300 s).
	PassiveMaxAge time.Duration
	// PassiveCleanupPeriod is the passive aging timer (passive_cleanup_period, 60 s).
	PassiveCleanupPeriod time.Duration
	// ChurnWindow is the churn-counting window (churn_window_ms, 30 s).
	ChurnWindow time.Duration
	// PendingTimeout is the backstop of every pending join, connect and
	// neighbor attempt (pending_timeout_ms, 30 s).
	PendingTimeout time.Duration
	// ContactNodes are seeds joined while the active view is empty
	// (contact_nodes, none).
	ContactNodes []etf.Atom
	// ContactRetry is the bootstrap tick (contact_retry_ms, 5 s).
	ContactRetry time.Duration
}

// DefaultConfig returns barrel_p2p's defaults.
func DefaultConfig() Config {
	return Config{
		ActiveSize:           5,
		PassiveSize:          30,
		ARWL:                 6,
		PRWL:                 3,
		ShuffleLength:        8,
		ShufflePeriod:        10 * time.Second,
		MaxFailCount:         5,
		BaseBackoff:          time.Second,
		PassiveMaxAge:        300 * time.Second,
		PassiveCleanupPeriod: 60 * time.Second,
		ChurnWindow:          30 * time.Second,
		PendingTimeout:       30 * time.Second,
		ContactRetry:         5 * time.Second,
	}
}

// Validate reports a configuration the state machine cannot run with.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.ActiveSize >= 1, "ActiveSize %d < 1", c.ActiveSize)
	check(c.PassiveSize >= 0, "PassiveSize %d < 0", c.PassiveSize)
	check(c.ARWL >= 0 && c.ARWL <= MaxTTL, "ARWL %d outside 0..%d", c.ARWL, MaxTTL)
	check(c.PRWL >= 0 && c.PRWL <= MaxTTL, "PRWL %d outside 0..%d", c.PRWL, MaxTTL)
	check(c.ShuffleLength >= 0 && c.ShuffleLength <= MaxMessagePeers, "ShuffleLength %d outside 0..%d", c.ShuffleLength, MaxMessagePeers)
	check(c.ShufflePeriod > 0, "ShufflePeriod %v not positive", c.ShufflePeriod)
	check(c.MaxFailCount >= 1, "MaxFailCount %d < 1", c.MaxFailCount)
	check(c.BaseBackoff >= 0, "BaseBackoff %v negative", c.BaseBackoff)
	check(c.PassiveMaxAge > 0, "PassiveMaxAge %v not positive", c.PassiveMaxAge)
	check(c.PassiveCleanupPeriod > 0, "PassiveCleanupPeriod %v not positive", c.PassiveCleanupPeriod)
	check(c.ChurnWindow > 0, "ChurnWindow %v not positive", c.ChurnWindow)
	check(c.PendingTimeout > 0, "PendingTimeout %v not positive", c.PendingTimeout)
	check(len(c.ContactNodes) == 0 || c.ContactRetry > 0, "ContactRetry %v not positive", c.ContactRetry)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hyparview: invalid config: %w", err)
	}
	return nil
}
