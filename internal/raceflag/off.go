//go:build !race

// Package raceflag tells code whether the race detector is on, for tests
// whose measure it distorts (allocation counts, long simulations).
package raceflag

// Enabled is true in binaries built with -race.
const Enabled = false
