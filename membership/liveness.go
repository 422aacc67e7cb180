package membership

import (
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// Member heartbeats, as barrel_p2p's members replica sends them.
const (
	DefaultHeartbeatPeriod  = 2 * time.Second
	DefaultHeartbeatTimeout = 15 * time.Second
)

const membersTag etf.Atom = "barrel_p2p_members_replica"

type heartbeatTick struct{}

// liveness tracks the member heartbeats every barrel_p2p node broadcasts
// about every 2 s. barrel_p2p forgets a node's services only on its active
// neighbours (membership.md §4.5), so after a crash the rest of the cluster
// keeps resolving them; barrelgo also forgets the services of a member whose
// heartbeats stopped for HeartbeatTimeout. Only members seen beating are
// judged, so peers that never send heartbeats are unaffected.
type liveness struct {
	lastBeat map[etf.Atom]time.Time
	beats    int
}

// refreshEvery is how many heartbeats pass between re-broadcasts of this
// node's own services. barrel_p2p sends a service once, as a delta, and
// later only to new neighbours (full_sync), so a node that missed the
// delta (a view change under way) never learns it; re-sending the same
// entries is an idempotent merge everywhere and repairs that.
const refreshEvery = 5

func (m *Membership) livenessStart() {
	if m.cfg.HeartbeatPeriod > 0 {
		m.after(m.cfg.HeartbeatPeriod, heartbeatTick{})
	}
}

// heartbeat broadcasts this node's heartbeat in barrel_p2p's shape,
// {delta, Node, #{Node => {value, {alive, WallMs}, #{{Node, Ts} => true}}}},
// and judges the others.
func (m *Membership) heartbeat(now time.Time) {
	self := m.n.Name()
	ts := m.bc.reg.Clock().Now(now)
	payload := etf.Tuple{etf.Atom("delta"), self, etf.Map{{
		Key: self,
		Value: etf.Tuple{etf.Atom("value"), etf.Tuple{etf.Atom("alive"), ts.WallMs},
			etf.Map{{Key: etf.Tuple{self, ts.Term()}, Value: etf.AtomTrue}}},
	}}}
	_, acts := m.bc.pt.Broadcast(now, membersTag, payload)
	m.applyPT(acts)
	m.live.beats++
	if m.live.beats%refreshEvery == 0 {
		if items := m.bc.reg.LocalItems(); len(items) > 0 {
			_, acts := m.bc.pt.Broadcast(now, registry.RegistryReplica, registry.Delta{Origin: self, Items: items}.Term())
			m.applyPT(acts)
		}
	}
	for node, last := range m.live.lastBeat {
		if now.Sub(last) < m.cfg.HeartbeatTimeout {
			continue
		}
		delete(m.live.lastBeat, node)
		m.log.Info("member heartbeats stopped; forgetting its services", "peer", string(node), "silent", now.Sub(last).Round(time.Second))
		m.applyReg(m.bc.reg.PeerDown(now, node))
	}
	m.after(m.cfg.HeartbeatPeriod, heartbeatTick{})
}

// sawHeartbeat records a members-replica delivery.
func (m *Membership) sawHeartbeat(now time.Time, payload etf.Term) {
	d, _, err := registry.DecodeRawDelta(payload, nil)
	if err != nil || d.Origin == m.n.Name() {
		return
	}
	m.live.lastBeat[d.Origin] = now
}
