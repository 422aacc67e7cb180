package membership

import (
	"time"

	"github.com/barrelgo/barrelgo/etf"
)

// handleOther takes messages for the names whose protocols are wired in by
// the broadcast and registry layers; until then they are dropped, as
// barrel_p2p drops what it does not understand.
func (m *Membership) handleOther(now time.Time, in inbound) {
	m.log.Debug("membership message dropped", "to", string(in.name), "msg", etf.Format(in.msg))
}

// peerUp and peerDown tell the broadcast layer about active-view changes.
func (m *Membership) peerUp(node etf.Atom)   {}
func (m *Membership) peerDown(node etf.Atom) {}
