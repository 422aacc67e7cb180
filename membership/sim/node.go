package sim

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/barrelgo/barrelgo/etf"
	"github.com/barrelgo/barrelgo/membership/hyparview"
	"github.com/barrelgo/barrelgo/membership/plumtree"
	"github.com/barrelgo/barrelgo/membership/registry"
)

// Node is one simulated member: the three state machines plus what the
// runtime (membership.go, other.go) keeps around them.
type Node struct {
	sim  *Sim
	id   int
	name etf.Atom
	addr netip.Addr
	pid  etf.Pid // the membership process: router replies come here

	inc   int // incarnation; timers and messages of an older one are void
	alive bool

	hv  *hyparview.State
	pt  *plumtree.State
	reg *registry.Registry

	// activeIDs mirrors the active view from PeerUp/PeerDown events, as
	// Plumtree and the registry see it.
	activeIDs []int32
	// peers are the nodes n has a distribution connection with.
	peers    map[int32]struct{}
	monitors map[etf.Pid]bool
	lookups  map[uint64]func(registry.RouteResult)
}

// ID returns the node's index in the simulation.
func (n *Node) ID() int { return n.id }

// Name returns the node name.
func (n *Node) Name() etf.Atom { return n.name }

// Alive reports whether the node has started and not crashed.
func (n *Node) Alive() bool { return n.alive }

// HyParView returns the node's HyParView state (nil before it starts). Use
// it only from the simulation goroutine and only to read.
func (n *Node) HyParView() *hyparview.State { return n.hv }

// Plumtree returns the node's Plumtree state (nil before it starts).
func (n *Node) Plumtree() *plumtree.State { return n.pt }

// Registry returns the node's registry (nil before it starts).
func (n *Node) Registry() *registry.Registry { return n.reg }

// ActiveIDs returns the active view as reported by the node's events.
func (n *Node) ActiveIDs() []int {
	out := make([]int, len(n.activeIDs))
	for i, id := range n.activeIDs {
		out[i] = int(id)
	}
	slices.Sort(out)
	return out
}

// start is membership.Start: fresh state machines, the dist GC's sweep
// timer (first sweep one period after the start), then Plumtree and the
// registry, then HyParView, in the runtime's order.
func (n *Node) start() {
	s := n.sim
	n.inc++
	n.alive = true
	n.activeIDs = nil
	n.peers = map[int32]struct{}{}
	n.monitors = map[etf.Pid]bool{}
	n.lookups = map[uint64]func(registry.RouteResult){}
	cfg := s.opts.HyParView
	cfg.ContactNodes = slices.Clone(cfg.ContactNodes)
	rng := rand.New(rand.NewPCG(s.opts.Seed^uint64(n.id)*0x9e3779b97f4a7c15, uint64(n.inc)))
	hv, err := hyparview.New(hyparview.SelfPeer(n.name, n.addr, 4370), cfg, rng)
	if err != nil {
		// The configuration was validated in New; only a name problem
		// could get here, which New does not produce.
		panic("sim: " + err.Error())
	}
	n.hv = hv
	now := s.Now()
	if period := s.opts.DistGCSweepPeriod; period > 0 {
		var sweep func(time.Time)
		sweep = func(time.Time) {
			s.distGC(n)
			n.after(period, sweep)
		}
		n.after(period, sweep)
	}
	n.pt = plumtree.New(plumtree.Config{Self: n.name}, nil)
	n.reg = registry.New(registry.Config{Self: n.name, RouterPid: n.pid})
	n.applyPT(n.pt.Start(now))
	n.applyReg(n.reg.Start(now, nil))
	n.applyHV(n.hv.Start(now))
}

// after is the runtime's timer: fn runs after d unless the node crashed or
// restarted meanwhile. Timers are never cancelled, as in the runtime.
func (n *Node) after(d time.Duration, fn func(now time.Time)) {
	s, inc := n.sim, n.inc
	s.schedule(s.now+d, func() {
		if n.alive && n.inc == inc {
			fn(s.Now())
		}
	})
}

// inbound is handleInbound, handleOther and handleDirect: name is the
// registered name the message was sent to, or empty for a pid.
func (n *Node) inbound(name etf.Atom, msg etf.Term) {
	s := n.sim
	now := s.Now()
	switch {
	case name == hyparview.BridgeName:
		env, err := hyparview.DecodeEnvelope(msg)
		if err != nil {
			n.malformed(name, err)
			return
		}
		n.applyHV(n.hv.HandleMessage(now, env.Msg))
	case name == plumtree.ProcessName:
		m, err := plumtree.DecodeEnvelope(msg)
		if err != nil {
			n.malformed(name, err)
			return
		}
		switch m := m.(type) {
		case plumtree.Gossip:
			s.Stats.Gossip++
			if s.OnGossip != nil {
				s.OnGossip(n, m)
			}
		case plumtree.IHave:
			s.Stats.IHave++
		case plumtree.Graft:
			s.Stats.Graft++
		case plumtree.Prune:
			s.Stats.Prune++
		}
		n.applyPT(n.pt.Receive(now, m))
	case registry.IsReplicaInstance(name):
		n.applyReg(n.reg.HandleReplica(now, name, msg))
	case name == registry.RouterName:
		n.applyReg(n.reg.HandleRouteRequest(now, msg, n.hv.ActiveNodes()))
	case name == "":
		n.applyReg(n.reg.HandleRouteReply(now, msg))
	}
}

func (n *Node) malformed(name etf.Atom, err error) {
	n.sim.Stats.Malformed++
	n.sim.violation("%s: malformed message to %s: %v", n.name, name, err)
}

func (n *Node) nodeUp(peer etf.Atom) {
	n.applyHV(n.hv.NodeUp(n.sim.Now(), peer))
}

func (n *Node) nodeDown(peer etf.Atom) {
	n.sim.Stats.NodeDowns++
	n.applyHV(n.hv.NodeDown(n.sim.Now(), peer))
}

func (n *Node) connectResult(peer etf.Atom, ok bool) {
	n.applyHV(n.hv.ConnectResult(n.sim.Now(), peer, ok))
}

// applyHV is Membership.apply.
func (n *Node) applyHV(actions []hyparview.Action) {
	s := n.sim
	for _, a := range actions {
		switch a := a.(type) {
		case hyparview.Send:
			s.send(n, a.To, hyparview.BridgeName, hyparview.EncodeEnvelope(n.name, a.Msg))
		case hyparview.Connect:
			s.connect(n, a.Node)
		case hyparview.SetTimer:
			t := a.Timer
			n.after(a.After, func(now time.Time) { n.applyHV(n.hv.TimerFired(now, t)) })
		case hyparview.Event:
			switch a.Type {
			case hyparview.EventPeerUp:
				s.Stats.PeerUps++
				n.mirrorUp(a.Node)
				n.peerUp(a.Node)
			case hyparview.EventPeerDown:
				s.Stats.PeerDowns[a.Reason]++
				n.mirrorDown(a.Node)
				n.peerDown(a.Node)
			}
		case hyparview.PendingTimeout:
			s.Stats.PendingTimeo++
		}
	}
	if len(n.activeIDs) > s.opts.HyParView.ActiveSize {
		s.violation("%s: active view of %d > %d", n.name, len(n.activeIDs), s.opts.HyParView.ActiveSize)
	}
	if s.opts.CheckEveryInput {
		n.checkViews()
	}
}

// checkViews checks n's view bounds in its state machine.
func (n *Node) checkViews() {
	s, cfg := n.sim, n.sim.opts.HyParView
	if a := len(n.hv.ActiveNodes()); a > cfg.ActiveSize {
		s.violation("%s: active view of %d > %d", n.name, a, cfg.ActiveSize)
	}
	if p := len(n.hv.PassiveNodes()); p > cfg.PassiveSize {
		s.violation("%s: passive view of %d > %d", n.name, p, cfg.PassiveSize)
	}
}

func (n *Node) mirrorUp(peer etf.Atom) {
	p := n.sim.names[peer]
	if p == nil {
		n.sim.violation("%s: peer_up for unknown node %s", n.name, peer)
		return
	}
	if slices.Contains(n.activeIDs, int32(p.id)) {
		n.sim.violation("%s: peer_up for %s, already active", n.name, peer)
		return
	}
	n.activeIDs = append(n.activeIDs, int32(p.id))
}

func (n *Node) mirrorDown(peer etf.Atom) {
	p := n.sim.names[peer]
	if p == nil {
		return
	}
	i := slices.Index(n.activeIDs, int32(p.id))
	if i < 0 {
		n.sim.violation("%s: peer_down for %s, not active", n.name, peer)
		return
	}
	n.activeIDs = slices.Delete(n.activeIDs, i, i+1)
}

func (n *Node) peerUp(peer etf.Atom) {
	now := n.sim.Now()
	n.applyPT(n.pt.NeighborUp(now, peer))
	n.applyReg(n.reg.PeerUp(now, peer))
}

func (n *Node) peerDown(peer etf.Atom) {
	now := n.sim.Now()
	n.applyPT(n.pt.NeighborDown(now, peer))
	n.applyReg(n.reg.PeerDown(now, peer))
}

// applyPT is Membership.applyPT.
func (n *Node) applyPT(actions []plumtree.Action) {
	s := n.sim
	for _, a := range actions {
		switch a := a.(type) {
		case plumtree.Send:
			s.send(n, a.To, plumtree.ProcessName, plumtree.Envelope(a.Msg))
		case plumtree.Deliver:
			if s.OnDeliver != nil {
				s.OnDeliver(n, a)
			}
			n.applyReg(n.reg.HandleBroadcast(s.Now(), a.From, a.Tag, a.Payload))
		case plumtree.SetTimer:
			t := a.Timer
			n.after(a.After, func(now time.Time) { n.applyPT(n.pt.Fire(now, t)) })
		case plumtree.CancelTimer:
			// A stale firing is ignored by the state machine.
		}
	}
}

// applyReg is Membership.applyReg.
func (n *Node) applyReg(actions []registry.Action) {
	s := n.sim
	for _, a := range actions {
		switch a := a.(type) {
		case registry.Broadcast:
			_, acts := n.pt.Broadcast(s.Now(), a.Tag, a.Payload)
			n.applyPT(acts)
		case registry.SendReplica:
			s.send(n, a.To, a.Instance, registry.ReplicaEnvelope(a.Msg))
		case registry.SendRoute:
			s.send(n, a.To, registry.RouterName, a.Msg.Envelope())
		case registry.ReplyRoute:
			// Replies go to the router pid, the membership process.
			s.send(n, a.To.Node, "", a.Msg.Term())
		case registry.SetTimer:
			t := a.Timer
			n.after(a.After, func(now time.Time) { n.applyReg(n.reg.Fire(now, t)) })
		case registry.CancelTimer:
		case registry.Event:
			if s.OnService != nil {
				s.OnService(n, a)
			}
		case registry.Monitor:
			n.monitors[a.Pid] = true
		case registry.Demonitor:
			delete(n.monitors, a.Pid)
		case registry.Rejected:
			s.violation("%s: registry rejected %s from %s: %v", n.name, a.Source, a.From, a.Err)
		case registry.LookupDone:
			if fn, ok := n.lookups[a.ID]; ok {
				delete(n.lookups, a.ID)
				fn(a.Result)
			}
		}
	}
}

// ErrNotAlive is returned by the calls on a node that is not running.
var ErrNotAlive = errors.New("sim: node not alive")

// Broadcast is Membership.Broadcast on n; it returns the message id (zero
// when n is not alive).
func (n *Node) Broadcast(tag, payload etf.Term) plumtree.ID {
	if !n.alive {
		return plumtree.ID{}
	}
	id, acts := n.pt.Broadcast(n.sim.Now(), tag, payload)
	n.applyPT(acts)
	return id
}

// RegisterService is Membership.RegisterService on n with a process of
// the node identified by serial.
func (n *Node) RegisterService(name registry.Name, serial uint32) (etf.Pid, error) {
	if !n.alive {
		return etf.Pid{}, ErrNotAlive
	}
	pid := etf.Pid{Node: n.name, ID: 1000 + serial, Creation: 1}
	acts, err := n.reg.Register(n.sim.Now(), name, pid, nil)
	n.applyReg(acts)
	return pid, err
}

// UnregisterService is Membership.UnregisterService on n.
func (n *Node) UnregisterService(name registry.Name) {
	if !n.alive {
		return
	}
	n.applyReg(n.reg.Unregister(n.sim.Now(), name))
}

// ServiceExit reports that a monitored service process exited.
func (n *Node) ServiceExit(pid etf.Pid) {
	if !n.alive || !n.monitors[pid] {
		return
	}
	delete(n.monitors, pid)
	n.applyReg(n.reg.ServiceDown(n.sim.Now(), pid, etf.Atom("killed")))
}

// FindService starts an overlay lookup from n (the router path of
// WhereisService); done is called once with the result unless n dies first.
func (n *Node) FindService(name registry.Name, done func(registry.RouteResult)) error {
	if !n.alive {
		return ErrNotAlive
	}
	id, acts := n.reg.FindService(n.sim.Now(), name, n.hv.ActiveNodes())
	n.lookups[id] = done
	n.applyReg(acts)
	return nil
}

// Join is Membership.Join on n.
func (n *Node) Join(contact etf.Atom) error {
	if !n.alive {
		return ErrNotAlive
	}
	acts, err := n.hv.Join(n.sim.Now(), contact)
	n.applyHV(acts)
	return err
}

// Leave is Membership.Leave on n.
func (n *Node) Leave() {
	if n.alive {
		n.applyHV(n.hv.Leave(n.sim.Now()))
	}
}
