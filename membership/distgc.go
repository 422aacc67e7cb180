package membership

import (
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/node"
)

// Defaults of barrel_p2p's idle dist-channel GC (auth.md §13).
const (
	DefaultDistGCSweepPeriod = 60 * time.Second
	DefaultDistGCMinAge      = 300 * time.Second
)

type gcSweep struct{}

// distGC mirrors barrel_p2p_dist_gc: visible connections that are not in
// the active view are closed once they are DistGCMinAge old (age counts
// from nodeup, not from the last message), so on-demand channels do not
// pile up into a full mesh. Active-view peers are never reaped.
type distGC struct {
	born map[etf.Atom]time.Time
}

// gcStart tracks the connections already up. A nodeup the subscription
// queued before this ran (a peer dialing in while the membership starts)
// was tracked already and keeps its time.
func (m *Membership) gcStart(now time.Time) {
	for _, n := range m.n.Nodes() {
		m.gcTrack(n, now)
	}
	if m.cfg.DistGCSweepPeriod > 0 {
		m.after(m.cfg.DistGCSweepPeriod, gcSweep{})
	}
}

func (m *Membership) gcNodeEvent(now time.Time, ev nodeEvent) {
	switch ev.Kind {
	case node.NodeUp:
		m.gcTrack(ev.Node, now)
	case node.NodeDown:
		delete(m.gc.born, ev.Node)
	}
}

// gcTrack starts n's age at now unless it is tracked already.
func (m *Membership) gcTrack(n etf.Atom, now time.Time) {
	if m.gc.born == nil {
		m.gc.born = map[etf.Atom]time.Time{}
	}
	if _, ok := m.gc.born[n]; !ok {
		m.gc.born[n] = now
	}
}

// gcSweepNow reaps and returns the nodes it disconnected.
func (m *Membership) gcSweepNow(now time.Time) []etf.Atom {
	active := m.hv.ActiveNodes()
	var reaped []etf.Atom
	for _, n := range m.n.Nodes() {
		born, tracked := m.gc.born[n]
		if !tracked || slices.Contains(active, n) || now.Sub(born) < m.cfg.DistGCMinAge {
			continue
		}
		m.log.Info("dist_gc reaping idle channel", "peer", string(n), "age", now.Sub(born).Round(time.Second))
		delete(m.gc.born, n)
		m.n.Disconnect(n)
		m.cfg.Metrics.reaped(n)
		reaped = append(reaped, n)
	}
	return reaped
}

// SweepDistGC runs one GC sweep now (barrel_p2p_dist_gc:sweep_now/0) and
// returns the nodes it disconnected.
func (m *Membership) SweepDistGC() []etf.Atom {
	var out []etf.Atom
	m.do(func() { out = m.gcSweepNow(time.Now()) })
	return out
}
